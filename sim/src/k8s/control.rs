//! The fault-control API under `/sim/`: `GET /sim/clusters` lists clusters and their faults;
//! `GET|POST /sim/clusters/<name>/faults` reads or sets down/latency/error rate;
//! `POST /sim/clusters/<name>/drop-watches`, `.../gone-next-watch` and `.../expire` trigger
//! one-shot faults; `.../hold-watches` and `.../release-watches` open and end a watch gap;
//! `PUT /sim/clusters/<name>/pods/<ns>/<pod>/<container>/log` (or `previous-log`) plants the text
//! `pods/log` serves. On a
//! cluster's own port `/sim/faults` etc. address that cluster. `<name>` is percent-encoded (a
//! kubeconfig context name may hold `/`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use super::cluster::Cluster;
use super::error::ApiError;
use super::faults::FaultSettings;
use super::handlers::{error_response, json_response};
use super::request::decode_path_segment;

/// Handles `/sim/<rest>`; `bound` is the cluster whose own port received the request, if any.
pub fn handle(
    clusters: &BTreeMap<String, Arc<Cluster>>,
    bound: Option<&Arc<Cluster>>,
    method: &Method,
    rest: &str,
    body: &[u8],
) -> Response {
    match route(clusters, bound, method, rest, body) {
        Ok(value) => json_response(200, &value),
        Err(err) => error_response(&err),
    }
}

/// `PUT …/pods/<ns>/<pod>/<container>/log|previous-log` with the log text as the body.
fn plant_log(
    cluster: &Cluster,
    method: &Method,
    [ns, pod, container, which]: [&str; 4],
    body: &[u8],
) -> Result<Value, ApiError> {
    let previous = match (method, which) {
        (&Method::PUT | &Method::POST, "log") => false,
        (&Method::PUT | &Method::POST, "previous-log") => true,
        _ => return Err(ApiError::NoSuchPath),
    };
    let (ns, pod, container) = (
        decode_path_segment(ns),
        decode_path_segment(pod),
        decode_path_segment(container),
    );
    let text = String::from_utf8_lossy(body).into_owned();
    let bytes = text.len();
    cluster.logs.set(&ns, &pod, &container, previous, text);
    Ok(
        json!({"name": cluster.spec.name, "namespace": ns, "pod": pod, "container": container,
              "previous": previous, "bytes": bytes}),
    )
}

fn route(
    clusters: &BTreeMap<String, Arc<Cluster>>,
    bound: Option<&Arc<Cluster>>,
    method: &Method,
    rest: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let (cluster, action) = match parts.as_slice() {
        ["clusters"] if method == Method::GET => {
            let list: Vec<Value> = clusters
                .values()
                .map(|c| json!({"name": c.spec.name, "openshift": c.spec.openshift, "faults": c.faults.settings(),
                                "objects": c.lock().total_objects()}))
                .collect();
            return Ok(json!({"clusters": list}));
        }
        ["clusters", name, action] => {
            let name = decode_path_segment(name);
            let cluster = clusters.get(&name).ok_or_else(|| {
                ApiError::BadRequest(format!("no simulated cluster named {name:?}"))
            })?;
            (cluster, *action)
        }
        ["clusters", name, "pods", ns, pod, container, which] => {
            let name = decode_path_segment(name);
            let cluster = clusters.get(&name).ok_or_else(|| {
                ApiError::BadRequest(format!("no simulated cluster named {name:?}"))
            })?;
            return plant_log(cluster, method, [ns, pod, container, which], body);
        }
        ["pods", ns, pod, container, which] => {
            let cluster = bound.ok_or(ApiError::NoSuchPath)?;
            return plant_log(cluster, method, [ns, pod, container, which], body);
        }
        [action] => (bound.ok_or(ApiError::NoSuchPath)?, *action),
        _ => return Err(ApiError::NoSuchPath),
    };
    match (method, action) {
        (&Method::GET, "faults") => {}
        (&Method::POST | &Method::PUT, "faults") => {
            let settings: FaultSettings = if body.is_empty() {
                FaultSettings::default()
            } else {
                serde_json::from_slice(body)
                    .map_err(|e| ApiError::BadRequest(format!("invalid fault settings: {e}")))?
            };
            cluster.faults.apply(&settings);
        }
        (&Method::POST, "drop-watches") => cluster.faults.drop_watches(),
        (&Method::POST, "gone-next-watch") => cluster.faults.set_gone_next_watch(),
        (&Method::POST, "hold-watches") => cluster.faults.hold_watches(),
        (&Method::POST, "release-watches") => cluster.faults.release_watches(),
        (&Method::POST, "expire") => {
            cluster.lock().compact();
            cluster.faults.drop_watches();
        }
        _ => return Err(ApiError::NoSuchPath),
    }
    Ok(
        json!({"name": cluster.spec.name, "faults": cluster.faults.settings(),
              "watchesHeld": cluster.faults.watches_held()}),
    )
}
