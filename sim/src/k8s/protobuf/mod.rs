//! Decoding of the Kubernetes protobuf request bodies helm's typed client sends for its release
//! records (and kubectl's `create namespace|secret|configmap|service|ingress|deployment`): the `k8s\0` +
//! `runtime.Unknown` envelope around `v1.Secret`, `v1.ConfigMap`, `v1.Namespace`,
//! `meta.v1.DeleteOptions` (here) or Service / Ingress / Deployment (in `messages`),
//! turned into the equivalent JSON. Empty strings and zero values gogo-protobuf always writes
//! are treated as unset.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

mod messages;

use super::error::ApiError;

const MAGIC: &[u8] = b"k8s\0";

/// One decoded protobuf field.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn bad(what: &str) -> ApiError {
    ApiError::BadRequest(format!("invalid protobuf body: {what}"))
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, ApiError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos).ok_or_else(|| bad("truncated varint"))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(bad("varint too long"))
}

/// Splits a message into (field number, value) pairs.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ApiError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let tag = read_varint(buf, &mut pos)?;
        let (number, wire) = (tag >> 3, tag & 7);
        match wire {
            0 => out.push((number, Field::Varint(read_varint(buf, &mut pos)?))),
            2 => {
                let len = usize::try_from(read_varint(buf, &mut pos)?)
                    .map_err(|_| bad("length overflow"))?;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= buf.len())
                    .ok_or_else(|| bad("truncated field"))?;
                out.push((number, Field::Bytes(&buf[pos..end])));
                pos = end;
            }
            1 => pos += 8,
            5 => pos += 4,
            other => return Err(bad(&format!("unsupported wire type {other}"))),
        }
    }
    if pos > buf.len() {
        return Err(bad("truncated fixed-width field"));
    }
    Ok(out)
}

fn text(bytes: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| bad("string field is not UTF-8"))
}

/// A `map<string, string|bytes>` entry: field 1 key, field 2 value.
fn map_entry(bytes: &[u8]) -> Result<(String, Vec<u8>), ApiError> {
    let mut key = String::new();
    let mut value = Vec::new();
    for (n, f) in fields(bytes)? {
        match (n, f) {
            (1, Field::Bytes(b)) => key = text(b)?,
            (2, Field::Bytes(b)) => value = b.to_vec(),
            _ => {}
        }
    }
    Ok((key, value))
}

/// `meta.v1.Time` {1 seconds, 2 nanos} → RFC 3339, or None for the zero time.
fn time(bytes: &[u8]) -> Result<Option<String>, ApiError> {
    let mut seconds = 0u64;
    for (n, f) in fields(bytes)? {
        if let (1, Field::Varint(v)) = (n, f) {
            seconds = v;
        }
    }
    Ok((seconds > 0).then(|| super::ids::rfc3339(seconds)))
}

