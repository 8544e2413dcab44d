//! `amko run`: the operator, in a pod (in-cluster config) or out of cluster (`--kubeconfig`,
//! `--context`). Members come from env `GSLB_CONFIG` or `--members-kubeconfig`. The operator runs
//! only while this instance may write: it holds the Lease (`--leader-elect`) and its AMKOCluster
//! makes it the leader (or there is none); otherwise it idles and starts when that changes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amko::avi::RateBudget;
use amko::lease::LeaseElector;
use amko::policy::LogLevel;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

use super::clusters::ClusterArgs;
use super::error::CmdError;
use crate::election;
use crate::http::{self, DebugEndpoints, Endpoints};
#[cfg(feature = "sim")]
use crate::liveness::InjectedFault;
use crate::liveness::{self, Injection, PanicSlot};
use crate::operator::{Operator, OperatorOptions, SetLogLevel};
use crate::role::RoleWatcher;
use crate::telemetry::Metrics;
use amko::gate::{Gate, LeaseView};

/// Arguments of `amko run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub clusters: ClusterArgs,
    /// Address of the HTTP endpoints (/api/status, /healthz, /readyz, /metrics; /debug/* with
    /// --debug-endpoints).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub health: HealthArgs,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Controller requests per second this instance may send (the controller allows ~32).
    #[arg(long, default_value_t = RateBudget::DEFAULT.per_second)]
    pub avi_rate: f64,
    /// Burst allowance of the controller request budget.
    #[arg(long, default_value_t = RateBudget::DEFAULT.burst)]
    pub avi_burst: u32,
    /// GslbServices written concurrently (each one's writes stay in order).
    #[arg(long, default_value_t = 8)]
    pub max_in_flight: usize,
    /// Window in which changes to one GslbService are coalesced into one write.
    #[arg(long, default_value_t = 100)]
    pub coalesce_ms: u64,
    /// How long boot waits for every member cluster's first list before writing without it.
    #[arg(long, default_value_t = 60)]
    pub boot_timeout_secs: u64,
    /// The longest a controller's 429 `Retry-After` may hold writes, in seconds (the controller's
    /// answers are untrusted: a larger value is cut to this, a missing one means 1 s).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub max_retry_after_secs: u64,
    /// Overrides the GSLBConfig's refreshInterval, in seconds.
    #[arg(long)]
    pub refresh_secs: Option<u64>,
    #[command(flatten)]
    pub election: ElectionArgs,
    /// How often this cluster's AMKOCluster (leader or follower) is re-read.
    #[arg(long, default_value_t = 2000)]
    pub role_poll_ms: u64,
    /// Use an `http://` gslbLeader.controllerIP instead of refusing it. The login then sends the
    /// controller password unencrypted: only for a lab or a TLS-terminating sidecar.
    #[arg(long)]
    pub allow_insecure_http: bool,
}

/// The liveness watchdog and the debug endpoints.
#[derive(clap::Args, Debug, Clone)]
pub struct HealthArgs {
    /// Serve the debug endpoints (/debug/*) on --listen. They show every member object and
    /// GslbService body without authentication: off by default.
    #[arg(long)]
    pub debug_endpoints: bool,
    /// Serve the debug endpoints only on this loopback address (e.g. 127.0.0.1:8082, reached
    /// with `kubectl port-forward`), not on --listen.
    #[arg(long, value_name = "ADDR", conflicts_with = "debug_endpoints")]
    pub debug_listen: Option<SocketAddr>,
    /// The liveness probe (/api/status, /healthz) fails when a pipeline thread leaves its work
    /// waiting this long (a handler that never returns).
    #[arg(long, default_value_t = amko::liveness::DEFAULT_STALL_THRESHOLD.as_secs())]
    pub stall_threshold_secs: u64,
    /// Test only (simulator builds): injects this fault into the pipeline once it has booted
    /// and --sim-inject-trigger exists.
    #[cfg(feature = "sim")]
    #[arg(long, value_enum, hide = true, requires = "sim_inject_trigger")]
    pub sim_inject_fault: Option<InjectedFault>,
    /// Test only (simulator builds): the file whose creation injects the fault.
    #[cfg(feature = "sim")]
    #[arg(long, value_name = "FILE", hide = true)]
    pub sim_inject_trigger: Option<std::path::PathBuf>,
}

impl HealthArgs {
    #[cfg(feature = "sim")]
    fn injection(&self) -> Option<Injection> {
        Some(Injection {
            fault: self.sim_inject_fault?,
            trigger: self.sim_inject_trigger.clone()?,
        })
    }

