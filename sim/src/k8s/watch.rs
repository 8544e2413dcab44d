//! Watch streams: newline-delimited `{"type":…,"object":…}` events over a chunked response.
//! Initial ADDED events (for resourceVersion ""/"0" or `sendInitialEvents`), replay from the event
//! log for a numeric resourceVersion (or an ERROR 410 Expired event when it is too old),
//! BOOKMARKs, `timeoutSeconds`, and the faults "drop all watches", "410 on the next watch" and
//! "hold watches" (nothing delivered until release, then 410).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::cluster::Cluster;
use super::error::ApiError;
use super::ops::{Scope, convert_version};
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{ClusterState, EventType, StoredEvent};

/// A parsed watch request.
pub struct WatchRequest {
    pub scope: Scope,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub resource_version: Option<String>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Option<Duration>,
}

fn event_line(event_type: &str, object: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(object.len() + 32);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(event_type.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    line.extend_from_slice(object);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

fn error_line(err: &ApiError) -> Bytes {
    event_line("ERROR", err.status_body().to_string().as_bytes())
}

impl WatchRequest {
    fn bookmark_line(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let r = &self.scope.resource;
        let mut object = json!({"kind": r.kind, "apiVersion": r.api_version(&self.scope.version),
                                "metadata": {"resourceVersion": rv.to_string()}});
        if initial_events_end {
            object["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        event_line("BOOKMARK", object.to_string().as_bytes())
    }

    /// The object bytes in the requested version (only multi-version CRDs need a rewrite).
    fn object_bytes(&self, json: &Bytes) -> Bytes {
        if self.scope.resource.versions.len() < 2 {
            return json.clone();
        }
        match serde_json::from_slice::<Value>(json) {
            Ok(mut value) => {
                convert_version(&mut value, &self.scope);
                Bytes::from(value.to_string())
            }
            Err(_) => json.clone(),
        }
    }

    /// What an event looks like to this watch: its type (after selector transitions) or nothing.
    fn translate(&self, event: &StoredEvent) -> Option<&'static str> {
        if event.resource != self.scope.resource.key() {
            return None;
        }
        if let Some(ns) = &self.scope.namespace
            && &event.namespace != ns
        {
            return None;
        }
        if !self.fields.matches(&event.namespace, &event.name) {
            return None;
        }
        let now = self.labels.matches(&event.labels);
        let before = event
            .previous_labels
            .as_ref()
            .map(|l| self.labels.matches(l));
        match (event.event_type, before, now) {
            (EventType::Modified, Some(true), true) => Some("MODIFIED"),
            (EventType::Modified, Some(false), true) => Some("ADDED"),
            (EventType::Modified, Some(true), false) => Some("DELETED"),
            (EventType::Modified, _, _) => None,
            (t, _, true) => Some(t.as_str()),
            _ => None,
        }
    }

    /// Lines to send before live events, and where live events start.
    fn initial_lines(&self, st: &ClusterState) -> Result<Vec<Bytes>, ApiError> {
        let rv = self.resource_version.as_deref().unwrap_or_default();
        let replay_all = rv.is_empty() || rv == "0" || self.send_initial_events;
        let mut lines = Vec::new();
        if replay_all {
            let page = st.list(
                &self.scope.resource.key(),
                self.scope.namespace.as_deref(),
                &self.labels,
                &self.fields,
                None,
                0,
            );
            for item in page.items {
                lines.push(event_line("ADDED", &self.object_bytes(&item.json)));
            }
            if self.send_initial_events {
                lines.push(self.bookmark_line(st.resource_version(), true));
            }
            return Ok(lines);
        }
        let since: u64 = rv.parse().map_err(|_| {
            ApiError::BadRequest(format!(
                "invalid resourceVersion {rv:?}: must be an integer"
            ))
        })?;
        for event in st.events_since(&self.scope.resource.key(), since)? {
            if let Some(t) = self.translate(&event) {
                lines.push(event_line(t, &self.object_bytes(&event.json)));
            }
        }
        Ok(lines)
    }
}

/// Starts a watch and returns the streaming response.
pub fn start(cluster: Arc<Cluster>, request: WatchRequest) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    // `None`: a watch gap is open; the watch waits for its end.
    let setup = if cluster.faults.watches_held() {
        None
    } else if cluster.faults.take_gone_next_watch() {
        Some(Err(ApiError::Expired {
            requested: 0,
            oldest: cluster.lock().resource_version(),
        }))
    } else {
        let st = cluster.lock();
        Some(
            request
                .initial_lines(&st)
                .map(|lines| (lines, st.subscribe())),
        )
    };
    tokio::spawn(async move {
        match setup {
            None => hold(&cluster, &request, &tx).await,
            Some(Err(err)) => {
                let _ = tx.send(error_line(&err)).await;
            }
            Some(Ok((lines, events))) => {
                for line in lines {
                    if tx.send(line).await.is_err() {
                        return;
                    }
                }
                stream_live(&cluster, &request, events, &tx).await;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok::<_, Infallible>(line), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// A watch started during a watch gap: sends nothing until the gap ends, then 410 Gone so that
/// the client relists (and sees what changed meanwhile only as the new state). Ends quietly at
/// the watch's timeout or when the client goes away.
async fn hold(cluster: &Cluster, request: &WatchRequest, tx: &mpsc::Sender<Bytes>) {
    let mut held = cluster.faults.subscribe_watches_held();
    let deadline = tokio::time::sleep(
        request
            .timeout
            .unwrap_or(Duration::from_secs(365 * 24 * 3600)),
    );
    tokio::pin!(deadline);
    tokio::select! {
        released = async { held.wait_for(|held| !*held).await.is_ok() } => {
            if released {
                let oldest = cluster.lock().resource_version();
                let _ = tx.send(error_line(&ApiError::Expired { requested: 0, oldest })).await;
            }
        }
        _ = &mut deadline => {}
        _ = tx.closed() => {}
    }
}

async fn stream_live(
    cluster: &Cluster,
    request: &WatchRequest,
    mut events: broadcast::Receiver<Arc<StoredEvent>>,
    tx: &mpsc::Sender<Bytes>,
) {
    let mut epoch = cluster.faults.subscribe_watch_epoch();
    epoch.mark_unchanged();
    let deadline = tokio::time::sleep(
        request
            .timeout
            .unwrap_or(Duration::from_secs(365 * 24 * 3600)),
    );
    tokio::pin!(deadline);
    let mut bookmarks = tokio::time::interval(cluster.watch.bookmark_interval);
    bookmarks.tick().await;
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = epoch.changed() => return,
            received = events.recv() => match received {
                Ok(event) => {
                    if let Some(t) = request.translate(&event)
                        && tx.send(event_line(t, &request.object_bytes(&event.json))).await.is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let oldest = cluster.lock().resource_version();
                    let _ = tx.send(error_line(&ApiError::Expired { requested: 0, oldest })).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = bookmarks.tick(), if request.bookmarks => {
                // Read the resourceVersion first, then deliver every event up to it, so the
                // bookmark never claims an event this watch has not sent.
                let rv = cluster.lock().resource_version();
                loop {
                    match events.try_recv() {
                        Ok(event) => {
                            if let Some(t) = request.translate(&event)
                                && tx.send(event_line(t, &request.object_bytes(&event.json))).await.is_err()
                            {
                                return;
                            }
                        }
                        Err(broadcast::error::TryRecvError::Empty) => break,
                        Err(broadcast::error::TryRecvError::Lagged(_)) => {
                            let _ = tx.send(error_line(&ApiError::Expired { requested: 0, oldest: rv })).await;
                            return;
                        }
                        Err(broadcast::error::TryRecvError::Closed) => return,
                    }
                }
                if tx.send(request.bookmark_line(rv, false)).await.is_err() {
                    return;
                }
            }
            _ = tx.closed() => return,
        }
    }
}
