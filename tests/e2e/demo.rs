//! `amko demo --once` as a newcomer runs it: the real binary starts the simulators and the
//! operator, creates the sample applications and must exit 0 after the GslbServices converge,
//! listing each one with its members' clusters and leaving the excluded application out.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The members (cluster column) of the table the demo prints for `fqdn`.
fn member_clusters(output: &str, fqdn: &str) -> Option<Vec<String>> {
    let header = format!("GslbService {fqdn}  (");
    let mut lines = output.lines().skip_while(|l| !l.starts_with(&header));
    lines.next()?;
    let clusters = lines
        .skip(1) // the column headings
        .take_while(|l| !l.trim_start().starts_with("health monitors:"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    Some(clusters)
}

#[test]
fn demo_once_converges_and_lists_the_sample_gslb_services() {
    let dir = std::env::temp_dir().join(format!("amko-demo-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_amko"))
        .args(["demo", "--once", "--timeout-secs", "90", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("amko demo starts");
    // Read both pipes while it runs so a full pipe can never stall it.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    // Bounded: the demo has its own 90 s timeout; this guards against a hang after it.
    let deadline = Instant::now() + Duration::from_secs(150);
    let status = loop {
        if let Some(status) = child.try_wait().expect("demo status") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let kubeconfig_written = kubeconfig.exists();
    let _ = std::fs::remove_dir_all(&dir);
    let context = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    let status = status.unwrap_or_else(|| panic!("amko demo --once did not exit\n{context}"));
    assert!(
        status.success(),
        "amko demo --once failed: {status}\n{context}"
    );
    assert!(kubeconfig_written, "--kubeconfig-out was not written");

    assert_eq!(
        member_clusters(&stdout, "shop.demo.example.com"),
        Some(vec!["cluster1".to_owned(), "cluster2".to_owned()]),
        "the Ingress host in two clusters\n{context}"
    );
    assert_eq!(
        member_clusters(&stdout, "api.demo.example.com"),
        Some(vec!["cluster2".to_owned()]),
        "the LoadBalancer Service\n{context}"
    );
    assert_eq!(
        member_clusters(&stdout, "store.demo.example.com"),
        Some(vec!["ocp1".to_owned()]),
        "the OpenShift Route\n{context}"
    );
    assert_eq!(
        member_clusters(&stdout, "internal.demo.example.com"),
        None,
        "the excluded application has no GslbService\n{context}"
    );
    // Every GslbService and health monitor is written once: nothing is re-written.
    let monitors: std::collections::BTreeSet<&str> = stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("health monitors: "))
        .flat_map(|l| l.split(", "))
        .collect();
    let writes: Option<usize> = stdout
        .lines()
        .find(|l| l.starts_with("Converged: 3 GslbServices in "))
        .and_then(|l| l.split(" with ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    assert_eq!(
        writes,
        Some(3 + monitors.len()),
        "controller writes in the summary ({monitors:?})\n{context}"
    );
}
