//! The API operations on one cluster's state (create, update, patch, delete, delete-collection),
//! with the metadata bookkeeping a real API server does: uid, resourceVersion, generation,
//! creationTimestamp, status subresource separation, finalizers and deletionTimestamp, no-op
//! updates that change nothing, namespace and owner cascades. Controllers react after each write.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::admission;
use super::config::ClusterSpec;
use super::controllers;
use super::error::{ApiError, FieldCause, Target};
use super::ids::now_rfc3339;
use super::patch::{self, PatchType};
use super::resources::{ResourceKey, ResourceType};
use super::schema;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::ClusterState;

/// `fieldValidation` query parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    #[default]
    Warn,
    Ignore,
    Strict,
}

impl FieldValidation {
    pub fn parse(text: &str) -> Self {
        match text {
            "Strict" => FieldValidation::Strict,
            "Ignore" => FieldValidation::Ignore,
            _ => FieldValidation::Warn,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub field_validation: FieldValidation,
    pub dry_run: bool,
}

/// What a write returns: the object, whether it was created, and warnings for the client.
#[derive(Debug)]
pub struct WriteResult {
    pub object: Value,
    pub created: bool,
    pub warnings: Vec<String>,
}

/// The resource, the version it is addressed in, and the namespace of the request.
#[derive(Clone, Debug)]
pub struct Scope {
    pub resource: Arc<ResourceType>,
    pub version: String,
    /// `Some` for namespaced resources addressed within a namespace.
    pub namespace: Option<String>,
}

impl Scope {
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }

    fn key(&self) -> ResourceKey {
        self.resource.key()
    }
}

/// The whole-object write, or one of its subresources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subresource {
    Main,
    Status,
}

/// `DeleteOptions` fields the simulator honours.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub propagation_policy: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn from_json(body: &Value) -> Self {
        DeleteOptions {
            propagation_policy: body["propagationPolicy"].as_str().map(str::to_string),
            precondition_uid: body["preconditions"]["uid"].as_str().map(str::to_string),
            precondition_resource_version: body["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_string),
            dry_run: body["dryRun"].as_array().is_some_and(|a| !a.is_empty()),
        }
    }
}

pub fn get(st: &ClusterState, scope: &Scope, name: &str) -> Result<Value, ApiError> {
    let stored = st
        .get(&scope.key(), scope.ns(), name)
        .ok_or_else(|| ApiError::NotFound(scope.resource.target(name)))?;
    let mut value = stored.value()?;
    convert_version(&mut value, scope);
    Ok(value)
}

/// Objects of a multi-version CRD are stored once; a read in another version only changes
/// `apiVersion` (no conversion webhook, as with `strategy: None`).
pub fn convert_version(value: &mut Value, scope: &Scope) {
    let wanted = scope.resource.api_version(&scope.version);
    if value["apiVersion"].as_str() != Some(wanted.as_str()) {
        value["apiVersion"] = Value::String(wanted);
    }
}

