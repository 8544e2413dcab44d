//! Table-driven decoding of the protobuf messages `kubectl create service|ingress|deployment`
//! and `kubectl expose` send (v1 Service, networking/v1 Ingress, apps/v1 Deployment). Field
//! numbers follow the Kubernetes `generated.proto` files. A field this table does not know is
//! an error unless it holds only a zero value (gogo writes those for every non-pointer field),
//! so nothing is silently dropped; `status` is ignored (a create resets it anyway).

use serde_json::{Map, Value};

use super::{Field, bad, fields, map_entry, object_meta, text};
use crate::k8s::error::ApiError;

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    /// An optional (pointer) integer: zero is a value, not "unset".
    OptInt,
    Bool,
    StrMap,
    IntOrString,
    Message(&'static [FieldDef]),
    ObjectMeta,
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
const LABEL_SELECTOR_REQUIREMENT: &[FieldDef] = &[
    f(1, "key", Kind::Str),
    f(2, "operator", Kind::Str),
    list(3, "values", Kind::Str),
];
const LABEL_SELECTOR: &[FieldDef] = &[
    f(1, "matchLabels", Kind::StrMap),
    list(
        2,
        "matchExpressions",
        Kind::Message(LABEL_SELECTOR_REQUIREMENT),
    ),
];
const CONTAINER_PORT: &[FieldDef] = &[
    f(1, "name", Kind::Str),
    f(2, "hostPort", Kind::Int),
    f(3, "containerPort", Kind::Int),
    f(4, "protocol", Kind::Str),
    f(5, "hostIP", Kind::Str),
];
const ENV_VAR: &[FieldDef] = &[f(1, "name", Kind::Str), f(2, "value", Kind::Str)];
const CONTAINER: &[FieldDef] = &[
    f(1, "name", Kind::Str),
    f(2, "image", Kind::Str),
    list(3, "command", Kind::Str),
    list(4, "args", Kind::Str),
    f(5, "workingDir", Kind::Str),
    list(6, "ports", Kind::Message(CONTAINER_PORT)),
    list(7, "env", Kind::Message(ENV_VAR)),
    f(13, "terminationMessagePath", Kind::Str),
    f(14, "imagePullPolicy", Kind::Str),
    f(16, "stdin", Kind::Bool),
    f(17, "stdinOnce", Kind::Bool),
    f(18, "tty", Kind::Bool),
    f(20, "terminationMessagePolicy", Kind::Str),
];
const POD_SPEC: &[FieldDef] = &[
    list(2, "containers", Kind::Message(CONTAINER)),
    f(3, "restartPolicy", Kind::Str),
    f(4, "terminationGracePeriodSeconds", Kind::OptInt),
    f(6, "dnsPolicy", Kind::Str),
    f(7, "nodeSelector", Kind::StrMap),
    f(8, "serviceAccountName", Kind::Str),
    f(19, "schedulerName", Kind::Str),
    list(20, "initContainers", Kind::Message(CONTAINER)),
];
const POD_TEMPLATE_SPEC: &[FieldDef] = &[
    f(1, "metadata", Kind::ObjectMeta),
    f(2, "spec", Kind::Message(POD_SPEC)),
];
const DEPLOYMENT_STRATEGY: &[FieldDef] = &[f(1, "type", Kind::Str)];
const DEPLOYMENT_SPEC: &[FieldDef] = &[
    f(1, "replicas", Kind::OptInt),
    f(2, "selector", Kind::Message(LABEL_SELECTOR)),
    f(3, "template", Kind::Message(POD_TEMPLATE_SPEC)),
    f(4, "strategy", Kind::Message(DEPLOYMENT_STRATEGY)),
    f(5, "minReadySeconds", Kind::Int),
    f(6, "revisionHistoryLimit", Kind::OptInt),
    f(7, "paused", Kind::Bool),
    f(9, "progressDeadlineSeconds", Kind::OptInt),
];
const DEPLOYMENT: &[FieldDef] = &[
    f(2, "spec", Kind::Message(DEPLOYMENT_SPEC)),
    f(3, "status", Kind::Ignored),
];
const SERVICE: &[FieldDef] = &[
    f(2, "spec", Kind::Message(SERVICE_SPEC)),
    f(3, "status", Kind::Ignored),
];
const INGRESS: &[FieldDef] = &[
    f(2, "spec", Kind::Message(INGRESS_SPEC)),
    f(3, "status", Kind::Ignored),
];

/// A zero value: an empty string or message, 0 or false. Such unknown fields carry nothing.
fn is_zero(field: &Field<'_>) -> bool {
    match field {
        Field::Varint(v) => *v == 0,
        Field::Bytes(b) => b.is_empty(),
    }
}

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
        (Kind::OptInt, Field::Varint(v)) => Some(Value::from(v as i32)),
        (Kind::ObjectMeta, Field::Bytes(b)) => Some(object_meta(b)?),
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
        let Some(def) = defs.iter().find(|d| d.tag == n) else {
            if is_zero(&field) {
                continue;
            }
            return Err(ApiError::UnsupportedMediaType(format!(
                "application/json (protobuf field {n} of {context} is not understood)"
            )));
        };
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
        ("apps/v1", "Deployment") => DEPLOYMENT,
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
            if bytes.is_empty() {
                continue;
            }
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
