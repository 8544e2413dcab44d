//! The simulated GSLB DNS virtual service: answers A and AAAA queries for the GslbServices in
//! the store the way the Avi DNS VS does (avi-api.md §5; docs/dns.md).
//!
//! Layout: `catalog` (the store's GslbServices as typed pools and members, cached per store
//! generation), `decide` (the pure answer decision), `wire` (DNS message decode/encode),
//! `server` (the UDP and TCP sockets) and here the shared book and the `/sim/dns` control API.

pub mod catalog;
pub mod decide;
mod server;
pub mod wire;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::{Deserialize, Serialize};

use super::controller::Controller;
use super::error::ApiError;
use super::state::SimState;
use super::types::ObjType;
use catalog::{Catalog, GeoPoint};
use decide::{Decision, GeoDb, HealthBook, Question, Rotation};

pub(super) use server::{Sockets, bind, serve};

#[derive(Debug, Default)]
struct Runtime {
    health: HealthBook,
    geo: GeoDb,
    rotation: Rotation,
}

/// The DNS service's shared state: the catalog cache, health, client locations, rotation.
#[derive(Debug, Default)]
pub struct DnsBook {
    cache: Mutex<Option<(u64, Arc<Catalog>)>>,
    runtime: Mutex<Runtime>,
    queries: AtomicU64,
    addr: Mutex<Option<SocketAddr>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DnsBook {
    /// The catalog for the store as it is now; rebuilt only when the store changed.
    pub fn catalog(&self, ctrl: &Controller) -> Arc<Catalog> {
        let store = ctrl.read();
        let generation = store.generation();
        let mut cache = lock(&self.cache);
        if let Some((built_at, catalog)) = cache.as_ref()
            && *built_at == generation
        {
            return Arc::clone(catalog);
        }
        let gslb = store.iter(ObjType::Gslb).next().map(|o| &o.body);
        let catalog = Arc::new(Catalog::build(
            store
                .iter(ObjType::GslbService)
                .map(|o| (o.uuid.as_str(), &o.body)),
            gslb,
        ));
        *cache = Some((generation, Arc::clone(&catalog)));
        catalog
    }

    pub fn decide(&self, catalog: &Catalog, question: &Question) -> Decision {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let runtime = &mut *lock(&self.runtime);
        decide::decide(
            catalog,
            &runtime.health,
            &runtime.geo,
            &mut runtime.rotation,
            question,
        )
    }

    pub(super) fn set_addr(&self, addr: SocketAddr) {
        *lock(&self.addr) = Some(addr);
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        *lock(&self.addr)
    }

    /// `member` is an IP address (any spelling) or an FQDN, as in the GslbService.
    pub fn set_member_health(&self, member: &str, up: bool) {
        let key = match member.trim().parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => catalog::normalize(member.trim()),
        };
        lock(&self.runtime).health.set_member(&key, up);
    }

    pub fn set_site_health(&self, cluster_uuid: &str, up: bool) {
        lock(&self.runtime).health.set_site(cluster_uuid, up);
    }

    pub fn clear_health(&self) {
        lock(&self.runtime).health.clear();
    }

    pub fn resume(&self) {
        lock(&self.runtime).health.resume();
    }

    pub fn reset_rotation(&self) {
        lock(&self.runtime).rotation.reset();
    }

    pub fn set_client_location(&self, network: IpAddr, prefix: u8, point: GeoPoint) {
        lock(&self.runtime).geo.insert(network, prefix, point);
    }

    pub fn clear_client_locations(&self) {
        lock(&self.runtime).geo.clear();
    }

    pub fn status(&self) -> DnsStatus {
        let runtime = lock(&self.runtime);
        let mut down_members: Vec<String> =
            runtime.health.down_members().map(str::to_owned).collect();
        let mut down_sites: Vec<String> = runtime.health.down_sites().map(str::to_owned).collect();
        down_members.sort();
        down_sites.sort();
        DnsStatus {
            address: self.addr().map(|a| a.to_string()),
            queries: self.queries.load(Ordering::Relaxed),
            down_members,
            down_sites,
        }
    }
}

/// `GET /sim/dns`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsStatus {
    /// `ip:port` of the UDP and TCP listeners; `None` when DNS is off.
    pub address: Option<String>,
    /// Queries decided so far.
    pub queries: u64,
    /// Members marked down, by IP or FQDN.
    pub down_members: Vec<String>,
    /// Sites marked down, by `cluster_uuid`.
    pub down_sites: Vec<String>,
}

