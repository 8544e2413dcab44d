//! Discovery and OpenAPI documents: `/version`, `/api`, `/apis`, per group-version resource lists,
//! and the OpenAPI v3 root + per-group-version documents (PATCH operations carrying the GVK and a
//! `fieldValidation` parameter, which is what kubectl and helm validation look for), plus v2.

use serde_json::{Map, Value, json};

use super::ids::digest;
use super::resources::{Registry, ResourceType};

pub const KUBERNETES_VERSION: &str = "v1.33.1";

pub fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": KUBERNETES_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64",
    })
}

pub fn core_versions(server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
}

fn group_document(group: &str, versions: &[String]) -> Value {
    let entries: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": entries, "preferredVersion": entries.first().cloned().unwrap_or(Value::Null)})
}

pub fn group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .group_versions()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, versions)| group_document(g, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(registry: &Registry, group: &str) -> Option<Value> {
    let versions = registry.group_versions().remove(group)?;
    let mut doc = group_document(group, &versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

fn verbs() -> Value {
    json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ])
}

pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in registry
        .all()
        .filter(|r| r.group == group && r.version(version).is_some())
    {
        let mut entry = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": verbs(),
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        resources.push(entry);
        if r.has_status_subresource(version) {
            resources.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
                                  "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

/// `api/v1` or `apis/<group>/<version>`: the key of an OpenAPI v3 group-version document.
fn openapi_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn object_path_template(r: &ResourceType, group: &str, version: &str) -> String {
    let prefix = format!("/{}", openapi_path(group, version));
    if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
    } else {
        format!("{prefix}/{}/{{name}}", r.plural)
    }
}

fn schema_name(r: &ResourceType, version: &str) -> String {
    let group = if r.group.is_empty() {
        "core".to_string()
    } else {
        r.group.clone()
    };
    format!("{group}.{version}.{}", r.kind)
}

/// The OpenAPI v3 document of one group-version, or None when nothing is served there.
pub fn openapi_v3_group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for r in registry
        .all()
        .filter(|r| r.group == group && r.version(version).is_some())
    {
        let gvk = json!({"group": group, "version": version, "kind": r.kind});
        let param = json!([{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}]);
        // Schemas only for custom resources: for built-in kinds kubectl then falls back to its
        // compiled-in types, which carry the strategic-merge metadata.
        let custom_schema = r
            .version(version)
            .and_then(|v| v.schema.as_deref().cloned())
            .filter(|_| r.custom);
        let operation = |verb: &str| {
            let mut op = json!({
                "operationId": format!("{verb}{}", r.kind), "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk, "parameters": param,
            });
            if custom_schema.is_some() {
                let schema_ref =
                    json!({"$ref": format!("#/components/schemas/{}", schema_name(r, version))});
                op["responses"] =
                    json!({"200": {"content": {"application/json": {"schema": schema_ref}}}});
            }
            op
        };
        paths.insert(
            object_path_template(r, group, version),
            json!({"get": operation("get"), "put": operation("put"), "patch": operation("patch"), "delete": operation("delete")}),
        );
        if let Some(mut schema) = custom_schema {
            schema["x-kubernetes-group-version-kind"] = json!([gvk]);
            schemas.insert(schema_name(r, version), schema);
        }
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// The OpenAPI v3 root: one entry per served group-version, its hash changing with its content
/// (clients cache documents by URL).
pub fn openapi_v3_root(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in registry.group_versions() {
        for version in versions {
            let Some(doc) = openapi_v3_group_version(registry, &group, &version) else {
                continue;
            };
            let hash: String = digest(&doc.to_string())
                .iter()
                .take(8)
                .map(|b| format!("{b:02X}"))
                .collect();
            let path = openapi_path(&group, &version);
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// A Swagger 2.0 document with one definition per kind, for clients that still ask for v2.
pub fn openapi_v2(registry: &Registry) -> Value {
    let mut definitions = Map::new();
    for r in registry.all().filter(|r| r.custom) {
        for v in &r.versions {
            let gvk = json!([{"group": r.group, "version": v.name, "kind": r.kind}]);
            let mut schema = v
                .schema
                .as_deref()
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
            schema["x-kubernetes-group-version-kind"] = gvk;
            definitions.insert(schema_name(r, &v.name), schema);
        }
    }
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION}, "paths": {}, "definitions": definitions})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_root_lists_every_group_version_and_docs_carry_gvk() {
        let reg = Registry::new(true);
        let root = openapi_v3_root(&reg);
        assert!(
            root["paths"]["api/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/api/v1?hash=")
        );
        assert!(root["paths"].get("apis/route.openshift.io/v1").is_some());
        let doc = openapi_v3_group_version(&reg, "networking.k8s.io", "v1").unwrap();
        let patch = &doc["paths"]["/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}"]
            ["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Ingress");
        assert_eq!(patch["parameters"][0]["name"], "fieldValidation");
        let ns_doc = openapi_v3_group_version(&reg, "", "v1").unwrap();
        assert!(ns_doc["paths"].get("/api/v1/namespaces/{name}").is_some());
    }

    #[test]
    fn resource_lists_include_status_subresources() {
        let reg = Registry::new(false);
        let list = resource_list(&reg, "apps", "v1").unwrap();
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"deployments") && names.contains(&"deployments/status"));
        assert!(resource_list(&reg, "nosuch.io", "v1").is_none());
    }
}
