//! `amko demo`: simulated member clusters (two Kubernetes, one OpenShift) and a simulated Avi
//! controller in this process, amko-rs installed into `cluster1` as the chart would, the operator
//! running in-process, sample applications created, and a live view of the GslbServices and of
//! the answers of the simulated GSLB DNS service.

mod dns;
mod view;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use amko::avi::RateBudget;
use amko_sim::avi::{AviSim, AviSimConfig, AviSimHandle};
use amko_sim::k8s::{ClusterSpec, SimClusters, SimConfig};
use amko_sim::scenario::{self, ChartInstall, Leader};
use serde_json::{Value, json};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use super::error::CmdError;
use super::run::{self, LogFormat};
use super::verify_dns::client::{self as dns_client, Batch, Target};
use crate::operator::OperatorOptions;
use view::Expected;

/// Arguments of `amko demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Exit after the first convergence: 0 when the GslbServices converged, non-zero on failure
    /// or timeout. Without it the demo keeps running until Ctrl-C.
    #[arg(long)]
    pub once: bool,
    /// Where to write the kubeconfig of the simulated clusters (default: in the OS temp dir).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Seconds to wait for the first convergence.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    /// Seconds between refreshes of the view.
    #[arg(long, default_value_t = 2)]
    pub refresh_secs: u64,
    /// Address of the operator's HTTP endpoints (/api/status, /metrics, and /debug/*, which the
    /// demo always serves).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
}

const HOME_NAMESPACE: &str = "avi-system";
const APP_NAMESPACE: &str = "demo";
const UUID: &str = "0d3e5a6c-4d2e-4a6b-9c1d-0a3c0de0de01";
const CLUSTERS: [&str; 3] = ["cluster1", "cluster2", "ocp1"];
const SHOP: &str = "shop.demo.example.com";
const API: &str = "api.demo.example.com";
const STORE: &str = "store.demo.example.com";
const INTERNAL: &str = "internal.demo.example.com";
/// Queries per name for the DNS view: enough for the shares to show, quick on loopback.
const DNS_QUERIES: u64 = 300;

fn traffic_split(cluster2_weight: u32) -> Value {
    json!([
        {"cluster": "cluster1", "weight": 10, "priority": 10},
        {"cluster": "cluster2", "weight": cluster2_weight, "priority": 10},
        {"cluster": "ocp1", "weight": 1, "priority": 20}
    ])
}

/// The chart's `gdpConfig` for the demo: apps labelled `app=gslb` in all three clusters.
fn gdp_spec() -> Value {
    json!({
        "matchRules": {"appSelector": {"label": {"app": "gslb"}}},
        "matchClusters": CLUSTERS.map(|c| json!({"cluster": c})),
        "trafficSplit": traffic_split(5),
        "ttl": 30
    })
}

fn expected() -> Vec<Expected> {
    let of = |fqdn: &str, clusters: &[&str]| Expected {
        fqdn: fqdn.to_owned(),
        clusters: clusters
            .iter()
            .map(|c| (*c).to_owned())
            .collect::<BTreeSet<_>>(),
    };
    vec![
        of(SHOP, &["cluster1", "cluster2"]),
        of(API, &["cluster2"]),
        of(STORE, &["ocp1"]),
    ]
}

/// Why the demo failed, beyond the errors of the steps it runs.
#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error("the operator stopped")]
    OperatorStopped,
    #[error("interrupted before the demo finished")]
    Interrupted,
    #[error("the GslbServices did not converge within {0} s")]
    NotConverged(u64),
    /// The last answer of `/readyz`, or why there was none.
    #[error("the operator did not become ready: {0}")]
    NotReady(String),
    /// Any failure once the operator ran: its log is kept for diagnosis.
    #[error("{source} (operator log: {})", log.display())]
    Failed {
        source: Box<dyn std::error::Error>,
        log: PathBuf,
    },
}

/// The simulators; they run on their own runtime so the operator's actix System is theirs alone.
struct Simulators {
    runtime: tokio::runtime::Runtime,
    clusters: SimClusters,
    avi: AviSimHandle,
}