fn object_meta(bytes: &[u8]) -> Result<Value, ApiError> {
    let mut meta = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut finalizers = Vec::new();
    let mut owners = Vec::new();
    let string_fields = [
        (1, "name"),
        (2, "generateName"),
        (3, "namespace"),
        (5, "uid"),
        (6, "resourceVersion"),
    ];
    for (n, f) in fields(bytes)? {
        match (n, f) {
            (n, Field::Bytes(b)) if string_fields.iter().any(|(num, _)| *num == n) => {
                let value = text(b)?;
                if let Some((_, key)) = string_fields.iter().find(|(num, _)| *num == n)
                    && !value.is_empty()
                {
                    meta.insert((*key).to_string(), Value::String(value));
                }
            }
            (7, Field::Varint(v)) if v > 0 => {
                meta.insert("generation".into(), json!(v));
            }
            (8, Field::Bytes(b)) => {
                if let Some(t) = time(b)? {
                    meta.insert("creationTimestamp".into(), Value::String(t));
                }
            }
            (11, Field::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                labels.insert(k, Value::String(text(&v)?));
            }
            (12, Field::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                annotations.insert(k, Value::String(text(&v)?));
            }
            (13, Field::Bytes(b)) => owners.push(owner_reference(b)?),
            (14, Field::Bytes(b)) => finalizers.push(Value::String(text(b)?)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        meta.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    if !owners.is_empty() {
        meta.insert("ownerReferences".into(), Value::Array(owners));
    }
    if !finalizers.is_empty() {
        meta.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(meta))
}

fn owner_reference(bytes: &[u8]) -> Result<Value, ApiError> {
    let mut owner = Map::new();
    for (n, f) in fields(bytes)? {
        match (n, f) {
            (1, Field::Bytes(b)) => {
                owner.insert("kind".into(), Value::String(text(b)?));
            }
            (3, Field::Bytes(b)) => {
                owner.insert("name".into(), Value::String(text(b)?));
            }
            (4, Field::Bytes(b)) => {
                owner.insert("uid".into(), Value::String(text(b)?));
            }
            (5, Field::Bytes(b)) => {
                owner.insert("apiVersion".into(), Value::String(text(b)?));
            }
            (6, Field::Varint(v)) => {
                owner.insert("controller".into(), Value::Bool(v != 0));
            }
            (7, Field::Varint(v)) => {
                owner.insert("blockOwnerDeletion".into(), Value::Bool(v != 0));
            }
            _ => {}
        }
    }
    Ok(Value::Object(owner))
}

fn secret(raw: &[u8]) -> Result<Value, ApiError> {
    let mut object = json!({"apiVersion": "v1", "kind": "Secret"});
    let mut data = Map::new();
    let mut string_data = Map::new();
    for (n, f) in fields(raw)? {
        match (n, f) {
            (1, Field::Bytes(b)) => object["metadata"] = object_meta(b)?,
            (2, Field::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                data.insert(k, Value::String(BASE64.encode(v)));
            }
            (3, Field::Bytes(b)) => {
                let t = text(b)?;
                if !t.is_empty() {
                    object["type"] = Value::String(t);
                }
            }
            (4, Field::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                string_data.insert(k, Value::String(text(&v)?));
            }
            (5, Field::Varint(v)) => object["immutable"] = Value::Bool(v != 0),
            _ => {}
        }
    }
    if !data.is_empty() {
        object["data"] = Value::Object(data);
    }
    if !string_data.is_empty() {
        object["stringData"] = Value::Object(string_data);
    }
    Ok(object)
}

fn config_map(raw: &[u8]) -> Result<Value, ApiError> {
    let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap"});
    let mut data = Map::new();
    let mut binary = Map::new();
    for (n, f) in fields(raw)? {
        match (n, f) {
            (1, Field::Bytes(b)) => object["metadata"] = object_meta(b)?,
            (2, Field::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                data.insert(k, Value::String(text(&v)?));
            }
            (3, Field::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                binary.insert(k, Value::String(BASE64.encode(v)));
            }
            (4, Field::Varint(v)) => object["immutable"] = Value::Bool(v != 0),
            _ => {}
        }
    }
    if !data.is_empty() {
        object["data"] = Value::Object(data);
    }
    if !binary.is_empty() {
        object["binaryData"] = Value::Object(binary);
    }
    Ok(object)
}

fn namespace(raw: &[u8]) -> Result<Value, ApiError> {
    let mut object = json!({"apiVersion": "v1", "kind": "Namespace"});
    for (n, f) in fields(raw)? {
        match (n, f) {
            (1, Field::Bytes(b)) => object["metadata"] = object_meta(b)?,
            (2, Field::Bytes(b)) => {
                let finalizers: Vec<Value> = fields(b)?
                    .into_iter()
                    .filter_map(|(fnum, ff)| match (fnum, ff) {
                        (1, Field::Bytes(t)) => Some(text(t).map(Value::String)),
                        _ => None,
                    })
                    .collect::<Result<_, _>>()?;
                if !finalizers.is_empty() {
                    object["spec"] = json!({"finalizers": finalizers});
                }
            }
            _ => {}
        }
    }
    Ok(object)
}

fn delete_options(raw: &[u8]) -> Result<Value, ApiError> {
    let mut object = json!({"apiVersion": "v1", "kind": "DeleteOptions"});
    for (n, f) in fields(raw)? {
        match (n, f) {
            (1, Field::Varint(v)) => object["gracePeriodSeconds"] = json!(v),
            (2, Field::Bytes(b)) => {
                let mut pre = Map::new();
                for (pn, pf) in fields(b)? {
                    match (pn, pf) {
                        (1, Field::Bytes(u)) => {
                            pre.insert("uid".into(), Value::String(text(u)?));
                        }
                        (2, Field::Bytes(r)) => {
                            pre.insert("resourceVersion".into(), Value::String(text(r)?));
                        }
                        _ => {}
                    }
                }
                object["preconditions"] = Value::Object(pre);
            }
            (3, Field::Varint(v)) => object["orphanDependents"] = Value::Bool(v != 0),
            (4, Field::Bytes(b)) => {
                let t = text(b)?;
                if !t.is_empty() {
                    object["propagationPolicy"] = Value::String(t);
                }
            }
            (5, Field::Bytes(b)) => {
                let t = text(b)?;
                let list = object["dryRun"].as_array().cloned().unwrap_or_default();
                let mut list = list;
                list.push(Value::String(t));
                object["dryRun"] = Value::Array(list);
            }
            _ => {}
        }
    }
    Ok(object)
}

/// Decodes a `application/vnd.kubernetes.protobuf` body into JSON.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("missing the k8s\\0 prefix"))?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, f) in fields(envelope)? {
        match (n, f) {
            (1, Field::Bytes(type_meta)) => {
                for (tn, tf) in fields(type_meta)? {
                    match (tn, tf) {
                        (1, Field::Bytes(b)) => api_version = text(b)?,
                        (2, Field::Bytes(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    if let Some(decoded) = messages::decode(&api_version, &kind, raw) {
        return decoded;
    }
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "Secret") => secret(raw),
        ("v1", "ConfigMap") => config_map(raw),
        ("v1", "Namespace") => namespace(raw),
        ("v1" | "meta.k8s.io/v1", "DeleteOptions") => delete_options(raw),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "application/json, application/yaml (protobuf is decoded for v1 Secret, ConfigMap, Namespace, Service, DeleteOptions, networking.k8s.io/v1 Ingress and apps/v1 Deployment only, not {api_version} {kind})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn bytes_field(n: u64, payload: &[u8], out: &mut Vec<u8>) {
        varint(n << 3 | 2, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }

    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        let mut e = Vec::new();
        bytes_field(1, k.as_bytes(), &mut e);
        bytes_field(2, v, &mut e);
        e
    }

    /// Builds the body helm sends for a release Secret (empty strings included, as gogo writes them).
    fn helm_release_secret() -> Vec<u8> {
        let mut meta = Vec::new();
        bytes_field(1, b"sh.helm.release.v1.demo.v1", &mut meta);
        for n in [2, 3, 4, 5, 6] {
            bytes_field(n, b"", &mut meta);
        }
        varint(7 << 3, &mut meta);
        varint(0, &mut meta);
        bytes_field(8, &[], &mut meta);
        bytes_field(11, &entry("owner", b"helm"), &mut meta);
        bytes_field(11, &entry("status", b"deployed"), &mut meta);
        let mut secret = Vec::new();
        bytes_field(1, &meta, &mut secret);
        bytes_field(2, &entry("release", b"H4sI..."), &mut secret);
        bytes_field(3, b"helm.sh/release.v1", &mut secret);
        let mut type_meta = Vec::new();
        bytes_field(1, b"v1", &mut type_meta);
        bytes_field(2, b"Secret", &mut type_meta);
        let mut unknown = Vec::new();
        bytes_field(1, &type_meta, &mut unknown);
        bytes_field(2, &secret, &mut unknown);
        bytes_field(3, b"", &mut unknown);
        bytes_field(4, b"", &mut unknown);
        let mut body = MAGIC.to_vec();
        body.extend(unknown);
        body
    }

    #[test]
    fn decodes_a_helm_release_secret() {
        let value = decode(&helm_release_secret()).unwrap();
        assert_eq!(value["kind"], "Secret");
        assert_eq!(value["type"], "helm.sh/release.v1");
        assert_eq!(
            value["metadata"],
            json!({"name": "sh.helm.release.v1.demo.v1", "labels": {"owner": "helm", "status": "deployed"}})
        );
        assert_eq!(value["data"]["release"], BASE64.encode(b"H4sI..."));
    }

    #[test]
    fn decodes_empty_delete_options_and_rejects_garbage() {
        let mut type_meta = Vec::new();
        bytes_field(1, b"v1", &mut type_meta);
        bytes_field(2, b"DeleteOptions", &mut type_meta);
        let mut body = MAGIC.to_vec();
        bytes_field(1, &type_meta, &mut body);
        bytes_field(2, b"", &mut body);
        assert_eq!(decode(&body).unwrap()["kind"], "DeleteOptions");
        assert!(decode(b"k8s\0\x0a\xff").is_err());
        assert!(decode(b"{}").is_err());
    }
}
