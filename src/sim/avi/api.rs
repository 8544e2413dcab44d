//! The `/api/...` endpoints: authentication (session cookies with CSRF + Referer on writes, or
//! basic auth), the `X-Avi-Version` and tenant headers, routing to collections, items and the
//! few special endpoints, and the write audit.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::audit::WriteRecord;
use super::collection::parse_list_query;
use super::controller::Origin;
use super::error::ApiError;
use super::http::{CSRF_MESSAGE, append_session_cookies, base_url, session_cookie};
use super::reads::Render;
use super::session::SessionRejection;
use super::state::SimState;
use super::store::{StoredObject, TenantView};
use super::types::ObjType;

/// Version the recorded controller fell back to when no `X-Avi-Version` was sent.
const LEGACY_VERSION: &str = "16.4.2";
/// Largest request body accepted.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Who made a request.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    /// Present for session auth (cookies get renewed); `None` for basic auth.
    pub session_id: Option<String>,
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Django-style Referer check: present, and on HTTPS from the same host.
fn referer_ok(state: &SimState, headers: &HeaderMap) -> Result<(), ApiError> {
    let referer = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            ApiError::Csrf("CSRF Failed: Referer checking failed - no Referer.".into())
        })?;
    if !state.tls {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let referer_host = referer
        .strip_prefix("https://")
        .map(|rest| rest.split('/').next().unwrap_or_default());
    if referer_host == Some(host) {
        Ok(())
    } else {
        Err(ApiError::Csrf(format!(
            "CSRF Failed: Referer checking failed - {referer} does not match any trusted origins."
        )))
    }
}

/// Session (with CSRF and Referer on writes) or basic auth.
pub fn authenticate(
    state: &SimState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Auth, ApiError> {
    if let Some(session_id) = session_cookie(headers) {
        let csrf = state.sessions.touch(session_id).map_err(|why| {
            ApiError::Unauthorized(match why {
                SessionRejection::Expired => "Session expired. Please log in again.".into(),
                SessionRejection::Unknown => "Invalid session. Please log in again.".into(),
            })
        })?;
        if is_write(method) {
            let sent = headers.get("x-csrftoken").and_then(|v| v.to_str().ok());
            if sent != Some(csrf.as_str()) {
                return Err(ApiError::Csrf(CSRF_MESSAGE.into()));
            }
            referer_ok(state, headers)?;
        }
        return Ok(Auth {
            session_id: Some(session_id.to_string()),
        });
    }
    if let Some((user, password)) = basic_credentials(headers) {
        if !state.basic_auth() {
            return Err(ApiError::Unauthorized(
                "Basic authentication is disabled on this controller".into(),
            ));
        }
        if user == state.username && password == state.password {
            return Ok(Auth { session_id: None });
        }
        return Err(ApiError::Unauthorized("Invalid credentials".into()));
    }
    Err(ApiError::Unauthorized(
        "Authentication credentials were not provided.".into(),
    ))
}

fn parse_version(v: &str) -> Vec<u64> {
    v.split(['.', '_', '-'])
        .map_while(|part| part.parse::<u64>().ok())
        .collect()
}

/// The API version the request asked for (refused when newer than the controller's).
fn api_version(state: &SimState, headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(asked) = headers.get("x-avi-version").and_then(|v| v.to_str().ok()) else {
        return Ok(LEGACY_VERSION.to_string());
    };
    let parsed = parse_version(asked);
    if parsed.is_empty() {
        return Err(ApiError::BadRequest(format!("Invalid version {asked}")));
    }
    if parsed > parse_version(&state.version) {
        return Err(ApiError::BadRequest(format!(
            "Invalid version {asked}: this controller runs {}",
            state.version
        )));
    }
    Ok(asked.to_string())
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn parse_json(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "request body is empty; a JSON object is required".into(),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("request body is not valid JSON: {e}")))
}

