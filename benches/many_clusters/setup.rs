//! The benchmark's world: simulated member clusters and Avi controller in this process, the
//! chart's objects (CRDs, Secret, GSLBConfig, GDP) in `cluster1`, the Ingresses loaded through the
//! clusters' HTTP API, and the real `amko run` binary as a child process.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use amko::crd::all_crds;
use amko_sim::avi::{AviSim, AviSimConfig, AviSimHandle};
use amko_sim::k8s::{ClusterSpec, SimClusters, SimConfig, WatchSettings};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::params::Params;

pub const HOME: &str = "avi-system";
pub const UUID: &str = "6c5f1c84-4b3c-4e5e-9d21-0a5cbd3f0b0b";
pub const NAMESPACE: &str = "default";

pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// Where object `object` of cluster `cluster` (both 0-based) points: clusters form blocks of
/// `overlap` consecutive clusters and every cluster of a block serves the same hosts, so each
/// FQDN is served by `overlap` clusters.
pub fn fqdn_of(params: &Params, cluster: usize, object: usize) -> String {
    let block = cluster / params.overlap;
    format!("app-{}.bench.example.com", block * params.objects + object)
}

pub fn cluster_name(cluster: usize) -> String {
    format!("cluster{}", cluster + 1)
}

/// The number of distinct FQDNs the objects serve.
pub fn fqdn_count(params: &Params) -> usize {
    params.clusters.div_ceil(params.overlap) * params.objects
}

pub fn ingress_name(object: usize) -> String {
    format!("web-{object}")
}

/// The `amko run` child process; killed on drop.
pub struct Operator {
    child: Child,
    pub listen: String,
    pub log: PathBuf,
}

impl Operator {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        // Under `--operator-wrapper` the operator is the wrapper's descendant: a SIGKILL of the
        // wrapper alone left it running (orphaned, busy, skewing every later figure) and the
        // profiler's output unfinished. So the whole tree gets SIGTERM and a few seconds to
        // finish, then SIGKILL.
        let tree = process_tree(self.child.id());
        if tree.len() > 1 {
            signal(&tree, "TERM");
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while std::time::Instant::now() < deadline
                && tree
                    .iter()
                    .any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
                && !matches!(self.child.try_wait(), Ok(Some(_)))
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            signal(&tree, "KILL");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `root` and its descendants, from `/proc/*/stat` (parent pid is the field after the state).
fn process_tree(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // The command name may hold spaces and parentheses: fields start after the last ')'.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            Some((pid, fields.get(1)?.parse().ok()?))
        })
        .collect();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    tree
}