pub fn create(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    scope: &Scope,
    body: Value,
    opts: &WriteOptions,
) -> Result<WriteResult, ApiError> {
    let mut object = normalize_body(body, scope, None)?;
    let name = assign_name(&mut object, scope)?;
    if st.get(&scope.key(), scope.ns(), &name).is_some() {
        return Err(ApiError::AlreadyExists(scope.resource.target(&name)));
    }
    if let Some(ns) = &scope.namespace {
        require_namespace(st, ns)?;
    }
    if scope.resource.has_status_subresource(&scope.version)
        && let Some(map) = object.as_object_mut()
    {
        map.remove("status");
    }
    let uid = st.new_uid();
    let meta = metadata_mut(&mut object);
    meta.insert("uid".into(), Value::String(uid));
    meta.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
    meta.remove("deletionTimestamp");
    if scope.resource.has_generation {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    admission::admit(st, spec, scope, &mut object, None)?;
    let warnings = validate(scope, &mut object, None, opts)?;
    if opts.dry_run {
        return Ok(WriteResult {
            object,
            created: true,
            warnings,
        });
    }
    let (object, _) = st.put(&scope.key(), object)?;
    controllers::react(st, spec, &scope.key(), scope.ns(), &name);
    Ok(WriteResult {
        object,
        created: true,
        warnings,
    })
}

pub fn update(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    scope: &Scope,
    name: &str,
    body: Value,
    sub: Subresource,
    opts: &WriteOptions,
) -> Result<WriteResult, ApiError> {
    let target = scope.resource.target(name);
    let old = get(st, scope, name)?;
    let incoming = normalize_body(body, scope, Some(name))?;
    if let Some(rv) = incoming["metadata"]["resourceVersion"].as_str()
        && !rv.is_empty()
        && old["metadata"]["resourceVersion"].as_str() != Some(rv)
    {
        return Err(ApiError::Conflict(target));
    }
    let object = match sub {
        Subresource::Status => {
            let mut merged = old.clone();
            merged["status"] = incoming.get("status").cloned().unwrap_or(Value::Null);
            if merged["status"].is_null()
                && let Some(map) = merged.as_object_mut()
            {
                map.remove("status");
            }
            merged
        }
        Subresource::Main => {
            let mut next = incoming;
            if scope.resource.has_status_subresource(&scope.version) {
                match old.get("status") {
                    Some(status) => next["status"] = status.clone(),
                    None => {
                        if let Some(map) = next.as_object_mut() {
                            map.remove("status");
                        }
                    }
                }
            }
            next
        }
    };
    commit_update(st, spec, scope, name, old, object, sub, opts)
}

#[allow(clippy::too_many_arguments)]
pub fn patch(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    scope: &Scope,
    name: &str,
    patch_type: PatchType,
    body: &Value,
    sub: Subresource,
    opts: &WriteOptions,
) -> Result<WriteResult, ApiError> {
    let target = scope.resource.target(name);
    let old = match get(st, scope, name) {
        Ok(old) => old,
        Err(ApiError::NotFound(_))
            if patch_type == PatchType::Apply && sub == Subresource::Main =>
        {
            let mut object = body.clone();
            if object["metadata"]["name"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                metadata_mut(&mut object).insert("name".into(), Value::String(name.to_string()));
            }
            return create(st, spec, scope, object, opts);
        }
        Err(e) => return Err(e),
    };
    let mut patched = patch::apply_patch(&old, patch_type, body, scope.resource.custom, &target)?;
    if !patched.is_object() {
        return Err(ApiError::BadRequest(format!(
            "the patch turns {} {name:?} into something that is not an object",
            scope.resource.kind
        )));
    }
    if let Some(rv) = body["metadata"]["resourceVersion"].as_str()
        && patch_type != PatchType::Apply
        && old["metadata"]["resourceVersion"].as_str() != Some(rv)
    {
        return Err(ApiError::Conflict(target));
    }
    if let Some(map) = patched.get_mut("metadata").and_then(Value::as_object_mut) {
        map.remove("resourceVersion");
    }
    let object = match sub {
        Subresource::Status => {
            let mut merged = old.clone();
            match patched.get("status") {
                Some(status) => merged["status"] = status.clone(),
                None => {
                    if let Some(map) = merged.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
            merged
        }
        Subresource::Main => {
            if scope.resource.has_status_subresource(&scope.version) {
                match old.get("status") {
                    Some(status) => patched["status"] = status.clone(),
                    None => {
                        if let Some(map) = patched.as_object_mut() {
                            map.remove("status");
                        }
                    }
                }
            }
            normalize_body(patched, scope, Some(name))?
        }
    };
    commit_update(st, spec, scope, name, old, object, sub, opts)
}

#[allow(clippy::too_many_arguments)]
fn commit_update(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    scope: &Scope,
    name: &str,
    old: Value,
    mut object: Value,
    sub: Subresource,
    opts: &WriteOptions,
) -> Result<WriteResult, ApiError> {
    // Server-owned metadata survives any write.
    let old_meta = old["metadata"].as_object().cloned().unwrap_or_default();
    let meta = metadata_mut(&mut object);
    for key in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(key) {
            Some(v) => meta.insert(key.into(), v.clone()),
            None => meta.remove(key),
        };
    }
    meta.remove("resourceVersion");
    if sub == Subresource::Main {
        admission::admit(st, spec, scope, &mut object, Some(&old))?;
    }
    let warnings = validate(scope, &mut object, Some(&old), opts)?;
    if scope.resource.has_generation && spec_changed(&old, &object) {
        let generation = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        metadata_mut(&mut object).insert("generation".into(), json!(generation));
    }
    if without_resource_version(&old) == without_resource_version(&object) {
        return Ok(WriteResult {
            object: old,
            created: false,
            warnings,
        });
    }
    if opts.dry_run {
        return Ok(WriteResult {
            object,
            created: false,
            warnings,
        });
    }
    let finalizers_done = object["metadata"]["finalizers"]
        .as_array()
        .is_none_or(Vec::is_empty);
    if object["metadata"].get("deletionTimestamp").is_some() && finalizers_done {
        let (stored, _) = st.put(&scope.key(), object)?;
        finish_delete(st, spec, scope, name, true)?;
        return Ok(WriteResult {
            object: stored,
            created: false,
            warnings,
        });
    }
    let (object, _) = st.put(&scope.key(), object)?;
    // Controllers own status: they do not react to status-only writes (their own, mostly).
    if sub == Subresource::Main {
        controllers::react(st, spec, &scope.key(), scope.ns(), name);
    }
    Ok(WriteResult {
        object,
        created: false,
        warnings,
    })
}

pub fn delete(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    scope: &Scope,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Value, ApiError> {
    let target = scope.resource.target(name);
    let mut old = get(st, scope, name)?;
    if let Some(uid) = &opts.precondition_uid
        && old["metadata"]["uid"].as_str() != Some(uid.as_str())
    {
        return Err(ApiError::Conflict(target));
    }
    if let Some(rv) = &opts.precondition_resource_version
        && old["metadata"]["resourceVersion"].as_str() != Some(rv.as_str())
    {
        return Err(ApiError::Conflict(target));
    }
    if opts.dry_run {
        return Ok(old);
    }
    let has_finalizers = old["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if old["metadata"].get("deletionTimestamp").is_none() {
            let meta = metadata_mut(&mut old);
            meta.insert("deletionTimestamp".into(), Value::String(now_rfc3339()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            meta.remove("resourceVersion");
            let (stored, _) = st.put(&scope.key(), old)?;
            controllers::react(st, spec, &scope.key(), scope.ns(), name);
            return Ok(stored);
        }
        return Ok(old);
    }
    let orphan = opts.propagation_policy.as_deref() == Some("Orphan");
    finish_delete(st, spec, scope, name, !orphan)?.ok_or(ApiError::NotFound(target))
}

/// Removes the object for good, then what it owned: a Namespace's contents, a CRD's custom
/// resources, and (unless orphaning) dependents through ownerReferences.
fn finish_delete(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    scope: &Scope,
    name: &str,
    cascade: bool,
) -> Result<Option<Value>, ApiError> {
    let key = scope.key();
    if key.group.is_empty() && key.plural == "namespaces" {
        delete_namespace_contents(st, spec, name)?;
    }
    let removed = st.remove(&key, scope.ns(), name)?;
    let Some(removed) = removed else {
        return Ok(None);
    };
    if key.group == "apiextensions.k8s.io" && key.plural == "customresourcedefinitions" {
        controllers::crd_deleted(st, spec, name)?;
    }
    if cascade && let Some(uid) = removed["metadata"]["uid"].as_str() {
        delete_dependents(st, spec, uid)?;
    }
    controllers::react(st, spec, &key, scope.ns(), name);
    Ok(Some(removed))
}

fn delete_namespace_contents(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    namespace: &str,
) -> Result<(), ApiError> {
    for key in st.resources_with_objects() {
        let Some(resource) = st.registry.find_by_key(&key) else {
            continue;
        };
        if !resource.namespaced {
            continue;
        }
        let scope = Scope {
            version: resource.storage_version().to_string(),
            namespace: Some(namespace.to_string()),
            resource,
        };
        for (_, name) in st.keys(&key, Some(namespace)) {
            finish_delete(st, spec, &scope, &name, true)?;
        }
    }
    Ok(())
}

/// Background garbage collection: objects whose ownerReferences name `owner_uid`.
fn delete_dependents(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    owner_uid: &str,
) -> Result<(), ApiError> {
    let mut doomed = Vec::new();
    for key in st.resources_with_objects() {
        for (ns, name) in st.keys(&key, None) {
            let Some(obj) = st.get(&key, &ns, &name) else {
                continue;
            };
            // Cheap pre-filter on the raw JSON before parsing.
            if !obj
                .json
                .windows(owner_uid.len())
                .any(|w| w == owner_uid.as_bytes())
            {
                continue;
            }
            let value = obj.value()?;
            let owned = value["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(owner_uid)));
            if owned {
                doomed.push((key.clone(), ns, name));
            }
        }
    }
    for (key, ns, name) in doomed {
        let Some(resource) = st.registry.find_by_key(&key) else {
            continue;
        };
        let scope = Scope {
            version: resource.storage_version().to_string(),
            namespace: resource.namespaced.then(|| ns.clone()),
            resource,
        };
        delete(st, spec, &scope, &name, &DeleteOptions::default())?;
    }
    Ok(())
}

pub fn delete_collection(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    scope: &Scope,
    labels: &LabelSelector,
    fields: &FieldSelector,
    opts: &DeleteOptions,
) -> Result<Vec<Value>, ApiError> {
    let page = st.list(
        &scope.key(),
        scope.namespace.as_deref(),
        labels,
        fields,
        None,
        0,
    );
    let mut deleted = Vec::new();
    for item in page.items {
        let value = item.value()?;
        let (ns, name) = super::store::object_key(&value);
        let item_scope = Scope {
            namespace: scope.resource.namespaced.then_some(ns),
            ..scope.clone()
        };
        match delete(st, spec, &item_scope, &name, opts) {
            Ok(v) => deleted.push(v),
            Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}

/// Checks and fills `apiVersion`, `kind`, `metadata.name` and `metadata.namespace` of a request
/// body against the URL it was sent to.
fn normalize_body(
    mut body: Value,
    scope: &Scope,
    url_name: Option<&str>,
) -> Result<Value, ApiError> {
    let resource = &scope.resource;
    let Some(map) = body.as_object_mut() else {
        return Err(ApiError::BadRequest(format!(
            "the body of a {} must be a JSON object",
            resource.kind
        )));
    };
    let expected_api_version = resource.api_version(&scope.version);
    if let Some(kind) = map.get("kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != resource.kind
    {
        return Err(ApiError::BadRequest(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            resource.kind
        )));
    }
    if let Some(api_version) = map.get("apiVersion").and_then(Value::as_str)
        && !api_version.is_empty()
        && api_version != expected_api_version
        && !resource
            .versions
            .iter()
            .any(|v| resource.api_version(&v.name) == api_version)
    {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({expected_api_version})"
        )));
    }
    map.insert("apiVersion".into(), Value::String(expected_api_version));
    map.insert("kind".into(), Value::String(resource.kind.clone()));
    let meta = metadata_mut(&mut body);
    if let Some(labels) = meta.get("labels")
        && !labels.is_null()
        && !labels
            .as_object()
            .is_some_and(|l| l.values().all(Value::is_string))
    {
        return Err(ApiError::BadRequest(
            "metadata.labels: label values must be strings".into(),
        ));
    }
    if let Some(annotations) = meta.get("annotations")
        && !annotations.is_null()
        && !annotations
            .as_object()
            .is_some_and(|l| l.values().all(Value::is_string))
    {
        return Err(ApiError::BadRequest(
            "metadata.annotations: annotation values must be strings".into(),
        ));
    }
    for key in ["labels", "annotations", "finalizers", "ownerReferences"] {
        if meta.get(key).is_some_and(Value::is_null) {
            meta.remove(key);
        }
    }
    meta.remove("selfLink");
    meta.remove("managedFields");
    if let Some(url_name) = url_name {
        match meta.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() && n != url_name => {
                return Err(ApiError::BadRequest(format!(
                    "the name of the object ({n}) does not match the name on the URL ({url_name})"
                )));
            }
            _ => {
                meta.insert("name".into(), Value::String(url_name.to_string()));
            }
        }
    }
    if resource.namespaced {
        let ns = scope.ns();
        match meta.get("namespace").and_then(Value::as_str) {
            Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ));
            }
            _ => {
                meta.insert("namespace".into(), Value::String(ns.to_string()));
            }
        }
    } else {
        meta.remove("namespace");
    }
    Ok(body)
}

