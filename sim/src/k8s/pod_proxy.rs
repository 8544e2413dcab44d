//! The pod proxy (`GET /api/v1/namespaces/<ns>/pods/<pod>[:<port>]/proxy/<path>`): as the real
//! API server does, the request goes to the pod's `status.podIP` on the port (else the pod's
//! first container port) and the answer comes back. A simulated pod runs nothing, so whatever
//! listens on that address answers: a test gives a Pod `status.podIP: 127.0.0.1` and runs the
//! process it stands for on the port (`amko support-bundle` reads the operator's endpoints so).
//! Only GET; HTTP/1.0 to the target, so the answer ends with the connection.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::cluster::Cluster;
use super::error::ApiError;
use super::handlers::ApiRequest;
use super::ops::{self, Scope};
use super::request::ResourcePath;
use super::resources::ResourceKey;

/// How long the target may take to connect and to answer.
const TARGET_TIMEOUT: Duration = Duration::from_secs(20);
/// The most of an answer passed on.
const MAX_ANSWER: u64 = 64 * 1024 * 1024;

/// A pod proxy request's target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyTarget {
    pub namespace: String,
    pub pod: String,
    pub port: Option<u16>,
    /// The path on the pod, starting with `/`.
    pub path: String,
}

impl ProxyTarget {
    /// The pod proxy target of `path`, when it is one.
    pub fn parse(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("/api/v1/namespaces/")?;
        let (namespace, rest) = rest.split_once('/')?;
        let rest = rest.strip_prefix("pods/")?;
        let (pod_port, rest) = rest.split_once('/')?;
        let tail = rest.strip_prefix("proxy")?;
        if !(tail.is_empty() || tail.starts_with('/')) {
            return None;
        }
        let (pod, port) = match pod_port.split_once(':') {
            Some((pod, port)) => (pod, Some(port.parse().ok()?)),
            None => (pod_port, None),
        };
        Some(ProxyTarget {
            namespace: namespace.to_owned(),
            pod: pod.to_owned(),
            port,
            path: if tail.is_empty() {
                "/".into()
            } else {
                tail.to_owned()
            },
        })
    }

    /// In RBAC's terms: `get` on `pods/proxy`.
    pub fn resource_path(&self) -> ResourcePath {
        ResourcePath {
            version: "v1".into(),
            namespace: Some(self.namespace.clone()),
            plural: "pods".into(),
            name: Some(self.pod.clone()),
            subresource: Some("proxy".into()),
            ..ResourcePath::default()
        }
    }
}

/// Forwards a GET to the pod and returns its answer (status, content type and body).
pub async fn forward(
    cluster: &Arc<Cluster>,
    request: &ApiRequest,
    target: &ProxyTarget,
) -> Result<Response, ApiError> {
    if request.method != Method::GET {
        return Err(ApiError::MethodNotAllowed);
    }
    let (ip, port) = {
        let st = cluster.lock();
        let resource = st
            .registry
            .find_by_key(&ResourceKey {
                group: String::new(),
                plural: "pods".into(),
            })
            .ok_or(ApiError::NoSuchPath)?;
        let scope = Scope {
            version: "v1".into(),
            namespace: Some(target.namespace.clone()),
            resource,
        };
        let pod = ops::get(&st, &scope, &target.pod)?;
        let ip = pod["status"]["podIP"]
            .as_str()
            .filter(|ip| !ip.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::ServiceUnavailable(format!(
                    "pod {} has no IP address (status.podIP)",
                    target.pod
                ))
            })?;
        let port = target.port.or_else(|| first_port(&pod)).ok_or_else(|| {
            ApiError::ServiceUnavailable(format!(
                "no port given and pod {} declares no container port",
                target.pod
            ))
        })?;
        (ip, port)
    };
    let unreachable = |e: String| {
        ApiError::ServiceUnavailable(format!(
            "error trying to reach service: dial tcp {ip}:{port}: {e}"
        ))
    };
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect((ip.as_str(), port))
            .await
            .map_err(|e| e.to_string())?;
        let query = match request.raw_query.as_deref() {
            Some(q) if !q.is_empty() => format!("?{q}"),
            _ => String::new(),
        };
        let request = format!(
            "GET {}{query} HTTP/1.0\r\nHost: {ip}:{port}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            target.path
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        (&mut stream)
            .take(MAX_ANSWER)
            .read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(answer)
    };
    let answer = tokio::time::timeout(TARGET_TIMEOUT, exchange)
        .await
        .map_err(|_| unreachable("i/o timeout".into()))?
        .map_err(unreachable)?;
    parse_answer(&answer).ok_or_else(|| unreachable("malformed HTTP response".into()))
}

fn first_port(pod: &Value) -> Option<u16> {
    pod["spec"]["containers"]
        .as_array()?
        .iter()
        .filter_map(|c| c["ports"].as_array())
        .flatten()
        .find_map(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
}

/// An HTTP/1.x answer read to the end of the connection, as a response.
fn parse_answer(answer: &[u8]) -> Option<Response> {
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..split]).ok()?;
    let body = answer[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let code: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.trim().to_owned());
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(code).ok()?;
    if let Some(value) = content_type.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths() {
        assert_eq!(
            ProxyTarget::parse("/api/v1/namespaces/avi-system/pods/amko-0:8080/proxy/api/status"),
            Some(ProxyTarget {
                namespace: "avi-system".into(),
                pod: "amko-0".into(),
                port: Some(8080),
                path: "/api/status".into(),
            })
        );
        let bare = ProxyTarget::parse("/api/v1/namespaces/ns/pods/p/proxy");
        assert_eq!(bare.map(|t| (t.port, t.path)), Some((None, "/".into())));
        assert_eq!(ProxyTarget::parse("/api/v1/namespaces/ns/pods/p/log"), None);
        assert_eq!(
            ProxyTarget::parse("/api/v1/namespaces/ns/pods/p:x/proxy/"),
            None
        );
        assert_eq!(
            ProxyTarget::parse("/api/v1/namespaces/ns/pods/p/proxyz"),
            None
        );
    }

    #[test]
    fn answers_keep_status_and_content_type() {
        let response =
            parse_answer(b"HTTP/1.0 404 Not Found\r\ncontent-type: text/plain\r\n\r\nnope");
        let response = response.unwrap_or_else(|| panic!("parsed"));
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain");
        assert!(parse_answer(b"garbage").is_none());
    }
}
