//! The operator's HTTP endpoints: `/api/status` (liveness, as AMKO's chart probes it),
//! `/healthz`, `/readyz` (ready after the boot sync), `/metrics` (OpenMetrics text) and the JSON
//! debug endpoints `/debug/actors`, `/debug/gslbservices[?name=]`, `/debug/policy` and
//! `/debug/members`. Nothing here ever includes credentials.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use actix::Addr;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::avi_writer::{AviActor, DebugGslbServices, IsBooted};
use crate::selection::{DebugQuery, SelectionActor};
use crate::telemetry::Metrics;

/// The running pipeline's actors, replaced when the operator restarts them.
#[derive(Clone)]
pub struct Pipeline {
    pub selection: Addr<SelectionActor>,
    pub avi: Addr<AviActor>,
}

/// Shared state of the endpoints.
#[derive(Clone)]
pub struct Endpoints {
    pub metrics: Arc<Metrics>,
    pub pipeline: Arc<RwLock<Option<Pipeline>>>,
    /// What the operator is doing, for `/api/status` and `/readyz` when not ready.
    pub phase: Arc<RwLock<String>>,
    /// This instance idles on purpose (a follower, or a standby replica): it is ready as such, so
    /// rollouts and `helm --wait` do not wait for it to lead.
    pub idle: Arc<AtomicBool>,
}

impl Endpoints {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Endpoints {
            metrics,
            pipeline: Arc::new(RwLock::new(None)),
            phase: Arc::new(RwLock::new("starting".to_owned())),
            idle: Arc::new(AtomicBool::new(false)),
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
        if let Ok(mut p) = self.pipeline.write() {
            *p = pipeline;
        }
    }

    fn pipeline(&self) -> Option<Pipeline> {
        self.pipeline.read().ok().and_then(|p| p.clone())
    }

    fn phase(&self) -> String {
        self.phase.read().map(|p| p.clone()).unwrap_or_default()
    }
}

pub fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/api/status", get(status))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/debug/actors", get(debug_actors))
        .route("/debug/gslbservices", get(debug_gslbservices))
        .route("/debug/policy", get(debug_policy))
        .route("/debug/members", get(debug_members))
        .with_state(endpoints)
}

async fn status(State(e): State<Endpoints>) -> Json<Value> {
    Json(json!({"status": "running", "phase": e.phase()}))
}

async fn readyz(State(e): State<Endpoints>) -> Response {
    if e.idle.load(Ordering::Relaxed) {
        return (StatusCode::OK, format!("ready: {}", e.phase())).into_response();
    }
    let booted = match e.pipeline() {
        Some(p) => p.avi.send(IsBooted).await.unwrap_or(false),
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

async fn debug_actors(State(e): State<Endpoints>) -> Json<Value> {
    let busiest: Vec<Value> = e
        .metrics
        .busiest(50)
        .into_iter()
        .map(|(name, handled, depth, busy)| json!({"actor": name, "handled": handled, "in_queue": depth, "busy_seconds": busy}))
        .collect();
    Json(json!({"busiest": busiest}))
}

async fn debug_gslbservices(
    State(e): State<Endpoints>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match e.pipeline() {
        Some(p) => match p
            .avi
            .send(DebugGslbServices {
                name: q.get("name").cloned(),
            })
            .await
        {
            Ok(v) => Json(v).into_response(),
            Err(_) => unavailable(&e),
        },
        None => unavailable(&e),
    }
}

async fn debug_policy(State(e): State<Endpoints>) -> Response {
    gdp_query(e, DebugQuery::Policy).await
}

async fn debug_members(State(e): State<Endpoints>) -> Response {
    gdp_query(e, DebugQuery::Members).await
}

async fn gdp_query(e: Endpoints, query: DebugQuery) -> Response {
    match e.pipeline() {
        Some(p) => match p.selection.send(query).await {
            Ok(v) => Json(v).into_response(),
            Err(_) => unavailable(&e),
        },
        None => unavailable(&e),
    }
}

fn unavailable(e: &Endpoints) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": "pipeline not running", "phase": e.phase()})),
    )
        .into_response()
}
