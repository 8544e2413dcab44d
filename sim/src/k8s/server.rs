//! The multi-cluster server: one listener per cluster (or one shared listener with
//! `/clusters/<name>` prefixes), plain HTTP or TLS, a control listener for `/sim/`, connection
//! refusal for downed clusters, and the handle (`SimClusters`) tests and `amko sim` hold.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::cluster::Cluster;
use super::config::{Listen, SimConfig};
use super::control;
use super::error::ApiError;
use super::faults::{Down, FaultSettings};
use super::handlers::{self, ApiRequest, error_response};
use super::kubeconfig::{self, ClusterEndpoint};
use super::request::{decode_path_segment, encode_segment};
use super::request_log::RbacRequest;
use super::tls::{self, TlsError};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot set up simulated cluster {name}: {source}")]
    Setup { name: String, source: Box<ApiError> },
    #[error("duplicate cluster name {0:?}")]
    DuplicateName(String),
    #[error("cannot write the kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        source: std::io::Error,
    },
}

type Clusters = Arc<BTreeMap<String, Arc<Cluster>>>;

/// What a listener serves: one bound cluster, or all clusters by path prefix.
#[derive(Clone)]
struct Ctx {
    clusters: Clusters,
    bound: Option<Arc<Cluster>>,
}

async fn entry(State(ctx): State<Ctx>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if let Some(rest) = path.strip_prefix("/sim/") {
        let method = request.method().clone();
        let body = match axum::body::to_bytes(request.into_body(), 1 << 20).await {
            Ok(b) => b,
            Err(e) => {
                return error_response(&ApiError::BadRequest(format!("cannot read the body: {e}")));
            }
        };
        return control::handle(&ctx.clusters, ctx.bound.as_ref(), &method, rest, &body);
    }
    let (cluster, api_path) = match &ctx.bound {
        Some(cluster) => (cluster.clone(), path),
        None => {
            let Some(rest) = path.strip_prefix("/clusters/") else {
                return error_response(&ApiError::NoSuchPath);
            };
            // The name is one path segment, percent-encoded (`endpoints` below writes it so).
            let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
            let Some(cluster) = ctx.clusters.get(&decode_path_segment(name)) else {
                return error_response(&ApiError::NoSuchPath);
            };
            (cluster.clone(), format!("/{tail}"))
        }
    };
    match ApiRequest::read(request, api_path, host).await {
        Ok(api_request) => handlers::handle(cluster, api_request).await,
        Err(err) => error_response(&err),
    }
}

fn router(ctx: Ctx) -> axum::Router {
    axum::Router::new().fallback(entry).with_state(ctx)
}

async fn serve_connection(stream: TcpStream, router: axum::Router, tls: Option<TlsAcceptor>) {
    let _ = stream.set_nodelay(true);
    let service = TowerToHyperService::new(router);
    let builder = ConnBuilder::new(TokioExecutor::new());
    let result = match tls {
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(tls_stream) => {
                builder
                    .serve_connection_with_upgrades(TokioIo::new(tls_stream), service)
                    .await
            }
            Err(e) => {
                tracing::debug!("TLS handshake failed: {e}");
                return;
            }
        },
        None => {
            builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection ended with an error: {e}");
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, SimError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })
}

/// Binds `addr` and serves it in `tasks` until shutdown; the address bound (its port chosen when
/// `addr`'s is 0).
async fn serve(
    tasks: &mut JoinSet<()>,
    addr: SocketAddr,
    ctx: Ctx,
    tls: Option<TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
) -> Result<SocketAddr, SimError> {
    let listener = bind(addr).await?;
    let bound = listener
        .local_addr()
        .map_err(|source| SimError::Bind { addr, source })?;
    tasks.spawn(run_listener(Some(listener), bound, ctx, tls, shutdown));
    Ok(bound)
}