    #[cfg(not(feature = "sim"))]
    fn injection(&self) -> Option<Injection> {
        None
    }

    /// Where the debug endpoints go.
    fn debug(&self) -> DebugEndpoints {
        match (self.debug_endpoints, self.debug_listen) {
            (_, Some(_)) => DebugEndpoints::Separate,
            (true, None) => DebugEndpoints::OnMainListener,
            (false, None) => DebugEndpoints::Off,
        }
    }
}

/// Serves the endpoints on `listener` (and the debug endpoints on `--debug-listen`), starts the
/// liveness watchdog and records panics for it. Needs an actix System.
pub async fn serve_endpoints(
    listener: tokio::net::TcpListener,
    endpoints: &Endpoints,
    health: &HealthArgs,
) -> Result<(), CmdError> {
    let debug = health.debug();
    if let Some(addr) = health.debug_listen {
        if !addr.ip().is_loopback() {
            return Err(CmdError::DebugListenNotLoopback { addr });
        }
        let debug_listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(CmdError::listen(addr))?;
        let app = http::debug_router(endpoints.clone());
        actix::spawn(async move {
            if let Err(e) = axum::serve(debug_listener, app).await {
                tracing::error!(error = %e, "debug endpoints stopped");
            }
        });
        tracing::info!(listen = %addr, "debug endpoints on a loopback listener");
    } else if debug == DebugEndpoints::OnMainListener {
        tracing::warn!(
            "debug endpoints enabled on --listen: they show member objects and GslbService bodies to anyone who reaches the port"
        );
    }
    let app = http::router(endpoints.clone(), debug);
    actix::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP endpoints stopped");
        }
    });
    let panics = PanicSlot::default();
    liveness::install_panic_hook(panics.clone());
    actix::spawn(liveness::watch(
        endpoints.clone(),
        endpoints.metrics.clone(),
        Duration::from_secs(health.stall_threshold_secs),
        panics,
        health.injection(),
    ));
    Ok(())
}

