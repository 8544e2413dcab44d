//! `amko run`: the operator, in a pod (in-cluster config) or out of cluster (`--kubeconfig`,
//! `--context`). Members come from env `GSLB_CONFIG` or `--members-kubeconfig`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use amko::avi::RateBudget;
use amko::policy::LogLevel;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

use crate::http::{self, Endpoints};
use crate::operator::{Operator, OperatorOptions, SetLogLevel};
use crate::telemetry::Metrics;

/// Arguments of `amko run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kubeconfig of the cluster amko-rs runs in (default: in-cluster, then ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Context of --kubeconfig to use.
    #[arg(long)]
    pub context: Option<String>,
    /// Namespace holding the GSLBConfig, the GDP and the credentials Secret.
    #[arg(long, env = "POD_NAMESPACE", default_value = "avi-system")]
    pub namespace: String,
    /// Members kubeconfig file (otherwise the kubeconfig text in env GSLB_CONFIG).
    #[arg(long)]
    pub members_kubeconfig: Option<PathBuf>,
    /// Address of the HTTP endpoints (/api/status, /healthz, /readyz, /metrics, /debug/*).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
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
    /// Overrides the GSLBConfig's refreshInterval, in seconds.
    #[arg(long)]
    pub refresh_secs: Option<u64>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let set_log_level = init_tracing(args.log_format, BoxMakeWriter::new(std::io::stderr), ansi)?;
    let members_kubeconfig = match &args.members_kubeconfig {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        ),
        None => std::env::var("GSLB_CONFIG")
            .ok()
            .filter(|s| !s.trim().is_empty()),
    };
    let options = OperatorOptions {
        namespace: args.namespace.clone(),
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
    };

    let system = actix::System::new();
    system.block_on(async move {
        let client = home_client(&args).await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        tokio::select! {
            _ = serve(client, options, listener, set_log_level) => {}
            _ = shutdown_signal() => tracing::info!("shutting down"),
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    Ok(())
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

/// The operator with its HTTP endpoints on `listener`; runs until the process stops. `amko run`
/// and `amko demo` both start it here. Needs an actix System (the pipeline is actors).
pub async fn serve(
    client: kube::Client,
    options: OperatorOptions,
    listener: tokio::net::TcpListener,
    set_log_level: SetLogLevel,
) {
    let metrics = Metrics::new();
    let endpoints = Endpoints::new(metrics.clone());
    let listen = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let serve_endpoints = endpoints.clone();
    actix::spawn(async move {
        if let Err(e) = axum::serve(listener, http::router(serve_endpoints)).await {
            tracing::error!(error = %e, "HTTP endpoints stopped");
        }
    });
    tracing::info!(%listen, namespace = %options.namespace, "amko-rs operator starting");
    Operator::new(client, options, metrics, endpoints, set_log_level)
        .run()
        .await;
}

async fn home_client(args: &Args) -> Result<kube::Client, Box<dyn std::error::Error>> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let options = KubeConfigOptions {
                context: args.context.clone(),
                ..KubeConfigOptions::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}

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