/// The entry point for everything under `/api/`.
pub async fn handle(State(state): State<Arc<SimState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return ApiError::BadRequest(format!("cannot read request body: {e}")).into_response();
        }
    };
    let path = parts
        .uri
        .path()
        .trim_start_matches("/api/")
        .trim_end_matches('/')
        .to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let base = base_url(&state, &parts.headers);

    // Probes that work without a session.
    match (&parts.method, segments.as_slice()) {
        (&Method::GET, ["cluster", "status"]) => {
            return json_response(
                StatusCode::OK,
                &json!({"cluster_state": {"state": "CLUSTER_UP_NO_HA", "progress": 100},
                        "node_states": [{"name": "node-1", "state": "CLUSTER_ACTIVE", "role": "CLUSTER_LEADER"}]}),
            );
        }
        (&Method::GET, ["initial-data"]) | (&Method::GET, ["cluster", "version"]) => {
            return json_response(
                StatusCode::OK,
                &json!({"version": {"Version": state.version, "build": 1,
                                    "ProductName": "Avi Cloud Controller (amko-rs simulator)"},
                        "Version": state.version}),
            );
        }
        _ => {}
    }

    let auth = match authenticate(&state, &parts.method, &parts.headers) {
        Ok(auth) => auth,
        Err(e) => return e.into_response(),
    };
    let mut response = match api_version(&state, &parts.headers) {
        Err(e) => e.into_response(),
        Ok(version) => {
            let mut response = route(
                &state,
                &parts.method,
                &parts.uri,
                &parts.headers,
                &segments,
                &bytes,
                &base,
            )
            .unwrap_or_else(IntoResponse::into_response);
            if let Ok(value) = HeaderValue::from_str(&version) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static("avi_api_version"), value.clone());
                response
                    .headers_mut()
                    .insert(HeaderName::from_static("x-avi-version"), value);
            }
            response
        }
    };
    if let Some(session_id) = &auth.session_id {
        append_session_cookies(&state, &mut response, session_id);
    }
    response
}

fn tenant_view(state: &SimState, headers: &HeaderMap) -> Result<TenantView, ApiError> {
    let name = headers.get("x-avi-tenant").and_then(|v| v.to_str().ok());
    let uuid = headers
        .get("x-avi-tenant-uuid")
        .and_then(|v| v.to_str().ok());
    state.ctrl.tenant_view(name, uuid)
}

fn route(
    state: &SimState,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    segments: &[&str],
    bytes: &Bytes,
    base: &str,
) -> Result<Response, ApiError> {
    let (type_segment, rest) = segments
        .split_first()
        .ok_or_else(|| ApiError::NotFound("Invalid API path".into()))?;
    let obj_type = ObjType::from_path(type_segment).ok_or_else(|| {
        ApiError::NotFound(format!(
            "Invalid API path: object type '{type_segment}' is not simulated"
        ))
    })?;
    let view = tenant_view(state, headers)?;
    match rest {
        [] => collection_request(state, method, uri, headers, obj_type, &view, bytes, base),
        [uuid] => item_request(state, method, uri, obj_type, uuid, &view, bytes, base),
        [_, sub, ..] => Err(ApiError::NotFound(format!(
            "Invalid API path: sub-resource '{sub}' is not simulated"
        ))),
    }
}

fn render_written(state: &SimState, obj: &StoredObject, base: &str) -> Value {
    let store = state.ctrl.read();
    super::controller::Controller::render(
        &store,
        obj,
        &Render {
            base,
            include_name: true,
            fields: None,
        },
    )
}

