//! End-to-end harness: simulated member clusters and Avi controller in the test process, the
//! CRDs, Secret, GSLBConfig and GDP installed in the home cluster (`cluster1`, or the first of
//! `EnvOptions::named`) as the chart would,
//! and the real `amko` binary as child processes talking to both over HTTP(S).
//!
//! - Starting: `Env::start(name, EnvOptions::clusters(2).install(gdp(..)).run(&[]))`; the
//!   options say how many clusters, what the chart installs and whether `amko run` starts.
//! - Objects: builders for the GDP (`gdp`), GSLBHostRules (`gslb_host_rule`), Ingresses
//!   (`ingress`), LoadBalancer Services (`lb_service`) and Routes (`route`), created with
//!   `Env::create`.
//! - Waiting: `wait_until` (any check, any timeout, any log) and `Env::eventually` (30 s, the
//!   operator's log); both fail the test naming what they waited for, with the log's tail.
//! - Reading: the controller's GslbServices, monitors and audit log; what AKO wrote on objects.
//! - DNS: `Env::dns_addr` is the simulated controller's GSLB DNS service; ask it with
//!   `dns_client::ask(tools::python(), env.dns_addr(), &probes)`.
#![allow(dead_code)]

#[path = "../support/tools.rs"]
pub mod tools;

#[path = "../support/dns_client.rs"]
pub mod dns_client;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use amko::crd::{GlobalDeploymentPolicy, GslbConfig, GslbHostRule};
use amko_sim::avi::{AuditEntry, AviSim, AviSimConfig, AviSimHandle};
use amko_sim::k8s::{ClusterSpec, SimClusters, SimConfig, VipFamily};
use amko_sim::scenario::{self, ChartInstall, Leader};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

pub const HOME: &str = "avi-system";
/// The cluster the chart is installed in, where the CRs live.
pub const HOME_CLUSTER: &str = "cluster1";
pub const UUID: &str = "6c5f1c84-4b3c-4e5e-9d21-0a5cbd3f0001";
pub const CREATED_BY: &str = "amko-6c5f1c84-4b3c-4e5e-9d21-0a5cbd3f0001";
/// How long `Env::eventually` waits.
pub const WAIT: Duration = Duration::from_secs(30);

/// A namespaced Kubernetes object type `Env` reads and writes.
pub trait Namespaced:
    kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
{
}

impl<K> Namespaced for K where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
{
}

pub struct Env {
    pub dir: PathBuf,
    pub clusters: SimClusters,
    pub avi: AviSimHandle,
    pub kubeconfig: PathBuf,
    pub operator: Option<Operator>,
    pub names: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Starting.
// ---------------------------------------------------------------------------------------------

/// What `Env::start` sets up: `clusters` Kubernetes clusters (`cluster1` is home and member) plus
/// `openshift` more; then optionally the chart's objects and a running operator.
#[derive(Clone, Debug, Default)]
pub struct EnvOptions {
    clusters: usize,
    /// Names for the Kubernetes clusters instead of `cluster1`, `cluster2`, …; the first is home.
    named: Vec<String>,
    openshift: usize,
    /// The VIP family AKO assigns in the named clusters (others: IPv4).
    vip_families: Vec<(String, VipFamily)>,
    /// Clusters without AKO emulation (objects get no VIP, status or annotations from AKO).
    without_ako: Vec<String>,
    /// Install the chart's objects with this GDP spec.
    gdp: Option<Value>,
    /// Merged into the GSLBConfig spec (see `Env::install_with`).
    gslb_config: Option<Value>,
    /// Start `amko run` with these extra arguments and wait until it is ready.
    operator: Option<Vec<String>>,
}

impl EnvOptions {
    pub fn clusters(clusters: usize) -> Self {
        EnvOptions {
            clusters,
            ..EnvOptions::default()
        }
    }

    /// Kubernetes clusters with these names (any kubeconfig context name); the first is home.
    pub fn named(names: &[&str]) -> Self {
        EnvOptions {
            named: names.iter().map(|n| (*n).to_owned()).collect(),
            ..EnvOptions::default()
        }
    }

