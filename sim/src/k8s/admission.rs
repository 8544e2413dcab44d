//! Per-kind defaulting and validation that a real API server applies on writes: Secret
//! `stringData` → `data`, Namespace labels and phase, Service defaults and cluster IPs,
//! Deployment/StatefulSet defaults and selector checks, Route host defaulting, CRD checks.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::config::ClusterSpec;
use super::crd;
use super::error::{ApiError, FieldCause};
use super::ids::digest;
use super::ops::Scope;
use super::store::ClusterState;

/// Mutates and validates `object` for its kind. `old` is the stored object on update.
pub fn admit(
    _st: &ClusterState,
    spec: &ClusterSpec,
    scope: &Scope,
    object: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let resource = &scope.resource;
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Secret") => secret(object, scope),
        ("", "Namespace") => {
            namespace(object);
            Ok(())
        }
        ("", "Service") => service(object, old, scope),
        ("apps", "Deployment") => workload(object, scope, true),
        ("apps", "StatefulSet") | ("apps", "ReplicaSet") => workload(object, scope, false),
        ("route.openshift.io", "Route") => route(object, spec, scope),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd::admit(object, scope),
        _ => Ok(()),
    }
}

/// Why `name` is not a valid object name (RFC 1123 subdomain; label for namespaces), if it is not.
pub fn name_problem(name: &str, dns_label: bool) -> Option<String> {
    let max = if dns_label { 63 } else { 253 };
    let allowed = |c: char| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (!dns_label && c == '.')
    };
    let edges_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !name.is_empty() && name.len() <= max && name.chars().all(allowed) && edges_ok {
        return None;
    }
    Some(if dns_label {
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_string()
    } else {
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string()
    })
}

fn invalid(
    scope: &Scope,
    object: &Value,
    field: &str,
    reason: &'static str,
    message: String,
) -> ApiError {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    ApiError::Invalid {
        target: scope.resource.target(name),
        causes: vec![FieldCause::new(reason, field, message)],
    }
}

fn secret(object: &mut Value, scope: &Scope) -> Result<(), ApiError> {
    let Some(map) = object.as_object_mut() else {
        return Ok(());
    };
    if let Some(Value::Object(string_data)) = map.remove("stringData") {
        let data = map
            .entry("data")
            .or_insert_with(|| Value::Object(Map::new()));
        if !data.is_object() {
            *data = Value::Object(Map::new());
        }
        if let Some(data) = data.as_object_mut() {
            for (key, value) in string_data {
                let text = value.as_str().unwrap_or_default();
                data.insert(key, Value::String(BASE64.encode(text)));
            }
        }
    }
    if map
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        map.insert("type".into(), json!("Opaque"));
    }
    if let Some(data) = object["data"].as_object() {
        for (key, value) in data {
            let valid = value.as_str().is_some_and(|v| BASE64.decode(v).is_ok());
            if !valid {
                return Err(ApiError::BadRequest(format!(
                    "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data in data.{key}"
                )));
            }
        }
    }
    let _ = scope;
    Ok(())
}

fn namespace(object: &mut Value) {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !object["metadata"]["labels"].is_object() {
        object["metadata"]["labels"] = json!({});
    }
    object["metadata"]["labels"]["kubernetes.io/metadata.name"] = Value::String(name);
    if object["status"]["phase"].as_str().is_none() {
        object["status"] = json!({"phase": "Active"});
    }
}

/// A deterministic address in 10.96.0.0/12 for a Service's clusterIP.
fn cluster_ip_for(namespace: &str, name: &str) -> String {
    let d = digest(&format!("clusterip/{namespace}/{name}"));
    format!("10.{}.{}.{}", 96 + (d[0] % 16), d[1], 1 + d[2] % 254)
}

fn node_port_for(namespace: &str, name: &str, port: &Value) -> u64 {
    let d = digest(&format!("nodeport/{namespace}/{name}/{port}"));
    30000 + (u64::from(d[0]) << 8 | u64::from(d[1])) % 2768
}

