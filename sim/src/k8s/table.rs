//! `as=Table` responses for `kubectl get`: a Name column, the usual columns of common built-in
//! kinds (Ingress hosts and addresses, Service IPs, Deployment readiness, ...), a CRD's
//! additionalPrinterColumns (simple `.a.b` JSON paths), and Age.

use serde_json::{Value, json};

use super::ids::{now_epoch_secs, parse_rfc3339};
use super::resources::ResourceType;

/// Whether the Accept header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

fn lookup<'a>(object: &'a Value, json_path: &str) -> Option<&'a Value> {
    let mut current = object;
    for part in json_path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        current = current.get(part)?;
    }
    Some(current)
}

/// `5s`, `3m`, `7h`, `2d` as kubectl prints ages.
pub fn human_age(created: &str) -> String {
    let Some(then) = parse_rfc3339(created) else {
        return "<unknown>".into();
    };
    let secs = now_epoch_secs().saturating_sub(then);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn cell(value: Option<&Value>, column_type: &str) -> Value {
    match (value, column_type) {
        (Some(Value::String(s)), "date") => Value::String(human_age(s)),
        (Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))), _) => v.clone(),
        (Some(Value::Null) | None, _) => Value::String("<none>".into()),
        (Some(other), _) => Value::String(other.to_string()),
    }
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> String {
    let list: Vec<&str> = values.flatten().filter(|s| !s.is_empty()).collect();
    if list.is_empty() {
        "<none>".to_string()
    } else {
        list.join(",")
    }
}

fn array(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

type Column = (&'static str, fn(&Value) -> Value);

/// Columns of common built-in kinds, computed in code (a real server has printers for them).
fn builtin_columns(resource: &ResourceType) -> Vec<Column> {
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("networking.k8s.io", "Ingress") => vec![
            ("Class", |o| {
                cell(o["spec"].get("ingressClassName"), "string")
            }),
            ("Hosts", |o| {
                json!(strings(
                    array(&o["spec"]["rules"])
                        .iter()
                        .map(|r| r["host"].as_str())
                ))
            }),
            ("Address", |o| {
                json!(strings(
                    array(&o["status"]["loadBalancer"]["ingress"])
                        .iter()
                        .map(|i| i["ip"].as_str())
                ))
            }),
            ("Ports", |o| {
                json!(if o["spec"]["tls"].is_array() {
                    "80, 443"
                } else {
                    "80"
                })
            }),
        ],
        ("", "Service") => vec![
            ("Type", |o| cell(o["spec"].get("type"), "string")),
            ("Cluster-IP", |o| cell(o["spec"].get("clusterIP"), "string")),
            ("External-IP", |o| {
                let ips = strings(
                    array(&o["status"]["loadBalancer"]["ingress"])
                        .iter()
                        .map(|i| i["ip"].as_str()),
                );
                let pending = ips == "<none>" && o["spec"]["type"] == "LoadBalancer";
                json!(if pending {
                    "<pending>".to_string()
                } else {
                    ips
                })
            }),
            ("Port(s)", |o| {
                let ports: Vec<String> = array(&o["spec"]["ports"])
                    .iter()
                    .map(|p| {
                        let protocol = p["protocol"].as_str().unwrap_or("TCP");
                        match p["nodePort"].as_u64() {
                            Some(node) => format!("{}:{node}/{protocol}", p["port"]),
                            None => format!("{}/{protocol}", p["port"]),
                        }
                    })
                    .collect();
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                })
            }),
        ],
        ("apps", "Deployment") | ("apps", "StatefulSet") => vec![("Ready", |o| {
            let ready = o["status"]["readyReplicas"].as_i64().unwrap_or(0);
            json!(format!(
                "{ready}/{}",
                o["spec"]["replicas"].as_i64().unwrap_or(0)
            ))
        })],
        ("", "Namespace") => vec![("Status", |o| cell(o["status"].get("phase"), "string"))],
        ("", "Secret") => vec![
            ("Type", |o| cell(o.get("type"), "string")),
            ("Data", |o| {
                json!(o["data"].as_object().map_or(0, |d| d.len()))
            }),
        ],
        ("", "ConfigMap") => vec![("Data", |o| {
            json!(o["data"].as_object().map_or(0, |d| d.len()))
        })],
        ("route.openshift.io", "Route") => vec![
            ("Host/Port", |o| cell(o["spec"].get("host"), "string")),
            ("Path", |o| {
                json!(o["spec"]["path"].as_str().unwrap_or_default())
            }),
            ("Services", |o| cell(o["spec"]["to"].get("name"), "string")),
        ],
        _ => Vec::new(),
    }
}

/// A `meta.k8s.io/v1` Table of `objects`.
pub fn table(
    resource: &ResourceType,
    version: &str,
    objects: &[Value],
    resource_version: u64,
) -> Value {
    let builtin = builtin_columns(resource);
    let printer_columns = resource
        .version(version)
        .map(|v| v.printer_columns.clone())
        .unwrap_or_default();
    let mut columns = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for (name, _) in &builtin {
        columns.push(
            json!({"name": name, "type": "string", "format": "", "description": "", "priority": 0}),
        );
    }
    for c in &printer_columns {
        columns.push(json!({"name": c["name"], "type": c["type"], "format": "", "description": c["description"].as_str().unwrap_or_default(), "priority": c["priority"].as_i64().unwrap_or(0)}));
    }
    let has_age = printer_columns.iter().any(|c| c["name"] == "Age");
    if !has_age {
        columns.push(json!({"name": "Age", "type": "date", "format": "", "description": "CreationTimestamp", "priority": 0}));
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            cells.extend(builtin.iter().map(|(_, compute)| compute(o)));
            for c in &printer_columns {
                let path = c["jsonPath"].as_str().unwrap_or_default();
                cells.push(cell(lookup(o, path), c["type"].as_str().unwrap_or_default()));
            }
            if !has_age {
                cells.push(Value::String(human_age(o["metadata"]["creationTimestamp"].as_str().unwrap_or_default())));
            }
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version.to_string()},
           "columnDefinitions": columns, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_detection() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }

    #[test]
    fn jsonpath_lookup() {
        let o = json!({"spec": {"virtualhost": {"fqdn": "a.example"}}});
        assert_eq!(
            cell(lookup(&o, ".spec.virtualhost.fqdn"), "string"),
            json!("a.example")
        );
        assert_eq!(
            cell(lookup(&o, ".status.status"), "string"),
            json!("<none>")
        );
    }
}
