//! AKO emulation: what AKO does in a member cluster. Ingress hosts, LoadBalancer Services and
//! Routes get a VIP and status, plus the annotations AMKO reads (VS UUID map, controller cluster
//! UUID, tenant); HostRules get `status.status` Accepted or Rejected (FQDN already claimed).
//! VIPs and UUIDs are pure functions of (cluster, namespace, name, host) so tests can predict them.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value, json};

use super::config::{ClusterSpec, VipFamily};
use super::error::ApiError;
use super::ids::{digest, now_rfc3339, uuid_from};
use super::ops::{self, Scope, Subresource, WriteOptions};
use super::patch::PatchType;
use super::resources::ResourceKey;
use super::store::ClusterState;

pub const HOST_VS_MAP_ANNOTATION: &str = "ako.vmware.com/host-fqdn-vs-uuid-map";
pub const CONTROLLER_UUID_ANNOTATION: &str = "ako.vmware.com/controller-cluster-uuid";
pub const TENANT_ANNOTATION: &str = "ako.vmware.com/tenant-name";
/// Hostname of a LoadBalancer Service (as with external-dns); without it AKO uses an auto-FQDN.
pub const SERVICE_HOSTNAME_ANNOTATION: &str = "external-dns.alpha.kubernetes.io/hostname";
pub const DEFAULT_TENANT: &str = "admin";
/// Per-object VIP family override (`v4`, `v6` or `dual`) for the simulator.
pub const VIP_FAMILY_ANNOTATION: &str = "sim.amko.io/vip-family";

/// One address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpFamily {
    V4,
    V6,
}

/// The VIP AKO assigns to `host` of object `namespace/name` in `cluster`: IPv4 from 10.0.0.0/8
/// (never .0 or .255), IPv6 from fd00:a4c0::/32.
pub fn vip_for(cluster: &str, namespace: &str, name: &str, host: &str, family: IpFamily) -> IpAddr {
    let d = digest(&format!("vip/{cluster}/{namespace}/{name}/{host}"));
    match family {
        IpFamily::V4 => IpAddr::V4(Ipv4Addr::new(10, d[0], d[1], 1 + d[2] % 254)),
        IpFamily::V6 => {
            let mut octets = [0u8; 16];
            octets[0] = 0xfd;
            octets[1] = 0x00;
            octets[2] = 0xa4;
            octets[3] = 0xc0;
            octets[4..16].copy_from_slice(&d[0..12]);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
    }
}

/// The Avi virtual service UUID of `host` of `namespace/name` in `cluster`.
pub fn vs_uuid(cluster: &str, namespace: &str, name: &str, host: &str) -> String {
    format!(
        "virtualservice-{}",
        uuid_from(&format!("vs/{cluster}/{namespace}/{name}/{host}"))
    )
}

/// The controller cluster UUID AKO of `cluster` reports, unless configured explicitly.
pub fn controller_cluster_uuid(cluster: &str) -> String {
    format!("cluster-{}", uuid_from(&format!("controller/{cluster}")))
}

/// The auto-FQDN of a LoadBalancer Service without a hostname annotation.
pub fn service_auto_fqdn(cluster: &str, namespace: &str, name: &str) -> String {
    format!("{name}.{namespace}.{cluster}.sim.local")
}

fn families(family: VipFamily) -> &'static [IpFamily] {
    match family {
        VipFamily::V4 => &[IpFamily::V4],
        VipFamily::V6 => &[IpFamily::V6],
        VipFamily::Dual => &[IpFamily::V4, IpFamily::V6],
    }
}