    pub fn openshift(mut self, clusters: usize) -> Self {
        self.openshift = clusters;
        self
    }

    pub fn vip_family(mut self, cluster: &str, family: VipFamily) -> Self {
        self.vip_families.push((cluster.to_owned(), family));
        self
    }

    pub fn without_ako(mut self, cluster: &str) -> Self {
        self.without_ako.push(cluster.to_owned());
        self
    }

    /// Installs what the chart installs, with `gdp` as the GDP's spec.
    pub fn install(mut self, gdp: Value) -> Self {
        self.gdp = Some(gdp);
        self
    }

    /// With `install`: `extra` merged into the GSLBConfig spec.
    pub fn gslb_config(mut self, extra: Value) -> Self {
        self.gslb_config = Some(extra);
        self
    }

    /// After `install`: starts `amko run` with `args` and waits until it is ready.
    pub fn run(mut self, args: &[&str]) -> Self {
        self.operator = Some(args.iter().map(|a| (*a).to_owned()).collect());
        self
    }
}

impl Env {
    /// Starts the simulators and whatever `options` asks for beyond them.
    pub async fn start(name: &str, options: EnvOptions) -> Env {
        let dir = unique_dir(name);
        let mut specs: Vec<ClusterSpec> = (1..=options.clusters)
            .map(|i| ClusterSpec::new(format!("cluster{i}")))
            .chain(options.named.iter().map(ClusterSpec::new))
            .collect();
        for i in 1..=options.openshift {
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
        let mut env = Env {
            dir,
            clusters,
            avi,
            kubeconfig,
            operator: None,
            names,
        };
        if let Some(gdp) = options.gdp {
            let extra = options.gslb_config.unwrap_or_else(|| json!({}));
            env.install_with(gdp, extra).await;
        }
        if let Some(args) = options.operator {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            env.start_operator(&args);
            env.wait_ready().await;
        }
        env
    }

    /// The cluster amko-rs's own objects live in: the first cluster.
    pub fn home_cluster(&self) -> &str {
        self.names
            .first()
            .map(String::as_str)
            .unwrap_or(HOME_CLUSTER)
    }

    pub async fn client(&self, context: &str) -> Client {
        scenario::client_for(&self.kubeconfig, context)
            .await
            .expect("client")
    }

    pub async fn home(&self) -> Client {
        self.client(self.home_cluster()).await
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

    /// `install`, then `amko run` started with no extra arguments and ready.
    pub async fn install_and_run(&mut self, gdp_spec: Value) {
        self.install(gdp_spec).await;
        self.start_operator(&[]);
        self.wait_ready().await;
    }

    /// Server-side applies `global-gdp` with `spec` (creating it if it is gone).
    pub async fn apply_gdp(&self, spec: Value) {
        scenario::apply_gdp(&self.home().await, HOME, spec)
            .await
            .expect("GDP applied");
    }

    /// Replaces the GDP's spec, keeping its metadata, like `kubectl edit`. (A replace, not
    /// server-side apply: the simulated API server approximates apply as a merge, so fields an
    /// edit drops would survive.)
    pub async fn replace_gdp(&self, spec: Value) {
        let api = Api::<GlobalDeploymentPolicy>::namespaced(self.home().await, HOME);
        let mut gdp = api.get("global-gdp").await.expect("GDP");
        gdp.spec = serde_json::from_value(spec).expect("GDP spec");
        api.replace("global-gdp", &PostParams::default(), &gdp)
            .await
            .expect("GDP replaced");
    }

    // -----------------------------------------------------------------------------------------
    // The `amko` processes.
    // -----------------------------------------------------------------------------------------

    /// Starts `amko <subcommand>` in cluster `context` with `members` as the members kubeconfig
    /// and `args`; its log is `dir/<label>.log`.
    pub fn spawn(
        &self,
        label: &str,
        subcommand: &str,
        context: &str,
        members: &Path,
        args: &[&str],
    ) -> Operator {
        let listen = format!("127.0.0.1:{}", free_port());
        let log = self.dir.join(format!("{label}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_amko"))
            .arg(subcommand)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--context", context, "--namespace", HOME])
            .arg("--members-kubeconfig")
            .arg(members)
            .args(["--listen", &listen])
            .args(args)
            .env("AMKO_LOG", "info,amko=debug")
            .env_remove("POD_NAME")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|e| panic!("amko {subcommand} starts: {e}"));
        Operator { child, listen, log }
    }

    /// Starts `amko run` in the home cluster (stopping a previous one); `extra` arguments
    /// override the defaults `--coalesce-ms 50 --boot-timeout-secs 20`. The debug endpoints
    /// (off by default in the binary) are on, on `--listen`, unless `extra` has `--debug-listen`.
    pub fn start_operator(&mut self, extra: &[&str]) {
        self.operator = None;
        let members = self.dir.join("members-kubeconfig");
        std::fs::copy(&self.kubeconfig, &members).expect("members kubeconfig");
        let n = std::fs::read_dir(&self.dir).map(|d| d.count()).unwrap_or(0);
        let defaults = [("--coalesce-ms", "50"), ("--boot-timeout-secs", "20")];
        let mut args: Vec<&str> = defaults
            .iter()
            .filter(|(flag, _)| !extra.contains(flag))
            .flat_map(|(f, v)| [*f, *v])
            .collect();
        args.extend_from_slice(extra);
        if !extra.contains(&"--debug-listen") {
            args.push("--debug-endpoints");
        }
        let home = self.home_cluster().to_owned();
        let operator = self.spawn(&format!("operator-{n}"), "run", &home, &members, &args);
        self.operator = Some(operator);
    }

    pub fn stop_operator(&mut self) {
        self.operator = None;
    }

    fn operator(&self) -> &Operator {
        self.operator.as_ref().expect("the operator was started")
    }

    /// The operator's log so far (for assertion messages).
    pub fn log(&self) -> String {
        self.operator
            .as_ref()
            .map(Operator::log)
            .unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        self.operator.as_ref()?.get(path).await
    }

    /// The operator's /metrics text (empty when it does not answer).
    pub async fn metrics(&self) -> String {
        self.operator().metrics().await
    }

    pub async fn wait_ready(&self) {
        self.operator().wait_ready().await;
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
            .audit_since(before)
            .iter()
            .map(|e| format!("{} {} {}", e.method, e.object_type, e.name))
            .collect();
        assert!(
            written.is_empty(),
            "restart wrote {written:?}\n{}",
            self.log()
        );
    }

    // -----------------------------------------------------------------------------------------
    // Waiting.
    // -----------------------------------------------------------------------------------------

    /// Polls `check` until it holds, for `WAIT`; fails naming `what`, with the operator's log.
    pub async fn eventually<F, Fut>(&self, what: &str, check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        wait_until(what, WAIT, check, || self.log()).await;
    }

    /// As `eventually`, for `timeout`.
    pub async fn eventually_within<F, Fut>(&self, what: &str, timeout: Duration, check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        wait_until(what, timeout, check, || self.log()).await;
    }

    /// Waits until the GslbService `fqdn` exists and `check` holds for it; returns it.
    pub async fn wait_gs(&self, fqdn: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        self.eventually(what, || async {
            self.gslb_service(fqdn).is_some_and(|gs| check(&gs))
        })
        .await;
        self.gslb_service(fqdn).expect("GslbService")
    }

    // -----------------------------------------------------------------------------------------
    // The controller.
    // -----------------------------------------------------------------------------------------

    /// A client of the simulated controller, as a user (or a foreign tool) would have.
    /// `ip:port` (UDP and TCP) of the simulated controller's GSLB DNS service.
    pub fn dns_addr(&self) -> std::net::SocketAddr {
        self.avi
            .dns_addr()
            .expect("the simulated controller runs a DNS service")
    }

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

    /// The GslbService `name` exists with exactly `count` members.
    pub fn has_gs_with_members(&self, name: &str, count: usize) -> bool {
        self.gslb_service(name)
            .is_some_and(|gs| members_of(&gs).len() == count)
    }

    pub fn health_monitors(&self) -> Vec<Value> {
        self.avi.control().dump()["healthmonitor"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The health monitors the GslbService references, as stored on the controller.
    pub fn monitors_of(&self, gs: &Value) -> Vec<Value> {
        let names = ref_names(&gs["health_monitor_refs"]);
        self.health_monitors()
            .into_iter()
            .filter(|m| names.iter().any(|n| m["name"] == n.as_str()))
            .collect()
    }

    /// Monitors amko-rs manages for `fqdn` (their description names the GslbService).
    pub fn managed_monitors_of(&self, fqdn: &str) -> Vec<Value> {
        let needle = format!("gsname: {fqdn}");
        self.health_monitors()
            .into_iter()
            .filter(|m| m["name"].as_str().is_some_and(|n| n.starts_with("amko--")))
            .filter(|m| {
                m["description"]
                    .as_str()
                    .is_some_and(|d| d.contains(&needle))
            })
            .collect()
    }

    /// Any monitor amko-rs manages (named `amko--…`) on the controller.
    pub fn has_managed_monitors(&self) -> bool {
        self.health_monitors()
            .iter()
            .any(|m| m["name"].as_str().is_some_and(|n| n.starts_with("amko--")))
    }

    /// Writes (POST/PUT/PATCH/DELETE) to the controller so far.
    pub fn writes(&self) -> usize {
        self.avi.control().audit_len()
    }

    /// The controller's audit log after the first `mark` writes.
    pub fn audit_since(&self, mark: usize) -> Vec<AuditEntry> {
        self.avi
            .control()
            .audit_log()
            .into_iter()
            .skip(mark)
            .collect()
    }

    /// `"<method> <object type>"` of every write after the first `mark` writes.
    pub fn writes_since(&self, mark: usize) -> Vec<String> {
        self.audit_since(mark)
            .iter()
            .map(|e| format!("{} {}", e.method, e.object_type))
            .collect()
    }

    /// `"<method> <name>"` of every GslbService write after the first `mark` writes.
    pub fn gs_writes_since(&self, mark: usize) -> Vec<String> {
        self.audit_since(mark)
            .iter()
            .filter(|e| e.object_type == "gslbservice")
            .map(|e| format!("{} {}", e.method, e.name))
            .collect()
    }

    // -----------------------------------------------------------------------------------------
    // The clusters.
    // -----------------------------------------------------------------------------------------

    /// The `K` `ns/name` in `cluster`; `None` when it does not exist or cannot be read.
    pub async fn get_object<K: Namespaced>(
        &self,
        cluster: &str,
        ns: &str,
        name: &str,
    ) -> Option<K> {
        Api::<K>::namespaced(self.client(cluster).await, ns)
            .get_opt(name)
            .await
            .ok()
            .flatten()
    }

    /// Every `K` in namespace `ns` of `cluster`; none when they cannot be listed.
    pub async fn list<K: Namespaced>(&self, cluster: &str, ns: &str) -> Vec<K> {
        Api::<K>::namespaced(self.client(cluster).await, ns)
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
    }

    /// Creates `object` (JSON of a `K`) in namespace `ns` of `cluster`, creating the namespace
    /// if needed.
    pub async fn create<K>(&self, cluster: &str, ns: &str, object: Value)
    where
        K: Namespaced + serde::Serialize,
    {
        let client = self.client(cluster).await;
        ensure_namespace(&client, ns).await;
        let typed: K = serde_json::from_value(object).expect("a valid object");
        Api::<K>::namespaced(client, ns)
            .create(&PostParams::default(), &typed)
            .await
            .expect("object created");
    }

    /// Deletes the `K` `ns/name` in `cluster`.
    pub async fn delete<K>(&self, cluster: &str, ns: &str, name: &str)
    where
        K: Namespaced,
    {
        Api::<K>::namespaced(self.client(cluster).await, ns)
            .delete(name, &DeleteParams::default())
            .await
            .expect("object deleted");
    }

    /// Merge-patches the `K` `ns/name` in `cluster`.
    pub async fn patch<K>(&self, cluster: &str, ns: &str, name: &str, patch: Value)
    where
        K: Namespaced,
    {
        Api::<K>::namespaced(self.client(cluster).await, ns)
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect("object patched");
    }

    /// An Ingress `ns/name` for `host` on path `/`, labelled `labels`.
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

    /// An Ingress `ns/name` for `host` on path `/` that the GDP selects (`app: gslb`).
    pub async fn create_gslb_ingress(
        &self,
        cluster: &str,
        namespace: &str,
        name: &str,
        host: &str,
    ) {
        self.create_ingress(cluster, namespace, name, host, json!({"app": "gslb"}))
            .await;
    }

    /// The VIP AKO wrote on the Ingress `ns/name` for `host`.
    pub async fn ingress_vip(&self, cluster: &str, ns: &str, name: &str, host: &str) -> String {
        let ing = Api::<Ingress>::namespaced(self.client(cluster).await, ns)
            .get(name)
            .await
            .expect("ingress");
        ing.status
            .and_then(|s| s.load_balancer)
            .and_then(|lb| lb.ingress)
            .into_iter()
            .flatten()
            .find(|i| i.hostname.as_deref() == Some(host))
            .and_then(|i| i.ip)
            .expect("AKO wrote a VIP for the host")
    }

    /// What AKO wrote on the Ingress `ns/name` for `host`.
    pub async fn ingress_placement(
        &self,
        cluster: &str,
        ns: &str,
        name: &str,
        host: &str,
    ) -> AkoPlacement {
        let vip = self.ingress_vip(cluster, ns, name, host).await;
        let ing = Api::<Ingress>::namespaced(self.client(cluster).await, ns)
            .get(name)
            .await
            .expect("ingress");
        AkoPlacement::from(&ing.metadata.annotations.unwrap_or_default(), host, vip)
    }

    // -----------------------------------------------------------------------------------------
    // The CRs' status.
    // -----------------------------------------------------------------------------------------

    /// The GDP's `status.errorStatus` (empty until written).
    pub async fn gdp_status(&self) -> String {
        self.get_object::<GlobalDeploymentPolicy>(self.home_cluster(), HOME, "global-gdp")
            .await
            .and_then(|g| g.status)
            .map(|s| s.error_status)
            .unwrap_or_default()
    }

    /// The GSLBConfig's `status.state` (empty until written).
    pub async fn gslb_config_state(&self) -> String {
        self.get_object::<GslbConfig>(self.home_cluster(), HOME, "gc-1")
            .await
            .and_then(|g| g.status)
            .map(|s| s.state)
            .unwrap_or_default()
    }

    /// Waits for the GSLBConfig and GDP status to say accepted (the supervisor writes the
    /// GSLBConfig state shortly after the writer reports boot done, so readiness can come first).
    pub async fn wait_policy_accepted(&self) {
        self.eventually("GSLBConfig and GDP accepted", || async {
            self.gslb_config_state().await == "success: gslb config accepted"
                && self.gdp_status().await == "success"
        })
        .await;
    }

    /// Creates the GSLBHostRule `namespace/name`, or replaces its spec keeping its metadata (see
    /// `replace_gdp` for why not apply).
    pub async fn try_put_host_rule(
        &self,
        namespace: &str,
        name: &str,
        spec: Value,
    ) -> Result<(), kube::Error> {
        let api = Api::<GslbHostRule>::namespaced(self.home().await, namespace);
        match api.get_opt(name).await? {
            Some(mut current) => {
                current.spec = serde_json::from_value(spec).expect("GSLBHostRule spec");
                api.replace(name, &PostParams::default(), &current).await?;
            }
            None => {
                let rule = gslb_host_rule(namespace, name, spec);
                api.create(&PostParams::default(), &rule).await?;
            }
        }
        Ok(())
    }

    /// `try_put_host_rule`, which must succeed.
    pub async fn put_host_rule(&self, namespace: &str, name: &str, spec: Value) {
        self.try_put_host_rule(namespace, name, spec)
            .await
            .expect("GSLBHostRule written");
    }

    pub async fn delete_host_rule(&self, name: &str) {
        Api::<GslbHostRule>::namespaced(self.home().await, HOME)
            .delete(name, &DeleteParams::default())
            .await
            .expect("GSLBHostRule deleted");
    }

    /// `(status, error)` of the GSLBHostRule `namespace/name`, once written.
    pub async fn host_rule_status(&self, namespace: &str, name: &str) -> Option<(String, String)> {
        self.get_object::<GslbHostRule>(self.home_cluster(), namespace, name)
            .await
            .and_then(|r| r.status)
            .map(|s| (s.status, s.error))
    }

    /// Waits until `check(status, error)` holds for the GSLBHostRule `HOME/name`.
    pub async fn wait_host_rule_status(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&str, &str) -> bool,
    ) {
        self.eventually(what, || async {
            self.host_rule_status(HOME, name)
                .await
                .is_some_and(|(status, error)| check(&status, &error))
        })
        .await;
    }
}

/// The `amko` child process; killed on drop. Its log is `log`.
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

impl Operator {
    /// Wraps a started `amko` process that serves on `listen` and logs to `log`.
    pub fn new(child: Child, listen: String, log: PathBuf) -> Operator {
        Operator { child, listen, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let response = reqwest::get(format!("http://{}{path}", self.listen))
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.unwrap_or_default()))
    }

    /// The /metrics text (empty when it does not answer).
    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .await
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// `phase` of /api/status.
    pub async fn phase(&self) -> String {
        self.get("/api/status")
            .await
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .and_then(|v| v["phase"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    pub async fn ready(&self) -> bool {
        matches!(self.get("/readyz").await, Some((200, _)))
    }

    /// `amko_leading` on /metrics: 1 while this instance runs the pipeline.
    pub async fn leading(&self) -> bool {
        self.metrics().await.lines().any(|l| l == "amko_leading 1")
    }

    /// Leading, and its pipeline finished the boot sync.
    pub async fn leads_and_is_ready(&self) -> bool {
        self.leading().await && self.ready().await
    }

    /// Waits (60 s) until /readyz answers 200.
    pub async fn wait_ready(&self) {
        wait_until(
            "operator ready",
            Duration::from_secs(60),
            || self.ready(),
            || self.log(),
        )
        .await;
    }
}

// ---------------------------------------------------------------------------------------------
// Builders.
// ---------------------------------------------------------------------------------------------

/// A GDP spec selecting `app: gslb` objects in `clusters`, with the fields of `extra` added
/// (e.g. `json!({"ttl": 30})`; `json!({})` for none).
pub fn gdp(clusters: &[&str], extra: Value) -> Value {
    let mut spec = json!({
        "matchRules": {"appSelector": {"label": {"app": "gslb"}}},
        "matchClusters": clusters.iter().map(|c| json!({"cluster": c})).collect::<Vec<_>>(),
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    spec
}

/// The GSLBHostRule `namespace/name` with `spec`.
pub fn gslb_host_rule(namespace: &str, name: &str, spec: Value) -> GslbHostRule {
    serde_json::from_value(json!({
        "apiVersion": "amko.vmware.com/v1alpha1", "kind": "GSLBHostRule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec
    }))
    .expect("GSLBHostRule")
}

/// An Ingress `namespace/name` selected by the GDP (`app: gslb`), with one rule for `host` over
/// `paths` (to Service `web`); `tls` lists it under `spec.tls` so its member is TLS.
pub fn ingress(namespace: &str, name: &str, host: &str, paths: &[&str], tls: bool) -> Value {
    let paths: Vec<Value> = paths
        .iter()
        .map(|p| {
            json!({"path": p, "pathType": "Prefix",
                   "backend": {"service": {"name": "web", "port": {"number": 80}}}})
        })
        .collect();
    let mut spec = json!({"rules": [{"host": host, "http": {"paths": paths}}]});
    if tls {
        spec["tls"] = json!([{"hosts": [host], "secretName": "web-tls"}]);
    }
    json!({
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "gslb"}},
        "spec": spec
    })
}

/// A LoadBalancer Service `namespace/name` named `host` (external-dns annotation) with `labels`;
/// the fields of `spec` (ports, selector, IP families) are added to `type: LoadBalancer`.
pub fn lb_service(namespace: &str, name: &str, host: &str, labels: Value, spec: Value) -> Value {
    let mut object = json!({
        "metadata": {"name": name, "namespace": namespace, "labels": labels,
            "annotations": {"external-dns.alpha.kubernetes.io/hostname": host}},
        "spec": {"type": "LoadBalancer"}
    });
    if let (Some(base), Some(spec)) = (object["spec"].as_object_mut(), spec.as_object()) {
        base.extend(spec.clone());
    }
    object
}

/// An OpenShift Route `namespace/name` selected by the GDP (`app: gslb`) with `spec` (its `to` is
/// Service `web`).
pub fn route(namespace: &str, name: &str, mut spec: Value) -> Value {
    spec["to"] = json!({"kind": "Service", "name": "web", "weight": 100});
    json!({
        "apiVersion": "route.openshift.io/v1", "kind": "Route",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "gslb"}},
        "spec": spec
    })
}

// ---------------------------------------------------------------------------------------------
// Reading what the controller and AKO hold.
// ---------------------------------------------------------------------------------------------

/// Every pool member of a GslbService as the controller holds it.
pub fn members_of(gs: &Value) -> Vec<Value> {
    gs["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["members"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The member with VIP `ip`.
pub fn member_with_ip(gs: &Value, ip: &str) -> Value {
    members_of(gs)
        .into_iter()
        .find(|m| m["ip"]["addr"] == ip)
        .unwrap_or_else(|| panic!("no member with VIP {ip} in {gs:#}"))
}

/// The name part of a rendered reference (`https://…/api/<type>/<uuid>#<name>`); empty if none.
pub fn ref_name(reference: &Value) -> String {
    reference
        .as_str()
        .and_then(|r| r.rsplit_once('#'))
        .map(|(_, name)| name.to_owned())
        .unwrap_or_default()
}

/// Names of the objects a `*_refs` list refers to (the controller renders `...#<name>`).
pub fn ref_names(refs: &Value) -> Vec<String> {
    refs.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|r| r.rsplit_once('#').map_or(r, |(_, name)| name).to_owned())
        .collect()
}

/// The GslbService's domain names, sorted.
pub fn domain_names(gs: &Value) -> Vec<String> {
    let mut names: Vec<String> = gs["domain_names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// What AKO emulation wrote on an object for a host: (VIP, VS UUID, controller cluster UUID).
#[derive(Debug)]
pub struct AkoPlacement {
    pub vip: String,
    pub vs_uuid: String,
    pub cluster_uuid: String,
}

impl AkoPlacement {
    /// From the object's annotations (AKO's VS UUID map and cluster UUID) and its VIP.
    pub fn from(
        annotations: &std::collections::BTreeMap<String, String>,
        host: &str,
        vip: String,
    ) -> AkoPlacement {
        let map: Value = serde_json::from_str(
            annotations
                .get("ako.vmware.com/host-fqdn-vs-uuid-map")
                .expect("AKO wrote the VS UUID map"),
        )
        .expect("the VS UUID map is JSON");
        AkoPlacement {
            vip,
            vs_uuid: map[host]
                .as_str()
                .expect("a VS UUID for the host")
                .to_owned(),
            cluster_uuid: annotations
                .get("ako.vmware.com/controller-cluster-uuid")
                .expect("AKO wrote the controller cluster UUID")
                .clone(),
        }
    }
}

/// The GslbService has a member for the placement's VIP with its VS and cluster UUIDs.
pub fn assert_member_placed(gs: &Value, placement: &AkoPlacement) {
    let member = member_with_ip(gs, &placement.vip);
    assert_eq!(member["vs_uuid"], placement.vs_uuid.as_str(), "{member}");
    assert_eq!(
        member["cluster_uuid"],
        placement.cluster_uuid.as_str(),
        "{member}"
    );
}

// ---------------------------------------------------------------------------------------------
// Waiting and small utilities.
// ---------------------------------------------------------------------------------------------

/// Polls `check` every 100 ms until it holds; after `timeout` fails the test naming `what`,
/// with the tail of `context()` (a process log).
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
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(60)..].join("\n");
            panic!(
                "timed out after {timeout:?} waiting for {what}\n--- log (last 60 lines) ---\n{tail}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn ensure_namespace(client: &Client, name: &str) {
    scenario::ensure_namespace(client, name)
        .await
        .expect("namespace");
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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

pub fn remove_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