fn audit(
    state: &SimState,
    method: &Method,
    obj_type: ObjType,
    outcome: &Result<Arc<StoredObject>, ApiError>,
    fallback_uuid: &str,
    bytes: &Bytes,
    view: &TenantView,
) {
    let record = match outcome {
        Ok(obj) => WriteRecord {
            method: method.as_str().to_string(),
            object_type: obj_type.path().to_string(),
            uuid: obj.uuid.clone(),
            name: obj.name.clone(),
            tenant: state.ctrl.tenant_name(&obj.tenant),
            status: match *method {
                Method::POST => 201,
                Method::DELETE => 204,
                _ => 200,
            },
        },
        Err(e) => WriteRecord {
            method: method.as_str().to_string(),
            object_type: obj_type.path().to_string(),
            uuid: fallback_uuid.to_string(),
            name: serde_json::from_slice::<Value>(bytes)
                .ok()
                .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default(),
            tenant: match view {
                TenantView::One(t) => state.ctrl.tenant_name(t),
                TenantView::All => "*".into(),
            },
            status: e.status().as_u16(),
        },
    };
    state.audit.record(record, bytes);
}

#[allow(clippy::too_many_arguments)]
fn collection_request(
    state: &SimState,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    obj_type: ObjType,
    view: &TenantView,
    bytes: &Bytes,
    base: &str,
) -> Result<Response, ApiError> {
    match *method {
        Method::GET if obj_type == ObjType::Cluster => {
            let query = parse_list_query(uri.query(), state.default_page_size)?;
            let how = Render {
                base,
                include_name: query.include_name,
                fields: query.fields.as_deref(),
            };
            Ok(json_response(StatusCode::OK, &state.ctrl.cluster(&how)?))
        }
        Method::GET => {
            let query = parse_list_query(uri.query(), state.default_page_size)?;
            Ok(json_response(
                StatusCode::OK,
                &state.ctrl.list(obj_type, view, &query, base),
            ))
        }
        Method::POST => {
            let slug = headers.get("slug").and_then(|v| v.to_str().ok());
            let outcome = parse_json(bytes)
                .and_then(|body| state.ctrl.create(obj_type, body, view, slug, Origin::Api));
            audit(state, method, obj_type, &outcome, "", bytes, view);
            let obj = outcome?;
            let rendered = render_written(state, &obj, base);
            let mut response = json_response(StatusCode::CREATED, &rendered);
            if let Some(url) = rendered.get("url").and_then(Value::as_str)
                && let Ok(location) = HeaderValue::from_str(url)
            {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        _ => Err(ApiError::MethodNotAllowed(format!(
            "Method '{method}' not allowed"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
fn item_request(
    state: &SimState,
    method: &Method,
    uri: &axum::http::Uri,
    obj_type: ObjType,
    uuid: &str,
    view: &TenantView,
    bytes: &Bytes,
    base: &str,
) -> Result<Response, ApiError> {
    match *method {
        Method::GET => {
            let query = parse_list_query(uri.query(), state.default_page_size)?;
            let how = Render {
                base,
                include_name: query.include_name,
                fields: query.fields.as_deref(),
            };
            Ok(json_response(
                StatusCode::OK,
                &state.ctrl.get_item(obj_type, uuid, view, &how)?,
            ))
        }
        Method::PUT | Method::PATCH => {
            let outcome = parse_json(bytes).and_then(|body| {
                if *method == Method::PUT {
                    state.ctrl.replace(obj_type, uuid, body, view)
                } else {
                    state.ctrl.patch(obj_type, uuid, body, view)
                }
            });
            audit(state, method, obj_type, &outcome, uuid, bytes, view);
            let obj = outcome?;
            Ok(json_response(
                StatusCode::OK,
                &render_written(state, &obj, base),
            ))
        }
        Method::DELETE => {
            let outcome = state.ctrl.delete(obj_type, uuid, view);
            audit(state, method, obj_type, &outcome, uuid, bytes, view);
            outcome?;
            let mut response = StatusCode::NO_CONTENT.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
        _ => Err(ApiError::MethodNotAllowed(format!(
            "Method '{method}' not allowed"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("30.2.1") > parse_version("22.1.3"));
        assert!(parse_version("30.2.1") > parse_version("30.2"));
        assert_eq!(parse_version("16_4_2"), vec![16, 4, 2]);
    }
}
