//! Simulated Avi GSLB leader controller: the REST API that the real Avi SDKs and AMKO accept
//! (sessions, CSRF, tenants, collections, validation, PATCH, `_last_modified`), with rate
//! limits, fault injection and a write audit for tests and benchmarks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), amko::sim::avi::AviSimError> {
//! use amko::sim::avi::{AviSim, AviSimConfig};
//! let sim = AviSim::start(AviSimConfig::default()).await?;
//! println!("{} (CA {:?})", sim.base_url(), sim.ca_file());
//! sim.control().expire_sessions();
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Layout: `types` (object types), `store` (indexes), `refs`, `validate`, `patch`,
//! `collection` (queries), `controller` (tenants, modes, writes), `reads` (selection, rendering), `session`, `ratelimit`, `faults`,
//! `audit`, `tls`, `seed`, `http` (front pipeline, login), `api` (`/api/...`), `control`
//! (`/sim/...` and the Rust handle), `server` (listener), `dns` (the GSLB DNS service).

mod api;
mod audit;
mod collection;
mod config;
mod control;
mod controller;
pub mod dns;
mod error;
mod faults;
mod http;
mod ids;
mod patch;
mod ratelimit;
mod reads;
mod refs;
mod seed;
mod server;
mod session;
mod state;
mod store;
mod tls;
mod types;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use audit::{AuditEntry, CounterEntry, CounterSnapshot};
pub use config::{AviSimConfig, RateLimitConfig, RateLimitScope};
pub use control::{FaultUpdate, FaultsDocument, SimControl};
pub use error::{ApiError, AviSimError};
pub use seed::{SeedFile, SeedObject, SeedTenant};
pub use types::ObjType;

use controller::Controller;
use state::SimState;

/// What a client needs to reach the simulator; serialises to the `"avi"` object that
/// `amko sim` prints (`url`, `ca_file`, `username`, `password`, `tenant`, `version`).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AviSimInfo {
    pub url: String,
    pub ca_file: Option<PathBuf>,
    pub username: String,
    pub password: String,
    pub tenant: String,
    pub version: String,
    /// `ip:port` of the simulated GSLB DNS service (UDP and TCP); absent when it is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<SocketAddr>,
}

/// Entry point: `AviSim::start(config).await`.
pub struct AviSim;

