//! Synthetic members, policies, settings and Ingresses for property tests and benchmarks:
//! `clusters` member clusters each serving the same `fqdns` hosts, with deterministic VIPs and
//! AKO UUIDs.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use k8s_openapi::api::networking::v1::Ingress;
use serde_json::json;

use amko::ingest::{Labels, ObjectKind, Observation, ObservationId, Protocol};
use amko::state::ObjectId;
use amko::vocab::{ClusterMatch, GsKey, InstanceSettings, LabelSelector, Member, Policy, Split};

pub fn cluster_name(c: usize) -> String {
    format!("cluster{}", c + 1)
}

pub fn fqdn(f: usize) -> String {
    format!("app{f}.example.com")
}

/// One member per (cluster, fqdn); every third cluster is IPv6, every fifth object a Service.
pub fn members(clusters: usize, fqdns: usize) -> Vec<Member> {
    let mut out = Vec::with_capacity(clusters * fqdns);
    for c in 0..clusters {
        for f in 0..fqdns {
            let n = (c * fqdns + f) as u32;
            let vip = if c % 3 == 2 {
                IpAddr::V6(Ipv6Addr::new(
                    0xfd00,
                    c as u16,
                    0,
                    0,
                    0,
                    0,
                    (f >> 16) as u16,
                    f as u16,
                ))
            } else {
                IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
            };
            let service = f % 5 == 4;
            let id = ObservationId {
                kind: if service {
                    ObjectKind::LbService
                } else {
                    ObjectKind::Ingress
                },
                cluster: cluster_name(c),
                namespace: format!("ns{}", f % 7),
                name: format!("obj{f}"),
                host: if service { String::new() } else { fqdn(f) },
            };
            let observation = Observation {
                id,
                hostname: fqdn(f),
                vip,
                labels: Labels::default(),
                paths: if service {
                    vec![]
                } else {
                    vec!["/".into(), format!("/p{}", f % 3)]
                },
                tls: f % 2 == 0,
                passthrough: false,
                port: service.then_some((8000 + (c % 10) as u16, Protocol::Tcp)),
                vs_uuid: Some(format!("virtualservice-{c}-{f}")),
                controller_uuid: Some(format!("cluster-{c}")),
                tenant: None,
            };
            out.push(Member {
                key: Arc::new(GsKey {
                    tenant: "admin".into(),
                    fqdn: fqdn(f),
                }),
                observation: Arc::new(observation),
                sync_vip_only: c % 4 == 3,
                tls: f % 2 == 0,
            });
        }
    }
    out
}

/// A GDP selecting every cluster, with a traffic split giving every other cluster priority 20.
pub fn policy(clusters: usize) -> Policy {
    let names: Vec<String> = (0..clusters).map(cluster_name).collect();
    Policy {
        name: "global-gdp".into(),
        app_selector: Some(LabelSelector(BTreeMap::from([(
            "app".to_string(),
            "gslb".to_string(),
        )]))),
        namespace_selector: None,
        match_clusters: names
            .iter()
            .map(|n| (n.clone(), ClusterMatch::default()))
            .collect(),
        traffic_split: names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.clone(),
                    Split {
                        weight: (i % 20) as u32 + 1,
                        priority: if i % 2 == 0 { 20 } else { 10 },
                    },
                )
            })
            .collect(),
        ..Policy::default()
    }
}

pub fn settings() -> InstanceSettings {
    InstanceSettings {
        created_by: "amko-9b1f3c2e-1d2a-11ef-9c44-0a580a800001".into(),
        default_tenant: "admin".into(),
        use_custom_global_fqdn: false,
        member_clusters: Default::default(),
    }
}

/// Each FQDN of the benchmarks' Ingresses is served by this many consecutive clusters.
pub const OVERLAP: usize = 5;

/// Ingress `i` of cluster `c` as AKO leaves it (`per_cluster` Ingresses per cluster): a VIP in
/// status, the VS UUID map annotation, label `app: label`. Its host is shared by the `OVERLAP`
/// clusters of its group, as in the many-cluster benchmark.
pub fn ingress(c: usize, i: usize, per_cluster: usize, label: &str) -> Ingress {
    let host = format!("app{}.example.com", (c / OVERLAP) * per_cluster + i);
    let vs_map = json!({ host.clone(): format!("virtualservice-{c}-{i}") }).to_string();
    serde_json::from_value(json!({
        "metadata": {"name": format!("web-{i}"), "namespace": "default", "labels": {"app": label},
            "annotations": {"ako.vmware.com/host-fqdn-vs-uuid-map": vs_map,
                            "ako.vmware.com/controller-cluster-uuid": format!("cluster-{c}")}},
        "spec": {"rules": [{"host": host.clone(), "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": format!("10.{}.{}.{}", c, i / 250, 1 + i % 250), "hostname": host}]}}
    }))
    .unwrap_or_default()
}

/// The identity of [`ingress`]`(c, i, ..)`.
pub fn object_id(c: usize, i: usize) -> ObjectId {
    ObjectId {
        kind: ObjectKind::Ingress,
        cluster: cluster_name(c),
        namespace: "default".into(),
        name: format!("web-{i}"),
    }
}
