//! Ingress -> one observation per host that AKO has given a VIP: a host of `spec.rules` counts only
//! once `status.loadBalancer.ingress` lists it with an IP (that is how AKO reports its VIP).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::Ingress;

use super::annotations::{self, ENABLE_TLS, PASSTHROUGH_ENABLED};
use super::outcome::{Ingested, parse_ip};
use super::types::{Labels, ObjectKind, Observation, ObservationId};

/// Observations for every rule host of `ingress` that has a VIP in its status.
pub fn ingest_ingress(cluster: &str, ingress: &Ingress) -> Ingested {
    let meta = &ingress.metadata;
    let namespace = meta.namespace.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();
    let labels = meta.labels.as_ref().map(Labels::from).unwrap_or_default();
    let annotations_map = meta.annotations.clone().unwrap_or_default();
    let mut out = Ingested::default();

    let Some(spec) = ingress.spec.as_ref() else {
        return Ingested::only_skipped(None, "ingress has no spec");
    };
    let rules = spec.rules.as_deref().unwrap_or_default();
    let mut hosts: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for rule in rules {
        let Some(host) = rule.host.as_deref().filter(|h| !h.is_empty()) else {
            continue;
        };
        let paths = hosts.entry(host).or_default();
        for path in rule
            .http
            .as_ref()
            .map(|h| h.paths.as_slice())
            .unwrap_or_default()
        {
            paths.insert(
                path.path
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "/".into()),
            );
        }
    }
    if hosts.is_empty() {
        return Ingested::only_skipped(None, "ingress has no rule with a host");
    }

    let placement = match annotations::from_annotations(&annotations_map) {
        Ok(p) => p,
        Err(reason) => {
            out.skip(
                None,
                format!("{reason}; members are kept without AKO UUIDs"),
            );
            annotations::AkoPlacement {
                controller_uuid: annotations_map
                    .get(annotations::CONTROLLER_CLUSTER_UUID)
                    .cloned()
                    .filter(|s| !s.is_empty()),
                tenant: annotations_map
                    .get(annotations::TENANT_NAME)
                    .cloned()
                    .filter(|s| !s.is_empty()),
                ..Default::default()
            }
        }
    };
    let tls_hosts: BTreeSet<&str> = spec
        .tls
        .as_deref()
        .unwrap_or_default()
        .iter()
        .flat_map(|t| t.hosts.as_deref().unwrap_or_default())
        .map(String::as_str)
        .collect();
    let all_tls = annotations_map.contains_key(ENABLE_TLS);
    let passthrough = annotations_map
        .get(PASSTHROUGH_ENABLED)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));

    let status_entries = ingress
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default();

    for (host, paths) in &hosts {
        // The first entry for this host with a parsable IP is its VIP.
        let mut vip = None;
        for entry in status_entries
            .iter()
            .filter(|e| e.hostname.as_deref() == Some(host))
        {
            match entry
                .ip
                .as_deref()
                .map(|ip| parse_ip(ip, "status.loadBalancer.ingress[].ip"))
            {
                Some(Ok(ip)) => {
                    vip = Some(ip);
                    break;
                }
                Some(Err(reason)) => out.skip(Some(host), reason),
                None => {}
            }
        }
        let Some(vip) = vip else {
            out.skip(
                Some(host),
                "no VIP in status.loadBalancer.ingress for this host yet",
            );
            continue;
        };
        let paths = if paths.is_empty() {
            vec!["/".to_owned()]
        } else {
            paths.iter().cloned().collect()
        };
        out.observations.push(Observation {
            id: ObservationId {
                kind: ObjectKind::Ingress,
                cluster: cluster.to_owned(),
                namespace: namespace.clone(),
                name: name.clone(),
                host: (*host).to_owned(),
            },
            hostname: (*host).to_owned(),
            vip,
            labels: labels.clone(),
            paths,
            tls: all_tls || tls_hosts.contains(host),
            passthrough,
            port: None,
            vs_uuid: placement.vs_uuid(host),
            controller_uuid: placement.controller_uuid.clone(),
            tenant: placement.tenant.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress(value: serde_json::Value) -> Ingress {
        serde_json::from_value(value).expect("fixture is a valid Ingress")
    }

    fn two_host_ingress() -> Ingress {
        ingress(json!({
            "metadata": {"name": "shop", "namespace": "web", "labels": {"app": "gslb"},
                "annotations": {
                    "ako.vmware.com/host-fqdn-vs-uuid-map": "{\"a.example.com\":\"virtualservice-a\",\"b.example.com\":\"virtualservice-b\"}",
                    "ako.vmware.com/controller-cluster-uuid": "cluster-1",
                    "ako.vmware.com/tenant-name": "admin"}},
            "spec": {
                "tls": [{"hosts": ["b.example.com"], "secretName": "s"}],
                "rules": [
                    {"host": "a.example.com", "http": {"paths": [
                        {"path": "/foo", "pathType": "Prefix", "backend": {"service": {"name": "x", "port": {"number": 80}}}},
                        {"path": "/bar", "pathType": "Prefix", "backend": {"service": {"name": "x", "port": {"number": 80}}}},
                        {"path": "/foo", "pathType": "Prefix", "backend": {"service": {"name": "y", "port": {"number": 80}}}}]}},
                    {"host": "b.example.com"},
                    {"host": "c.example.com"},
                    {"http": {"paths": []}}
                ]},
            "status": {"loadBalancer": {"ingress": [
                {"hostname": "a.example.com", "ip": "10.0.0.1"},
                {"hostname": "b.example.com", "ip": "fd00::5"},
                {"hostname": "other.example.com", "ip": "10.0.0.9"}
            ]}}
        }))
    }

    #[test]
    fn one_observation_per_host_with_vip() {
        let out = ingest_ingress("east", &two_host_ingress());
        assert_eq!(out.observations.len(), 2);
        let a = &out.observations[0];
        assert_eq!(a.id.to_string(), "INGRESS/east/web/shop/a.example.com");
        assert_eq!(a.vip.to_string(), "10.0.0.1");
        assert_eq!(a.paths, vec!["/bar", "/foo"]);
        assert!(!a.tls);
        assert_eq!(a.vs_uuid.as_deref(), Some("virtualservice-a"));
        assert_eq!(a.controller_uuid.as_deref(), Some("cluster-1"));
        let b = &out.observations[1];
        assert_eq!(b.vip.to_string(), "fd00::5");
        assert_eq!(b.paths, vec!["/"]);
        assert!(b.tls);
        assert_eq!(out.skipped.len(), 1);
        assert_eq!(out.skipped[0].host.as_deref(), Some("c.example.com"));
    }

    /// `two_host_ingress` with the annotation `key: value` added.
    fn two_host_ingress_annotated(key: &str, value: &str) -> Ingress {
        let mut ing = two_host_ingress();
        ing.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(key.into(), value.into());
        ing
    }

    #[test]
    fn enable_tls_annotation_makes_every_host_tls() {
        let ing = two_host_ingress_annotated(ENABLE_TLS, "");
        assert!(
            ingest_ingress("east", &ing)
                .observations
                .iter()
                .all(|o| o.tls)
        );
    }

    #[test]
    fn bad_status_ip_and_bad_vs_map_are_reasons_not_panics() {
        let ing = ingress(json!({
            "metadata": {"name": "n", "namespace": "d",
                "annotations": {"ako.vmware.com/host-fqdn-vs-uuid-map": "[oops"}},
            "spec": {"rules": [{"host": "x.example.com"}]},
            "status": {"loadBalancer": {"ingress": [{"hostname": "x.example.com", "ip": "300.1.1.1"}]}}
        }));
        let out = ingest_ingress("c", &ing);
        assert!(out.observations.is_empty());
        let reasons: Vec<_> = out.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(
            reasons.iter().any(|r| r.contains("host-fqdn-vs-uuid-map")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("\"300.1.1.1\" is not an IP address")),
            "{reasons:?}"
        );
    }

    #[test]
    fn ingress_without_spec_or_hosts() {
        let out = ingest_ingress("c", &ingress(json!({"metadata": {"name": "n"}})));
        assert!(out.observations.is_empty());
        assert_eq!(out.skipped[0].reason, "ingress has no spec");
    }

    #[test]
    fn passthrough_annotation_is_case_insensitive() {
        let ing = two_host_ingress_annotated(PASSTHROUGH_ENABLED, "TRUE");
        assert!(
            ingest_ingress("east", &ing)
                .observations
                .iter()
                .all(|o| o.passthrough)
        );
    }
}
