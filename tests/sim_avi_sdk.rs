//! The real Avi Python SDK (`avisdk`) against the in-process Avi simulator over verified HTTPS:
//! login, CRUD of a GslbService and a health monitor, name lookups, pagination, tenant headers
//! and recovery after the simulator expires all sessions. The checks live in
//! tests/avisdk/sdk_roundtrip.py; this test starts the simulator, runs the script and reads the
//! simulator's audit afterwards.

use std::path::Path;
use std::time::Duration;

use amko_sim::avi::{AviSim, AviSimConfig};

#[path = "support/tools.rs"]
mod tools;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avisdk_round_trip() {
    // Default settings, rate limit included: the SDK must work against a stock controller.
    let sim = AviSim::start(AviSimConfig::default())
        .await
        .expect("start the Avi simulator");
    let ca_file = sim.ca_file().expect("HTTPS simulator writes a CA file");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/avisdk/sdk_roundtrip.py");

    let run = tokio::process::Command::from(tools::python())
        .arg(&script)
        .env("AVISIM_HOST", sim.local_addr().ip().to_string())
        .env("AVISIM_PORT", sim.local_addr().port().to_string())
        .env("AVISIM_USERNAME", sim.username())
        .env("AVISIM_PASSWORD", sim.password())
        .env("AVISIM_VERSION", sim.version())
        .env("AVISIM_CA_FILE", ca_file)
        .env("PYTHONWARNINGS", "ignore")
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("avisdk script finished within 120 s")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "avisdk script failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(stdout.contains("all checks passed"), "stdout:\n{stdout}");

    // The simulator saw what the SDK did.
    let audit = sim.control().audit_log();
    let created_gs = audit
        .iter()
        .filter(|e| e.method == "POST" && e.object_type == "gslbservice" && e.status == 201)
        .count();
    assert_eq!(created_gs, 8, "one GslbService plus seven for paging");
    assert!(
        audit
            .iter()
            .any(|e| e.method == "DELETE" && e.name == "sdk-gs" && e.status == 204)
    );
    let counters = sim.control().counters();
    assert!(counters.count(Some("POST"), Some("login"), Some(200)) >= 2);
    // A sequential client is paced by the default limit (excess requests wait), never refused.
    assert_eq!(counters.count(None, None, Some(429)), 0);
    sim.shutdown().await;
}
