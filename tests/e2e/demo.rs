//! `amko demo --once` as a newcomer runs it: the real binary starts the simulators and the
//! operator, creates the sample applications and must exit 0 after the GslbServices converge,
//! listing each one with its members' clusters and leaving the excluded application out, and
//! printing the answer mix of the simulated GSLB DNS service next to the weights. Without
//! `--once`, the live view follows a weight change made with the kubectl command it prints: the
//! DNS answer mix moves to the new weights.

#[path = "../support/tools.rs"]
mod tools;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `(cluster, observed %, weight, expected %)` per member in the last "DNS answers" block the
/// demo printed for `fqdn`'s A records.
fn dns_mix(output: &str, fqdn: &str) -> Option<Vec<(String, f64, u32, f64)>> {
    let header = format!("  {fqdn} A");
    let lines: Vec<&str> = output.lines().collect();
    let start = lines.iter().rposition(|l| *l == header)?;
    let mix = lines[start + 1..]
        .iter()
        .take_while(|l| l.starts_with("    ") && !l.trim_start().starts_with("TTL"))
        .filter_map(|l| {
            // cluster ip count "answers" share% "weight" w "->" expected%
            let words: Vec<&str> = l.split_whitespace().collect();
            let percent = |w: &str| w.trim_end_matches('%').parse::<f64>().ok();
            Some((
                words.first()?.to_string(),
                percent(words.get(4)?)?,
                words.get(6)?.parse().ok()?,
                percent(words.get(8)?)?,
            ))
        })
        .collect();
    Some(mix)
}

/// The verdict line after `fqdn`'s last DNS block.
fn dns_outcome<'a>(output: &'a str, fqdn: &str) -> Option<&'a str> {
    let header = format!("  {fqdn} A");
    let lines: Vec<&str> = output.lines().collect();
    let start = lines.iter().rposition(|l| *l == header)?;
    lines[start + 1..]
        .iter()
        .find(|l| l.trim_start().starts_with("TTL"))
        .copied()
}

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
    // The DNS service answers shop 2:1 (weights 10 and 5), api and store from their one member.
    let shop = dns_mix(&stdout, "shop.demo.example.com")
        .unwrap_or_else(|| panic!("no DNS answers for shop\n{context}"));
    assert_eq!(shop.len(), 2, "{shop:?}\n{context}");
    for (cluster, observed, weight, want) in
        [("cluster1", 66.7, 10, 66.7), ("cluster2", 33.3, 5, 33.3)]
    {
        let row = shop
            .iter()
            .find(|r| r.0 == cluster)
            .unwrap_or_else(|| panic!("{cluster} missing: {shop:?}\n{context}"));
        assert_eq!((row.2, row.3), (weight, want), "{row:?}");
        assert!(
            (row.1 - observed).abs() < 5.0,
            "{cluster}: {row:?}\n{context}"
        );
    }
    let outcome = dns_outcome(&stdout, "shop.demo.example.com").unwrap_or_default();
    assert!(
        outcome.contains("TTL 30, chi-square p = ")
            && outcome.ends_with("the mix follows the weights"),
        "{outcome}"
    );
    for (fqdn, cluster) in [
        ("api.demo.example.com", "cluster2"),
        ("store.demo.example.com", "ocp1"),
    ] {
        let mix = dns_mix(&stdout, fqdn)
            .unwrap_or_else(|| panic!("no DNS answers for {fqdn}\n{context}"));
        assert_eq!(mix.len(), 1, "{fqdn}: {mix:?}");
        assert_eq!(
            (mix[0].0.as_str(), mix[0].1),
            (cluster, 100.0),
            "{fqdn}: {mix:?}"
        );
    }

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

/// The live demo: it prints the kubectl command that gives cluster2 weight 20; run as printed,
/// the next view shows the DNS answers of shop at 1:2 instead of 2:1.
#[test]
fn the_live_view_shows_the_dns_mix_follow_a_weight_change() {
    let dir = std::env::temp_dir().join(format!("amko-demo-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_amko"))
        .arg("demo")
        .args(["--timeout-secs", "90", "--refresh-secs", "1"])
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("amko demo starts");
    let output = Arc::new(Mutex::new(String::new()));
    let reader = {
        let output = output.clone();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut text = output.lock().unwrap_or_else(|e| e.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        })
    };
    let text = || output.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let wait_for = |what: &str, check: &dyn Fn(&str) -> bool| -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if check(&text()) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!("{what} did not show\n{}", text()))
    };
    let outcome = (|| -> Result<(), String> {
        wait_for("the poke instructions", &|t| t.contains("Ctrl-C to stop."))?;
        let printed = text();
        let command = printed
            .lines()
            .skip_while(|l| !l.contains("# give cluster2 weight 20 instead of 5:"))
            .nth(1)
            .ok_or_else(|| format!("no weight command\n{printed}"))?
            .trim()
            .to_owned();
        // Run it as printed: `kubectl <args> -p '<json>'`.
        let (args, patch) = command
            .split_once(" -p '")
            .ok_or_else(|| format!("unexpected command {command}"))?;
        let patch = patch.trim_end_matches('\'');
        let mut words = args.split_whitespace();
        if words.next() != Some("kubectl") {
            return Err(format!("not a kubectl command: {command}"));
        }
        let patched = tools::kubectl()
            .args(words)
            .args(["-p", patch])
            .output()
            .map_err(|e| format!("kubectl: {e}"))?;
        if !patched.status.success() {
            return Err(format!(
                "kubectl failed: {}",
                String::from_utf8_lossy(&patched.stderr)
            ));
        }
        wait_for("the DNS mix at the new weights", &|t| {
            dns_mix(t, "shop.demo.example.com").is_some_and(|mix| {
                mix.iter()
                    .any(|r| r.0 == "cluster2" && r.2 == 20 && (r.1 - 66.7).abs() < 5.0)
                    && mix
                        .iter()
                        .any(|r| r.0 == "cluster1" && r.2 == 10 && (r.1 - 33.3).abs() < 5.0)
            })
        })
    })();
    // Ctrl-C ends the live demo.
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    let shown = text();
    assert!(
        dns_outcome(&shown, "shop.demo.example.com")
            .is_some_and(|l| l.ends_with("the mix follows the weights")),
        "{shown}"
    );
}
