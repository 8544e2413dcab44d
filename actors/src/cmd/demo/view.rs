//! What `amko demo` shows: the GslbServices of the simulated controller as compact tables (members
//! with cluster, VIP, weight and priority; health monitors), and whether they match what the
//! sample applications should produce. Pure functions over the controller's object dump.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use amko_sim::k8s::ako;
use serde_json::Value;

/// One GslbService member, resolved to the member cluster it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    /// The member cluster, or `?` when no member identity matches.
    pub cluster: String,
    pub vip: String,
    pub weight: u64,
    pub priority: u64,
    pub enabled: bool,
}

/// One GslbService as the demo shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GsView {
    pub name: String,
    pub ttl: Option<u64>,
    pub monitors: Vec<String>,
    pub members: Vec<MemberRow>,
}

/// A GslbService the sample applications must produce, and the clusters of its members.
#[derive(Clone, Debug)]
pub struct Expected {
    pub fqdn: String,
    pub clusters: BTreeSet<String>,
}

/// A member identity from a GslbService description (`INGRESS/cluster/ns/name/host`,
/// `ROUTE/cluster/ns/name`, `LBSVC/cluster/ns/name`).
struct Identity<'a> {
    cluster: &'a str,
    namespace: &'a str,
    name: &'a str,
    host: Option<&'a str>,
}

fn identities(description: &str) -> Vec<Identity<'_>> {
    description
        .split(',')
        .filter_map(|id| {
            let mut parts = id.trim().splitn(5, '/');
            let _kind = parts.next()?;
            Some(Identity {
                cluster: parts.next()?,
                namespace: parts.next()?,
                name: parts.next()?,
                host: parts.next(),
            })
        })
        .collect()
}

