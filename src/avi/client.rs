//! The Avi REST client: one logged-in session (cookies + CSRF token) per client, re-login on
//! 401/419, the version/tenant/user-agent headers on every call, TLS verified against the given CA
//! (or the system roots) unless the user opted out, and pagination over collections.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::RwLock;

use std::sync::Arc;

use super::budget::{RateBudget, TokenBucket};
use super::error::{AviError, AviErrorKind, parse_retry_after};
use super::paging::{PageStep, Paging, collection_page};

/// Told about every request the client sends, for metrics.
pub trait RequestObserver: Send + Sync {
    /// `status` is `None` for transport failures; `waited` is the time spent waiting for budget.
    fn observed(&self, method: &str, object_type: &str, status: Option<u16>, waited: Duration);
}

/// Largest page the controller serves.
const PAGE_SIZE: u32 = 200;

/// How to reach and authenticate to the GSLB leader controller.
#[derive(Clone)]
pub struct AviConnection {
    /// `https://host[:port]` (no trailing slash needed).
    pub base_url: String,
    pub username: String,
    pub password: String,
    /// Sent as `X-Avi-Version`.
    pub version: String,
    /// Default tenant for calls that do not name one.
    pub tenant: String,
    /// PEM of the CA that signed the controller's certificate; `None` uses the system roots.
    pub ca_pem: Option<String>,
    pub insecure_skip_verify: bool,
    pub timeout: Duration,
}

impl fmt::Debug for AviConnection {
    /// Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AviConnection")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("version", &self.version)
            .field("tenant", &self.tenant)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<pem>"))
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Cookies and CSRF token of a logged-in session.
#[derive(Clone, Default)]
struct Session {
    csrf_token: String,
    session_id: String,
}

impl Session {
    /// SDKs send the session under both cookie names; so do we.
    fn cookie_header(&self) -> String {
        format!(
            "csrftoken={}; sessionid={}; avi-sessionid={}",
            self.csrf_token, self.session_id, self.session_id
        )
    }

    /// Applies `Set-Cookie` headers (login and the sliding renewal on later answers).
    fn absorb(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let Some((name, rest)) = text.split_once('=') else {
                continue;
            };
            let cookie_value = rest.split(';').next().unwrap_or_default().trim().to_owned();
            match name.trim() {
                "csrftoken" => self.csrf_token = cookie_value,
                "avi-sessionid" | "sessionid" => self.session_id = cookie_value,
                _ => {}
            }
        }
    }
}

/// A client of one controller. Cheap to share behind an `Arc`; calls may run concurrently.
pub struct AviClient {
    http: reqwest::Client,
    conn: AviConnection,
    base: String,
    session: RwLock<Option<Session>>,
    budget: Option<TokenBucket>,
    observer: Option<Arc<dyn RequestObserver>>,
}

