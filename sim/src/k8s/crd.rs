//! CustomResourceDefinitions: validation and defaulting of the CRD object, the resource it
//! defines, and the status (`NamesAccepted`, `Established`) the apiextensions controller writes.

use std::sync::Arc;

use serde_json::{Value, json};

use super::error::{ApiError, FieldCause};
use super::ids::now_rfc3339;
use super::ops::Scope;
use super::resources::{ResourceType, ServedVersion};

fn cause(field: &str, reason: &'static str, message: &str) -> FieldCause {
    FieldCause::new(reason, field, message)
}

/// Defaults `names.singular`/`names.listKind` and rejects malformed CRDs (422 with field paths).
pub fn admit(object: &mut Value, scope: &Scope) -> Result<(), ApiError> {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut causes = Vec::new();
    let group = object["spec"]["group"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let plural = object["spec"]["names"]["plural"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let kind = object["spec"]["names"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if group.is_empty() {
        causes.push(cause("spec.group", "FieldValueRequired", "Required value"));
    }
    if plural.is_empty() {
        causes.push(cause(
            "spec.names.plural",
            "FieldValueRequired",
            "Required value",
        ));
    }
    if kind.is_empty() {
        causes.push(cause(
            "spec.names.kind",
            "FieldValueRequired",
            "Required value",
        ));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(cause(
            "metadata.name",
            "FieldValueInvalid",
            &format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let scope_value = object["spec"]["scope"].as_str().unwrap_or_default();
    if !matches!(scope_value, "Namespaced" | "Cluster") {
        causes.push(cause(
            "spec.scope",
            "FieldValueNotSupported",
            &format!(
                "Unsupported value: {scope_value:?}: supported values: \"Cluster\", \"Namespaced\""
            ),
        ));
    }
    let versions = object["spec"]["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(cause(
            "spec.versions",
            "FieldValueInvalid",
            "Invalid value: null: must have exactly one version marked as storage version",
        ));
    } else {
        let storage = versions
            .iter()
            .filter(|v| v["storage"].as_bool() == Some(true))
            .count();
        if storage != 1 {
            causes.push(cause(
                "spec.versions",
                "FieldValueInvalid",
                "Invalid value: \"array\": must have exactly one version marked as storage version",
            ));
        }
        for (i, v) in versions.iter().enumerate() {
            if v["name"].as_str().is_none_or(str::is_empty) {
                causes.push(cause(
                    &format!("spec.versions[{i}].name"),
                    "FieldValueRequired",
                    "Required value",
                ));
            }
            if v["schema"]["openAPIV3Schema"].is_null() {
                causes.push(cause(
                    &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    "FieldValueRequired",
                    "Required value: schemas are required",
                ));
            }
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::Invalid {
            target: scope.resource.target(&name),
            causes,
        });
    }
    let names = &mut object["spec"]["names"];
    if names["singular"].as_str().is_none_or(str::is_empty) {
        names["singular"] = json!(kind.to_lowercase());
    }
    if names["listKind"].as_str().is_none_or(str::is_empty) {
        names["listKind"] = json!(format!("{kind}List"));
    }
    Ok(())
}

/// The resource a (validated) CRD defines: served versions with their schemas, storage version first.
pub fn resource_type(crd: &Value) -> Option<ResourceType> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let kind = names["kind"].as_str()?.to_string();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut versions: Vec<(bool, ServedVersion)> = spec["versions"]
        .as_array()?
        .iter()
        .filter(|v| v["served"].as_bool() != Some(false))
        .map(|v| {
            (
                v["storage"].as_bool() == Some(true),
                ServedVersion {
                    name: v["name"].as_str().unwrap_or_default().to_string(),
                    schema: v["schema"]["openAPIV3Schema"]
                        .is_object()
                        .then(|| Arc::new(v["schema"]["openAPIV3Schema"].clone())),
                    status_subresource: v["subresources"]["status"].is_object(),
                    printer_columns: v["additionalPrinterColumns"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                },
            )
        })
        .collect();
    versions.sort_by_key(|(storage, _)| !storage);
    Some(ResourceType {
        group: spec["group"].as_str()?.to_string(),
        versions: versions.into_iter().map(|(_, v)| v).collect(),
        list_kind: names["listKind"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{kind}List")),
        plural: names["plural"].as_str()?.to_string(),
        singular: names["singular"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| kind.to_lowercase()),
        short_names: strings(&names["shortNames"]),
        categories: strings(&names["categories"]),
        namespaced: spec["scope"].as_str() == Some("Namespaced"),
        has_generation: true,
        custom: true,
        kind,
    })
}

/// The status the apiextensions controller writes once names are accepted.
pub fn established_status(crd: &Value, names_conflict: Option<String>) -> Value {
    let now = now_rfc3339();
    let storage: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .map(|v| v["name"].clone())
        .collect();
    let mut stored_versions = crd["status"]["storedVersions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for v in storage {
        if !stored_versions.contains(&v) {
            stored_versions.push(v);
        }
    }
    let (accepted, established) = match &names_conflict {
        None => (
            json!({"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"}),
            json!({"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}),
        ),
        Some(conflict) => (
            json!({"type": "NamesAccepted", "status": "False", "lastTransitionTime": now, "reason": "AlreadyInUse", "message": conflict}),
            json!({"type": "Established", "status": "False", "lastTransitionTime": now, "reason": "NotAccepted", "message": "not all names are accepted"}),
        ),
    };
    // Keep transition times stable when nothing changed, so status writes are no-ops.
    let keep_time = |mut fresh: Value| {
        if let Some(existing) = crd["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == fresh["type"]))
            && existing["status"] == fresh["status"]
        {
            fresh["lastTransitionTime"] = existing["lastTransitionTime"].clone();
        }
        fresh
    };
    json!({
        "acceptedNames": crd["spec"]["names"].clone(),
        "conditions": [keep_time(accepted), keep_time(established)],
        "storedVersions": stored_versions,
    })
}
