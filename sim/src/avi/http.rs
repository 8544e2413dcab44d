//! The HTTP front: router assembly, the pipeline every API request passes (outage, rate limit,
//! latency, injected errors, counters) and the session endpoints `/login` and `/logout`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};

use super::api;
use super::config::RateLimitScope;
use super::control;
use super::error::ApiError;
use super::faults::FaultVerdict;
use super::ratelimit::Decision;
use super::state::{ClientAddr, SimState};
use super::types::ObjType;

pub const CSRF_MESSAGE: &str = "CSRF token missing or incorrect.";
const SESSION_MAX_AGE: u64 = 86_400;
const CSRF_MAX_AGE: u64 = 31_449_600;

pub fn router(state: Arc<SimState>) -> Router {
    let api_routes = Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/api/{*path}", any(api::handle))
        .layer(middleware::from_fn_with_state(state.clone(), front));
    Router::new()
        .merge(api_routes)
        .nest("/sim", control::router())
        .fallback(|| async { ApiError::NotFound("Invalid API path".into()) })
        .with_state(state)
}

/// Counter label for a request path.
fn object_label(path: &str) -> String {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split('/').collect::<Vec<_>>().as_slice() {
        ["login", ..] => "login".into(),
        ["logout", ..] => "logout".into(),
        ["api", segment, ..] => match ObjType::from_path(segment) {
            Some(t) => t.path().to_string(),
            None => segment.to_string(),
        },
        _ => "other".into(),
    }
}

pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie_value(headers, "avi-sessionid").or_else(|| cookie_value(headers, "sessionid"))
}

/// Everything in front of the handlers, in the order the real front end applies it.
async fn front(State(state): State<Arc<SimState>>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_string();
    let label = object_label(request.uri().path());
    let response = match state.faults.verdict() {
        FaultVerdict::Outage => {
            ApiError::Unavailable("Controller is not ready (simulated outage)".into())
                .into_response()
        }
        verdict => {
            let peer = request
                .extensions()
                .get::<ClientAddr>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_default();
            let key = match state.limiter.config().map(|c| c.scope) {
                Some(RateLimitScope::Session) => session_cookie(request.headers())
                    .map(str::to_string)
                    .unwrap_or(peer),
                _ => peer,
            };
            match state.limiter.check(&key) {
                Decision::Reject => ApiError::TooManyRequests.into_response(),
                decision => {
                    if let Decision::Delay(wait) = decision {
                        tokio::time::sleep(wait).await;
                    }
                    let latency = state.faults.latency();
                    if !latency.is_zero() {
                        tokio::time::sleep(latency).await;
                    }
                    match verdict {
                        FaultVerdict::Error(status) => ApiError::Injected {
                            status,
                            message: "Internal server error (injected by the simulator)".into(),
                        }
                        .into_response(),
                        _ => next.run(request).await,
                    }
                }
            }
        }
    };
    state
        .counters
        .record(&method, &label, response.status().as_u16());
    response
}

fn cookie(state: &SimState, name: &str, value: &str, max_age: u64, http_only: bool) -> HeaderValue {
    let mut text = format!("{name}={value}; Max-Age={max_age}; Path=/");
    if http_only {
        text.push_str("; HttpOnly");
    }
    if state.tls {
        text.push_str("; Secure");
    }
    // Tokens are alphanumeric, so the header is always valid.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// Re-issues the session cookies with a fresh Max-Age (sliding renewal, as recorded).
pub fn session_cookies(state: &SimState, session_id: &str, max_age: u64) -> [HeaderValue; 2] {
    [
        cookie(state, "avi-sessionid", session_id, max_age, true),
        cookie(state, "sessionid", session_id, max_age, true),
    ]
}

pub fn append_session_cookies(state: &SimState, response: &mut Response, session_id: &str) {
    for value in session_cookies(state, session_id, SESSION_MAX_AGE) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Django's rule at login: a CSRF header or cookie, if sent, must come as a matching pair.
fn login_csrf_ok(headers: &HeaderMap) -> bool {
    let header_token = headers.get("x-csrftoken").and_then(|v| v.to_str().ok());
    let cookie_token = cookie_value(headers, "csrftoken");
    match (header_token, cookie_token) {
        (None, None) => true,
        (Some(h), Some(c)) => h == c,
        _ => false,
    }
}

fn credentials(headers: &HeaderMap, body: &Bytes) -> Option<(String, Option<String>, bool)> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    let looks_like_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if is_json || looks_like_json {
        let value: Value = serde_json::from_slice(body).ok()?;
        let username = value.get("username")?.as_str()?.to_string();
        let password = value
            .get("password")
            .and_then(Value::as_str)
            .map(str::to_string);
        let token = value.get("token").is_some();
        Some((username, password, token))
    } else {
        let mut username = None;
        let mut password = None;
        let mut token = false;
        for (k, v) in form_urlencoded::parse(body) {
            match k.as_ref() {
                "username" => username = Some(v.into_owned()),
                "password" => password = Some(v.into_owned()),
                "token" => token = true,
                _ => {}
            }
        }
        Some((username?, password, token))
    }
}

pub fn base_url(state: &SimState, headers: &HeaderMap) -> String {
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if !host.is_empty() => format!("{}://{host}", state.scheme()),
        _ => state.base_url.clone(),
    }
}