impl Simulators {
    fn start() -> Result<Self, Box<dyn std::error::Error>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("amko-demo-sim")
            .enable_all()
            .build()?;
        let (clusters, avi) = runtime.block_on(async {
            let clusters = SimClusters::start(SimConfig {
                clusters: vec![
                    ClusterSpec::new(CLUSTERS[0]),
                    ClusterSpec::new(CLUSTERS[1]),
                    ClusterSpec::new(CLUSTERS[2]).openshift(),
                ],
                ..SimConfig::default()
            })
            .await?;
            let avi = AviSim::start(AviSimConfig::default()).await?;
            Ok::<_, Box<dyn std::error::Error>>((clusters, avi))
        })?;
        Ok(Simulators {
            runtime,
            clusters,
            avi,
        })
    }

    fn stop(self) {
        let Simulators {
            runtime,
            clusters,
            avi,
        } = self;
        runtime.block_on(async {
            clusters.shutdown().await;
            avi.shutdown().await;
        });
    }
}

pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("amko-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(CmdError::create(&dir))?;
    let log_path = dir.join("amko.log");
    let log_file = std::fs::File::create(&log_path).map_err(CmdError::create(&log_path))?;
    let set_log_level = run::init_tracing(
        LogFormat::Text,
        BoxMakeWriter::new(Mutex::new(log_file)),
        false,
    )?;

    let started = Instant::now();
    let sims = Simulators::start()?;
    let kubeconfig = args
        .kubeconfig_out
        .clone()
        .unwrap_or_else(|| dir.join("kubeconfig"));
    sims.clusters.write_kubeconfig(&kubeconfig)?;
    let members_kubeconfig =
        std::fs::read_to_string(&kubeconfig).map_err(CmdError::read(&kubeconfig))?;
    println!("amko demo: simulated clusters and Avi controller started");
    for endpoint in sims.clusters.endpoints() {
        let flavour = if endpoint.openshift {
            "OpenShift"
        } else {
            "Kubernetes"
        };
        println!("  {:<10} {flavour:<10} {}", endpoint.name, endpoint.server);
    }
    println!(
        "  {:<10} {:<10} {}",
        "avi",
        "controller",
        sims.avi.base_url()
    );
    if let Some(dns) = sims.avi.dns_addr() {
        println!("  {:<10} {:<10} {dns} (UDP and TCP)", "dns", "GSLB DNS");
    }
    println!("  logs: {}", log_path.display());

    let options = OperatorOptions {
        namespace: HOME_NAMESPACE.to_owned(),
        members_kubeconfig: Some(members_kubeconfig),
        boot_timeout: Duration::from_secs(20),
        coalesce_window: Duration::from_millis(50),
        rate: RateBudget::DEFAULT,
        max_in_flight: 8,
        refresh_interval: None,
        reporter: "amko-demo".to_owned(),
        allow_insecure_http: false,
        max_rate_limit_hold: amko::avi::retry::MAX_RATE_LIMIT_HOLD,
    };
    let context = Context {
        args: &args,
        kubeconfig: &kubeconfig,
        avi: &sims.avi,
        started,
    };
    // The demo runs on this machine only (127.0.0.1 by default): its debug endpoints are on.
    let health = run::HealthArgs {
        debug_endpoints: true,
        debug_listen: None,
        stall_threshold_secs: amko::liveness::DEFAULT_STALL_THRESHOLD.as_secs(),
        sim_inject_fault: None,
        sim_inject_trigger: None,
    };
    let outcome = actix::System::new().block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(CmdError::listen(args.listen))?;
        let listen = listener.local_addr()?;
        let home = scenario::client_for(&kubeconfig, CLUSTERS[0]).await?;
        let install = ChartInstall {
            namespace: HOME_NAMESPACE.to_owned(),
            uuid: UUID.to_owned(),
            leader: Leader::of(&sims.avi),
            members: CLUSTERS.map(str::to_owned).to_vec(),
            refresh_interval_secs: 1800,
            gdp_spec: gdp_spec(),
        };
        scenario::install_like_chart(&home, &install).await?;
        println!("  installed CRDs, Secret, GSLBConfig gc-1 and GDP global-gdp into cluster1");
        tokio::select! {
            served = run::serve(home, options, listener, set_log_level, &health) => {
                served?;
                Err(DemoError::OperatorStopped.into())
            }
            outcome = context.show(listen) => outcome,
            _ = run::shutdown_signal() => {
                println!("stopping");
                if args.once {
                    Err(DemoError::Interrupted.into())
                } else {
                    Ok(())
                }
            }
        }
    });
    sims.stop();
    match outcome {
        Ok(()) => {
            // The log and the default kubeconfig served only this run.
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        }
        Err(source) => Err(DemoError::Failed {
            source,
            log: log_path,
        }
        .into()),
    }
}