/// The family an object asks for: a Service's `spec.ipFamilies` when it includes IPv6 (IPv4 is
/// the defaulted value, so it does not override the cluster's family), or the annotation
/// `sim.amko.io/vip-family: v4|v6|dual` on any object.
fn requested_family(object: &Value) -> Option<VipFamily> {
    match object["metadata"]["annotations"][VIP_FAMILY_ANNOTATION].as_str() {
        Some("v4") => return Some(VipFamily::V4),
        Some("v6") => return Some(VipFamily::V6),
        Some("dual") => return Some(VipFamily::Dual),
        _ => {}
    }
    let families: Vec<&str> = object["spec"]["ipFamilies"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match (families.contains(&"IPv4"), families.contains(&"IPv6")) {
        (true, true) => Some(VipFamily::Dual),
        (false, true) => Some(VipFamily::V6),
        _ => None,
    }
}

fn key(group: &str, plural: &str) -> ResourceKey {
    ResourceKey {
        group: group.into(),
        plural: plural.into(),
    }
}

/// Reacts to a change of the object `resource` `namespace/name`.
pub fn react(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    resource: &ResourceKey,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    if !spec.ako.enabled {
        return Ok(());
    }
    match (resource.group.as_str(), resource.plural.as_str()) {
        ("networking.k8s.io", "ingresses")
        | ("", "services")
        | ("route.openshift.io", "routes") => reconcile_object(st, spec, resource, namespace, name),
        ("ako.vmware.com", "hostrules") => reconcile_host_rules(st, spec),
        ("", "namespaces") => {
            for plural in [
                ("networking.k8s.io", "ingresses"),
                ("", "services"),
                ("route.openshift.io", "routes"),
            ] {
                let k = key(plural.0, plural.1);
                for (ns, obj) in st.keys(&k, Some(name)) {
                    reconcile_object(st, spec, &k, &ns, &obj)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn scope_for(st: &ClusterState, resource: &ResourceKey, namespace: &str) -> Option<Scope> {
    let resource = st.registry.find_by_key(resource)?;
    Some(Scope {
        version: resource.storage_version().to_string(),
        namespace: resource.namespaced.then(|| namespace.to_string()),
        resource,
    })
}

fn tenant_of(st: &ClusterState, namespace: &str) -> String {
    st.get(&key("", "namespaces"), "", namespace)
        .and_then(|ns| ns.value().ok())
        .and_then(|ns| {
            ns["metadata"]["annotations"][TENANT_ANNOTATION]
                .as_str()
                .map(str::to_string)
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| DEFAULT_TENANT.to_string())
}

/// The hosts AKO serves for an object (empty: AKO does nothing for it).
fn hosts_of(resource: &ResourceKey, object: &Value, cluster: &str) -> Vec<String> {
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let mut hosts: Vec<String> = match resource.plural.as_str() {
        "ingresses" => object["spec"]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["host"].as_str())
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect(),
        "services" if object["spec"]["type"].as_str() == Some("LoadBalancer") => {
            match object["metadata"]["annotations"][SERVICE_HOSTNAME_ANNOTATION].as_str() {
                Some(list) => list
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .take(1)
                    .map(str::to_string)
                    .collect(),
                None => vec![service_auto_fqdn(cluster, namespace, name)],
            }
        }
        "routes" => {
            let host = object["spec"]["host"].as_str().unwrap_or_default();
            let subdomain = object["spec"]["subdomain"].as_str().unwrap_or_default();
            if !host.is_empty() {
                vec![host.to_string()]
            } else if !subdomain.is_empty() {
                vec![format!("{subdomain}.apps.{cluster}.sim.local")]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    hosts
}

fn reconcile_object(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    resource: &ResourceKey,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let Some(scope) = scope_for(st, resource, namespace) else {
        return Ok(());
    };
    let Some(stored) = st.get(resource, namespace, name) else {
        return Ok(());
    };
    let object = stored.value()?;
    if object["metadata"].get("deletionTimestamp").is_some() {
        return Ok(());
    }
    let cluster = spec.name.as_str();
    let hosts = hosts_of(resource, &object, cluster);
    let controller_uuid = spec
        .ako
        .controller_cluster_uuid
        .clone()
        .unwrap_or_else(|| controller_cluster_uuid(cluster));

    // Annotations first (main resource, merge patch), then status (status subresource).
    let current = object["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut annotation_patch = Map::new();
    if hosts.is_empty() {
        for a in [
            HOST_VS_MAP_ANNOTATION,
            CONTROLLER_UUID_ANNOTATION,
            TENANT_ANNOTATION,
        ] {
            if current.contains_key(a) {
                annotation_patch.insert(a.to_string(), Value::Null);
            }
        }
    } else {
        let map: BTreeMap<&str, String> = hosts
            .iter()
            .map(|h| (h.as_str(), vs_uuid(cluster, namespace, name, h)))
            .collect();
        let map_text =
            serde_json::to_string(&map).map_err(|e| ApiError::Internal(e.to_string()))?;
        let wanted = [
            (HOST_VS_MAP_ANNOTATION, map_text),
            (CONTROLLER_UUID_ANNOTATION, controller_uuid),
            (TENANT_ANNOTATION, tenant_of(st, namespace)),
        ];
        for (k, v) in wanted {
            if current.get(k).and_then(Value::as_str) != Some(v.as_str()) {
                annotation_patch.insert(k.to_string(), Value::String(v));
            }
        }
    }
    let opts = WriteOptions::default();
    if !annotation_patch.is_empty() {
        let body = json!({"metadata": {"annotations": annotation_patch}});
        ops::patch(
            st,
            spec,
            &scope,
            name,
            PatchType::Merge,
            &body,
            Subresource::Main,
            &opts,
        )?;
    }

    let Some(stored) = st.get(resource, namespace, name) else {
        return Ok(());
    };
    let object = stored.value()?;
    let mut status = object.get("status").cloned().unwrap_or_else(|| json!({}));
    if !status.is_object() {
        status = json!({});
    }
    let family = requested_family(&object).unwrap_or(spec.ako.vip_family);
    let vips = |host: &str| -> Vec<IpAddr> {
        families(family)
            .iter()
            .map(|f| vip_for(cluster, namespace, name, host, *f))
            .collect()
    };
    if resource.plural == "routes" {
        let router = format!("ako-{cluster}");
        let mut entries: Vec<Value> = status["ingress"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["routerName"].as_str() != Some(router.as_str()))
            .cloned()
            .collect();
        let previous: Vec<Value> = status["ingress"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["routerName"].as_str() == Some(router.as_str()))
            .cloned()
            .collect();
        for host in &hosts {
            let message = vips(host)
                .first()
                .map(IpAddr::to_string)
                .unwrap_or_default();
            let since = previous
                .iter()
                .find(|p| {
                    p["host"].as_str() == Some(host.as_str())
                        && p["conditions"][0]["message"].as_str() == Some(message.as_str())
                })
                .map(|p| p["conditions"][0]["lastTransitionTime"].clone())
                .unwrap_or_else(|| json!(now_rfc3339()));
            entries.push(json!({
                "host": host,
                "routerName": router,
                "wildcardPolicy": "None",
                "conditions": [{"type": "Admitted", "status": "True", "lastTransitionTime": since, "message": message}],
            }));
        }
        status["ingress"] = Value::Array(entries);
    } else {
        let ingress: Vec<Value> = hosts
            .iter()
            .flat_map(|h| {
                vips(h)
                    .into_iter()
                    .map(move |ip| json!({"ip": ip.to_string(), "hostname": h}))
            })
            .collect();
        status["loadBalancer"] = if ingress.is_empty() {
            json!({})
        } else {
            json!({"ingress": ingress})
        };
    }
    if object.get("status") != Some(&status) {
        let mut body = object.clone();
        body["status"] = status;
        ops::update(st, spec, &scope, name, body, Subresource::Status, &opts)?;
    }
    Ok(())
}

/// Marks every HostRule Accepted, or Rejected when an older HostRule claims the same FQDN.
fn reconcile_host_rules(st: &mut ClusterState, spec: &ClusterSpec) -> Result<(), ApiError> {
    let resource = key("ako.vmware.com", "hostrules");
    let mut rules = Vec::new();
    for (ns, name) in st.keys(&resource, None) {
        if let Some(obj) = st.get(&resource, &ns, &name) {
            let value = obj.value()?;
            if value["metadata"].get("deletionTimestamp").is_some() {
                continue;
            }
            let created = value["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            rules.push((created, ns, name, value));
        }
    }
    rules.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    let opts = WriteOptions::default();
    for (_, ns, name, value) in rules {
        let fqdn = value["spec"]["virtualhost"]["fqdn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let status = if fqdn.is_empty() {
            json!({"status": "Rejected", "error": "spec.virtualhost.fqdn is empty"})
        } else if let Some(owner) = claimed.get(&fqdn) {
            json!({"status": "Rejected", "error": format!("duplicate fqdn {fqdn} found in {owner}")})
        } else {
            claimed.insert(fqdn, format!("{ns}/{name}"));
            json!({"status": "Accepted", "error": ""})
        };
        if value.get("status") != Some(&status) {
            let Some(scope) = scope_for(st, &resource, &ns) else {
                continue;
            };
            let mut body = value.clone();
            body["status"] = status;
            ops::update(st, spec, &scope, &name, body, Subresource::Status, &opts)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vips_are_deterministic_and_in_their_pools() {
        let a = vip_for("c1", "ns", "web", "a.example.com", IpFamily::V4);
        assert_eq!(a, vip_for("c1", "ns", "web", "a.example.com", IpFamily::V4));
        assert_ne!(a, vip_for("c2", "ns", "web", "a.example.com", IpFamily::V4));
        match a {
            IpAddr::V4(v4) => {
                assert_eq!(v4.octets()[0], 10);
                assert!(v4.octets()[3] != 0 && v4.octets()[3] != 255);
            }
            IpAddr::V6(_) => panic!("IPv4 expected"),
        }
        let v6 = vip_for("c1", "ns", "web", "a.example.com", IpFamily::V6);
        assert!(v6.to_string().starts_with("fd00:a4c0:"), "{v6}");
        assert!(vs_uuid("c1", "ns", "web", "h").starts_with("virtualservice-"));
        assert!(controller_cluster_uuid("c1").starts_with("cluster-"));
    }
}