/// Whether a controller's `object` is the one named `name` in `tenant`. The filter of a lookup is
/// the controller's to apply, and its answers are untrusted: a wrong object adopted after a 409
/// would be overwritten. A `tenant_ref` without the name part (no `include_name`) says nothing
/// against it.
pub(crate) fn is_the_named(object: &Value, name: &str, tenant: Option<&str>) -> bool {
    if object.get("name").and_then(Value::as_str) != Some(name) {
        return false;
    }
    let object_tenant = object
        .get("tenant_ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit_once('#'))
        .map(|(_, t)| t);
    match (tenant, object_tenant) {
        (Some(wanted), Some(has)) => wanted == has,
        _ => true,
    }
}

/// No answer of the controller is larger than this (a page of 200 GslbServices is a few MB); a
/// larger one is refused rather than held in memory.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// The answer's body as text, read chunk by chunk up to [`MAX_RESPONSE_BYTES`].
async fn read_body(
    mut response: reqwest::Response,
    method: &str,
    path: &str,
) -> Result<String, AviError> {
    let too_large = |status: u16| AviError {
        kind: AviErrorKind::BadResponse,
        method: method.to_owned(),
        path: path.to_owned(),
        status: Some(status),
        message: format!("answer larger than {MAX_RESPONSE_BYTES} bytes"),
    };
    let status = response.status().as_u16();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large(status));
    }
    let mut body: Vec<u8> = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| AviError::transport(method, path, &e))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large(status));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AviClientError {
    #[error("controller CA certificate is not valid PEM: {0}")]
    BadCa(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

impl AviClient {
    pub fn new(conn: AviConnection) -> Result<Self, AviClientError> {
        let mut builder = reqwest::Client::builder()
            .timeout(conn.timeout)
            .connect_timeout(conn.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("amko-rs/", env!("CARGO_PKG_VERSION")))
            // The login POST carries the password in its body, and a 307/308 would re-send it
            // to wherever the answer points: a redirect is an answer to report, not to follow.
            .redirect(reqwest::redirect::Policy::none());
        if conn.insecure_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        } else if let Some(pem) = &conn.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| AviClientError::BadCa(e.to_string()))?;
            if certs.is_empty() {
                return Err(AviClientError::BadCa("no certificate found".into()));
            }
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .build()
            .map_err(|e| AviClientError::Http(e.to_string()))?;
        let base = conn.base_url.trim_end_matches('/').to_owned();
        Ok(AviClient {
            http,
            conn,
            base,
            session: RwLock::new(None),
            budget: None,
            observer: None,
        })
    }

    /// Every request (reads, writes and logins) waits for this budget.
    pub fn with_budget(mut self, budget: RateBudget) -> Self {
        self.budget = Some(TokenBucket::new(budget));
        self
    }

    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Waits for the rate budget, sends, and reports the outcome to the observer.
    async fn dispatch(
        &self,
        method: &str,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, AviError> {
        let waited = match &self.budget {
            Some(bucket) => bucket.acquire().await,
            None => Duration::ZERO,
        };
        let result = request.send().await;
        if let Some(observer) = &self.observer {
            let object_type = path
                .trim_start_matches("/api/")
                .split(['/', '?'])
                .next()
                .unwrap_or_default();
            let status = result.as_ref().ok().map(|r| r.status().as_u16());
            observer.observed(method, object_type, status, waited);
        }
        result.map_err(|e| AviError::transport(method, path, &e))
    }

    pub fn connection(&self) -> &AviConnection {
        &self.conn
    }

    /// Logs in (again), replacing any current session.
    pub async fn login(&self) -> Result<(), AviError> {
        let mut guard = self.session.write().await;
        *guard = Some(self.login_request().await?);
        Ok(())
    }

    async fn login_request(&self) -> Result<Session, AviError> {
        let url = format!("{}/login", self.base);
        let request = self
            .http
            .post(&url)
            .json(&json!({"username": self.conn.username, "password": self.conn.password}));
        let response = self.dispatch("POST", "/login", request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        if !status.is_success() {
            let body = read_body(response, "POST", "/login")
                .await
                .unwrap_or_default();
            let mut err = AviError::from_status("POST", "/login", status.as_u16(), &body, None);
            if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                err.kind = AviErrorKind::InvalidCredentials;
            }
            return Err(err);
        }
        let mut session = Session::default();
        session.absorb(&headers);
        if session.csrf_token.is_empty() || session.session_id.is_empty() {
            return Err(AviError {
                kind: AviErrorKind::BadResponse,
                method: "POST".into(),
                path: "/login".into(),
                status: Some(status.as_u16()),
                message: "login answered without csrftoken and session cookies".into(),
            });
        }
        Ok(session)
    }

    /// One API call with the session, re-logging in once on 401/419. `path` starts with `/api/`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        tenant: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Option<Value>, AviError> {
        let mut relogged = false;
        loop {
            let session = self.current_session().await?;
            let response = self.send(&method, path, tenant, body, &session).await?;
            let status = response.status();
            if let Some(s) = self.session.write().await.as_mut() {
                s.absorb(response.headers());
            }
            if (status == StatusCode::UNAUTHORIZED || status.as_u16() == 419) && !relogged {
                relogged = true;
                self.relogin_if_unchanged(&session).await?;
                continue;
            }
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let text = read_body(response, method.as_str(), path).await?;
            if !status.is_success() {
                return Err(AviError::from_status(
                    method.as_str(),
                    path,
                    status.as_u16(),
                    &text,
                    retry_after,
                ));
            }
            if status == StatusCode::NO_CONTENT || text.trim().is_empty() {
                return Ok(None);
            }
            return serde_json::from_str(&text).map(Some).map_err(|e| AviError {
                kind: AviErrorKind::BadResponse,
                method: method.to_string(),
                path: path.to_owned(),
                status: Some(status.as_u16()),
                message: format!("response is not JSON: {e}"),
            });
        }
    }

    async fn current_session(&self) -> Result<Session, AviError> {
        if let Some(s) = self.session.read().await.as_ref() {
            return Ok(s.clone());
        }
        let mut guard = self.session.write().await;
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let session = self.login_request().await?;
        *guard = Some(session.clone());
        Ok(session)
    }

    /// Logs in again unless another task already replaced the session that failed.
    async fn relogin_if_unchanged(&self, failed: &Session) -> Result<(), AviError> {
        let mut guard = self.session.write().await;
        if guard
            .as_ref()
            .is_some_and(|s| s.session_id != failed.session_id)
        {
            return Ok(());
        }
        *guard = Some(self.login_request().await?);
        Ok(())
    }

    async fn send(
        &self,
        method: &Method,
        path: &str,
        tenant: Option<&str>,
        body: Option<&Value>,
        session: &Session,
    ) -> Result<reqwest::Response, AviError> {
        let url = format!("{}{}", self.base, path);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header("X-Avi-Version", &self.conn.version)
            .header("X-Avi-Tenant", tenant.unwrap_or(&self.conn.tenant))
            .header("X-Avi-UserAgent", "amko-rs")
            .header("X-CSRFToken", &session.csrf_token)
            .header(reqwest::header::REFERER, self.base.as_str());
        if let Ok(cookie) = HeaderValue::from_str(&session.cookie_header()) {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.dispatch(method.as_str(), path, request).await
    }

    /// Every object of a collection matching `query` (pairs are URL-encoded), following pages.
    pub async fn list(
        &self,
        object_type: &str,
        query: &[(&str, &str)],
        tenant: Option<&str>,
    ) -> Result<Vec<Value>, AviError> {
        let mut results = Vec::new();
        self.for_each_page(object_type, query, tenant, |page| results.extend(page))
            .await?;
        Ok(results)
    }

    /// Like `list`, but hands each page to `visit` as it arrives, so a caller that keeps a
    /// compact form of each object never holds the whole collection as JSON values.
    pub async fn for_each_page(
        &self,
        object_type: &str,
        query: &[(&str, &str)],
        tenant: Option<&str>,
        mut visit: impl FnMut(Vec<Value>),
    ) -> Result<(), AviError> {
        let mut paging = Paging::new(PAGE_SIZE as usize);
        let mut page = 1u32;
        loop {
            let mut pairs: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            pairs.push(format!("page_size={PAGE_SIZE}"));
            pairs.push(format!("page={page}"));
            let path = format!("/api/{object_type}?{}", pairs.join("&"));
            let body = self.call(Method::GET, &path, tenant, None).await?;
            let answer = match collection_page(body) {
                Ok(answer) => answer,
                Err(message) => {
                    return Err(AviError {
                        kind: AviErrorKind::BadResponse,
                        method: "GET".into(),
                        path,
                        status: Some(200),
                        message: message.into(),
                    });
                }
            };
            let step = paging.after_page(answer.count, answer.results.len(), answer.has_next);
            visit(answer.results);
            match step {
                PageStep::Next => page = page.saturating_add(1),
                PageStep::Done => return Ok(()),
                PageStep::Inconsistent(message) => {
                    return Err(AviError {
                        kind: AviErrorKind::BadResponse,
                        method: "GET".into(),
                        path,
                        status: Some(200),
                        message,
                    });
                }
            }
        }
    }

    /// The single object named `name`, if any.
    pub async fn get_by_name(
        &self,
        object_type: &str,
        name: &str,
        tenant: Option<&str>,
    ) -> Result<Option<Value>, AviError> {
        let found = self
            .list(
                object_type,
                &[("name", name), ("include_name", "true")],
                tenant,
            )
            .await?;
        Ok(found
            .into_iter()
            .find(|object| is_the_named(object, name, tenant)))
    }

    pub async fn create(
        &self,
        object_type: &str,
        body: &Value,
        tenant: Option<&str>,
    ) -> Result<Value, AviError> {
        let path = format!("/api/{object_type}");
        self.expect_body(Method::POST, &path, tenant, body).await
    }

    pub async fn update(
        &self,
        object_type: &str,
        uuid: &str,
        body: &Value,
        tenant: Option<&str>,
    ) -> Result<Value, AviError> {
        let path = format!("/api/{object_type}/{}", encode(uuid));
        self.expect_body(Method::PUT, &path, tenant, body).await
    }

    pub async fn delete(
        &self,
        object_type: &str,
        uuid: &str,
        tenant: Option<&str>,
    ) -> Result<(), AviError> {
        let path = format!("/api/{object_type}/{}", encode(uuid));
        self.call(Method::DELETE, &path, tenant, None)
            .await
            .map(|_| ())
    }

    async fn expect_body(
        &self,
        method: Method,
        path: &str,
        tenant: Option<&str>,
        body: &Value,
    ) -> Result<Value, AviError> {
        self.call(method.clone(), path, tenant, Some(body))
            .await?
            .ok_or_else(|| AviError {
                kind: AviErrorKind::BadResponse,
                method: method.to_string(),
                path: path.to_owned(),
                status: None,
                message: "write answered without the object".into(),
            })
    }

    /// True when this controller is the GSLB leader: its cluster uuid equals the leader's.
    pub async fn is_gslb_leader(&self) -> Result<bool, AviError> {
        let cluster = self
            .call(Method::GET, "/api/cluster", Some("admin"), None)
            .await?;
        let cluster_uuid = cluster
            .as_ref()
            .and_then(|c| c.get("uuid"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let gslb = self.list("gslb", &[], Some("admin")).await?;
        let leader = gslb
            .first()
            .and_then(|g| g.get("leader_cluster_uuid"))
            .and_then(Value::as_str);
        Ok(cluster_uuid.is_some() && cluster_uuid.as_deref() == leader)
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters pass through).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'*' | b',' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_debug_hides_the_password() {
        let conn = AviConnection {
            base_url: "https://127.0.0.1".into(),
            username: "admin".into(),
            password: "s3cr3t-value".into(),
            version: "31.1.1".into(),
            tenant: "admin".into(),
            ca_pem: None,
            insecure_skip_verify: false,
            timeout: Duration::from_secs(5),
        };
        let text = format!("{conn:?}");
        assert!(
            !text.contains("s3cr3t-value") && text.contains("<redacted>"),
            "{text}"
        );
    }

    #[test]
    fn session_cookies_follow_set_cookie() {
        let mut headers = HeaderMap::new();
        for v in [
            "csrftoken=abc; expires=x; Max-Age=31449600; Path=/; Secure",
            "avi-sessionid=s1; HttpOnly; Max-Age=86400; Path=/; Secure",
            "sessionid=s1; HttpOnly; Max-Age=86400; Path=/; Secure",
        ] {
            headers.append(reqwest::header::SET_COOKIE, HeaderValue::from_static(v));
        }
        let mut s = Session::default();
        s.absorb(&headers);
        assert_eq!(
            s.cookie_header(),
            "csrftoken=abc; sessionid=s1; avi-sessionid=s1"
        );
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode("amko-1 2&x"), "amko-1%202%26x");
    }
}
