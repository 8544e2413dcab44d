//! The CRDs reject invalid custom resources by themselves: every fixture in
//! tests/fixtures/invalid-crs/ is applied with kubectl to a simulated API server that serves the
//! amko-rs CRDs, and must be refused as `Invalid` naming the field the fixture's `# expect:` line
//! names; every fixture in tests/fixtures/valid-crs/ must be accepted.

use std::path::{Path, PathBuf};

use amko_sim::k8s::{SimClusters, SimConfig};

#[path = "support/tools.rs"]
mod tools;

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixture dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_custom_resources_are_refused_by_the_schema() {
    let sim = SimClusters::start(SimConfig::with_clusters(1))
        .await
        .expect("sim");
    let dir = std::env::temp_dir().join(format!("amko-crd-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let kubeconfig = dir.join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let crds = dir.join("crds.yaml");
    std::fs::write(&crds, amko::crd::render_yaml().expect("CRDs render")).expect("write CRDs");
    let kubectl = |args: &[&str]| {
        let kubeconfig = kubeconfig.clone();
        let cache = dir.join("cache");
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                tools::kubectl()
                    .arg("--kubeconfig")
                    .arg(&kubeconfig)
                    .arg("--cache-dir")
                    .arg(&cache)
                    .args(&args)
                    .output()
                    .expect("kubectl runs")
            })
            .await
            .expect("join")
        }
    };
    let out = kubectl(&["apply", "-f", crds.to_str().expect("path")]).await;
    assert!(
        out.status.success(),
        "CRDs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for namespace in ["avi-system", "shop"] {
        let out = kubectl(&["create", "namespace", namespace]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let mut failures = Vec::new();
    for file in fixtures("invalid-crs") {
        let text = std::fs::read_to_string(&file).expect("fixture");
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no '# expect:' line", file.display()));
        let field = expect.split(": ").next().unwrap_or_default();
        let out = kubectl(&["apply", "-f", file.to_str().expect("path")]).await;
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if out.status.success() {
            failures.push(format!("{}: accepted, expected {expect}", file.display()));
        } else if !stderr.contains("Invalid") && !stderr.contains("invalid") {
            failures.push(format!(
                "{}: refused without Invalid: {stderr}",
                file.display()
            ));
        } else if !field.is_empty() && !stderr.contains(field) {
            failures.push(format!(
                "{}: message does not name {field}: {stderr}",
                file.display()
            ));
        }
    }
    for file in fixtures("valid-crs") {
        let out = kubectl(&["apply", "-f", file.to_str().expect("path")]).await;
        if !out.status.success() {
            failures.push(format!(
                "{}: valid but refused: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
    sim.shutdown().await;
}
