//! End-to-end harness: simulated member clusters and Avi controller in the test process, the
//! CRDs, Secret, GSLBConfig and GDP installed in the home cluster (`cluster1`) as the chart would,
//! and the real `amko run` binary as a child process talking to both over HTTP(S).
#![allow(dead_code)]

#[path = "../support/tools.rs"]
pub mod tools;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use amko::crd::GslbConfig;
use amko_sim::avi::{AviSim, AviSimConfig, AviSimHandle};
use amko_sim::k8s::{ClusterSpec, SimClusters, SimConfig, VipFamily};
use amko_sim::scenario::{self, ChartInstall, Leader};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

pub const HOME: &str = "avi-system";
pub const UUID: &str = "6c5f1c84-4b3c-4e5e-9d21-0a5cbd3f0001";
pub const CREATED_BY: &str = "amko-6c5f1c84-4b3c-4e5e-9d21-0a5cbd3f0001";

pub struct Env {
    pub dir: PathBuf,
    pub clusters: SimClusters,
    pub avi: AviSimHandle,
    pub kubeconfig: PathBuf,
    pub operator: Option<Operator>,
    pub names: Vec<String>,
}

/// The `amko run` child process; killed on drop. Its log is `dir/operator-N.log`.
pub struct Operator {
    child: Child,
    pub listen: String,
    pub log: PathBuf,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Every pool member of a GslbService as the controller holds it.
pub fn members_of(gs: &Value) -> Vec<Value> {
    gs["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["members"].as_array().cloned().unwrap_or_default())
        .collect()
}

pub fn unique_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("amko-e2e-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Settings of `Env::start_with` beyond the cluster counts.
#[derive(Clone, Debug, Default)]
pub struct EnvOptions {
    /// The VIP family AKO assigns in the named clusters (others: IPv4).
    pub vip_families: Vec<(String, VipFamily)>,
    /// Clusters without AKO emulation (objects get no VIP, status or annotations from AKO).
    pub without_ako: Vec<String>,
}

impl Env {
    /// `clusters` Kubernetes clusters (`cluster1` is home and member) plus `openshift` more.
    pub async fn start(name: &str, clusters: usize, openshift: usize) -> Env {
        Env::start_with(name, clusters, openshift, EnvOptions::default()).await
    }

    /// As `start`, with `options`.
    pub async fn start_with(
        name: &str,
        clusters: usize,
        openshift: usize,
        options: EnvOptions,
    ) -> Env {
        let dir = unique_dir(name);
        let mut specs: Vec<ClusterSpec> = (1..=clusters)
            .map(|i| ClusterSpec::new(format!("cluster{i}")))
            .collect();
        for i in 1..=openshift {
            specs.push(ClusterSpec::new(format!("ocp{i}")).openshift());
        }
        for (cluster, family) in &options.vip_families {
            for spec in specs.iter_mut().filter(|s| &s.name == cluster) {
                spec.ako.vip_family = *family;
            }
        }
        for spec in specs
            .iter_mut()
            .filter(|s| options.without_ako.contains(&s.name))
        {
            spec.ako.enabled = false;
        }
        let names = specs.iter().map(|s| s.name.clone()).collect();
        let clusters = SimClusters::start(SimConfig {
            clusters: specs,
            ..SimConfig::default()
        })
        .await
        .expect("simulated clusters start");
        let kubeconfig = dir.join("kubeconfig");
        clusters
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        let avi = AviSim::start(AviSimConfig {
            rate_limit: None,
            ..AviSimConfig::default()
        })
        .await
        .expect("simulated controller starts");
        Env {
            dir,
            clusters,
            avi,
            kubeconfig,
            operator: None,
            names,
        }
    }

    pub async fn client(&self, context: &str) -> Client {
        scenario::client_for(&self.kubeconfig, context)
            .await
            .expect("client")
    }

    pub async fn home(&self) -> Client {
        self.client("cluster1").await
    }

    /// Installs what the helm chart installs: CRDs, namespace, credentials Secret (with the
    /// controller's CA), GSLBConfig `gc-1` (fixed uuid) and GDP `global-gdp` with `gdp_spec`.
    pub async fn install(&self, gdp_spec: Value) {
        self.install_with(gdp_spec, json!({})).await;
    }

    /// As `install`, with `gslb_config_extra` (e.g. `{"useCustomGlobalFqdn": true}` or
    /// `{"gslbLeader": {"tenant": "t"}}`) merged into the GSLBConfig spec (a JSON merge patch,
    /// applied before the operator starts).
    pub async fn install_with(&self, gdp_spec: Value, gslb_config_extra: Value) {
        let install = ChartInstall {
            namespace: HOME.to_owned(),
            uuid: UUID.to_owned(),
            leader: Leader::of(&self.avi),
            members: self.names.clone(),
            refresh_interval_secs: 1800,
            gdp_spec,
        };
        scenario::install_like_chart(&self.home().await, &install)
            .await
            .expect("chart objects installed");
        if gslb_config_extra.as_object().is_some_and(|o| !o.is_empty()) {
            Api::<GslbConfig>::namespaced(self.home().await, HOME)
                .patch(
                    "gc-1",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": gslb_config_extra})),
                )
                .await
                .expect("GSLBConfig extra fields");
        }
    }

    pub async fn apply_gdp(&self, spec: Value) {
        scenario::apply_gdp(&self.home().await, HOME, spec)
            .await
            .expect("GDP applied");
    }

    /// Starts `amko run` (stopping a previous one).
    pub fn start_operator(&mut self, extra: &[&str]) {
        self.operator = None;
        let members = self.dir.join("members-kubeconfig");
        std::fs::copy(&self.kubeconfig, &members).expect("members kubeconfig");
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let n = std::fs::read_dir(&self.dir).map(|d| d.count()).unwrap_or(0);
        let log = self.dir.join(format!("operator-{n}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let defaults = [("--coalesce-ms", "50"), ("--boot-timeout-secs", "20")];
        let child = Command::new(env!("CARGO_BIN_EXE_amko"))
            .args(["run", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args([
                "--context",
                "cluster1",
                "--namespace",
                HOME,
                "--members-kubeconfig",
            ])
            .arg(&members)
            .args(["--listen", &listen])
            .args(
                defaults
                    .iter()
                    .filter(|(flag, _)| !extra.contains(flag))
                    .flat_map(|(f, v)| [*f, *v]),
            )
            .args(extra)
            .env("AMKO_LOG", "info,amko=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("amko run starts");
        self.operator = Some(Operator { child, listen, log });
    }

    pub fn stop_operator(&mut self) {
        self.operator = None;
    }

    /// The operator's log so far (for assertion messages).
    pub fn log(&self) -> String {
        self.operator
            .as_ref()
            .and_then(|o| std::fs::read_to_string(&o.log).ok())
            .unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let op = self.operator.as_ref()?;
        let response = reqwest::get(format!("http://{}{path}", op.listen))
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.unwrap_or_default()))
    }

    pub async fn wait_ready(&self) {
        let log = || self.log();
        wait_until(
            "operator ready",
            Duration::from_secs(60),
            || async { matches!(self.get("/readyz").await, Some((200, _))) },
            log,
        )
        .await;
    }

    /// A client of the simulated controller, as a user (or a foreign tool) would have.
    pub fn avi_client(&self) -> amko::avi::AviClient {
        amko::avi::AviClient::new(amko::avi::AviConnection {
            base_url: self.avi.base_url().to_owned(),
            username: self.avi.username().to_owned(),
            password: self.avi.password().to_owned(),
            version: self.avi.version().to_owned(),
            tenant: "admin".into(),
            ca_pem: self.avi.ca_pem().map(str::to_owned),
            insecure_skip_verify: false,
            timeout: Duration::from_secs(10),
        })
        .expect("client")
    }

    /// Restarts the operator and asserts that, with nothing changed, it writes nothing: what it
    /// reads back from the controller compares equal to what it wants.
    pub async fn assert_restart_writes_nothing(&mut self) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = self.writes();
        self.start_operator(&[]);
        self.wait_ready().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let written: Vec<String> = self
            .avi
            .control()
            .audit_log()
            .iter()
            .skip(before)
            .map(|e| format!("{} {} {}", e.method, e.object_type, e.name))
            .collect();
        assert!(
            written.is_empty(),
            "restart wrote {written:?}\n{}",
            self.log()
        );
    }

    /// GslbServices on the controller, by name.
    pub fn gslb_services(&self) -> Vec<Value> {
        self.avi.control().dump()["gslbservice"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn gslb_service(&self, name: &str) -> Option<Value> {
        self.gslb_services().into_iter().find(|g| g["name"] == name)
    }

    pub fn health_monitors(&self) -> Vec<Value> {
        self.avi.control().dump()["healthmonitor"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Writes (POST/PUT/PATCH/DELETE) to the controller so far.
    pub fn writes(&self) -> usize {
        self.avi.control().audit_len()
    }

    pub async fn create_ingress(
        &self,
        cluster: &str,
        namespace: &str,
        name: &str,
        host: &str,
        labels: Value,
    ) {
        scenario::create_ingress(&self.client(cluster).await, namespace, name, host, labels)
            .await
            .expect("ingress created");
    }
}

pub async fn ensure_namespace(client: &Client, name: &str) {
    scenario::ensure_namespace(client, name)
        .await
        .expect("namespace");
}

/// Polls `check` until it holds, or fails the test with `context()` (the operator log).
pub async fn wait_until<F, Fut>(
    what: &str,
    timeout: Duration,
    mut check: F,
    context: impl Fn() -> String,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if Instant::now() > deadline {
            let log = context();
            let tail: String = log
                .lines()
                .rev()
                .take(60)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!("timed out waiting for {what}\n--- operator log (tail) ---\n{tail}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn remove_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
