//! OpenShift Route -> observation: host (or subdomain + the GDP's
//! defaultDomain), the VIP AKO reports in the route status, TLS and passthrough.

use super::annotations;
use super::outcome::{Ingested, one_host_observation};
use super::types::{ObjectKind, Observation, Protocol};
use crate::crd::route::Route;

/// The host name a Route answers to: `spec.host`, else `<subdomain>.<default_domain>`.
pub fn route_hostname(route: &Route, default_domain: Option<&str>) -> Option<String> {
    if let Some(host) = route.spec.host.as_deref().filter(|h| !h.is_empty()) {
        return Some(host.to_owned());
    }
    let subdomain = route.spec.subdomain.as_deref().filter(|s| !s.is_empty())?;
    let domain = default_domain.filter(|d| !d.is_empty())?;
    Some(match domain.strip_prefix('.') {
        Some(rest) => format!("{subdomain}.{rest}"),
        None => format!("{subdomain}.{domain}"),
    })
}

/// The observation for `route`, if AKO has realised it.
pub fn ingest_route(cluster: &str, route: &Route, default_domain: Option<&str>) -> Ingested {
    let meta = &route.metadata;
    let Some(hostname) = route_hostname(route, default_domain) else {
        return Ingested::only_skipped(
            None,
            "route has no spec.host, and no spec.subdomain with a GDP defaultDomain",
        );
    };
    let mut out = Ingested::default();

    // AKO's router entry for this host: its VIP is the first condition message that is an IP.
    let ako_entries = route
        .status
        .as_ref()
        .map(|s| s.ingress.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|i| i.router_name.starts_with("ako-") && i.host == hostname);
    let mut vip = None;
    let mut status_placement = None;
    for entry in ako_entries {
        if status_placement.is_none() {
            status_placement = entry
                .conditions
                .first()
                .and_then(|c| annotations::from_route_condition_reason(&c.reason));
        }
        vip = entry
            .conditions
            .iter()
            .find_map(|c| c.message.trim().parse().ok());
        if vip.is_some() {
            break;
        }
    }
    let Some(vip) = vip else {
        out.skip(
            Some(&hostname),
            "no AKO VIP in status.ingress for this host yet",
        );
        return out;
    };

    let placement = match status_placement {
        Some(p) => p,
        None => out.placement_or_note(meta, &hostname),
    };
    let termination = route
        .spec
        .tls
        .as_ref()
        .map(|t| t.termination.to_ascii_lowercase());
    let passthrough = termination.as_deref() == Some("passthrough");
    let paths = if passthrough {
        Vec::new()
    } else {
        vec![
            route
                .spec
                .path
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/".into()),
        ]
    };
    out.observations.push(Observation {
        paths,
        tls: termination.is_some() && !passthrough,
        passthrough,
        port: passthrough.then_some((443, Protocol::Tcp)),
        ..one_host_observation(ObjectKind::Route, cluster, meta, hostname, vip, placement)
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(value: serde_json::Value) -> Route {
        serde_json::from_value(value).expect("fixture is a valid Route")
    }

    fn realised(spec: serde_json::Value, host: &str) -> Route {
        route(json!({
            "apiVersion": "route.openshift.io/v1", "kind": "Route",
            "metadata": {"name": "r", "namespace": "ns", "labels": {"app": "gslb"},
                "annotations": {"ako.vmware.com/host-fqdn-vs-uuid-map": format!("{{\"{host}\":\"virtualservice-r\"}}"),
                                "ako.vmware.com/controller-cluster-uuid": "cluster-o"}},
            "spec": spec,
            "status": {"ingress": [
                {"host": host, "routerName": "default", "conditions": [{"type": "Admitted", "status": "True", "message": "10.9.9.9"}]},
                {"host": host, "routerName": "ako-ocp", "conditions": [{"type": "Admitted", "status": "True", "message": "10.3.0.7"}]}
            ]}
        }))
    }

    #[test]
    fn edge_route_with_ako_vip() {
        let r = realised(
            json!({"host": "r.example.com", "path": "/app", "tls": {"termination": "edge"}}),
            "r.example.com",
        );
        let out = ingest_route("ocp", &r, None);
        let o = &out.observations[0];
        assert_eq!(o.id.to_string(), "ROUTE/ocp/ns/r");
        assert_eq!(o.vip.to_string(), "10.3.0.7");
        assert_eq!(o.paths, vec!["/app"]);
        assert!(o.tls && !o.passthrough);
        assert_eq!(o.port, None);
        assert_eq!(o.vs_uuid.as_deref(), Some("virtualservice-r"));
    }

    #[test]
    fn passthrough_route_has_port_443_and_no_paths() {
        let r = realised(
            json!({"host": "p.example.com", "tls": {"termination": "passthrough"}}),
            "p.example.com",
        );
        let o = &ingest_route("ocp", &r, None).observations[0];
        assert!(o.passthrough && !o.tls);
        assert!(o.paths.is_empty());
        assert_eq!(o.port, Some((443, Protocol::Tcp)));
    }

    #[test]
    fn subdomain_uses_default_domain() {
        let r = realised(json!({"subdomain": "sub"}), "sub.apps.example.com");
        assert!(ingest_route("ocp", &r, None).observations.is_empty());
        let o = &ingest_route("ocp", &r, Some(".apps.example.com")).observations[0];
        assert_eq!(o.hostname, "sub.apps.example.com");
        let o = &ingest_route("ocp", &r, Some("apps.example.com")).observations[0];
        assert_eq!(o.hostname, "sub.apps.example.com");
    }

    #[test]
    fn status_reason_json_wins_over_annotations() {
        let mut r = realised(json!({"host": "r.example.com"}), "r.example.com");
        let reason = json!({"ako.vmware.com/host-fqdn-vs-uuid-map": "{\"r.example.com\":\"virtualservice-s\"}",
                            "ako.vmware.com/controller-cluster-uuid": "cluster-s"})
        .to_string();
        r.status.as_mut().expect("status").ingress[1].conditions[0].reason = reason;
        let o = &ingest_route("ocp", &r, None).observations[0];
        assert_eq!(o.vs_uuid.as_deref(), Some("virtualservice-s"));
        assert_eq!(o.controller_uuid.as_deref(), Some("cluster-s"));
    }

    #[test]
    fn route_without_ako_vip_is_skipped_with_reason() {
        let r = route(json!({"metadata": {"name": "r"}, "spec": {"host": "h.example.com"}}));
        let out = ingest_route("ocp", &r, None);
        assert!(out.observations.is_empty());
        assert!(out.skipped[0].reason.contains("no AKO VIP"));
    }
}