fn service(object: &mut Value, old: Option<&Value>, scope: &Scope) -> Result<(), ApiError> {
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !object["spec"].is_object() {
        object["spec"] = json!({});
    }
    let spec = &mut object["spec"];
    if spec["type"].as_str().is_none_or(str::is_empty) {
        spec["type"] = json!("ClusterIP");
    }
    let service_type = spec["type"].as_str().unwrap_or_default().to_string();
    if !matches!(
        service_type.as_str(),
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        return Err(invalid(
            scope,
            object,
            "spec.type",
            "FieldValueNotSupported",
            format!(
                "Unsupported value: {service_type:?}: supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
            ),
        ));
    }
    let spec = &mut object["spec"];
    if service_type != "ExternalName" {
        let old_ip = old
            .and_then(|o| o["spec"]["clusterIP"].as_str())
            .map(str::to_string);
        if spec["clusterIP"].as_str().is_none_or(str::is_empty) {
            spec["clusterIP"] = json!(old_ip.unwrap_or_else(|| cluster_ip_for(&namespace, &name)));
        }
        let ip = spec["clusterIP"].clone();
        spec["clusterIPs"] = json!([ip]);
        if spec["sessionAffinity"].is_null() {
            spec["sessionAffinity"] = json!("None");
        }
        if spec["ipFamilies"].as_array().is_none_or(Vec::is_empty) {
            let family = if ip.as_str().is_some_and(|i| i.contains(':')) {
                "IPv6"
            } else {
                "IPv4"
            };
            spec["ipFamilies"] = json!([family]);
        }
        if spec["ipFamilyPolicy"].is_null() {
            spec["ipFamilyPolicy"] = json!("SingleStack");
        }
        if spec["internalTrafficPolicy"].is_null() {
            spec["internalTrafficPolicy"] = json!("Cluster");
        }
    }
    let needs_node_ports = matches!(service_type.as_str(), "NodePort" | "LoadBalancer");
    if needs_node_ports && spec["externalTrafficPolicy"].is_null() {
        spec["externalTrafficPolicy"] = json!("Cluster");
    }
    if service_type == "LoadBalancer" && spec["allocateLoadBalancerNodePorts"].is_null() {
        spec["allocateLoadBalancerNodePorts"] = json!(true);
    }
    if let Some(ports) = spec["ports"].as_array_mut() {
        for port in ports.iter_mut() {
            let Some(port) = port.as_object_mut() else {
                return Err(ApiError::BadRequest(
                    "spec.ports: each port must be an object".into(),
                ));
            };
            port.entry("protocol").or_insert_with(|| json!("TCP"));
            let number = port.get("port").cloned().unwrap_or(Value::Null);
            port.entry("targetPort").or_insert_with(|| number.clone());
            if needs_node_ports {
                port.entry("nodePort")
                    .or_insert_with(|| json!(node_port_for(&namespace, &name, &number)));
            } else {
                port.remove("nodePort");
            }
        }
    }
    Ok(())
}

fn workload(object: &mut Value, scope: &Scope, deployment: bool) -> Result<(), ApiError> {
    if !object["spec"].is_object() {
        object["spec"] = json!({});
    }
    let spec = &mut object["spec"];
    if spec["replicas"].is_null() {
        spec["replicas"] = json!(1);
    }
    if spec["revisionHistoryLimit"].is_null() && scope.resource.kind != "ReplicaSet" {
        spec["revisionHistoryLimit"] = json!(10);
    }
    if deployment {
        if spec["strategy"]["type"].as_str().is_none_or(str::is_empty) {
            spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
        }
        if spec["progressDeadlineSeconds"].is_null() {
            spec["progressDeadlineSeconds"] = json!(600);
        }
    }
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .cloned();
    let has_expressions = object["spec"]["selector"]["matchExpressions"].is_array();
    let Some(selector) = selector
        .filter(|s| !s.is_empty())
        .or(has_expressions.then(Map::new))
    else {
        return Err(invalid(
            scope,
            object,
            "spec.selector",
            "FieldValueRequired",
            "Required value".into(),
        ));
    };
    let template_labels = object["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if selector
        .iter()
        .any(|(k, v)| template_labels.get(k) != Some(v))
    {
        return Err(invalid(
            scope,
            object,
            "spec.template.metadata.labels",
            "FieldValueInvalid",
            format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                Value::Object(template_labels)
            ),
        ));
    }
    Ok(())
}

fn route(object: &mut Value, spec: &ClusterSpec, scope: &Scope) -> Result<(), ApiError> {
    if object["spec"]["to"]["name"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        return Err(invalid(
            scope,
            object,
            "spec.to.name",
            "FieldValueRequired",
            "Required value".into(),
        ));
    }
    if object["spec"]["to"]["kind"].is_null() {
        object["spec"]["to"]["kind"] = json!("Service");
    }
    if object["spec"]["wildcardPolicy"].is_null() {
        object["spec"]["wildcardPolicy"] = json!("None");
    }
    let host_missing = object["spec"]["host"].as_str().is_none_or(str::is_empty);
    let subdomain_missing = object["spec"]["subdomain"]
        .as_str()
        .is_none_or(str::is_empty);
    if host_missing && subdomain_missing {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
        object["spec"]["host"] = json!(format!("{name}-{namespace}.apps.{}.sim.local", spec.name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc_1123() {
        assert!(name_problem("web-1.example", false).is_none());
        assert!(name_problem("Web", false).is_some());
        assert!(name_problem("a.b", true).is_some());
        assert!(name_problem("-a", false).is_some());
        assert!(name_problem("", false).is_some());
    }

    #[test]
    fn cluster_ips_are_stable() {
        assert_eq!(cluster_ip_for("ns", "svc"), cluster_ip_for("ns", "svc"));
        assert!(cluster_ip_for("ns", "svc").starts_with("10."));
    }
}
