//! HTTP handling of one cluster's API: faults first, the pod proxy, then discovery/OpenAPI documents, then the
//! resource verbs (get, list, watch, create, update, patch, delete, deletecollection), answered
//! with JSON objects, lists, Tables or `kind: Status` errors.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use super::cluster::Cluster;
use super::discovery;
use super::error::ApiError;
use super::faults::Down;
use super::ops::{self, DeleteOptions, FieldValidation, Scope, Subresource, WriteOptions};
use super::patch::{ACCEPTED_PATCH_TYPES, PatchType};
use super::pod_proxy;
use super::request::{self, ApiPath, Query, ResourcePath};
use super::resources::ResourceKey;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::ObjectKey;
use super::table;
use super::watch::{self, WatchRequest};

const MAX_BODY: usize = 64 * 1024 * 1024;

pub fn json_response(status: u16, body: &Value) -> Response {
    bytes_response(status, Bytes::from(body.to_string()))
}

fn bytes_response(status: u16, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn error_response(err: &ApiError) -> Response {
    json_response(err.code(), &err.status_body())
}

/// Everything about an API request that handling needs.
pub struct ApiRequest {
    pub method: Method,
    /// Path relative to the cluster's base URL.
    pub path: String,
    pub query: Query,
    /// The query string as sent (what the pod proxy passes on).
    pub raw_query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `host:port` the client connected to (for `serverAddressByClientCIDRs`).
    pub server_address: String,
}

impl ApiRequest {
    pub async fn read(
        request: axum::extract::Request,
        path: String,
        server_address: String,
    ) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|e| ApiError::BadRequest(format!("cannot read the request body: {e}")))?;
        Ok(ApiRequest {
            method: parts.method,
            query: Query::parse(parts.uri.query()),
            raw_query: parts.uri.query().map(str::to_owned),
            path,
            headers: parts.headers,
            body,
            server_address,
        })
    }

    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// Handles one API request for `cluster`, faults included.
pub async fn handle(cluster: Arc<Cluster>, request: ApiRequest) -> Response {
    match cluster.faults.down() {
        Down::No => {}
        Down::Refused | Down::Unavailable => {
            return error_response(&ApiError::ServiceUnavailable(format!(
                "cluster {} is unavailable (simulated fault)",
                cluster.spec.name
            )));
        }
    }
    let latency = cluster.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if cluster.faults.should_fail() {
        return error_response(&ApiError::Internal(
            "simulated fault: request failed".into(),
        ));
    }
    if let Some(target) = pod_proxy::ProxyTarget::parse(&request.path) {
        cluster.requests.record(
            bearer_user(&request),
            &request.method,
            &target.resource_path(),
            false,
        );
        return pod_proxy::forward(&cluster, &request, &target)
            .await
            .unwrap_or_else(|err| error_response(&err));
    }
    match dispatch(&cluster, request) {
        Ok(response) => response,
        Err(err) => error_response(&err),
    }
}

