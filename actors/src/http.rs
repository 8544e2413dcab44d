//! The operator's HTTP endpoints. Always on `--listen`: `/api/status` (the chart's liveness probe,
//! as AMKO's), `/healthz` (the same verdict in plain text), `/readyz` (ready after the boot sync,
//! or idle on purpose) and `/metrics` (OpenMetrics text). Only when enabled (`--debug-endpoints`
//! on `--listen`, or `--debug-listen` on a loopback address): the JSON debug endpoints
//! `/debug/actors`, `/debug/gslbservices[?name=]`, `/debug/policy` and `/debug/members`, paged
//! with `?limit=&continue=`, and `/debug/explain?fqdn=` or `?object=KIND/NS/NAME&cluster=` (the
//! report `amko explain --operator` prints). Nothing here ever includes credentials.
//!
//! The debug answers are built without holding up the write path: `/debug/actors` reads the
//! mailbox counters, which live outside the actors; the others ask the pipeline's actors for one
//! page only, so the actor spends on it what one page holds (at most `amko::page::MAX_LIMIT`
//! items) between two messages rather than serializing every GslbService at once, and the HTTP
//! side gives up after `PIPELINE_ANSWER` when the pipeline does not answer. A published snapshot
//! (copy on write) would cost a copy of the writer's state on every change, all the time, for an
//! endpoint that is read rarely; a bounded page costs nothing until someone asks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::{Addr, ArbiterHandle};
use amko::page::{PageError, PageRequest};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::avi_writer::{AviActor, DebugGslbServices, ExplainWriter, IsBooted};
use crate::selection::{DebugQuery, ExplainSelection, SelectionActor};
use crate::telemetry::{Metrics, Outbox};

/// How long an endpoint waits for the pipeline's answer.
const PIPELINE_ANSWER: Duration = Duration::from_secs(5);

/// A pipeline thread the liveness watchdog sends heartbeats to.
#[derive(Clone)]
pub struct WatchedThread {
    pub name: String,
    pub handle: ArbiterHandle,
}

/// A long-lived actor whose mailbox the liveness watchdog checks.
#[derive(Clone)]
pub struct WatchedActor {
    /// As `/debug/actors` and the mailbox counters name it (`selection/world`).
    pub name: String,
    /// The name of the [`WatchedThread`] it runs on.
    pub thread: String,
    pub connected: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl WatchedActor {
    pub fn new<A: actix::Actor>(name: &str, thread: &str, addr: Addr<A>) -> Self {
        WatchedActor {
            name: name.to_owned(),
            thread: thread.to_owned(),
            connected: Arc::new(move || addr.connected()),
        }
    }
}

/// The running pipeline's actors, replaced when the operator restarts them.
#[derive(Clone)]
pub struct Pipeline {
    pub selection: Outbox<SelectionActor>,
    pub avi: Outbox<AviActor>,
    /// Its threads; the first runs the selection, GslbService and cluster actors.
    pub threads: Vec<WatchedThread>,
    pub actors: Vec<WatchedActor>,
}

/// Shared state of the endpoints.
#[derive(Clone)]
pub struct Endpoints {
    pub metrics: Arc<Metrics>,
    /// The running pipeline and its generation (counts every pipeline started).
    pipeline: Arc<RwLock<Option<(u64, Pipeline)>>>,
    generations: Arc<AtomicU64>,
    /// What the operator is doing, for `/api/status` and `/readyz` when not ready.
    pub phase: Arc<RwLock<String>>,
    /// This instance idles on purpose (a follower, or a standby replica): it is ready as such, so
    /// rollouts and `helm --wait` do not wait for it to lead.
    pub idle: Arc<AtomicBool>,
    /// Why the pipeline is dead, once the liveness watchdog said so.
    dead: Arc<RwLock<Option<String>>>,
}

/// Retires the published pipeline when dropped. Declared after the pipeline's arbiters, it drops
/// before them, so the watchdog never sees the arbiters of a retired pipeline stop.
pub struct Published(Endpoints);

impl Drop for Published {
    fn drop(&mut self) {
        self.0.set_pipeline(None);
    }
}

impl Endpoints {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Endpoints {
            metrics,
            pipeline: Arc::new(RwLock::new(None)),
            generations: Arc::new(AtomicU64::new(0)),
            phase: Arc::new(RwLock::new("starting".to_owned())),
            idle: Arc::new(AtomicBool::new(false)),
            dead: Arc::new(RwLock::new(None)),
        }
    }