fn assign_name(object: &mut Value, scope: &Scope) -> Result<String, ApiError> {
    let meta = metadata_mut(object);
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !name.is_empty() {
        return Ok(name);
    }
    let prefix = meta
        .get("generateName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if prefix.is_empty() {
        return Err(ApiError::Invalid {
            target: scope.resource.target(""),
            causes: vec![FieldCause::new(
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )],
        });
    }
    let suffix: String = super::ids::uuid_from(&format!("{prefix}{}", now_rfc3339()))
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(5)
        .collect();
    let name = format!("{prefix}{suffix}");
    meta.insert("name".into(), Value::String(name.clone()));
    Ok(name)
}

fn require_namespace(st: &ClusterState, namespace: &str) -> Result<(), ApiError> {
    let key = ResourceKey {
        group: String::new(),
        plural: "namespaces".into(),
    };
    let Some(ns) = st.get(&key, "", namespace) else {
        return Err(ApiError::NotFound(Target {
            group: String::new(),
            plural: "namespaces".into(),
            kind: "Namespace".into(),
            name: namespace.to_string(),
        }));
    };
    if ns.value()?["metadata"].get("deletionTimestamp").is_some() {
        return Err(ApiError::Forbidden(format!(
            "unable to create new content in namespace {namespace} because it is being terminated"
        )));
    }
    Ok(())
}

