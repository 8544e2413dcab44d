//! The test and benchmark control surface, not part of the Avi API: counters, the write audit,
//! a dump of all objects and fault injection. `SimControl` is the in-process Rust handle; the
//! `/sim/...` HTTP routes expose the same operations to other processes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use super::audit::{AuditEntry, CounterSnapshot};
use super::config::RateLimitConfig;
use super::error::ApiError;
use super::http::base_url;
use super::state::SimState;

/// Every fault and mode setting at once (`GET /sim/faults`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultsDocument {
    pub latency_ms: u64,
    pub list_delay_ms: u64,
    pub error_fraction: f64,
    pub error_status: u16,
    pub outage: bool,
    pub follower: bool,
    pub maintenance: bool,
    pub rate_limit: Option<RateLimitConfig>,
    pub idle_timeout_secs: u64,
    pub basic_auth: bool,
}

/// A partial change (`PUT /sim/faults`); absent fields stay as they are. `rate_limit: null`
/// removes the limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultUpdate {
    #[serde(default)]
    pub latency_ms: Option<u64>,
    #[serde(default)]
    pub list_delay_ms: Option<u64>,
    #[serde(default)]
    pub error_fraction: Option<f64>,
    #[serde(default)]
    pub error_status: Option<u16>,
    #[serde(default)]
    pub outage: Option<bool>,
    #[serde(default)]
    pub follower: Option<bool>,
    #[serde(default)]
    pub maintenance: Option<bool>,
    #[serde(default, deserialize_with = "present_or_null")]
    pub rate_limit: Option<Option<RateLimitConfig>>,
    #[serde(default)]
    pub idle_timeout_secs: Option<u64>,
    #[serde(default)]
    pub basic_auth: Option<bool>,
}

/// Distinguishes `"rate_limit": null` (remove) from an absent key (keep).
fn present_or_null<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<RateLimitConfig>>, D::Error> {
    Option::<RateLimitConfig>::deserialize(d).map(Some)
}

/// In-process control of a running simulator.
#[derive(Clone, Debug)]
pub struct SimControl {
    state: Arc<SimState>,
}

impl SimControl {
    pub(super) fn new(state: Arc<SimState>) -> SimControl {
        SimControl { state }
    }

    pub fn counters(&self) -> CounterSnapshot {
        self.state.counters.snapshot()
    }

    pub fn reset_counters(&self) {
        self.state.counters.reset();
    }

    /// The whole write audit log.
    pub fn audit_log(&self) -> Vec<AuditEntry> {
        self.state.audit.since(0)
    }

    /// Audit entries after position `seq` (use the last `seq` you saw).
    pub fn audit_since(&self, seq: u64) -> Vec<AuditEntry> {
        self.state.audit.since(seq)
    }

    /// Number of audited writes so far.
    pub fn audit_len(&self) -> usize {
        self.state.audit.len()
    }

    pub fn clear_audit(&self) {
        self.state.audit.clear();
    }

    /// Every object, by type path, rendered with names and URLs under the listener's address.
    pub fn dump(&self) -> Value {
        self.state.ctrl.dump(&self.state.base_url)
    }

    pub fn object_count(&self, obj_type: super::ObjType) -> usize {
        self.state.ctrl.count(obj_type)
    }

    pub fn set_latency(&self, latency: Duration) {
        self.state.faults.set_latency(latency);
    }

    /// Answer every collection GET `delay` after reading the collection: a list is then stale
    /// when it arrives, as a slow list of a busy controller is.
    pub fn set_list_delay(&self, delay: Duration) {
        self.state.faults.set_list_delay(delay);
    }

    /// Answer `fraction` of API requests with `status` (a 5xx).
    pub fn set_error_rate(&self, fraction: f64, status: u16) {
        self.state.faults.set_errors(fraction, status);
    }

    /// Every API request (login included) answers 503 while on.
    pub fn set_outage(&self, outage: bool) {
        self.state.faults.set_outage(outage);
    }

    /// Drops all sessions; clients get 401 and must log in again. Returns how many there were.
    pub fn expire_sessions(&self) -> usize {
        self.state.sessions.expire_all()
    }

    pub fn set_idle_timeout(&self, idle: Duration) {
        self.state.sessions.set_idle_timeout(idle);
    }

    pub fn set_follower(&self, follower: bool) -> Result<(), ApiError> {
        self.state.ctrl.set_follower(follower)
    }

    pub fn set_maintenance(&self, on: bool) -> Result<(), ApiError> {
        self.state.ctrl.set_maintenance(on)
    }

    /// `None` = unlimited.
    pub fn set_rate_limit(&self, limit: Option<RateLimitConfig>) {
        self.state.limiter.set_config(limit);
    }

    pub fn set_basic_auth(&self, on: bool) {
        self.state.set_basic_auth(on);
    }