    pub fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::Relaxed);
    }

    pub fn set_phase(&self, phase: impl Into<String>) {
        if let Ok(mut p) = self.phase.write() {
            *p = phase.into();
        }
    }

    pub fn set_pipeline(&self, pipeline: Option<Pipeline>) {
        let entry = pipeline.map(|p| (self.generations.fetch_add(1, Ordering::Relaxed), p));
        if let Ok(mut p) = self.pipeline.write() {
            *p = entry;
        }
    }

    /// Publishes `pipeline` until the returned guard drops.
    pub fn publish(&self, pipeline: Pipeline) -> Published {
        self.set_pipeline(Some(pipeline));
        Published(self.clone())
    }

    /// The running pipeline with its generation.
    pub fn current_pipeline(&self) -> Option<(u64, Pipeline)> {
        self.pipeline.read().ok().and_then(|p| p.clone())
    }

    pub fn current_generation(&self) -> Option<u64> {
        self.pipeline
            .read()
            .ok()
            .and_then(|p| p.as_ref().map(|(g, _)| *g))
    }

    pub fn set_dead(&self, cause: String) {
        if let Ok(mut dead) = self.dead.write() {
            dead.get_or_insert(cause);
        }
    }

    fn dead(&self) -> Option<String> {
        self.dead.read().ok().and_then(|d| d.clone())
    }

    fn pipeline(&self) -> Option<Pipeline> {
        self.current_pipeline().map(|(_, p)| p)
    }

    fn phase(&self) -> String {
        self.phase.read().map(|p| p.clone()).unwrap_or_default()
    }
}

/// Where the debug endpoints are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebugEndpoints {
    Off,
    /// On the main listener, with the probes and metrics.
    OnMainListener,
    /// Only on a separate (loopback) listener.
    Separate,
}

/// The probes and metrics, plus the debug endpoints when `debug` is `OnMainListener`.
pub fn router(endpoints: Endpoints, debug: DebugEndpoints) -> Router {
    let probes = Router::new()
        .route("/api/status", get(status))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(endpoints.clone());
    match debug {
        DebugEndpoints::OnMainListener => probes.merge(debug_router(endpoints)),
        DebugEndpoints::Off | DebugEndpoints::Separate => probes,
    }
}

/// The debug endpoints alone (for `--debug-listen`).
pub fn debug_router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/debug/actors", get(debug_actors))
        .route("/debug/gslbservices", get(debug_gslbservices))
        .route("/debug/policy", get(debug_policy))
        .route("/debug/members", get(debug_members))
        .route("/debug/explain", get(debug_explain))
        .with_state(endpoints)
}

/// AMKO's liveness endpoint: 503 with the cause once the pipeline is dead.
async fn status(State(e): State<Endpoints>) -> Response {
    match e.dead() {
        Some(cause) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "dead", "phase": e.phase(), "cause": cause})),
        )
            .into_response(),
        None => Json(json!({"status": "running", "phase": e.phase()})).into_response(),
    }
}

async fn healthz(State(e): State<Endpoints>) -> Response {
    match e.dead() {
        Some(cause) => (StatusCode::SERVICE_UNAVAILABLE, format!("dead: {cause}")).into_response(),
        None => (StatusCode::OK, "ok").into_response(),
    }
}

