//! AKO's annotations on realised objects: host -> virtual service UUID map, controller cluster
//! UUID and tenant. Routes may carry the same data as JSON in a status condition reason.

use std::collections::BTreeMap;

pub const VS_UUID_MAP: &str = "ako.vmware.com/host-fqdn-vs-uuid-map";
pub const CONTROLLER_CLUSTER_UUID: &str = "ako.vmware.com/controller-cluster-uuid";
pub const TENANT_NAME: &str = "ako.vmware.com/tenant-name";
pub const ENABLE_TLS: &str = "ako.vmware.com/enable-tls";
pub const PASSTHROUGH_ENABLED: &str = "passthrough.ako.vmware.com/enabled";

/// What AKO told us about where an object is realised on its site's controller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AkoPlacement {
    /// Host name -> `virtualservice-…` UUID.
    pub vs_uuids: BTreeMap<String, String>,
    pub controller_uuid: Option<String>,
    pub tenant: Option<String>,
}

impl AkoPlacement {
    pub fn vs_uuid(&self, host: &str) -> Option<String> {
        self.vs_uuids.get(host).filter(|u| !u.is_empty()).cloned()
    }
}

/// Reads AKO's annotations. A malformed VS map yields an error message naming the annotation;
/// the caller still observes the object (without UUIDs) so a later fix by AKO is picked up.
pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Result<AkoPlacement, String> {
    let mut placement = AkoPlacement {
        controller_uuid: non_empty(annotations.get(CONTROLLER_CLUSTER_UUID)),
        tenant: non_empty(annotations.get(TENANT_NAME)),
        ..AkoPlacement::default()
    };
    if let Some(raw) = annotations
        .get(VS_UUID_MAP)
        .filter(|s| !s.trim().is_empty())
    {
        placement.vs_uuids = parse_vs_map(raw).map_err(|e| {
            format!("annotation {VS_UUID_MAP} is not a JSON object of host to UUID: {e}")
        })?;
    }
    Ok(placement)
}

/// Reads the JSON AKO may put into a Route status condition reason: the same three keys as the
/// annotations, where the VS map value is itself a JSON string (or, tolerated, an object).
pub fn from_route_condition_reason(reason: &str) -> Option<AkoPlacement> {
    let value: serde_json::Value = serde_json::from_str(reason).ok()?;
    let object = value.as_object()?;
    let vs_uuids = match object.get(VS_UUID_MAP) {
        Some(serde_json::Value::String(s)) => parse_vs_map(s).ok()?,
        Some(map @ serde_json::Value::Object(_)) => string_map(map)?,
        _ => BTreeMap::new(),
    };
    let text = |key: &str| {
        object
            .get(key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let placement = AkoPlacement {
        vs_uuids,
        controller_uuid: text(CONTROLLER_CLUSTER_UUID),
        tenant: text(TENANT_NAME),
    };
    (placement != AkoPlacement::default()).then_some(placement)
}

fn parse_vs_map(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    string_map(&value).ok_or_else(|| "expected an object whose values are strings".to_owned())
}

fn string_map(value: &serde_json::Value) -> Option<BTreeMap<String, String>> {
    value
        .as_object()?
        .iter()
        .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
        .collect()
}

fn non_empty(value: Option<&String>) -> Option<String> {
    value
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_all_three_annotations() {
        let a = annotations(&[
            (
                VS_UUID_MAP,
                r#"{"a.example.com":"virtualservice-1","b.example.com":"virtualservice-2"}"#,
            ),
            (CONTROLLER_CLUSTER_UUID, "cluster-9"),
            (TENANT_NAME, "team-a"),
        ]);
        let p = from_annotations(&a).expect("valid annotations");
        assert_eq!(
            p.vs_uuid("b.example.com").as_deref(),
            Some("virtualservice-2")
        );
        assert_eq!(p.vs_uuid("c.example.com"), None);
        assert_eq!(p.controller_uuid.as_deref(), Some("cluster-9"));
        assert_eq!(p.tenant.as_deref(), Some("team-a"));
    }

    #[test]
    fn malformed_vs_map_names_the_annotation() {
        let err = from_annotations(&annotations(&[(VS_UUID_MAP, "{not json")])).unwrap_err();
        assert!(err.contains(VS_UUID_MAP), "{err}");
        let err = from_annotations(&annotations(&[(VS_UUID_MAP, r#"{"h": 3}"#)])).unwrap_err();
        assert!(err.contains("values are strings"), "{err}");
    }

    #[test]
    fn missing_annotations_give_empty_placement() {
        assert_eq!(
            from_annotations(&BTreeMap::new()),
            Ok(AkoPlacement::default())
        );
    }

    #[test]
    fn route_reason_with_nested_json_string() {
        let reason = serde_json::json!({
            VS_UUID_MAP: "{\"r.example.com\":\"virtualservice-7\"}",
            CONTROLLER_CLUSTER_UUID: "cluster-3",
            TENANT_NAME: "admin",
        })
        .to_string();
        let p = from_route_condition_reason(&reason).expect("placement");
        assert_eq!(
            p.vs_uuid("r.example.com").as_deref(),
            Some("virtualservice-7")
        );
        assert_eq!(p.controller_uuid.as_deref(), Some("cluster-3"));
        assert_eq!(from_route_condition_reason("Admitted"), None);
        assert_eq!(from_route_condition_reason("{}"), None);
    }
}
