//! Service of type LoadBalancer -> observation, as AMKO reads one: host name and VIP from the
//! first status entry, and the lowest port for TCP/UDP health monitoring.

use k8s_openapi::api::core::v1::Service;

use super::outcome::{Ingested, one_host_observation, parse_ip};
use super::types::{ObjectKind, Observation, Protocol};

/// Only LoadBalancer Services can be members. Any other Service is not tracked at all (not even
/// as skipped: most Services of a cluster are not LoadBalancers), and one that stops being a
/// LoadBalancer is as good as deleted.
pub fn is_load_balancer(service: &Service) -> bool {
    service.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
}

/// The observation for `service`, if it is a realised LoadBalancer Service.
pub fn ingest_service(cluster: &str, service: &Service) -> Ingested {
    let meta = &service.metadata;
    let Some(spec) = service.spec.as_ref() else {
        return Ingested::only_skipped(None, "service has no spec");
    };
    if !is_load_balancer(service) {
        return Ingested::only_skipped(None, "service is not of type LoadBalancer");
    }
    let Some(entry) = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .and_then(|i| i.first())
    else {
        return Ingested::only_skipped(None, "no VIP in status.loadBalancer.ingress yet");
    };
    let Some(hostname) = entry.hostname.clone().filter(|h| !h.is_empty()) else {
        return Ingested::only_skipped(None, "status.loadBalancer.ingress[0] has no hostname");
    };
    let vip = match entry.ip.as_deref().filter(|ip| !ip.is_empty()) {
        None => {
            return Ingested::only_skipped(
                Some(&hostname),
                "status.loadBalancer.ingress[0] has no ip",
            );
        }
        Some(raw) => match parse_ip(raw, "status.loadBalancer.ingress[0].ip") {
            Ok(ip) => ip,
            Err(reason) => return Ingested::only_skipped(Some(&hostname), reason),
        },
    };
    let Some(port) = lowest_port(spec) else {
        return Ingested::only_skipped(Some(&hostname), "service has no ports");
    };
    let mut out = Ingested::default();
    let placement = out.placement_or_note(meta, &hostname);
    out.observations.push(Observation {
        port: Some(port),
        ..one_host_observation(
            ObjectKind::LbService,
            cluster,
            meta,
            hostname,
            vip,
            placement,
        )
    });
    out
}

/// The lowest service port; UDP stays UDP, anything else (TCP, SCTP) is monitored over TCP.
fn lowest_port(spec: &k8s_openapi::api::core::v1::ServiceSpec) -> Option<(u16, Protocol)> {
    spec.ports
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            let port = u16::try_from(p.port).ok()?;
            let protocol = match p.protocol.as_deref() {
                Some("UDP") => Protocol::Udp,
                _ => Protocol::Tcp,
            };
            Some((port, protocol))
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(value: serde_json::Value) -> Service {
        serde_json::from_value(value).expect("fixture is a valid Service")
    }

    fn lb(ports: serde_json::Value, status: serde_json::Value) -> Service {
        service(json!({
            "metadata": {"name": "dns", "namespace": "infra",
                "annotations": {"ako.vmware.com/host-fqdn-vs-uuid-map": "{\"dns.example.com\":\"virtualservice-d\"}",
                                "ako.vmware.com/controller-cluster-uuid": "cluster-w"}},
            "spec": {"type": "LoadBalancer", "ports": ports},
            "status": status
        }))
    }

    #[test]
    fn lowest_port_and_protocol() {
        let s = lb(
            json!([{"port": 8053, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]),
            json!({"loadBalancer": {"ingress": [{"ip": "10.5.0.2", "hostname": "dns.example.com"}]}}),
        );
        let o = &ingest_service("west", &s).observations[0];
        assert_eq!(o.id.to_string(), "LBSVC/west/infra/dns");
        assert_eq!(o.port, Some((53, Protocol::Udp)));
        assert_eq!(o.vs_uuid.as_deref(), Some("virtualservice-d"));
        assert!(o.paths.is_empty());
    }

    #[test]
    fn only_load_balancers_are_tracked() {
        let cases = [
            (json!({"spec": {"type": "LoadBalancer"}}), true),
            (json!({"spec": {"type": "ClusterIP"}}), false),
            (json!({"spec": {"type": "NodePort"}}), false),
            (json!({"spec": {}}), false),
            (json!({}), false),
        ];
        for (value, tracked) in cases {
            assert_eq!(
                is_load_balancer(&service(value.clone())),
                tracked,
                "{value}"
            );
        }
    }

    #[test]
    fn sctp_is_monitored_over_tcp() {
        let s = lb(
            json!([{"port": 9000, "protocol": "SCTP"}]),
            json!({"loadBalancer": {"ingress": [{"ip": "10.5.0.2", "hostname": "dns.example.com"}]}}),
        );
        assert_eq!(
            ingest_service("w", &s).observations[0].port,
            Some((9000, Protocol::Tcp))
        );
    }

    #[test]
    fn unrealised_or_wrong_type_is_skipped() {
        let cases = [
            (lb(json!([{"port": 80}]), json!({})), "no VIP"),
            (
                lb(
                    json!([{"port": 80}]),
                    json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}),
                ),
                "no hostname",
            ),
            (
                lb(
                    json!([{"port": 80}]),
                    json!({"loadBalancer": {"ingress": [{"ip": "x", "hostname": "h"}]}}),
                ),
                "not an IP",
            ),
            (
                lb(
                    json!([]),
                    json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.1", "hostname": "h"}]}}),
                ),
                "no ports",
            ),
            (
                service(json!({"metadata": {"name": "c"}, "spec": {"type": "ClusterIP"}})),
                "not of type LoadBalancer",
            ),
        ];
        for (svc, expected) in cases {
            let out = ingest_service("w", &svc);
            assert!(out.observations.is_empty());
            assert!(
                out.skipped[0].reason.contains(expected),
                "{:?} vs {expected}",
                out.skipped
            );
        }
    }
}
