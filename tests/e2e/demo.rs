//! `amko demo --once` as a newcomer runs it: the real binary starts the simulators and the
//! operator, creates the sample applications and must exit 0 after the GslbServices converge,
//! listing each one with its members' clusters and leaving the excluded application out.

use std::ffi::OsStr;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
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

/// What one bounded run of `amko demo <args>` did.
struct Outcome {
    /// `None`: it did not exit in time and was killed.
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

fn run_demo(args: &[&OsStr]) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amko"))
        .arg("demo")
        .args(args)
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
    // Bounded: the demo has its own timeout; this guards against a hang after it.
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
    Outcome {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

#[test]
fn demo_once_converges_and_lists_the_sample_gslb_services() {
    let dir = std::env::temp_dir().join(format!("amko-demo-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    let Outcome {
        status,
        stdout,
        stderr,
    } = run_demo(&[
        "--once".as_ref(),
        "--timeout-secs".as_ref(),
        "90".as_ref(),
        "--kubeconfig-out".as_ref(),
        kubeconfig.as_os_str(),
    ]);
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

#[test]
fn demo_once_exits_non_zero_when_it_cannot_converge_in_time() {
    // With no time at all, the operator cannot even finish booting (it must accept gc-1, reach
    // the controller and list every cluster first).
    let outcome = run_demo(&["--once".as_ref(), "--timeout-secs".as_ref(), "0".as_ref()]);
    let context = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        outcome.stdout, outcome.stderr
    );
    let status = outcome
        .status
        .unwrap_or_else(|| panic!("amko demo --once did not exit\n{context}"));
    assert!(!status.success(), "a timeout must fail\n{context}");
    assert!(
        outcome.stderr.contains("did not become ready")
            || outcome.stderr.contains("did not converge"),
        "the error says what timed out\n{context}"
    );
    // The failure keeps the operator log for diagnosis and names it; remove its own directory.
    let log_dir = outcome
        .stderr
        .split("(operator log: ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|log| std::path::Path::new(log).parent());
    if let Some(dir) = log_dir
        && dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("amko-demo-"))
    {
        let _ = std::fs::remove_dir_all(dir);
    }
}