/// Leader election between replicas of one cluster (`replicaCount > 1` in the chart).
#[derive(clap::Args, Debug)]
pub struct ElectionArgs {
    /// Only the replica holding the Lease writes; the others stand by.
    #[arg(long)]
    pub leader_elect: bool,
    /// Name of the coordination.k8s.io Lease (in --namespace).
    #[arg(long, default_value = "amko-leader")]
    pub lease_name: String,
    /// A standby takes over when the holder has not renewed for this long.
    #[arg(long, default_value_t = 15)]
    pub lease_duration_secs: u64,
    /// This replica's identity in the Lease (default: the pod name, else host and process id).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}

impl ElectionArgs {
    /// The election, when enabled.
    pub fn elector(&self, client: &kube::Client, namespace: &str) -> Option<Arc<LeaseElector>> {
        if !self.leader_elect {
            return None;
        }
        let identity = self.identity.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "amko".to_owned());
            format!("{host}-{}", std::process::id())
        });
        Some(Arc::new(LeaseElector::new(
            client.clone(),
            namespace,
            &self.lease_name,
            &identity,
            Duration::from_secs(self.lease_duration_secs.max(1)),
        )))
    }

    /// Follows the Lease (or always "held" without election).
    pub fn follow(
        elector: &Option<Arc<LeaseElector>>,
        metrics: &Arc<Metrics>,
    ) -> watch::Receiver<LeaseView> {
        match elector {
            Some(e) => election::spawn(e.clone(), metrics.clone()),
            None => election::not_electing(),
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let set_log_level = init_logging(args.log_format)?;
    let members_kubeconfig = args.clusters.members_kubeconfig_text()?;
    let options = OperatorOptions {
        namespace: args.clusters.namespace.clone(),
        members_kubeconfig,
        boot_timeout: Duration::from_secs(args.boot_timeout_secs),
        coalesce_window: Duration::from_millis(args.coalesce_ms),
        rate: RateBudget {
            per_second: args.avi_rate,
            burst: args.avi_burst,
        },
        max_in_flight: args.max_in_flight.max(1),
        refresh_interval: args.refresh_secs.map(Duration::from_secs),
        reporter: std::env::var("POD_NAME").unwrap_or_else(|_| "amko-rs".to_owned()),
        allow_insecure_http: args.allow_insecure_http,
        max_rate_limit_hold: Duration::from_secs(args.max_retry_after_secs),
    };

    let system = actix::System::new();
    system.block_on(async move {
        let client = args.clusters.home_client().await?;
        let metrics = Metrics::new();
        metrics.rate_budget.set(options.rate.per_second);
        let endpoints = Endpoints::new(metrics.clone());
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(CmdError::listen(args.listen))?;
        serve_endpoints(listener, &endpoints, &args.health).await?;
        tracing::info!(listen = %args.listen, namespace = %args.clusters.namespace, "amko-rs operator starting");
        let elector = args.election.elector(&client, &args.clusters.namespace);
        let lease = ElectionArgs::follow(&elector, &metrics);
        let gate = RoleWatcher::new(
            client.clone(),
            args.clusters.namespace.clone(),
            options.members_kubeconfig.as_deref(),
            Duration::from_millis(args.role_poll_ms.max(100)),
        )
        .spawn(lease);
        let make = || {
            Operator::new(
                client.clone(),
                options.clone(),
                metrics.clone(),
                endpoints.clone(),
                set_log_level.clone(),
            )
        };
        tokio::select! {
            _ = lead_while_allowed(gate, make, &endpoints, &metrics) => {}
            _ = shutdown_signal() => tracing::info!("shutting down"),
        }
        if let Some(elector) = elector
            && let Err(e) = elector.release().await
        {
            tracing::warn!(error = %e, "cannot release the lease; a standby takes over when it expires");
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}

/// Runs the operator while the gate is open; stops it (in-process) when it closes.
async fn lead_while_allowed(
    mut gate: watch::Receiver<Gate>,
    make: impl Fn() -> Operator,
    endpoints: &Endpoints,
    metrics: &Metrics,
) {
    loop {
        let current = gate.borrow_and_update().clone();
        if !current.may_lead {
            metrics.leading.set(0);
            endpoints.set_idle(current.decided);
            endpoints.set_phase(current.why);
            if gate.changed().await.is_err() {
                return;
            }
            continue;
        }
        tracing::info!(why = %current.why, "this instance leads: starting the operator");
        endpoints.set_idle(false);
        metrics.leading.set(1);
        let closed = async {
            loop {
                if gate.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                if !gate.borrow().may_lead {
                    return;
                }
            }
        };
        tokio::select! {
            _ = make().run() => {}
            _ = closed => tracing::info!(why = %gate.borrow().why, "this instance no longer leads: operator stopped"),
        }
        metrics.leading.set(0);
        endpoints.set_pipeline(None);
    }
}

/// The subscriber `amko run` and `amko federate` use: stderr, colours only on a terminal.
pub fn init_logging(format: LogFormat) -> Result<SetLogLevel, Box<dyn std::error::Error>> {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    init_tracing(format, BoxMakeWriter::new(std::io::stderr), ansi)
}

/// Installs the global tracing subscriber (filter from env `AMKO_LOG`, default `info`) writing
/// to `writer` (with terminal colours when `ansi`), and returns the function that changes its
/// level live.
pub fn init_tracing(
    format: LogFormat,
    writer: BoxMakeWriter,
    ansi: bool,
) -> Result<SetLogLevel, Box<dyn std::error::Error>> {
    let filter = EnvFilter::try_from_env("AMKO_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, reload_handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(writer),
            )
            .try_init()?,
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_ansi(ansi)
                    .with_writer(writer),
            )
            .try_init()?,
    }
    Ok(Arc::new(move |level: LogLevel| {
        let _ = reload_handle
            .modify(|f| *f = EnvFilter::new(format!("{},kube=warn,hyper=warn", level.as_filter())));
    }))
}

/// The operator with its HTTP endpoints on `listener`, always leading (no AMKOCluster or Lease
/// checks); runs until the process stops. `amko demo` uses it. Needs an actix System.
#[cfg(feature = "sim")]
pub async fn serve(
    client: kube::Client,
    options: OperatorOptions,
    listener: tokio::net::TcpListener,
    set_log_level: SetLogLevel,
    health: &HealthArgs,
) -> Result<(), CmdError> {
    let metrics = Metrics::new();
    metrics.rate_budget.set(options.rate.per_second);
    let endpoints = Endpoints::new(metrics.clone());
    let listen = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    serve_endpoints(listener, &endpoints, health).await?;
    tracing::info!(%listen, namespace = %options.namespace, "amko-rs operator starting");
    Operator::new(client, options, metrics, endpoints, set_log_level)
        .run()
        .await;
    Ok(())
}

/// The members kubeconfig text: `--members-kubeconfig FILE`, else env `GSLB_CONFIG`.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