async fn readyz(State(e): State<Endpoints>) -> Response {
    if e.idle.load(Ordering::Relaxed) {
        return (StatusCode::OK, format!("ready: {}", e.phase())).into_response();
    }
    let booted = match e.pipeline() {
        Some(p) => matches!(
            tokio::time::timeout(PIPELINE_ANSWER, p.avi.send(IsBooted)).await,
            Ok(Ok(true))
        ),
        None => false,
    };
    if booted {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}", e.phase()),
        )
            .into_response()
    }
}

async fn metrics(State(e): State<Endpoints>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        e.metrics.render(),
    )
        .into_response()
}

/// The page the query asks for.
fn page_of(q: &HashMap<String, String>) -> Result<PageRequest, PageError> {
    PageRequest::parse(
        q.get("limit").map(String::as_str),
        q.get("continue").map(String::as_str),
    )
}

/// The 400 answer saying why a page cannot be served.
fn bad_page(e: PageError) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": e.to_string()})),
    )
        .into_response()
}

async fn debug_actors(
    State(e): State<Endpoints>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let page = match page_of(&q) {
        Ok(p) => p,
        Err(e) => return bad_page(e),
    };
    let page = page.take(e.metrics.busiest().into_iter().map(
        |(name, handled, depth, busy)| json!({"actor": name, "handled": handled, "in_queue": depth, "busy_seconds": busy}),
    ));
    Json(json!({"busiest": page.items, "next": page.next})).into_response()
}

async fn debug_gslbservices(
    State(e): State<Endpoints>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let page = match page_of(&q) {
        Ok(p) => p,
        Err(e) => return bad_page(e),
    };
    let Some(p) = e.pipeline() else {
        return unavailable(&e);
    };
    let query = DebugGslbServices {
        name: q.get("name").cloned(),
        page,
    };
    match tokio::time::timeout(PIPELINE_ANSWER, p.avi.send(query)).await {
        Ok(Ok(v)) => Json(v).into_response(),
        _ => unavailable(&e),
    }
}

async fn debug_policy(
    State(e): State<Endpoints>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match page_of(&q) {
        Ok(page) => selection_query(e, DebugQuery::Policy(page)).await,
        Err(e) => bad_page(e),
    }
}

async fn debug_members(
    State(e): State<Endpoints>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match page_of(&q) {
        Ok(page) => selection_query(e, DebugQuery::Members(page)).await,
        Err(e) => bad_page(e),
    }
}

/// `amko explain`'s report: the SelectionActor's half (the chain of checks, members,
/// GSLBHostRule), then the writer's (copies, difference, last write and error).
async fn debug_explain(
    State(e): State<Endpoints>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let subject = match (q.get("fqdn"), q.get("object")) {
        (Some(fqdn), None) => amko::explain_report::Subject::parse(fqdn, None),
        (None, Some(object)) => {
            amko::explain_report::Subject::parse(object, q.get("cluster").map(String::as_str))
        }
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "give either fqdn= or object=KIND/NAMESPACE/NAME&cluster="})),
            )
                .into_response();
        }
    };
    let subject = match subject {
        Ok(s) => s,
        Err(err) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": err.to_string()})),
            )
                .into_response();
        }
    };
    let Some(p) = e.pipeline() else {
        return unavailable(&e);
    };
    let Ok(Ok(report)) =
        tokio::time::timeout(PIPELINE_ANSWER, p.selection.send(ExplainSelection(subject))).await
    else {
        return unavailable(&e);
    };
    match tokio::time::timeout(PIPELINE_ANSWER, p.avi.send(ExplainWriter(report))).await {
        Ok(Ok(report)) => Json(report).into_response(),
        _ => unavailable(&e),
    }
}

async fn selection_query(e: Endpoints, query: DebugQuery) -> Response {
    let Some(p) = e.pipeline() else {
        return unavailable(&e);
    };
    match tokio::time::timeout(PIPELINE_ANSWER, p.selection.send(query)).await {
        Ok(Ok(v)) => Json(v).into_response(),
        _ => unavailable(&e),
    }
}

fn unavailable(e: &Endpoints) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": "pipeline not running or not answering", "phase": e.phase()})),
    )
        .into_response()
}