    pub fn is_leader(&self) -> bool {
        self.state.ctrl.is_leader()
    }

    /// The simulated GSLB DNS service: member health, rotation reset, client locations.
    pub fn dns(&self) -> &super::dns::DnsBook {
        &self.state.dns
    }

    pub fn session_count(&self) -> usize {
        self.state.sessions.count()
    }

    pub fn faults(&self) -> FaultsDocument {
        let settings = self.state.faults.settings();
        FaultsDocument {
            latency_ms: settings.latency_ms,
            list_delay_ms: settings.list_delay_ms,
            error_fraction: settings.error_fraction,
            error_status: settings.error_status,
            outage: settings.outage,
            follower: !self.state.ctrl.is_leader(),
            maintenance: self.state.ctrl.in_maintenance(),
            rate_limit: self.state.limiter.config(),
            idle_timeout_secs: self.state.sessions.idle_timeout().as_secs(),
            basic_auth: self.state.basic_auth(),
        }
    }

    /// Applies a partial update; returns the resulting settings.
    pub fn apply(&self, update: &FaultUpdate) -> Result<FaultsDocument, ApiError> {
        if let Some(ms) = update.latency_ms {
            self.set_latency(Duration::from_millis(ms));
        }
        if let Some(ms) = update.list_delay_ms {
            self.set_list_delay(Duration::from_millis(ms));
        }
        if update.error_fraction.is_some() || update.error_status.is_some() {
            let current = self.state.faults.settings();
            self.set_error_rate(
                update.error_fraction.unwrap_or(current.error_fraction),
                update.error_status.unwrap_or(current.error_status),
            );
        }
        if let Some(outage) = update.outage {
            self.set_outage(outage);
        }
        if let Some(follower) = update.follower {
            self.set_follower(follower)?;
        }
        if let Some(on) = update.maintenance {
            self.set_maintenance(on)?;
        }
        if let Some(limit) = update.rate_limit {
            self.set_rate_limit(limit);
        }
        if let Some(secs) = update.idle_timeout_secs {
            self.set_idle_timeout(Duration::from_secs(secs));
        }
        if let Some(on) = update.basic_auth {
            self.set_basic_auth(on);
        }
        Ok(self.faults())
    }
}

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/counters", get(get_counters).delete(delete_counters))
        .route("/audit", get(get_audit).delete(delete_audit))
        .route("/dump", get(get_dump))
        .route("/faults", get(get_faults).put(put_faults))
        .route("/sessions/expire", post(expire_sessions))
        .merge(super::dns::router())
}

fn control(state: &Arc<SimState>) -> SimControl {
    SimControl::new(Arc::clone(state))
}

async fn get_counters(State(state): State<Arc<SimState>>) -> Response {
    axum::Json(control(&state).counters()).into_response()
}

async fn delete_counters(State(state): State<Arc<SimState>>) -> Response {
    control(&state).reset_counters();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    since: u64,
}

async fn get_audit(State(state): State<Arc<SimState>>, Query(q): Query<AuditQuery>) -> Response {
    axum::Json(control(&state).audit_since(q.since)).into_response()
}

async fn delete_audit(State(state): State<Arc<SimState>>) -> Response {
    control(&state).clear_audit();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_dump(State(state): State<Arc<SimState>>, headers: HeaderMap) -> Response {
    axum::Json(state.ctrl.dump(&base_url(&state, &headers))).into_response()
}

async fn get_faults(State(state): State<Arc<SimState>>) -> Response {
    axum::Json(control(&state).faults()).into_response()
}

async fn put_faults(State(state): State<Arc<SimState>>, body: axum::body::Bytes) -> Response {
    let update: FaultUpdate = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(e) => {
            return ApiError::BadRequest(format!("invalid fault update: {e}")).into_response();
        }
    };
    match control(&state).apply(&update) {
        Ok(doc) => axum::Json(doc).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn expire_sessions(State(state): State<Arc<SimState>>) -> Response {
    let expired = control(&state).expire_sessions();
    axum::Json(json!({"expired": expired})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_update_distinguishes_null_from_absent() {
        let keep: FaultUpdate = serde_json::from_str(r#"{"outage": true}"#).unwrap();
        assert_eq!(keep.rate_limit, None);
        let remove: FaultUpdate = serde_json::from_str(r#"{"rate_limit": null}"#).unwrap();
        assert_eq!(remove.rate_limit, Some(None));
        let set: FaultUpdate =
            serde_json::from_str(r#"{"rate_limit": {"rate_per_sec": 1.0, "burst": 0}}"#).unwrap();
        assert_eq!(set.rate_limit.flatten().map(|l| l.burst), Some(0));
        assert!(serde_json::from_str::<FaultUpdate>(r#"{"bogus": 1}"#).is_err());
    }
}