/// A running simulator. Dropping it stops the listener; `shutdown` also waits for it.
pub struct AviSimHandle {
    base_url: String,
    local_addr: SocketAddr,
    ca_file: Option<PathBuf>,
    ca_pem: Option<String>,
    username: String,
    password: String,
    version: String,
    control: SimControl,
    dns_addr: Option<SocketAddr>,
    dns_tasks: Vec<JoinHandle<()>>,
    owned_dir: Option<PathBuf>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

static INSTANCE: AtomicU64 = AtomicU64::new(0);

fn state_dir(config: &AviSimConfig) -> Result<(PathBuf, bool), AviSimError> {
    if let Some(dir) = &config.state_dir {
        std::fs::create_dir_all(dir).map_err(|source| AviSimError::Write {
            path: dir.clone(),
            source,
        })?;
        return Ok((dir.clone(), false));
    }
    let dir = std::env::temp_dir().join(format!(
        "amko-avi-sim-{}-{}",
        std::process::id(),
        INSTANCE.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|source| AviSimError::Write {
        path: dir.clone(),
        source,
    })?;
    Ok((dir, true))
}

impl AviSim {
    pub async fn start(config: AviSimConfig) -> Result<AviSimHandle, AviSimError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| AviSimError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| AviSimError::Bind {
            addr: config.listen,
            source,
        })?;
        let scheme = if config.tls { "https" } else { "http" };
        let base_url = format!("{scheme}://{local_addr}");

        let (tls_material, owned_dir) = if config.tls {
            let (dir, owned) = state_dir(&config)?;
            let material = tls::generate(&dir)?;
            (Some(material), owned.then_some(dir))
        } else {
            (None, None)
        };

        let dns_sockets = match config.dns_listen {
            Some(addr) => Some(
                dns::bind(addr)
                    .await
                    .map_err(|source| AviSimError::Bind { addr, source })?,
            ),
            None => None,
        };
        let dns_addr = dns_sockets.as_ref().map(dns::Sockets::addr);

        let password = config.password.clone().unwrap_or_else(ids::token);
        let ctrl = Controller::new(format!("cluster-{}", ids::uuid4()));
        seed::seed_system(
            &ctrl,
            &seed::SeedIdentity {
                controller_address: local_addr.ip().to_string(),
                username: config.username.clone(),
                dns_domains: config.gslb_dns_domains.clone(),
            },
        )?;
        if let Some(seed_file) = &config.seed {
            seed::apply_seed(&ctrl, seed_file)?;
        }
        let seed_error = |e: ApiError| AviSimError::SeedObject {
            what: "gslb Default".into(),
            reason: e.to_string(),
        };
        if config.follower {
            ctrl.set_follower(true).map_err(seed_error)?;
        }
        if config.maintenance {
            ctrl.set_maintenance(true).map_err(seed_error)?;
        }

        let state = Arc::new(SimState {
            ctrl,
            sessions: session::SessionStore::new(config.idle_timeout, config.absolute_timeout),
            limiter: ratelimit::RateLimiter::new(config.rate_limit),
            faults: faults::Faults::default(),
            counters: audit::Counters::default(),
            audit: audit::AuditLog::default(),
            username: config.username.clone(),
            password: password.clone(),
            version: config.version.clone(),
            tls: config.tls,
            basic_auth: AtomicBool::new(config.basic_auth),
            default_page_size: config.default_page_size.clamp(1, collection::MAX_PAGE_SIZE),
            base_url: base_url.clone(),
            dns: dns::DnsBook::default(),
        });
        let dns_tasks = match dns_sockets {
            Some(sockets) => {
                state.dns.set_addr(sockets.addr());
                tracing::info!(addr = %sockets.addr(), "Avi simulator DNS service listening");
                dns::serve(sockets, Arc::clone(&state))
            }
            None => Vec::new(),
        };
        let app = http::router(Arc::clone(&state));
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let acceptor = tls_material.as_ref().map(|m| m.acceptor.clone());
        let task = tokio::spawn(server::serve(listener, acceptor, app, shutdown_rx));
        tracing::info!(url = %base_url, "Avi simulator listening");

        Ok(AviSimHandle {
            base_url,
            local_addr,
            ca_file: tls_material.as_ref().map(|m| m.ca_file.clone()),
            ca_pem: tls_material.map(|m| m.ca_pem),
            username: config.username,
            password,
            version: config.version,
            control: SimControl::new(state),
            dns_addr,
            dns_tasks,
            owned_dir,
            shutdown: Some(shutdown_tx),
            task: Some(task),
        })
    }
}

impl AviSimHandle {
    /// `https://127.0.0.1:PORT` (or `http://...`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The CA certificate (PEM) that signed the server certificate; `None` for plain HTTP.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// The tenant clients should use by default.
    pub fn tenant(&self) -> &str {
        "admin"
    }

    /// The controller's API version (send it as `X-Avi-Version`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `ip:port` of the simulated GSLB DNS service (UDP and TCP), when it runs.
    pub fn dns_addr(&self) -> Option<SocketAddr> {
        self.dns_addr
    }

    /// Connection details, e.g. for printing; contains the password.
    pub fn info(&self) -> AviSimInfo {
        AviSimInfo {
            url: self.base_url.clone(),
            ca_file: self.ca_file.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            tenant: self.tenant().to_string(),
            version: self.version.clone(),
            dns: self.dns_addr,
        }
    }

    /// Counters, audit log, dump and fault controls.
    pub fn control(&self) -> &SimControl {
        &self.control
    }

    /// Stops the listener and waits for it; removes the generated CA directory.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.remove_dir();
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        for task in self.dns_tasks.drain(..) {
            task.abort();
        }
    }

    fn remove_dir(&mut self) {
        if let Some(dir) = self.owned_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for AviSimHandle {
    fn drop(&mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.remove_dir();
    }
}

impl std::fmt::Debug for AviSimInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AviSimInfo")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("tenant", &self.tenant)
            .field("version", &self.version)
            .field("dns", &self.dns)
            .finish()
    }
}

impl std::fmt::Debug for AviSimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AviSimHandle")
            .field("base_url", &self.base_url)
            .field("ca_file", &self.ca_file)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("version", &self.version)
            .field("dns", &self.dns_addr)
            .finish()
    }
}