/// Serves one listener until shutdown. With a bound cluster, the listener closes while that
/// cluster is down with `Refused` (and open connections are cut), and reopens on the same port.
async fn run_listener(
    mut listener: Option<TcpListener>,
    addr: SocketAddr,
    ctx: Ctx,
    tls: Option<TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let router = router(ctx.clone());
    let mut down = ctx.bound.as_ref().map(|c| c.faults.subscribe_down());
    let mut connections = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let refused = down.as_ref().is_some_and(|d| *d.borrow() == Down::Refused);
        if refused {
            listener = None;
            connections.abort_all();
            tokio::select! {
                _ = async { if let Some(d) = down.as_mut() { let _ = d.changed().await; } } => {}
                _ = shutdown.changed() => break,
            }
            continue;
        }
        let active = match listener.as_ref() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => listener.insert(l),
                Err(e) => {
                    tracing::warn!("cannot reopen {addr}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        tokio::select! {
            accepted = active.accept() => {
                if let Ok((stream, _)) = accepted {
                    connections.spawn(serve_connection(stream, router.clone(), tls.clone()));
                }
            }
            _ = async { if let Some(d) = down.as_mut() { let _ = d.changed().await; } else { std::future::pending::<()>().await } } => {}
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

/// A handle on one cluster's faults.
#[derive(Clone)]
pub struct FaultHandle {
    cluster: Arc<Cluster>,
}

impl FaultHandle {
    pub fn set_down(&self, down: Down) {
        self.cluster.faults.set_down(down);
    }

    pub fn set_latency(&self, latency: Duration) {
        self.cluster.faults.set_latency(latency);
    }

    pub fn set_error_rate(&self, fraction: f64) {
        self.cluster.faults.set_error_rate(fraction);
    }

    /// Ends every open watch of the cluster now.
    pub fn drop_watches(&self) {
        self.cluster.faults.drop_watches();
    }

    /// The next watch request gets an ERROR event with 410 Gone (Expired).
    pub fn gone_next_watch(&self) {
        self.cluster.faults.set_gone_next_watch();
    }

    /// Opens a watch gap: open watches end and new ones deliver nothing until
    /// [`FaultHandle::release_watches`]; changes made meanwhile reach clients only by relisting.
    pub fn hold_watches(&self) {
        self.cluster.faults.hold_watches();
    }

    /// Ends the watch gap: every held watch gets 410 Gone, so its client relists.
    pub fn release_watches(&self) {
        self.cluster.faults.release_watches();
    }

    /// Forgets the event log (every resume from an older resourceVersion gets 410) and drops watches.
    pub fn expire_history(&self) {
        self.cluster.lock().compact();
        self.cluster.faults.drop_watches();
    }

    pub fn settings(&self) -> FaultSettings {
        self.cluster.faults.settings()
    }

    pub fn apply(&self, settings: &FaultSettings) {
        self.cluster.faults.apply(settings);
    }
}

/// Running simulated clusters.
pub struct SimClusters {
    clusters: Clusters,
    endpoints: Vec<ClusterEndpoint>,
    control_url: String,
    ca_pem: Option<String>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl SimClusters {
    /// Binds every listener and starts serving. Returns once all clusters answer.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        let mut map = BTreeMap::new();
        for spec in &config.clusters {
            if map.contains_key(&spec.name) {
                return Err(SimError::DuplicateName(spec.name.clone()));
            }
            let cluster = Cluster::new(spec.clone(), config.watch.clone()).map_err(|source| {
                SimError::Setup {
                    name: spec.name.clone(),
                    source: Box::new(source),
                }
            })?;
            map.insert(spec.name.clone(), Arc::new(cluster));
        }
        let clusters: Clusters = Arc::new(map);
        let listen_ip: IpAddr = match &config.listen {
            Listen::PerCluster { ip, .. } => *ip,
            Listen::Shared { addr } => addr.ip(),
        };
        let tls = if config.tls {
            Some(tls::generate(listen_ip)?)
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
        let (shutdown, _) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut endpoints = Vec::new();
        let host = |addr: SocketAddr| match addr.ip() {
            IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
            IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
        };
        let control_url = match &config.listen {
            Listen::PerCluster { ip, base_port } => {
                for (i, spec) in config.clusters.iter().enumerate() {
                    let port = if *base_port == 0 {
                        0
                    } else {
                        base_port.saturating_add(i as u16)
                    };
                    let ctx = Ctx {
                        clusters: clusters.clone(),
                        bound: clusters.get(&spec.name).cloned(),
                    };
                    let addr = serve(
                        &mut tasks,
                        SocketAddr::new(*ip, port),
                        ctx,
                        acceptor.clone(),
                        shutdown.subscribe(),
                    )
                    .await?;
                    endpoints.push(ClusterEndpoint {
                        name: spec.name.clone(),
                        server: format!("{scheme}://{}", host(addr)),
                        openshift: spec.openshift,
                    });
                }
                let ctx = Ctx {
                    clusters: clusters.clone(),
                    bound: None,
                };
                let addr = serve(
                    &mut tasks,
                    SocketAddr::new(*ip, 0),
                    ctx,
                    acceptor.clone(),
                    shutdown.subscribe(),
                )
                .await?;
                format!("{scheme}://{}", host(addr))
            }
            Listen::Shared { addr } => {
                let ctx = Ctx {
                    clusters: clusters.clone(),
                    bound: None,
                };
                let bound_addr = serve(
                    &mut tasks,
                    *addr,
                    ctx,
                    acceptor.clone(),
                    shutdown.subscribe(),
                )
                .await?;
                let base = format!("{scheme}://{}", host(bound_addr));
                for spec in &config.clusters {
                    endpoints.push(ClusterEndpoint {
                        name: spec.name.clone(),
                        server: format!("{base}/clusters/{}", encode_segment(&spec.name)),
                        openshift: spec.openshift,
                    });
                }
                base
            }
        };
        Ok(SimClusters {
            clusters,
            endpoints,
            control_url,
            ca_pem: tls.map(|t| t.ca_pem),
            shutdown,
            tasks,
        })
    }

    pub fn endpoints(&self) -> &[ClusterEndpoint] {
        &self.endpoints
    }

    /// Base URL of cluster `name` (what goes into a kubeconfig `server:`).
    pub fn server_url(&self, name: &str) -> Option<&str> {
        self.endpoints
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.server.as_str())
    }

    /// Base URL of the control API (`<url>/sim/clusters/...`).
    pub fn control_url(&self) -> &str {
        &self.control_url
    }

    /// PEM of the generated CA when serving TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    pub fn faults(&self, name: &str) -> Option<FaultHandle> {
        self.clusters
            .get(name)
            .map(|c| FaultHandle { cluster: c.clone() })
    }

    /// The resource requests cluster `name` served so far, in RBAC's terms, with counts.
    pub fn requests(&self, name: &str) -> Option<BTreeMap<RbacRequest, u64>> {
        self.clusters.get(name).map(|c| c.requests.snapshot())
    }

    /// Forgets the requests cluster `name` served so far.
    pub fn clear_requests(&self, name: &str) {
        if let Some(cluster) = self.clusters.get(name) {
            cluster.requests.clear();
        }
    }

    /// Plants the log `pods/log` serves for `container` of pod `namespace/pod` in cluster
    /// `cluster` (of its previous instance when `previous`); false when there is no such cluster.
    pub fn set_pod_log(
        &self,
        cluster: &str,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
        text: impl Into<String>,
    ) -> bool {
        match self.clusters.get(cluster) {
            Some(c) => {
                c.logs.set(namespace, pod, container, previous, text.into());
                true
            }
            None => false,
        }
    }

    /// Number of objects stored in cluster `name`.
    pub fn object_count(&self, name: &str) -> Option<usize> {
        self.clusters.get(name).map(|c| c.lock().total_objects())
    }

    pub fn kubeconfig(&self) -> serde_json::Value {
        kubeconfig::kubeconfig(&self.endpoints, self.ca_pem.as_deref())
    }

    /// Writes the kubeconfig (JSON, which every YAML reader accepts).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), SimError> {
        let text = serde_json::to_string_pretty(&self.kubeconfig()).unwrap_or_default();
        std::fs::write(path, text).map_err(|source| SimError::Kubeconfig {
            path: path.display().to_string(),
            source,
        })
    }

    /// Stops every listener and connection.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        while self.tasks.join_next().await.is_some() {}
    }
}
