//! Table-driven decoding of the protobuf messages `kubectl create service|ingress` and
//! `kubectl expose` send (v1 Service, networking/v1 Ingress). Field numbers follow the
//! Kubernetes `generated.proto` files. A field this table does not know is an error, never
//! silently dropped; `status` is ignored (a create resets it anyway).

use serde_json::{Map, Value};

use super::{Field, bad, fields, map_entry, object_meta, text};
use crate::sim::k8s::error::ApiError;

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    StrMap,
    IntOrString,
    Message(&'static [FieldDef]),
    /// A message whose fields are inlined into the parent's JSON (IngressRule's rule value).
    Inline(&'static [FieldDef]),
    Ignored,
}

#[derive(Clone, Copy)]
struct FieldDef {
    tag: u64,
    json: &'static str,
    kind: Kind,
    repeated: bool,
}

const fn f(tag: u64, json: &'static str, kind: Kind) -> FieldDef {
    FieldDef {
        tag,
        json,
        kind,
        repeated: false,
    }
}

const fn list(tag: u64, json: &'static str, kind: Kind) -> FieldDef {
    FieldDef {
        tag,
        json,
        kind,
        repeated: true,
    }
}

const CLIENT_IP_CONFIG: &[FieldDef] = &[f(1, "timeoutSeconds", Kind::Int)];
const SESSION_AFFINITY_CONFIG: &[FieldDef] = &[f(1, "clientIP", Kind::Message(CLIENT_IP_CONFIG))];
const SERVICE_PORT: &[FieldDef] = &[
    f(1, "name", Kind::Str),
    f(2, "protocol", Kind::Str),
    f(3, "port", Kind::Int),
    f(4, "targetPort", Kind::IntOrString),
    f(5, "nodePort", Kind::Int),
    f(6, "appProtocol", Kind::Str),
];
const SERVICE_SPEC: &[FieldDef] = &[
    list(1, "ports", Kind::Message(SERVICE_PORT)),
    f(2, "selector", Kind::StrMap),
    f(3, "clusterIP", Kind::Str),
    f(4, "type", Kind::Str),
    list(5, "externalIPs", Kind::Str),
    f(7, "sessionAffinity", Kind::Str),
    f(8, "loadBalancerIP", Kind::Str),
    list(9, "loadBalancerSourceRanges", Kind::Str),
    f(10, "externalName", Kind::Str),
    f(11, "externalTrafficPolicy", Kind::Str),
    f(12, "healthCheckNodePort", Kind::Int),
    f(13, "publishNotReadyAddresses", Kind::Bool),
    f(
        14,
        "sessionAffinityConfig",
        Kind::Message(SESSION_AFFINITY_CONFIG),
    ),
    f(17, "ipFamilyPolicy", Kind::Str),
    list(18, "clusterIPs", Kind::Str),
    list(19, "ipFamilies", Kind::Str),
    f(20, "allocateLoadBalancerNodePorts", Kind::Bool),
    f(21, "loadBalancerClass", Kind::Str),
    f(22, "internalTrafficPolicy", Kind::Str),
    f(23, "trafficDistribution", Kind::Str),
];
const SERVICE_BACKEND_PORT: &[FieldDef] = &[f(1, "name", Kind::Str), f(2, "number", Kind::Int)];
const INGRESS_SERVICE_BACKEND: &[FieldDef] = &[
    f(1, "name", Kind::Str),
    f(2, "port", Kind::Message(SERVICE_BACKEND_PORT)),
];
const TYPED_LOCAL_OBJECT_REFERENCE: &[FieldDef] = &[
    f(1, "apiGroup", Kind::Str),
    f(2, "kind", Kind::Str),
    f(3, "name", Kind::Str),
];
const INGRESS_BACKEND: &[FieldDef] = &[
    f(3, "resource", Kind::Message(TYPED_LOCAL_OBJECT_REFERENCE)),
    f(4, "service", Kind::Message(INGRESS_SERVICE_BACKEND)),
];
const HTTP_INGRESS_PATH: &[FieldDef] = &[
    f(1, "path", Kind::Str),
    f(2, "backend", Kind::Message(INGRESS_BACKEND)),
    f(3, "pathType", Kind::Str),
];
const HTTP_INGRESS_RULE_VALUE: &[FieldDef] = &[list(1, "paths", Kind::Message(HTTP_INGRESS_PATH))];
const INGRESS_RULE_VALUE: &[FieldDef] = &[f(1, "http", Kind::Message(HTTP_INGRESS_RULE_VALUE))];
const INGRESS_RULE: &[FieldDef] = &[
    f(1, "host", Kind::Str),
    f(2, "", Kind::Inline(INGRESS_RULE_VALUE)),
];
const INGRESS_TLS: &[FieldDef] = &[list(1, "hosts", Kind::Str), f(2, "secretName", Kind::Str)];
const INGRESS_SPEC: &[FieldDef] = &[
    f(1, "defaultBackend", Kind::Message(INGRESS_BACKEND)),
    list(2, "tls", Kind::Message(INGRESS_TLS)),
    list(3, "rules", Kind::Message(INGRESS_RULE)),
    f(4, "ingressClassName", Kind::Str),
];
const SERVICE: &[FieldDef] = &[
    f(2, "spec", Kind::Message(SERVICE_SPEC)),
    f(3, "status", Kind::Ignored),
];
const INGRESS: &[FieldDef] = &[
    f(2, "spec", Kind::Message(INGRESS_SPEC)),
    f(3, "status", Kind::Ignored),
];

fn int_or_string(bytes: &[u8]) -> Result<Value, ApiError> {
    let (mut is_string, mut int_val, mut str_val) = (false, 0i64, String::new());
    for (n, field) in fields(bytes)? {
        match (n, field) {
            (1, Field::Varint(t)) => is_string = t == 1,
            (2, Field::Varint(v)) => int_val = v as i64,
            (3, Field::Bytes(b)) => str_val = text(b)?,
            _ => {}
        }
    }
    Ok(if is_string {
        Value::String(str_val)
    } else {
        Value::from(int_val)
    })
}

/// One value of `kind`, or None when it is the protobuf zero value (gogo writes those).
fn value(kind: Kind, field: Field<'_>, context: &str) -> Result<Option<Value>, ApiError> {
    Ok(match (kind, field) {
        (Kind::Str, Field::Bytes(b)) => Some(text(b)?).filter(|s| !s.is_empty()).map(Value::String),
        (Kind::Int, Field::Varint(v)) => (v != 0).then(|| Value::from(v as i32)),
        (Kind::Bool, Field::Varint(v)) => (v != 0).then_some(Value::Bool(true)),
        (Kind::IntOrString, Field::Bytes(b)) => Some(int_or_string(b)?),
        (Kind::Message(defs) | Kind::Inline(defs), Field::Bytes(b)) => {
            Some(Value::Object(message(defs, b, context)?))
        }
        (Kind::Ignored, _) => None,
        _ => return Err(bad(&format!("unexpected wire type in {context}"))),
    })
}

fn message(
    defs: &'static [FieldDef],
    bytes: &[u8],
    context: &str,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (n, field) in fields(bytes)? {
        let def = defs.iter().find(|d| d.tag == n).ok_or_else(|| {
            ApiError::UnsupportedMediaType(format!(
                "application/json (protobuf field {n} of {context} is not understood)"
            ))
        })?;
        let path = format!("{context}.{}", def.json);
        if let Kind::StrMap = def.kind {
            let Field::Bytes(entry) = field else {
                return Err(bad(&format!("unexpected wire type in {path}")));
            };
            let (k, v) = map_entry(entry)?;
            let map = out
                .entry(def.json)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(map) = map.as_object_mut() {
                map.insert(k, Value::String(text(&v)?));
            }
            continue;
        }
        let Some(v) = value(def.kind, field, &path)? else {
            continue;
        };
        match (def.kind, v) {
            (Kind::Inline(_), Value::Object(inner)) => out.extend(inner),
            (_, v) if def.repeated => {
                if let Some(items) = out
                    .entry(def.json)
                    .or_insert_with(|| Value::Array(Vec::new()))
                    .as_array_mut()
                {
                    items.push(v);
                }
            }
            (_, v) => {
                out.insert(def.json.to_string(), v);
            }
        }
    }
    Ok(out)
}

/// Decodes a whole object of `kind` (`Service` or `Ingress`) from its raw bytes.
pub fn decode(api_version: &str, kind: &str, raw: &[u8]) -> Option<Result<Value, ApiError>> {
    let defs = match (api_version, kind) {
        ("v1", "Service") => SERVICE,
        ("networking.k8s.io/v1", "Ingress") => INGRESS,
        _ => return None,
    };
    Some(decode_object(api_version, kind, defs, raw))
}

fn decode_object(
    api_version: &str,
    kind: &str,
    defs: &'static [FieldDef],
    raw: &[u8],
) -> Result<Value, ApiError> {
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(api_version.into()));
    object.insert("kind".into(), Value::String(kind.into()));
    let mut rest = Vec::new();
    for (n, field) in fields(raw)? {
        match (n, field) {
            (1, Field::Bytes(b)) => {
                object.insert("metadata".into(), object_meta(b)?);
            }
            (_, Field::Bytes(b)) => rest.push((n, b)),
            (_, Field::Varint(_)) => {
                return Err(bad(&format!("unexpected varint field {n} in {kind}")));
            }
        }
    }
    for (n, bytes) in rest {
        let Some(def) = defs.iter().find(|d| d.tag == n) else {
            return Err(ApiError::UnsupportedMediaType(format!(
                "application/json (protobuf field {n} of {kind} is not understood)"
            )));
        };
        if let Some(v) = value(def.kind, Field::Bytes(bytes), kind)? {
            object.insert(def.json.to_string(), v);
        }
    }
    Ok(Value::Object(object))
}