/// The cluster of a member: the identity whose AKO virtual service UUID the member carries, else
/// the identity whose AKO VIP equals the member's address.
fn cluster_of(member: &Value, gs_name: &str, ids: &[Identity<'_>]) -> String {
    let vs_uuid = member["vs_uuid"].as_str();
    let addr = member["ip"]["addr"].as_str().unwrap_or_default();
    ids.iter()
        .find(|id| {
            let host = id.host.unwrap_or(gs_name);
            vs_uuid == Some(ako::vs_uuid(id.cluster, id.namespace, id.name, host).as_str())
                || [ako::IpFamily::V4, ako::IpFamily::V6]
                    .into_iter()
                    .any(|family| {
                        ako::vip_for(id.cluster, id.namespace, id.name, host, family).to_string()
                            == addr
                    })
        })
        .map_or_else(|| "?".to_owned(), |id| id.cluster.to_owned())
}

/// Health monitor names by the UUID their refs end with.
fn monitor_names(dump: &Value) -> BTreeMap<String, String> {
    dump["healthmonitor"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some((
                m["uuid"].as_str()?.to_owned(),
                m["name"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

fn monitor_name(reference: &str, names: &BTreeMap<String, String>) -> String {
    let tail = reference.rsplit('/').next().unwrap_or(reference);
    let uuid = tail.split('#').next().unwrap_or(tail);
    if let Some(name) = names.get(uuid) {
        return name.clone();
    }
    // `/api/healthmonitor?name=NAME` refs, or a `#NAME` suffix.
    reference
        .split_once("name=")
        .or_else(|| reference.split_once('#'))
        .map_or_else(|| reference.to_owned(), |(_, name)| name.to_owned())
}

/// The GslbServices of a controller dump (`SimControl::dump`), by name.
pub fn gslb_services(dump: &Value) -> Vec<GsView> {
    let monitors = monitor_names(dump);
    let mut views: Vec<GsView> = dump["gslbservice"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|gs| {
            let name = gs["name"].as_str().unwrap_or_default().to_owned();
            let ids = identities(gs["description"].as_str().unwrap_or_default());
            let mut members: Vec<MemberRow> = gs["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|group| {
                    let priority = group["priority"].as_u64().unwrap_or_default();
                    group["members"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(move |m| (priority, m))
                })
                .map(|(priority, m)| MemberRow {
                    cluster: cluster_of(m, &name, &ids),
                    vip: m["ip"]["addr"].as_str().unwrap_or("-").to_owned(),
                    weight: m["ratio"].as_u64().unwrap_or(1),
                    priority,
                    enabled: m["enabled"].as_bool().unwrap_or(true),
                })
                .collect();
            members.sort_by(|a, b| (&a.cluster, &a.vip).cmp(&(&b.cluster, &b.vip)));
            GsView {
                ttl: gs["ttl"].as_u64(),
                monitors: gs["health_monitor_refs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|r| monitor_name(r, &monitors))
                    .collect(),
                members,
                name,
            }
        })
        .collect();
    views.sort_by(|a, b| a.name.cmp(&b.name));
    views
}

/// One table per GslbService.
pub fn render(views: &[GsView]) -> String {
    let mut out = String::new();
    if views.is_empty() {
        out.push_str("  (no GslbServices on the controller)\n");
    }
    for gs in views {
        let ttl = gs
            .ttl
            .map_or_else(|| "default".to_owned(), |t| format!("{t}s"));
        let members = match gs.members.len() {
            1 => "1 member".to_owned(),
            n => format!("{n} members"),
        };
        let _ = writeln!(out, "GslbService {}  ({members}, ttl {ttl})", gs.name);
        let width = gs
            .members
            .iter()
            .map(|m| m.vip.len())
            .max()
            .unwrap_or(0)
            .max(15);
        let _ = writeln!(
            out,
            "  {:<12} {:<width$} {:>6} {:>8}",
            "CLUSTER", "VIP", "WEIGHT", "PRIORITY"
        );
        for m in &gs.members {
            let disabled = if m.enabled { "" } else { "  (disabled)" };
            let _ = writeln!(
                out,
                "  {:<12} {:<width$} {:>6} {:>8}{disabled}",
                m.cluster, m.vip, m.weight, m.priority
            );
        }
        let monitors = if gs.monitors.is_empty() {
            "none".to_owned()
        } else {
            gs.monitors.join(", ")
        };
        let _ = writeln!(out, "  health monitors: {monitors}\n");
    }
    out
}

/// How many of `expected` exist with members from exactly their clusters and a health monitor.
pub fn matching(views: &[GsView], expected: &[Expected]) -> usize {
    let by_name: BTreeMap<&str, &GsView> = views.iter().map(|v| (v.name.as_str(), v)).collect();
    expected
        .iter()
        .filter(|e| {
            by_name.get(e.fqdn.as_str()).is_some_and(|gs| {
                let clusters: BTreeSet<String> =
                    gs.members.iter().map(|m| m.cluster.clone()).collect();
                gs.members.len() == e.clusters.len()
                    && clusters == e.clusters
                    && !gs.monitors.is_empty()
            })
        })
        .count()
}

/// True when every expected GslbService matches and none of `absent` exists.
pub fn converged(views: &[GsView], expected: &[Expected], absent: &[&str]) -> bool {
    matching(views, expected) == expected.len()
        && absent
            .iter()
            .all(|name| views.iter().all(|v| v.name != *name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn member(cluster: &str, ns: &str, name: &str, host: &str, ratio: u64) -> Value {
        json!({
            "enabled": true, "ratio": ratio,
            "ip": {"addr": ako::vip_for(cluster, ns, name, host, ako::IpFamily::V4).to_string(), "type": "V4"},
            "vs_uuid": ako::vs_uuid(cluster, ns, name, host)
        })
    }

    fn dump() -> Value {
        json!({
            "healthmonitor": [{"uuid": "healthmonitor-1", "name": "amko--http--shop"}],
            "gslbservice": [
                {
                    "name": "shop.example.com", "ttl": 30,
                    "description": "INGRESS/c1/shop/web/shop.example.com,INGRESS/c2/shop/web/shop.example.com",
                    "health_monitor_refs": ["https://127.0.0.1:1/api/healthmonitor/healthmonitor-1"],
                    "groups": [
                        {"priority": 10, "members": [member("c2", "shop", "web", "shop.example.com", 5)]},
                        {"priority": 20, "members": [member("c1", "shop", "web", "shop.example.com", 15)]}
                    ]
                },
                {
                    "name": "api.example.com",
                    "description": "LBSVC/c2/shop/api",
                    "groups": [{"priority": 10, "members": [
                        // No vs_uuid: matched by VIP.
                        {"ratio": 1, "ip": {"addr": ako::vip_for("c2", "shop", "api", "api.example.com", ako::IpFamily::V4).to_string()}},
                        {"ratio": 1, "ip": {"addr": "192.0.2.1"}}
                    ]}]
                }
            ]
        })
    }

    #[test]
    fn members_are_resolved_to_clusters_by_identity() {
        let views = gslb_services(&dump());
        assert_eq!(
            views.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            ["api.example.com", "shop.example.com"]
        );
        let shop = &views[1];
        assert_eq!(shop.ttl, Some(30));
        assert_eq!(shop.monitors, ["amko--http--shop"]);
        let rows: Vec<(&str, u64, u64)> = shop
            .members
            .iter()
            .map(|m| (m.cluster.as_str(), m.weight, m.priority))
            .collect();
        assert_eq!(rows, [("c1", 15, 20), ("c2", 5, 10)]);
        let api = &views[0];
        let clusters: Vec<&str> = api.members.iter().map(|m| m.cluster.as_str()).collect();
        assert_eq!(clusters, ["?", "c2"]);
        assert!(api.monitors.is_empty());
    }

    #[test]
    fn convergence_needs_the_right_clusters_monitors_and_no_excluded_app() {
        let views = gslb_services(&dump());
        let shop = Expected {
            fqdn: "shop.example.com".into(),
            clusters: ["c1", "c2"].map(String::from).into(),
        };
        assert!(converged(
            &views,
            std::slice::from_ref(&shop),
            &["other.example.com"]
        ));
        assert!(!converged(
            &views,
            std::slice::from_ref(&shop),
            &["api.example.com"]
        ));
        let one_cluster = Expected {
            clusters: ["c1"].map(String::from).into(),
            ..shop.clone()
        };
        assert!(!converged(&views, &[one_cluster], &[]));
        let api = Expected {
            fqdn: "api.example.com".into(),
            clusters: ["c2"].map(String::from).into(),
        };
        assert!(
            !converged(&views, &[api], &[]),
            "unresolved member, no monitor"
        );
    }

    #[test]
    fn render_shows_one_table_per_gslb_service() {
        let text = render(&gslb_services(&dump()));
        assert!(text.contains("GslbService shop.example.com  (2 members, ttl 30s)"));
        assert!(text.contains("health monitors: amko--http--shop"));
        assert!(text.contains("GslbService api.example.com  (2 members, ttl default)"));
        assert!(render(&[]).contains("no GslbServices"));
        let mut single = gslb_services(&dump());
        single[0].members.truncate(1);
        assert!(render(&single).contains("(1 member, ttl default)"));
    }
}