/// `PUT /sim/dns/health`: exactly one of `member` (IP or FQDN), `site` (a `Gslb.sites[].name`)
/// or `cluster_uuid`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthUpdate {
    #[serde(default)]
    pub member: Option<String>,
    #[serde(default)]
    pub site: Option<String>,
    #[serde(default)]
    pub cluster_uuid: Option<String>,
    pub up: bool,
}

/// `PUT /sim/dns/geo`: where clients of a subnet are (the simulator's GeoDB).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientLocation {
    /// `ADDR/PREFIX`, e.g. `198.51.100.0/24`.
    pub subnet: String,
    pub latitude: f64,
    pub longitude: f64,
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

impl HealthUpdate {
    /// Applies the update; a site name is resolved through the `Gslb` object's sites.
    pub fn apply(&self, book: &DnsBook, ctrl: &Controller) -> Result<(), ApiError> {
        match (&self.member, &self.site, &self.cluster_uuid) {
            (Some(member), None, None) => book.set_member_health(member, self.up),
            (None, Some(site), None) => {
                let catalog = book.catalog(ctrl);
                let uuid = catalog
                    .site_cluster(site)
                    .ok_or_else(|| bad(format!("dns health: no GSLB site named {site:?}")))?;
                book.set_site_health(uuid, self.up);
            }
            (None, None, Some(uuid)) => book.set_site_health(uuid, self.up),
            _ => {
                return Err(bad(
                    "dns health: give exactly one of member, site, cluster_uuid".into(),
                ));
            }
        }
        Ok(())
    }
}

impl ClientLocation {
    pub fn apply(&self, book: &DnsBook) -> Result<(), ApiError> {
        let (addr, prefix) = self.subnet.split_once('/').ok_or_else(|| {
            bad(format!(
                "dns geo: subnet {:?} is not ADDR/PREFIX",
                self.subnet
            ))
        })?;
        let network: IpAddr = addr
            .parse()
            .map_err(|e| bad(format!("dns geo: subnet {:?}: {e}", self.subnet)))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| bad(format!("dns geo: subnet {:?}: bad prefix", self.subnet)))?;
        if !(-90.0..=90.0).contains(&self.latitude) || !(-180.0..=180.0).contains(&self.longitude) {
            return Err(bad("dns geo: latitude/longitude out of range".into()));
        }
        book.set_client_location(
            network,
            prefix,
            GeoPoint {
                latitude: self.latitude,
                longitude: self.longitude,
            },
        );
        Ok(())
    }
}

/// `/sim/dns...` routes (merged into the `/sim` control router).
pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/dns", get(get_status))
        .route("/dns/health", put(put_health).delete(delete_health))
        .route("/dns/resume", post(post_resume))
        .route("/dns/rotation", delete(delete_rotation))
        .route("/dns/geo", put(put_geo).delete(delete_geo))
}

async fn get_status(State(state): State<Arc<SimState>>) -> Response {
    axum::Json(state.dns.status()).into_response()
}

fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid {what}: {e}")))
}

async fn put_health(State(state): State<Arc<SimState>>, body: axum::body::Bytes) -> Response {
    let result = json_body::<HealthUpdate>(&body, "dns health update")
        .and_then(|update| update.apply(&state.dns, &state.ctrl));
    match result {
        Ok(()) => axum::Json(state.dns.status()).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn delete_health(State(state): State<Arc<SimState>>) -> Response {
    state.dns.clear_health();
    StatusCode::NO_CONTENT.into_response()
}

async fn post_resume(State(state): State<Arc<SimState>>) -> Response {
    state.dns.resume();
    StatusCode::NO_CONTENT.into_response()
}

async fn delete_rotation(State(state): State<Arc<SimState>>) -> Response {
    state.dns.reset_rotation();
    StatusCode::NO_CONTENT.into_response()
}

async fn put_geo(State(state): State<Arc<SimState>>, body: axum::body::Bytes) -> Response {
    match json_body::<ClientLocation>(&body, "dns client location")
        .and_then(|location| location.apply(&state.dns))
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn delete_geo(State(state): State<Arc<SimState>>) -> Response {
    state.dns.clear_client_locations();
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_keys_are_canonical() {
        let book = DnsBook::default();
        book.set_member_health("2001:DB8:0:0::1", false);
        book.set_member_health("Lb.Example.NET.", false);
        assert_eq!(
            book.status().down_members,
            vec!["2001:db8::1".to_owned(), "lb.example.net".to_owned()]
        );
    }
}