/// Name format and the CRD schema; returns warnings (pruned fields under `Warn`).
fn validate(
    scope: &Scope,
    object: &mut Value,
    old: Option<&Value>,
    opts: &WriteOptions,
) -> Result<Vec<String>, ApiError> {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let target = scope.resource.target(&name);
    let namespace_kind = scope.resource.group.is_empty() && scope.resource.plural == "namespaces";
    if let Some(message) = admission::name_problem(&name, namespace_kind) {
        return Err(ApiError::Invalid {
            target,
            causes: vec![FieldCause::new(
                "FieldValueInvalid",
                "metadata.name",
                format!("Invalid value: {name:?}: {message}"),
            )],
        });
    }
    let mut warnings = Vec::new();
    let Some(schema) = scope
        .resource
        .version(&scope.version)
        .and_then(|v| v.schema.clone())
    else {
        return Ok(warnings);
    };
    let outcome = schema::validate_custom_resource(&schema, object, old);
    if !outcome.causes.is_empty() {
        return Err(ApiError::Invalid {
            target,
            causes: outcome.causes,
        });
    }
    match opts.field_validation {
        FieldValidation::Strict if !outcome.unknown_fields.is_empty() => {
            let list: Vec<String> = outcome
                .unknown_fields
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            return Err(ApiError::BadRequest(format!(
                "strict decoding error: {}",
                list.join(", ")
            )));
        }
        FieldValidation::Warn => {
            warnings.extend(
                outcome
                    .unknown_fields
                    .iter()
                    .map(|f| format!("unknown field \"{f}\"")),
            );
        }
        _ => {}
    }
    Ok(warnings)
}

/// Whether anything outside `metadata` and `status` differs (what bumps `generation`).
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    strip(old) != strip(new)
}

fn without_resource_version(v: &Value) -> Value {
    let mut copy = v.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    copy
}

/// `metadata` as a mutable map, created when missing.
pub fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    super::json_util::object_at(object, &["metadata"])
}
