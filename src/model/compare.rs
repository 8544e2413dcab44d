//! Structural comparison of a desired payload with the object the controller returns. Fields the
//! controller adds (uuid, url, `_last_modified`, defaults) are ignored; references compare by
//! object type and name; fields amko-rs manages but may leave out count as drift when the
//! controller has a non-default value for them (someone set them out of band).

use std::fmt::Write as _;

use serde_json::Value;

/// Fields amko-rs owns even when its payload omits them, with the value that means "unset".
const MANAGED_OPTIONAL: &[(&str, Option<&str>)] = &[
    ("ttl", None),
    (
        "down_response",
        Some(r#"{"type":"GSLB_SERVICE_DOWN_RESPONSE_NONE"}"#),
    ),
    ("application_persistence_profile_ref", None),
    ("pki_profile_ref", None),
    ("health_monitor_refs", Some("[]")),
    ("consistent_hash_mask", None),
    ("fallback_algorithm", None),
    ("cluster_uuid", None),
    ("vs_uuid", None),
    ("public_ip", None),
    ("http_monitor", None),
    ("https_monitor", None),
    ("tcp_monitor", None),
    ("udp_monitor", None),
];

/// JSON paths where `actual` differs from `desired`; empty when the controller object is in sync.
pub fn differences(desired: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    compare(desired, actual, &mut String::new(), &mut out);
    out
}

/// True when the controller object already equals the desired one.
pub fn in_sync(desired: &Value, actual: &Value) -> bool {
    differences(desired, actual).is_empty()
}

/// Walks both values; `path` is a reused buffer holding the current JSON path, so equal
/// subtrees allocate nothing.
fn compare(desired: &Value, actual: &Value, path: &mut String, out: &mut Vec<String>) {
    let len = path.len();
    match (desired, actual) {
        (Value::Object(d), Value::Object(a)) => {
            for (key, dv) in d {
                path.push('/');
                path.push_str(key);
                match a.get(key) {
                    Some(av) if is_ref_field(key) => compare_refs(dv, av, path, out),
                    Some(av) => compare(dv, av, path, out),
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
            for (key, unset) in MANAGED_OPTIONAL {
                if d.contains_key(*key) {
                    continue;
                }
                if let Some(av) = a.get(*key)
                    && !av.is_null()
                    && !unset.is_some_and(|u| is_unset(av, u))
                {
                    out.push(format!("{path}/{key}"));
                }
            }
        }
        (Value::Array(d), Value::Array(a)) => {
            if d.len() != a.len() {
                out.push(format!("{path} (length {} != {})", d.len(), a.len()));
                return;
            }
            for (i, (dv, av)) in d.iter().zip(a).enumerate() {
                let _ = write!(path, "/{i}");
                compare(dv, av, path, out);
                path.truncate(len);
            }
        }
        (Value::Number(d), Value::Number(a)) => {
            if d.as_f64() != a.as_f64() {
                out.push(path.clone());
            }
        }
        (d, a) => {
            if d != a {
                out.push(path.clone());
            }
        }
    }
}

/// True when `actual` is the value that means "unset" (`unset` is its JSON text).
fn is_unset(actual: &Value, unset: &str) -> bool {
    serde_json::from_str::<Value>(unset).is_ok_and(|u| u == *actual)
}

fn is_ref_field(key: &str) -> bool {
    key.ends_with("_ref") || key.ends_with("_refs")
}

fn compare_refs(desired: &Value, actual: &Value, path: &mut String, out: &mut Vec<String>) {
    match (desired, actual) {
        (Value::String(d), Value::String(a)) => {
            if ref_identity(d) != ref_identity(a) {
                out.push(path.clone());
            }
        }
        (Value::Array(d), Value::Array(a)) if d.len() == a.len() => {
            let len = path.len();
            for (i, (dv, av)) in d.iter().zip(a).enumerate() {
                let _ = write!(path, "/{i}");
                compare_refs(dv, av, path, out);
                path.truncate(len);
            }
        }
        _ => out.push(path.clone()),
    }
}

/// (object type, name) of a reference: `/api/healthmonitor?name=X` and
/// `https://host/api/healthmonitor/healthmonitor-…#X` both give ("healthmonitor", "X"). A URL
/// without `#name` yields its UUID, which never equals a name, so it reads as drift.
pub fn ref_identity(reference: &str) -> (String, String) {
    let after_api = reference
        .split_once("/api/")
        .map_or(reference, |(_, rest)| rest);
    let (object_type, rest) = after_api.split_once(['/', '?']).unwrap_or((after_api, ""));
    let name = if let Some((_, name)) = reference.rsplit_once('#') {
        name.to_owned()
    } else if let Some((_, query)) = reference.split_once('?') {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("name="))
            .unwrap_or(query)
            .to_owned()
    } else {
        rest.trim_start_matches('/').to_owned()
    };
    (object_type.to_owned(), name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_compare_by_type_and_name() {
        assert_eq!(
            ref_identity("/api/healthmonitor?name=hm1"),
            ("healthmonitor".into(), "hm1".into())
        );
        assert_eq!(
            ref_identity("https://10.0.0.1/api/healthmonitor/healthmonitor-42#hm1"),
            ("healthmonitor".into(), "hm1".into())
        );
        assert_eq!(
            ref_identity("/api/tenant/?name=admin"),
            ("tenant".into(), "admin".into())
        );
        assert_eq!(
            ref_identity("https://h/api/tenant/admin#admin"),
            ("tenant".into(), "admin".into())
        );
        assert_ne!(
            ref_identity("https://h/api/healthmonitor/healthmonitor-42").1,
            "hm1"
        );
    }

    #[test]
    fn extra_controller_fields_are_ignored_but_drift_is_found() {
        let desired = json!({"name": "a", "ratio": 1, "health_monitor_refs": ["/api/healthmonitor?name=h"],
                             "groups": [{"members": [{"ratio": 2}]}]});
        let actual = json!({"name": "a", "ratio": 1.0, "uuid": "gslbservice-1", "_last_modified": "1",
                            "health_monitor_refs": ["https://c/api/healthmonitor/healthmonitor-9#h"],
                            "down_response": {"type": "GSLB_SERVICE_DOWN_RESPONSE_NONE"},
                            "groups": [{"members": [{"ratio": 2, "preference_order": 1}]}]});
        assert!(
            in_sync(&desired, &actual),
            "{:?}",
            differences(&desired, &actual)
        );

        let mut drifted = actual.clone();
        drifted["groups"][0]["members"][0]["ratio"] = json!(5);
        drifted["ttl"] = json!(300);
        assert_eq!(
            differences(&desired, &drifted),
            vec!["/groups/0/members/0/ratio", "/ttl"]
        );

        let mut fewer = actual.clone();
        fewer["groups"][0]["members"] = json!([]);
        assert_eq!(
            differences(&desired, &fewer),
            vec!["/groups/0/members (length 1 != 0)"]
        );

        let mut other_hm = actual;
        other_hm["health_monitor_refs"] = json!(["https://c/api/healthmonitor/healthmonitor-9#x"]);
        assert_eq!(
            differences(&desired, &other_hm),
            vec!["/health_monitor_refs/0"]
        );
    }
}
