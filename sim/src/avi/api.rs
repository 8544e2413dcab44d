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
            let mut response = route(&state, &parts, &segments, &bytes, &base)
                .unwrap_or_else(IntoResponse::into_response);
            // The slow-list fault: the collection was read above; its answer leaves late.
            let list_delay = state.faults.list_delay();
            if parts.method == Method::GET && segments.len() == 1 && !list_delay.is_zero() {
                tokio::time::sleep(list_delay).await;
            }
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

/// One authenticated `/api/<type>[/<uuid>]` request, after the headers were checked.
struct Call<'a> {
    state: &'a SimState,
    method: &'a Method,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    bytes: &'a Bytes,
    base: &'a str,
    obj_type: ObjType,
    view: TenantView,
}

fn route(
    state: &SimState,
    parts: &axum::http::request::Parts,
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
    let call = Call {
        state,
        method: &parts.method,
        query: parts.uri.query(),
        headers: &parts.headers,
        bytes,
        base,
        obj_type,
        view: tenant_view(state, &parts.headers)?,
    };
    match rest {
        [] => call.collection(),
        [uuid] => call.item(uuid),
        [_, sub, ..] => Err(ApiError::NotFound(format!(
            "Invalid API path: sub-resource '{sub}' is not simulated"
        ))),
    }
}

impl Call<'_> {
    fn render_written(&self, obj: &StoredObject) -> Value {
        let store = self.state.ctrl.read();
        super::controller::Controller::render(
            &store,
            obj,
            &Render {
                base: self.base,
                include_name: true,
                fields: None,
            },
        )
    }

    /// Records a write in the audit log, successful or not.
    fn audit(&self, outcome: &Result<Arc<StoredObject>, ApiError>, fallback_uuid: &str) {
        let method = self.method.as_str().to_string();
        let object_type = self.obj_type.path().to_string();
        let record = match outcome {
            Ok(obj) => WriteRecord {
                method,
                object_type,
                uuid: obj.uuid.clone(),
                name: obj.name.clone(),
                tenant: self.state.ctrl.tenant_name(&obj.tenant),
                status: match *self.method {
                    Method::POST => 201,
                    Method::DELETE => 204,
                    _ => 200,
                },
            },
            Err(e) => WriteRecord {
                method,
                object_type,
                uuid: fallback_uuid.to_string(),
                name: serde_json::from_slice::<Value>(self.bytes)
                    .ok()
                    .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_default(),
                tenant: match &self.view {
                    TenantView::One(t) => self.state.ctrl.tenant_name(t),
                    TenantView::All => "*".into(),
                },
                status: e.status().as_u16(),
            },
        };
        self.state.audit.record(record, self.bytes);
    }

    fn render_options(&self) -> Result<(bool, Option<Vec<String>>), ApiError> {
        let query = parse_list_query(self.query, self.state.default_page_size)?;
        Ok((query.include_name, query.fields))
    }

    fn collection(&self) -> Result<Response, ApiError> {
        let ctrl = &self.state.ctrl;
        match *self.method {
            Method::GET if self.obj_type == ObjType::Cluster => {
                let (include_name, fields) = self.render_options()?;
                let how = Render {
                    base: self.base,
                    include_name,
                    fields: fields.as_deref(),
                };
                Ok(json_response(StatusCode::OK, &ctrl.cluster(&how)?))
            }
            Method::GET => {
                let query = parse_list_query(self.query, self.state.default_page_size)?;
                let answer = ctrl.list(self.obj_type, &self.view, &query, self.base);
                Ok(json_response(StatusCode::OK, &answer))
            }
            Method::POST => {
                let slug = self.headers.get("slug").and_then(|v| v.to_str().ok());
                let outcome = parse_json(self.bytes).and_then(|body| {
                    ctrl.create(self.obj_type, body, &self.view, slug, Origin::Api)
                });
                self.audit(&outcome, "");
                let written = outcome?;
                let rendered = self.render_written(&written);
                let mut response = json_response(StatusCode::CREATED, &rendered);
                if let Some(url) = rendered.get("url").and_then(Value::as_str)
                    && let Ok(location) = HeaderValue::from_str(url)
                {
                    response.headers_mut().insert(header::LOCATION, location);
                }
                Ok(response)
            }
            _ => Err(self.not_allowed()),
        }
    }

    fn item(&self, uuid: &str) -> Result<Response, ApiError> {
        let ctrl = &self.state.ctrl;
        match *self.method {
            Method::GET => {
                let (include_name, fields) = self.render_options()?;
                let how = Render {
                    base: self.base,
                    include_name,
                    fields: fields.as_deref(),
                };
                let object = ctrl.get_item(self.obj_type, uuid, &self.view, &how)?;
                Ok(json_response(StatusCode::OK, &object))
            }
            Method::PUT | Method::PATCH => {
                let outcome = parse_json(self.bytes).and_then(|body| {
                    if *self.method == Method::PUT {
                        ctrl.replace(self.obj_type, uuid, body, &self.view)
                    } else {
                        ctrl.patch(self.obj_type, uuid, body, &self.view)
                    }
                });
                self.audit(&outcome, uuid);
                let written = outcome?;
                let rendered = self.render_written(&written);
                Ok(json_response(StatusCode::OK, &rendered))
            }
            Method::DELETE => {
                let outcome = ctrl.delete(self.obj_type, uuid, &self.view);
                self.audit(&outcome, uuid);
                outcome?;
                let mut response = StatusCode::NO_CONTENT.into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Ok(response)
            }
            _ => Err(self.not_allowed()),
        }
    }

    fn not_allowed(&self) -> ApiError {
        ApiError::MethodNotAllowed(format!("Method '{}' not allowed", self.method))
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
