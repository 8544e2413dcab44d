//! Shared helpers of the simulator tests: a fresh temp dir, a kubeconfig for the simulated
//! clusters, and running real CLI clients (kubectl, helm) against them with a time bound.
#![allow(dead_code)]

#[path = "../support/tools.rs"]
pub mod tools;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use amko_sim::k8s::SimClusters;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(label: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "amko-{label}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The result of one CLI run.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn expect_ok(self) -> String {
        assert!(
            self.ok,
            "command failed\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    #[track_caller]
    pub fn expect_err(self) -> String {
        assert!(
            !self.ok,
            "command unexpectedly succeeded\nstdout: {}",
            self.stdout
        );
        self.stderr
    }
}

/// Runs `program args…` (`program` from `tools`) with `env`, feeding `stdin`, killed after `limit`.
pub async fn run(
    program: std::process::Command,
    args: &[&str],
    env: &[(&str, &Path)],
    stdin: Option<&str>,
    limit: Duration,
) -> Run {
    let program_name = program.get_program().to_string_lossy().into_owned();
    let mut cmd = Command::from(program);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program_name}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    let text = stdin.unwrap_or_default().to_string();
    tokio::spawn(async move {
        let _ = input.write_all(text.as_bytes()).await;
    });
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{program_name} {args:?} did not finish within {limit:?}"))
        .expect("output");
    Run {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// GET `url` and parse the answer as JSON.
pub async fn get_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    http.get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}

/// Removes its directory when dropped.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// kubectl with its own kubeconfig and cache dir (removed when dropped).
pub struct Kubectl {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub cache: PathBuf,
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Kubectl {
    pub fn new(sim: &SimClusters) -> Self {
        let dir = temp_dir("kubectl");
        let kubeconfig = dir.join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        Kubectl {
            cache: dir.join("cache"),
            kubeconfig,
            dir,
        }
    }

    pub async fn run(&self, context: &str, args: &[&str], stdin: Option<&str>) -> Run {
        let kubeconfig = self.kubeconfig.display().to_string();
        let cache = self.cache.display().to_string();
        let mut full = vec![
            "--kubeconfig",
            &kubeconfig,
            "--cache-dir",
            &cache,
            "--context",
            context,
        ];
        full.extend_from_slice(args);
        run(tools::kubectl(), &full, &[], stdin, Duration::from_secs(60)).await
    }

    /// `kubectl apply -f -` with `yaml` on stdin.
    pub async fn apply(&self, context: &str, yaml: &str) -> Run {
        self.run(context, &["apply", "-f", "-"], Some(yaml)).await
    }

    /// `kubectl <words> <extra…>` (`words` split at whitespace), which must succeed; its stdout.
    pub async fn ok(&self, context: &str, words: &str, extra: &[&str]) -> String {
        let mut args: Vec<&str> = words.split_whitespace().collect();
        args.extend_from_slice(extra);
        self.run(context, &args, None).await.expect_ok()
    }

    /// `kubectl <words> -o json` (which must succeed), parsed.
    pub async fn json(&self, context: &str, words: &str) -> serde_json::Value {
        let text = self.ok(context, words, &["-o", "json"]).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

/// A kube-rs client for the simulated cluster `name`.
pub fn kube_client(sim: &SimClusters, name: &str) -> kube::Client {
    let url = sim.server_url(name).expect("cluster").parse().expect("url");
    kube::Client::try_from(kube::Config::new(url)).expect("client")
}

/// Creates the namespace `name`, which must not exist yet.
pub async fn create_namespace(client: &kube::Client, name: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("namespace");
    kube::Api::<Namespace>::all(client.clone())
        .create(&kube::api::PostParams::default(), &ns)
        .await
        .expect("namespace created");
}