struct Context<'a> {
    args: &'a Args,
    kubeconfig: &'a Path,
    avi: &'a AviSimHandle,
    started: Instant,
}

impl Context<'_> {
    /// Waits for the operator, creates the apps, shows the first convergence, then (without
    /// `--once`) keeps the view fresh; never returns `Ok` without `--once`.
    async fn show(&self, listen: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
        let deadline = Instant::now() + Duration::from_secs(self.args.timeout_secs);
        wait_ready(listen, deadline).await?;
        println!(
            "  operator ready after {} ms (http://{listen}/api/status)",
            self.started.elapsed().as_millis()
        );

        let writes_before = self.avi.control().audit_len();
        let first_app = Instant::now();
        self.create_apps().await?;
        let expected = expected();
        let mut progress = (0, writes_before);
        let views = loop {
            let views = view::gslb_services(&self.avi.control().dump());
            let now = (
                view::matching(&views, &expected),
                self.avi.control().audit_len(),
            );
            if now != progress {
                println!(
                    "  {:>5} ms: {}/{} GslbServices as expected, {} controller writes",
                    first_app.elapsed().as_millis(),
                    now.0,
                    expected.len(),
                    now.1 - writes_before
                );
                progress = now;
            }
            if view::converged(&views, &expected, &[INTERNAL]) {
                break views;
            }
            if Instant::now() > deadline {
                println!("\n{}", view::render(&views));
                return Err(DemoError::NotConverged(self.args.timeout_secs).into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let took = first_app.elapsed();
        // Count writes once the controller is quiet, so a late redundant write is not missed.
        let writes = self.settled_writes(deadline).await - writes_before;
        println!("\n{}", view::render(&views));
        println!(
            "Converged: {} GslbServices in {} ms from the first sample application, with {writes} controller writes ({INTERNAL} is not selected).",
            views.len(),
            took.as_millis()
        );
        println!("\n{}", self.dns_view(&views).await);
        if self.args.once {
            return Ok(());
        }
        println!("{}", self.how_to_poke(listen));
        self.follow(shown(&views, self.avi)).await
    }

    /// Asks the simulated GSLB DNS service for every GslbService's name and renders the answer
    /// mix next to the configured weights (`amko verify-dns`'s checks, against the controller's
    /// copy, which is what the DNS service serves).
    async fn dns_view(&self, views: &[view::GsView]) -> String {
        let Some(server) = self.avi.dns_addr() else {
            return "DNS answers: the simulated controller serves no DNS".to_owned();
        };
        let target = Target {
            server,
            timeout: Duration::from_millis(1000),
            retries: 1,
            concurrency: 8,
        };
        let dump = self.avi.control().dump();
        let mut verdicts = Vec::new();
        for gs in dump["gslbservice"].as_array().into_iter().flatten() {
            let expected = match amko::dns_verify::expected_answers(gs) {
                Ok(expected) => expected,
                Err(e) => return format!("DNS answers: {e}"),
            };
            for (record_type, expectation) in &expected.by_type {
                let batch = Batch {
                    fqdn: expected.fqdn().to_owned(),
                    record_type: *record_type,
                    queries: DNS_QUERIES,
                    client_subnets: 0,
                };
                match dns_client::tally(&target, &batch).await {
                    Ok(tally) => verdicts.push(amko::dns_verify::judge(
                        expected.fqdn(),
                        *record_type,
                        expectation,
                        expected.ttl,
                        &tally,
                        amko::dns_verify::verdict::DEFAULT_THRESHOLD,
                    )),
                    Err(e) => return format!("DNS answers: {e}"),
                }
            }
        }
        verdicts.sort_by(|a, b| a.fqdn.cmp(&b.fqdn));
        dns::render(&verdicts, views, server, DNS_QUERIES)
    }

    /// The audit log length once it has not grown for a while (or at `deadline`).
    async fn settled_writes(&self, deadline: Instant) -> usize {
        let quiet = Duration::from_millis(500);
        let mut last = self.avi.control().audit_len();
        let mut since = Instant::now();
        while since.elapsed() < quiet && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.avi.control().audit_len();
            if now != last {
                last = now;
                since = Instant::now();
            }
        }
        last
    }

    async fn create_apps(&self) -> Result<(), Box<dyn std::error::Error>> {
        let client = |c: &'static str| scenario::client_for(self.kubeconfig, c);
        let selected = json!({"app": "gslb"});
        let (c1, c2, ocp) = (
            client(CLUSTERS[0]).await?,
            client(CLUSTERS[1]).await?,
            client(CLUSTERS[2]).await?,
        );
        scenario::create_ingress(&c1, APP_NAMESPACE, "shop", SHOP, selected.clone()).await?;
        scenario::create_ingress(&c2, APP_NAMESPACE, "shop", SHOP, selected.clone()).await?;
        scenario::create_lb_service(&c2, APP_NAMESPACE, "api", API, 8443, selected.clone()).await?;
        scenario::create_route(&ocp, APP_NAMESPACE, "store", STORE, selected).await?;
        scenario::create_ingress(
            &c1,
            APP_NAMESPACE,
            "internal",
            INTERNAL,
            json!({"app": "internal"}),
        )
        .await?;
        println!(
            "  created Ingress {APP_NAMESPACE}/shop ({SHOP}) in cluster1 and cluster2, LoadBalancer Service {APP_NAMESPACE}/api ({API}) in cluster2,\n  Route {APP_NAMESPACE}/store ({STORE}) in ocp1, and Ingress {APP_NAMESPACE}/internal ({INTERNAL}, label app=internal: not selected)"
        );
        Ok(())
    }

    fn how_to_poke(&self, listen: SocketAddr) -> String {
        let k = format!("kubectl --kubeconfig {}", self.kubeconfig.display());
        let split = json!({"spec": {"trafficSplit": traffic_split(20)}});
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nPoke at it (the view below updates when the controller changes):"
        );
        let _ = writeln!(
            out,
            "  {k} --context cluster1 get ingress -n {APP_NAMESPACE}"
        );
        let _ = writeln!(
            out,
            "  {k} --context cluster1 get gdp,gc -n {HOME_NAMESPACE} -o yaml"
        );
        let _ = writeln!(out, "  # give cluster2 weight 20 instead of 5:");
        let _ = writeln!(
            out,
            "  {k} --context cluster1 -n {HOME_NAMESPACE} patch gdp global-gdp --type merge -p '{split}'"
        );
        let _ = writeln!(
            out,
            "  # remove the Ingress from cluster2 (the GslbService keeps one member):"
        );
        let _ = writeln!(
            out,
            "  {k} --context cluster2 -n {APP_NAMESPACE} delete ingress shop"
        );
        let _ = writeln!(out, "  # select the excluded application:");
        let _ = writeln!(
            out,
            "  {k} --context cluster1 -n {APP_NAMESPACE} label ingress internal app=gslb --overwrite"
        );
        if let Some(dns) = self.avi.dns_addr() {
            let _ = writeln!(
                out,
                "  # ask the GSLB DNS service, and check its answers against the policy:"
            );
            let _ = writeln!(out, "  dig @{} -p {} {SHOP}", dns.ip(), dns.port());
            let _ = writeln!(
                out,
                "  amko verify-dns --server {dns} --kubeconfig {kc} --context cluster1 --members-kubeconfig {kc}",
                kc = self.kubeconfig.display()
            );
        }
        let _ = writeln!(
            out,
            "  curl http://{listen}/api/status   (also /metrics, /debug/gslbservices)"
        );
        let _ = write!(out, "Ctrl-C to stop.");
        out
    }

    /// Re-renders the view every `--refresh-secs` when it changed (until Ctrl-C stops the demo).
    async fn follow(&self, mut last: String) -> Result<(), Box<dyn std::error::Error>> {
        let every = Duration::from_secs(self.args.refresh_secs.max(1));
        loop {
            tokio::time::sleep(every).await;
            let views = view::gslb_services(&self.avi.control().dump());
            let now = shown(&views, self.avi);
            if now != last {
                println!(
                    "\n--- {} s: {} GslbServices, {} controller writes so far ---\n{}\n{}",
                    self.started.elapsed().as_secs(),
                    views.len(),
                    self.avi.control().audit_len(),
                    view::render(&views),
                    self.dns_view(&views).await
                );
                last = now;
            }
        }
    }
}

/// What the view shows, to detect a change: the tables and the write count.
fn shown(views: &[view::GsView], avi: &AviSimHandle) -> String {
    format!("{}{}", view::render(views), avi.control().audit_len())
}

async fn wait_ready(
    listen: SocketAddr,
    deadline: Instant,
) -> Result<(), Box<dyn std::error::Error>> {
    let url = format!("http://{listen}/readyz");
    let client = reqwest::Client::new();
    loop {
        let last = match client.get(&url).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            return Err(DemoError::NotReady(last).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