fn signal(pids: &[u32], signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

pub struct Bench {
    pub params: Params,
    pub dir: PathBuf,
    pub clusters: SimClusters,
    pub avi: AviSimHandle,
    pub kubeconfig: PathBuf,
    pub http: reqwest::Client,
    /// Base URL per cluster, in cluster order.
    pub urls: Vec<String>,
    pub operator: Option<Operator>,
    operators_started: usize,
}

impl Bench {
    pub async fn start(params: Params) -> Result<Bench, BenchError> {
        let dir = std::env::temp_dir().join(format!("amko-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let clusters = SimClusters::start(SimConfig {
            clusters: (0..params.clusters)
                .map(|c| ClusterSpec::new(cluster_name(c)))
                .collect(),
            // Room for the churn stream, so a watcher that reconnects can resume.
            watch: WatchSettings {
                event_log_capacity: 32_768,
                watch_buffer: 32_768,
                ..WatchSettings::default()
            },
            ..SimConfig::default()
        })
        .await?;
        let kubeconfig = dir.join("kubeconfig");
        clusters.write_kubeconfig(&kubeconfig)?;
        let avi = AviSim::start(AviSimConfig {
            rate_limit: None,
            ..AviSimConfig::default()
        })
        .await?;
        if params.avi_latency_ms > 0 {
            avi.control()
                .set_latency(Duration::from_millis(params.avi_latency_ms));
        }
        let urls = (0..params.clusters)
            .map(|c| {
                clusters
                    .server_url(&cluster_name(c))
                    .map(str::to_owned)
                    .ok_or_else(|| format!("no URL for {}", cluster_name(c)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(8)
            .build()?;
        Ok(Bench {
            params,
            dir,
            clusters,
            avi,
            kubeconfig,
            http,
            urls,
            operator: None,
            operators_started: 0,
        })
    }

    async fn post(&self, url: String, body: &Value) -> Result<(), BenchError> {
        let response = self.http.post(&url).json(body).send().await?;
        let status = response.status();
        if !status.is_success() && status.as_u16() != 409 {
            return Err(format!("POST {url}: {status}: {}", response.text().await?).into());
        }
        Ok(())
    }

    /// Server-side apply of `body` at `url` (the object's own URL).
    pub async fn apply(&self, url: &str, body: &Value) -> Result<(), BenchError> {
        let target = format!("{url}?fieldManager=amko-bench&force=true");
        self.patch("apply", &target, "application/apply-patch+yaml", body)
            .await
    }

    /// JSON merge patch of the object at `url`.
    pub async fn merge_patch(&self, url: &str, body: &Value) -> Result<(), BenchError> {
        self.patch("patch", url, "application/merge-patch+json", body)
            .await
    }

    /// PATCH `body` to `url` as `content_type`; a non-2xx answer is an error naming `what`.
    async fn patch(
        &self,
        what: &str,
        url: &str,
        content_type: &str,
        body: &Value,
    ) -> Result<(), BenchError> {
        let response = self
            .http
            .patch(url)
            .header("Content-Type", content_type)
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            let url = url.split('?').next().unwrap_or(url);
            return Err(format!("{what} {url}: {status}: {}", response.text().await?).into());
        }
        Ok(())
    }

    pub fn home_url(&self) -> &str {
        &self.urls[0]
    }

    /// What the chart installs, in `cluster1`: CRDs, namespace, credentials, GSLBConfig, GDP.
    pub async fn install(&self) -> Result<(), BenchError> {
        let home = self.home_url().to_owned();
        for crd in all_crds()? {
            self.post(
                format!("{home}/apis/apiextensions.k8s.io/v1/customresourcedefinitions"),
                &serde_json::to_value(&crd)?,
            )
            .await?;
        }
        // The API server needs a moment to serve new CRDs; retry the first custom object.
        self.post(
            format!("{home}/api/v1/namespaces"),
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": HOME}}),
        )
        .await?;
        self.post(
            format!("{home}/api/v1/namespaces/{HOME}/secrets"),
            &json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "gslb-avi-secret", "namespace": HOME},
            "stringData": {
                "username": self.avi.username(),
                "password": self.avi.password(),
                "certificateAuthorityData": self.avi.ca_pem().unwrap_or_default(),
            }}),
        )
        .await?;
        let members: Vec<Value> = (0..self.params.clusters)
            .map(|c| json!({"clusterContext": cluster_name(c)}))
            .collect();
        let gslb_config = json!({
            "apiVersion": "amko.vmware.com/v1alpha1", "kind": "GSLBConfig",
            "metadata": {"name": "gc-1", "namespace": HOME, "annotations": {"amko.vmware.com/amko-uuid": UUID}},
            "spec": {
                "gslbLeader": {"credentials": "gslb-avi-secret", "controllerVersion": self.avi.version(), "controllerIP": self.avi.base_url()},
                "memberClusters": members,
                "refreshInterval": 1800,
                "logLevel": "INFO"
            }
        });
        let mut attempts = 0;
        loop {
            match self
                .post(
                    format!("{home}/apis/amko.vmware.com/v1alpha1/namespaces/{HOME}/gslbconfigs"),
                    &gslb_config,
                )
                .await
            {
                Ok(()) => break,
                Err(e) if attempts < 50 => {
                    attempts += 1;
                    tracing_free_sleep(e).await;
                }
                Err(e) => return Err(e),
            }
        }
        self.apply_gdp(30).await
    }

    /// The GDP: every cluster, the `app: gslb` label, TTL `ttl`.
    pub async fn apply_gdp(&self, ttl: u32) -> Result<(), BenchError> {
        let clusters: Vec<Value> = (0..self.params.clusters)
            .map(|c| json!({"cluster": cluster_name(c)}))
            .collect();
        let gdp = json!({
            "apiVersion": "amko.vmware.com/v1alpha2", "kind": "GlobalDeploymentPolicy",
            "metadata": {"name": "global-gdp", "namespace": HOME},
            "spec": {
                "matchRules": {"appSelector": {"label": {"app": "gslb"}}},
                "matchClusters": clusters,
                "ttl": ttl
            }
        });
        self.apply(
            &format!(
                "{}/apis/amko.vmware.com/v1alpha2/namespaces/{HOME}/globaldeploymentpolicies/global-gdp",
                self.home_url()
            ),
            &gdp,
        )
        .await
    }

    pub fn ingress_url(&self, cluster: usize, object: usize) -> String {
        format!(
            "{}/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses/{}",
            self.urls[cluster],
            ingress_name(object)
        )
    }

    /// Creates every cluster's Ingresses through the API, `concurrency` requests at a time.
    pub async fn load_objects(&self, concurrency: usize) -> Result<usize, BenchError> {
        let params = &self.params;
        let jobs = (0..params.clusters * params.objects).map(|n| {
            let cluster = n % params.clusters;
            let object = n / params.clusters;
            let body = json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": ingress_name(object), "namespace": NAMESPACE, "labels": {"app": "gslb"}},
                "spec": {"rules": [{"host": fqdn_of(params, cluster, object), "http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
            });
            let url = format!(
                "{}/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses",
                self.urls[cluster]
            );
            async move { self.post(url, &body).await }
        });
        let results: Vec<Result<(), BenchError>> = futures::stream::iter(jobs)
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let created = results.len();
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(created)
    }

    /// Starts `amko run` with the benchmark's settings plus `extra` flags (stopping a previous one).
    pub fn start_operator(&mut self, avi_rate: f64, avi_burst: u32) -> Result<(), BenchError> {
        self.operator = None;
        let members = self.dir.join("members-kubeconfig");
        std::fs::copy(&self.kubeconfig, &members)?;
        let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        self.operators_started += 1;
        let log = self
            .dir
            .join(format!("operator-{}.log", self.operators_started));
        let log_file = std::fs::File::create(&log)?;
        let p = &self.params;
        let binary = env!("CARGO_BIN_EXE_amko");
        let mut command = match &p.operator_wrapper {
            Some(wrapper) => {
                let mut words = wrapper.split_whitespace();
                let mut c = Command::new(words.next().unwrap_or(binary));
                c.args(words).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        let child = command
            .args(["run", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(["--context", "cluster1", "--namespace", HOME])
            .arg("--members-kubeconfig")
            .arg(&members)
            .args(["--listen", &listen.to_string()])
            .args(["--coalesce-ms", &p.coalesce_ms.to_string()])
            .args(["--refresh-secs", &p.refresh_secs.to_string()])
            .args(["--max-in-flight", &p.max_in_flight.to_string()])
            .args(["--avi-rate", &avi_rate.to_string()])
            .args(["--avi-burst", &avi_burst.to_string()])
            .args(["--boot-timeout-secs", "120"])
            // The probe reads the writer's queue and the busiest actors from /debug/*.
            .arg("--debug-endpoints")
            .env("AMKO_LOG", &p.operator_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()?;
        self.operator = Some(Operator {
            child,
            listen: listen.to_string(),
            log,
        });
        Ok(())
    }

    /// The tail of the current operator's log (for error messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self
            .operator
            .as_ref()
            .and_then(|o| std::fs::read_to_string(&o.log).ok())
            .unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub async fn shutdown(mut self) {
        self.operator = None;
        let _ = std::fs::remove_dir_all(&self.dir);
        self.clusters.shutdown().await;
        self.avi.shutdown().await;
    }
}

async fn tracing_free_sleep(_reason: BenchError) {
    tokio::time::sleep(Duration::from_millis(100)).await;
}