/// The bearer token, standing for the user (see `request_log`).
fn bearer_user(request: &ApiRequest) -> Option<&str> {
    request
        .header(header::AUTHORIZATION)
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn dispatch(cluster: &Arc<Cluster>, request: ApiRequest) -> Result<Response, ApiError> {
    let path = request::parse_path(&request.path).ok_or(ApiError::NoSuchPath)?;
    if let ApiPath::Resource(resource_path) = path {
        cluster.requests.record(
            bearer_user(&request),
            &request.method,
            &resource_path,
            request.query.flag("watch"),
        );
        return resource(cluster, request, resource_path);
    }
    if request.method != Method::GET {
        return Err(ApiError::MethodNotAllowed);
    }
    let st = cluster.lock();
    let registry = &st.registry;
    let body = match path {
        ApiPath::Version => discovery::version(),
        ApiPath::Health => return Ok(Response::new(Body::from("ok"))),
        ApiPath::CoreVersions => discovery::core_versions(&request.server_address),
        ApiPath::Groups => discovery::group_list(registry),
        ApiPath::Group(group) => discovery::group(registry, &group).ok_or(ApiError::NoSuchPath)?,
        ApiPath::ResourceList { group, version } => {
            discovery::resource_list(registry, &group, &version).ok_or(ApiError::NoSuchPath)?
        }
        // Only JSON is served; kubectl asks for protobuf only, and a 404 tells it "no v2".
        ApiPath::OpenApiV2 if !accepts_json(&request.headers) => return Err(ApiError::NoSuchPath),
        ApiPath::OpenApiV2 => discovery::openapi_v2(registry),
        ApiPath::OpenApiV3Root => discovery::openapi_v3_root(registry),
        ApiPath::OpenApiV3 { group, version } => {
            discovery::openapi_v3_group_version(registry, &group, &version)
                .ok_or(ApiError::NoSuchPath)?
        }
        ApiPath::Resource(_) => return Err(ApiError::NoSuchPath),
    };
    Ok(json_response(200, &body))
}

fn resource(
    cluster: &Arc<Cluster>,
    request: ApiRequest,
    path: ResourcePath,
) -> Result<Response, ApiError> {
    let scope = {
        let st = cluster.lock();
        let resource = st
            .registry
            .find(&path.group, &path.version, &path.plural)
            .ok_or(ApiError::NoSuchPath)?;
        if !resource.namespaced && path.namespace.is_some() {
            return Err(ApiError::NoSuchPath);
        }
        Scope {
            resource,
            version: path.version.clone(),
            namespace: path.namespace.clone(),
        }
    };
    if path.subresource.as_deref() == Some("log") && scope.resource.key() == pods_key() {
        return pod_log(cluster, &request, &scope, &path);
    }
    let sub = match path.subresource.as_deref() {
        None | Some("finalize") => Subresource::Main,
        Some("status") if scope.resource.has_status_subresource(&scope.version) => {
            Subresource::Status
        }
        Some(_) => return Err(ApiError::NoSuchPath),
    };
    let q = &request.query;
    let opts = WriteOptions {
        field_validation: FieldValidation::parse(q.get("fieldValidation").unwrap_or_default()),
        dry_run: q.get("dryRun").is_some_and(|d| !d.is_empty()),
    };
    let spec = &cluster.spec;
    let content_type = request.header(header::CONTENT_TYPE).to_string();
    match (&request.method, path.name.as_deref()) {
        (&Method::GET, None) if path.watch || q.flag("watch") => watch(cluster, &request, scope),
        (&Method::GET, None) => list(cluster, &request, &scope),
        (&Method::GET, Some(name)) if path.watch => {
            let mut req = watch_request(&request, scope)?;
            req.fields = FieldSelector::parse(&format!("metadata.name={name}"))?;
            Ok(watch::start(cluster.clone(), req))
        }
        (&Method::GET, Some(name)) => {
            let object = ops::get(&cluster.lock(), &scope, name)?;
            if table::wants_table(request.header(header::ACCEPT)) {
                let rv = cluster.lock().resource_version();
                return Ok(json_response(
                    200,
                    &table::table(&scope.resource, &scope.version, &[object], rv),
                ));
            }
            Ok(json_response(200, &object))
        }
        (&Method::POST, None) => {
            let body = request::decode_body(&content_type, &request.body)?;
            let result = ops::create(&mut cluster.lock(), spec, &scope, body, &opts)?;
            Ok(with_warnings(
                json_response(201, &result.object),
                &result.warnings,
            ))
        }
        (&Method::PUT, Some(name)) => {
            let body = request::decode_body(&content_type, &request.body)?;
            let result = ops::update(&mut cluster.lock(), spec, &scope, name, body, sub, &opts)?;
            Ok(with_warnings(
                json_response(200, &result.object),
                &result.warnings,
            ))
        }
        (&Method::PATCH, Some(name)) => {
            let patch_type = PatchType::from_content_type(&content_type)
                .ok_or_else(|| ApiError::UnsupportedMediaType(ACCEPTED_PATCH_TYPES.into()))?;
            if patch_type == PatchType::Apply && q.get("fieldManager").is_none_or(str::is_empty) {
                return Err(ApiError::BadRequest(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
                ));
            }
            let body = request::decode_body(&content_type, &request.body)?;
            let result = ops::patch(
                &mut cluster.lock(),
                spec,
                &scope,
                name,
                patch_type,
                &body,
                sub,
                &opts,
            )?;
            let code = if result.created { 201 } else { 200 };
            Ok(with_warnings(
                json_response(code, &result.object),
                &result.warnings,
            ))
        }
        (&Method::DELETE, Some(name)) => {
            let options = delete_options(&request, &content_type)?;
            let object = ops::delete(&mut cluster.lock(), spec, &scope, name, &options)?;
            Ok(json_response(200, &object))
        }
        (&Method::DELETE, None) => {
            let options = delete_options(&request, &content_type)?;
            let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())?;
            let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or_default())?;
            let mut st = cluster.lock();
            let deleted =
                ops::delete_collection(&mut st, spec, &scope, &labels, &fields, &options)?;
            let body = json!({"kind": scope.resource.list_kind, "apiVersion": scope.resource.api_version(&scope.version),
                              "metadata": {"resourceVersion": st.resource_version().to_string()}, "items": deleted});
            Ok(json_response(200, &body))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

fn pods_key() -> ResourceKey {
    ResourceKey {
        group: String::new(),
        plural: "pods".into(),
    }
}

/// `GET …/pods/<name>/log`: the planted text of the container (see `pod_logs`), as text/plain.
fn pod_log(
    cluster: &Arc<Cluster>,
    request: &ApiRequest,
    scope: &Scope,
    path: &ResourcePath,
) -> Result<Response, ApiError> {
    if request.method != Method::GET {
        return Err(ApiError::MethodNotAllowed);
    }
    let (Some(namespace), Some(name)) = (path.namespace.as_deref(), path.name.as_deref()) else {
        return Err(ApiError::NoSuchPath);
    };
    let pod = ops::get(&cluster.lock(), scope, name)?;
    let text = cluster.logs.read(namespace, &pod, &request.query)?;
    let mut response = Response::new(Body::from(text));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

fn accepts_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    accept.is_empty() || accept.contains("json") || accept.contains("*/*")
}

fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let text = format!("299 - \"{}\"", warning.replace('"', "'"));
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

fn delete_options(request: &ApiRequest, content_type: &str) -> Result<DeleteOptions, ApiError> {
    let body = request::decode_body(content_type, &request.body)?;
    let mut options = DeleteOptions::from_json(&body);
    if let Some(policy) = request.query.get("propagationPolicy") {
        options.propagation_policy = Some(policy.to_string());
    }
    if request.query.get("dryRun").is_some_and(|d| !d.is_empty()) {
        options.dry_run = true;
    }
    Ok(options)
}

/// Continue tokens: the last key of the page, hex-encoded (opaque to clients).
fn encode_continue(key: &ObjectKey) -> String {
    format!("{}/{}", key.0, key.1)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Result<ObjectKey, ApiError> {
    let invalid = || ApiError::BadRequest(format!("continue key is not valid: {token:?}"));
    if !token.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes: Result<Vec<u8>, _> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect();
    let text = String::from_utf8(bytes.map_err(|_| invalid())?).map_err(|_| invalid())?;
    let (ns, name) = text.split_once('/').ok_or_else(invalid)?;
    Ok((ns.to_string(), name.to_string()))
}

fn list(cluster: &Arc<Cluster>, request: &ApiRequest, scope: &Scope) -> Result<Response, ApiError> {
    let q = &request.query;
    let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or_default())?;
    let limit = q.number("limit")?.unwrap_or(0) as usize;
    let start_after = match q.get("continue") {
        Some(token) if !token.is_empty() => Some(decode_continue(token)?),
        _ => None,
    };
    let st = cluster.lock();
    let page = st.list(
        &scope.resource.key(),
        scope.namespace.as_deref(),
        &labels,
        &fields,
        start_after.as_ref(),
        limit,
    );
    let rv = st.resource_version();
    drop(st);
    let convert = scope.resource.versions.len() > 1;
    if table::wants_table(request.header(header::ACCEPT)) || convert {
        let mut objects = Vec::with_capacity(page.items.len());
        for item in &page.items {
            let mut value = item.value()?;
            ops::convert_version(&mut value, scope);
            objects.push(value);
        }
        if table::wants_table(request.header(header::ACCEPT)) {
            let mut t = table::table(&scope.resource, &scope.version, &objects, rv);
            if let Some(after) = &page.continue_after {
                t["metadata"]["continue"] = json!(encode_continue(after));
            }
            return Ok(json_response(200, &t));
        }
        let mut body = list_envelope(scope, rv, &page.continue_after, page.remaining);
        body["items"] = Value::Array(objects);
        return Ok(json_response(200, &body));
    }
    // Assemble the list from stored JSON without re-serialising each object.
    let envelope = list_envelope(scope, rv, &page.continue_after, page.remaining).to_string();
    let head = envelope.strip_suffix('}').unwrap_or(&envelope);
    let size: usize = page.items.iter().map(|i| i.json.len() + 1).sum();
    let mut out = Vec::with_capacity(head.len() + size + 16);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&item.json);
    }
    out.extend_from_slice(b"]}");
    Ok(bytes_response(200, Bytes::from(out)))
}

