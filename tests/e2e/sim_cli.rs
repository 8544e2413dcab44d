//! `amko sim` as a user runs it: the binary prints one JSON line describing the clusters and the
//! controller; kubectl works against a cluster from the written kubeconfig; the real Avi Python
//! SDK logs in to the controller verifying its CA and creates a GslbService, which the printed
//! DNS service then answers (dnspython); SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

#[path = "../support/tools.rs"]
mod tools;

#[test]
fn amko_sim_prints_both_halves_and_real_clients_use_them() {
    let dir = std::env::temp_dir().join(format!("amko-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_amko"))
        .args([
            "sim",
            "--clusters",
            "3",
            "--openshift",
            "1",
            "--kubeconfig-out",
        ])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("amko sim starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("one JSON line");
    let ready: Value = serde_json::from_str(&line).expect("JSON line");

    let clusters = ready["clusters"].as_array().expect("clusters");
    let names: Vec<&str> = clusters.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, vec!["cluster1", "cluster2", "cluster3"]);
    assert_eq!(clusters[2]["openshift"], true);
    assert_eq!(clusters[0]["openshift"], false);
    assert_eq!(ready["kubeconfig"], kubeconfig.display().to_string());

    // kubectl with the written kubeconfig: the OpenShift cluster serves Routes.
    let kubectl = |context: &str, args: &[&str]| {
        tools::kubectl()
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--context", context, "--cache-dir"])
            .arg(dir.join("kube-cache"))
            .args(args)
            .output()
            .expect("kubectl runs")
    };
    let out = kubectl("cluster1", &["get", "namespaces", "-o", "name"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));
    let out = kubectl("cluster3", &["get", "routes", "-A"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The Avi SDK logs in over HTTPS verified with the printed CA file.
    let avi = &ready["avi"];
    let url = avi["url"].as_str().expect("avi url");
    let (host, port) = url
        .trim_start_matches("https://")
        .rsplit_once(':')
        .expect("host:port");
    let script = "import os\nfrom avi.sdk.avi_api import ApiSession\n\
        s = ApiSession(os.environ['H'], os.environ['U'], os.environ['P'], api_version=os.environ['V'], port=int(os.environ['PORT']), verify=os.environ['CA'])\n\
        r = s.get('cluster')\nassert r.status_code == 200, r.text\nprint(r.json()['uuid'])\n\
        gs = {'name': 'shop', 'domain_names': ['shop.example.com'], 'groups': [{'name': 'p', 'priority': 10, 'members': [{'ip': {'addr': '10.9.0.1', 'type': 'V4'}, 'ratio': 1}]}]}\n\
        r = s.post('gslbservice', data=gs)\nassert r.status_code in (200, 201), r.text\n\
        import dns.message, dns.query\n\
        host, port = os.environ['DNS'].rsplit(':', 1)\n\
        reply = dns.query.udp(dns.message.make_query('shop.example.com', 'A'), host, port=int(port), timeout=5)\n\
        print(' '.join(rd.to_text() for rrset in reply.answer for rd in rrset))\n";
    // The printed DNS service answers the GslbService the SDK just created (dnspython).
    let dns = ready["dns"]
        .as_str()
        .expect("the JSON line names the DNS service");
    assert_eq!(ready["avi"]["dns"], dns);
    let out = tools::python()
        .args(["-c", script])
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .env("H", host)
        .env("PORT", port)
        .env("U", avi["username"].as_str().expect("username"))
        .env("P", avi["password"].as_str().expect("password"))
        .env("V", avi["version"].as_str().expect("version"))
        .env("CA", avi["ca_file"].as_str().expect("ca file"))
        .env("DNS", dns)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "avisdk failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.starts_with("cluster-"), "{printed}");
    assert_eq!(printed.lines().nth(1), Some("10.9.0.1"), "{printed}");

    // SIGTERM ends it cleanly.
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("exit status");
    assert!(status.success(), "amko sim exited with {status}");
    let _ = std::fs::remove_dir_all(&dir);
}