async fn login(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !login_csrf_ok(&headers) {
        return ApiError::Csrf(CSRF_MESSAGE.into()).into_response();
    }
    let accepted = match credentials(&headers, &body) {
        Some((username, Some(password), false)) => {
            username == state.username && password == state.password
        }
        _ => false,
    };
    if !accepted {
        return ApiError::Unauthorized("Invalid credentials".into()).into_response();
    }
    let session = state.sessions.create();
    let base = base_url(&state, &headers);
    let idle_minutes = state.sessions.idle_timeout().as_secs().div_ceil(60);
    let body = json!({
        "user_initialized": true,
        "version": {
            "Version": state.version,
            "ProductName": "Avi Cloud Controller (amko-rs simulator)",
            "Product": "controller",
            "Tag": format!("{}-sim", state.version),
            "build": 1,
            "min_version": 15.2,
        },
        "user": {
            "is_superuser": true,
            "default_tenant_ref": format!("{base}/api/tenant/admin"),
            "name": state.username,
            "username": state.username,
            "full_name": state.username,
            "local": true,
            "uuid": "user-1",
        },
        "tenants": state.ctrl.tenant_summaries(&base),
        "system_config": {"uuid": "default", "url": format!("{base}/api/systemconfiguration/default")},
        "controller": {"api_idle_timeout": idle_minutes},
        "session_cookie_name": "avi-sessionid",
    });
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    let headers_out = response.headers_mut();
    headers_out.insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
    headers_out.append(
        header::SET_COOKIE,
        cookie(
            &state,
            "csrftoken",
            &session.csrf_token,
            CSRF_MAX_AGE,
            false,
        ),
    );
    append_session_cookies(&state, &mut response, &session.session_id);
    response
}

async fn logout(State(state): State<Arc<SimState>>, headers: HeaderMap) -> Response {
    let auth = match api::authenticate(&state, &Method::POST, &headers) {
        Ok(auth) => auth,
        Err(e) => return e.into_response(),
    };
    if let Some(session_id) = auth.session_id {
        state.sessions.remove(&session_id);
    }
    let mut response = (StatusCode::OK, axum::Json(json!({}))).into_response();
    for value in session_cookies(&state, "", 0) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_cookies() {
        assert_eq!(object_label("/api/gslbservice/x"), "gslbservice");
        assert_eq!(object_label("/login"), "login");
        assert_eq!(object_label("/api/pool"), "pool");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("csrftoken=abc; sessionid=s1; avi-sessionid=s2"),
        );
        assert_eq!(session_cookie(&headers), Some("s2"));
        assert!(!login_csrf_ok(&headers));
        headers.insert("x-csrftoken", HeaderValue::from_static("abc"));
        assert!(login_csrf_ok(&headers));
    }

    #[test]
    fn parses_form_and_json_credentials() {
        let headers = HeaderMap::new();
        let form = credentials(
            &headers,
            &Bytes::from_static(b"username=admin&password=p%40ss"),
        );
        assert_eq!(form, Some(("admin".into(), Some("p@ss".into()), false)));
        let json = credentials(
            &headers,
            &Bytes::from_static(br#"{"username":"admin","password":"x"}"#),
        );
        assert_eq!(json, Some(("admin".into(), Some("x".into()), false)));
        assert_eq!(
            credentials(&headers, &Bytes::from_static(b"password=x")),
            None
        );
    }
}