fn list_envelope(
    scope: &Scope,
    rv: u64,
    continue_after: &Option<ObjectKey>,
    remaining: usize,
) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(after) = continue_after {
        metadata["continue"] = json!(encode_continue(after));
        metadata["remainingItemCount"] = json!(remaining);
    }
    json!({"kind": scope.resource.list_kind, "apiVersion": scope.resource.api_version(&scope.version), "metadata": metadata})
}

fn watch_request(request: &ApiRequest, scope: Scope) -> Result<WatchRequest, ApiError> {
    let q = &request.query;
    Ok(WatchRequest {
        scope,
        labels: LabelSelector::parse(q.get("labelSelector").unwrap_or_default())?,
        fields: FieldSelector::parse(q.get("fieldSelector").unwrap_or_default())?,
        resource_version: q.get("resourceVersion").map(str::to_string),
        send_initial_events: q.flag("sendInitialEvents"),
        bookmarks: q.flag("allowWatchBookmarks"),
        timeout: q
            .number("timeoutSeconds")?
            .map(std::time::Duration::from_secs),
    })
}

fn watch(cluster: &Arc<Cluster>, request: &ApiRequest, scope: Scope) -> Result<Response, ApiError> {
    let req = watch_request(request, scope)?;
    Ok(watch::start(cluster.clone(), req))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let key = ("ns-a".to_string(), "web/1".to_string());
        let token = encode_continue(&key);
        assert_eq!(
            decode_continue(&token).unwrap(),
            ("ns-a".to_string(), "web/1".to_string())
        );
        assert!(decode_continue("zz").is_err());
    }
}
