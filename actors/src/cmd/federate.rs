//! `amko federate`: the federator container of the chart. On the leader cluster it copies the
//! GSLBConfig and GDP to the follower clusters and writes the AMKOCluster's status conditions; on
//! a follower it reports "won't federate objects". A round runs when the local AMKOCluster,
//! GSLBConfig or GDP changes (watched) and every `--interval-secs` (followers edited by hand are
//! put back). Serves `/healthz`, `/api/status` and `/metrics` on `--listen`.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use amko::crd::{AmkoCluster, GlobalDeploymentPolicy, GslbConfig};
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use futures::stream::{self, BoxStream, StreamExt};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

use crate::cmd::clusters::ClusterArgs;
use crate::cmd::error::CmdError;
use crate::cmd::run::{ElectionArgs, LogFormat, init_logging, shutdown_signal};
use crate::federator::Federator;
use crate::telemetry::Metrics;

/// Arguments of `amko federate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub clusters: ClusterArgs,
    /// Address of /healthz, /api/status and /metrics.
    #[arg(long, default_value = "0.0.0.0:8081")]
    pub listen: SocketAddr,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Seconds between federation rounds when nothing changes locally.
    #[arg(long, default_value_t = 10)]
    pub interval_secs: u64,
    #[command(flatten)]
    pub election: ElectionArgs,
}

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    phase: Arc<RwLock<String>>,
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/api/status",
            get(|State(s): State<Shared>| async move {
                let phase = s.phase.read().map(|p| p.clone()).unwrap_or_default();
                axum::Json(serde_json::json!({"status": "running", "phase": phase}))
            }),
        )
        .route(
            "/metrics",
            get(|State(s): State<Shared>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    s.metrics.render(),
                )
                    .into_response()
            }),
        )
        .with_state(shared)
}

pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let _ = init_logging(args.log_format)?;
    let members = args.clusters.members_kubeconfig_text()?;
    let system = actix::System::new();
    system.block_on(async move {
        let client = args.clusters.home_client().await?;
        let metrics = Metrics::new();
        let shared = Shared {
            metrics: metrics.clone(),
            phase: Arc::new(RwLock::new("starting".to_owned())),
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(CmdError::listen(args.listen))?;
        let app = router(shared.clone());
        actix::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "HTTP endpoints stopped");
            }
        });
        tracing::info!(listen = %args.listen, namespace = %args.clusters.namespace, "amko-rs federator starting");
        let elector = args.election.elector(&client, &args.clusters.namespace);
        let lease = ElectionArgs::follow(&elector, &metrics);
        let mut changes = local_changes(&client, &args.clusters.namespace);
        let mut federator = Federator::new(
            client,
            args.clusters.namespace.clone(),
            members.as_deref(),
            metrics.clone(),
        );
        let interval = Duration::from_secs(args.interval_secs.max(1));
        let rounds = async {
            let mut last = String::new();
            loop {
                let view = lease.borrow().clone();
                let phase = if view.held() {
                    metrics.leading.set(1);
                    federator.reconcile().await
                } else {
                    metrics.leading.set(0);
                    "standby: another replica holds the federator lease".to_owned()
                };
                if phase != last {
                    tracing::info!(%phase, "federation");
                    last = phase.clone();
                }
                if let Ok(mut p) = shared.phase.write() {
                    *p = phase;
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = changes.next() => {
                        // A burst (an edit plus its status write) becomes one round.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        };
        tokio::select! {
            _ = rounds => {}
            _ = shutdown_signal() => tracing::info!("shutting down"),
        }
        if let Some(elector) = elector {
            let _ = elector.release().await;
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}

/// One item per change of the local AMKOCluster, GSLBConfig or GDP (watch events, with kube's
/// backoff when the API server is unreachable; errors only delay the next round).
fn local_changes(client: &Client, namespace: &str) -> BoxStream<'static, ()> {
    fn changes<K>(api: Api<K>) -> BoxStream<'static, ()>
    where
        K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
        K::DynamicType: Default,
    {
        watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .filter_map(|event| async move { event.ok().map(|_| ()) })
            .boxed()
    }
    stream::select_all([
        changes(Api::<AmkoCluster>::namespaced(client.clone(), namespace)),
        changes(Api::<GslbConfig>::namespaced(client.clone(), namespace)),
        changes(Api::<GlobalDeploymentPolicy>::namespaced(
            client.clone(),
            namespace,
        )),
    ])
    .boxed()
}
