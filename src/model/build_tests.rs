//! Table-style tests for model building: one scenario per rule of how AMKO turns members, the GDP
//! and GSLBHostRules into a GslbService and its health monitors.

use serde_json::{Value, json};

use super::build::{GsInputs, build_gslb_service, uses_fallback_pki};
use crate::ingest::{Labels, ObjectKind, Observation, ObservationId, Protocol};
use crate::vocab::*;
use std::sync::Arc;

fn key() -> GsKey {
    GsKey {
        tenant: "admin".into(),
        fqdn: "shop.example.com".into(),
    }
}

fn member(kind: ObjectKind, cluster: &str, vip: &str) -> Member {
    let observation = Observation {
        id: ObservationId {
            kind,
            cluster: cluster.into(),
            namespace: "shop".into(),
            name: "web".into(),
            host: if kind == ObjectKind::Ingress {
                "shop.example.com".into()
            } else {
                String::new()
            },
        },
        hostname: "shop.example.com".into(),
        vip: vip.parse().expect("fixture ip"),
        labels: Labels::default(),
        paths: if kind == ObjectKind::LbService {
            vec![]
        } else {
            vec!["/".into()]
        },
        tls: false,
        passthrough: false,
        port: if kind == ObjectKind::LbService {
            Some((80, Protocol::Tcp))
        } else {
            None
        },
        vs_uuid: Some(format!("virtualservice-{cluster}")),
        controller_uuid: Some(format!("cluster-{cluster}")),
        tenant: None,
    };
    Member {
        key: Arc::new(key()),
        observation: Arc::new(observation),
        sync_vip_only: false,
        tls: false,
    }
}

/// The observation behind `member`, to change in a test.
fn observed(member: &mut Member) -> &mut Observation {
    Arc::make_mut(&mut member.observation)
}

fn settings() -> InstanceSettings {
    InstanceSettings {
        created_by: "amko-9b1f3c2e-1d2a-11ef-9c44-0a580a800001".into(),
        default_tenant: "admin".into(),
        use_custom_global_fqdn: false,
        member_clusters: Default::default(),
    }
}

fn overrides() -> HostRuleOverrides {
    HostRuleOverrides {
        source: "avi-system/ghr".into(),
        fqdn: key().fqdn,
        tenant: "admin".into(),
        ..Default::default()
    }
}

fn build(
    members: &[Member],
    policy: &Policy,
    ghr: Option<&HostRuleOverrides>,
) -> (Value, Vec<Value>) {
    let k = key();
    let s = settings();
    let input = GsInputs {
        domain_names: vec![k.fqdn.clone()],
        key: k,
        members: members.to_vec(),
        policy: Arc::new(policy.clone()),
        overrides: ghr.cloned().map(Arc::new),
    };
    let desired = build_gslb_service(&input, &s, Some("fed-pki")).expect("members present");
    let hms = desired
        .health_monitors
        .iter()
        .map(|h| serde_json::to_value(h).expect("json"))
        .collect();
    (
        serde_json::to_value(&desired.gslb_service).expect("json"),
        hms,
    )
}

fn hm_ref(name: &str) -> Value {
    json!(format!("/api/healthmonitor?name={name}"))
}

#[test]
fn ingress_in_two_clusters_gives_one_gs_with_two_members() {
    let members = [
        member(ObjectKind::Ingress, "west", "10.2.2.10"),
        member(ObjectKind::Ingress, "east", "10.1.1.10"),
    ];
    let mut policy = Policy::default();
    policy.properties.ttl = Some(30);
    let (gs, hms) = build(&members, &policy, None);
    let hm_name = crate::model::health::managed_hm_name("http--shop.example.com--/");
    assert_eq!(
        gs,
        json!({
            "name": "shop.example.com",
            "tenant_ref": "/api/tenant?name=admin",
            "created_by": "amko-9b1f3c2e-1d2a-11ef-9c44-0a580a800001",
            "description": "INGRESS/east/shop/web/shop.example.com,INGRESS/west/shop/web/shop.example.com",
            "domain_names": ["shop.example.com"],
            "enabled": true, "is_federated": true, "controller_health_status_enabled": true,
            "health_monitor_scope": "GSLB_SERVICE_HEALTH_MONITOR_ALL_MEMBERS", "min_members": 0,
            "pool_algorithm": "GSLB_SERVICE_ALGORITHM_PRIORITY", "resolve_cname": false,
            "use_edns_client_subnet": true, "wildcard_match": false, "ttl": 30,
            "site_persistence_enabled": false,
            "health_monitor_refs": [format!("/api/healthmonitor?name={hm_name}")],
            "groups": [{
                "name": "amko-gs-group-10", "priority": 10, "enabled": true,
                "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN", "min_health_monitors_up": 2,
                "members": [
                    {"enabled": true, "ratio": 1, "ip": {"addr": "10.1.1.10", "type": "V4"},
                     "cluster_uuid": "cluster-east", "vs_uuid": "virtualservice-east"},
                    {"enabled": true, "ratio": 1, "ip": {"addr": "10.2.2.10", "type": "V4"},
                     "cluster_uuid": "cluster-west", "vs_uuid": "virtualservice-west"}
                ]
            }]
        })
    );
    assert_eq!(hms.len(), 1);
    assert_eq!(hms[0]["name"], json!(hm_name));
    assert_eq!(hms[0]["type"], "HEALTH_MONITOR_HTTP");
    assert_eq!(hms[0]["monitor_port"], 80);
    assert_eq!(hms[0]["http_monitor"]["http_request"], "HEAD / HTTP/1.0");
    assert_eq!(
        hms[0]["description"],
        "created by: amko, gsname: shop.example.com, path: /, protocol: http"
    );
    assert_eq!(
        hms[0]["markers"],
        json!([{"key": "created-by", "values": ["amko-9b1f3c2e-1d2a-11ef-9c44-0a580a800001"]}])
    );
}

#[test]
fn traffic_split_from_gdp_and_ghr_makes_pools_per_priority() {
    let members = [
        member(ObjectKind::Ingress, "east", "10.1.1.10"),
        member(ObjectKind::Ingress, "west", "10.2.2.10"),
        member(ObjectKind::Ingress, "north", "10.3.3.10"),
    ];
    let mut policy = Policy::default();
    policy.traffic_split.insert(
        "east".into(),
        Split {
            weight: 15,
            priority: 20,
        },
    );
    policy.traffic_split.insert(
        "west".into(),
        Split {
            weight: 5,
            priority: 10,
        },
    );
    let (gs, _) = build(&members, &policy, None);
    let pools: Vec<(u64, Vec<u64>)> = gs["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["priority"].as_u64().expect("priority"),
                g["members"]
                    .as_array()
                    .expect("members")
                    .iter()
                    .map(|m| m["ratio"].as_u64().expect("ratio"))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(pools, vec![(20, vec![15]), (10, vec![5, 1])]);
    assert_eq!(gs["groups"][0]["name"], "amko-gs-group-20");

    let mut ghr = overrides();
    ghr.traffic_split.insert(
        "west".into(),
        Split {
            weight: 7,
            priority: 30,
        },
    );
    let (gs, _) = build(&members, &policy, Some(&ghr));
    assert_eq!(gs["groups"][0]["priority"], 30);
    assert_eq!(gs["groups"][0]["members"][0]["ratio"], 7);
}

#[test]
fn sync_vip_only_ipv6_and_duplicate_ips() {
    let mut v6 = member(ObjectKind::Ingress, "east", "fd00::10");
    v6.sync_vip_only = true;
    let dup = member(ObjectKind::Ingress, "west", "fd00::10");
    let (gs, _) = build(&[dup, v6], &Policy::default(), None);
    let members = gs["groups"][0]["members"].as_array().expect("members");
    assert_eq!(members.len(), 1, "members are de-duplicated by IP");
    assert_eq!(
        members[0],
        json!({"enabled": true, "ratio": 1, "ip": {"addr": "fd00::10", "type": "V6"}})
    );
    assert_eq!(
        gs["description"],
        "INGRESS/east/shop/web/shop.example.com,INGRESS/west/shop/web/shop.example.com",
        "every member identity is listed even when its IP is shared"
    );
}

#[test]
fn health_monitor_refs_and_control_plane_only() {
    let members = [
        member(ObjectKind::Ingress, "east", "10.1.1.10"),
        member(ObjectKind::Ingress, "west", "10.2.2.10"),
    ];
    let mut policy = Policy::default();
    policy.traffic_split.insert(
        "west".into(),
        Split {
            weight: 1,
            priority: 5,
        },
    );
    policy.properties.health_monitoring =
        Some(HealthMonitoring::Refs(vec!["fed-a".into(), "fed-b".into()]));
    let (gs, hms) = build(&members, &policy, None);
    assert!(hms.is_empty());
    assert_eq!(
        gs["health_monitor_refs"],
        json!([hm_ref("fed-a"), hm_ref("fed-b")])
    );
    for group in gs["groups"].as_array().expect("groups") {
        assert_eq!(group["min_health_monitors_up"], 3, "refs + 1 on every pool");
    }
    let mut ghr = overrides();
    ghr.properties.control_plane_hm_only = Some(true);
    let (gs, hms) = build(&members, &policy, Some(&ghr));
    assert!(hms.is_empty());
    assert!(gs.get("health_monitor_refs").is_none());
    assert_eq!(gs["groups"][0]["min_health_monitors_up"], 1);
}

#[test]
fn template_tls_paths_and_https_monitors() {
    let mut a = member(ObjectKind::Ingress, "east", "10.1.1.10");
    observed(&mut a).paths = vec!["/a".into(), "/b".into()];
    a.tls = true;
    let mut b = member(ObjectKind::Route, "west", "10.2.2.10");
    observed(&mut b).paths = vec!["/b".into()];
    let mut policy = Policy::default();
    policy.properties.health_monitoring = Some(HealthMonitoring::Template(HmTemplate {
        name: "fed-template".into(),
        method: "GET".into(),
        http_version: "HTTP/1.1".into(),
        response_codes: vec!["HTTP_2XX".into()],
    }));
    let (gs, hms) = build(&[a, b], &policy, None);
    assert_eq!(hms.len(), 2, "one monitor per distinct path");
    let requests: Vec<&str> = hms
        .iter()
        .map(|h| h["https_monitor"]["http_request"].as_str().expect("req"))
        .collect();
    let mut sorted = requests.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["GET /a HTTP/1.1", "GET /b HTTP/1.1"]);
    assert!(
        hms.iter()
            .all(|h| h["type"] == "HEALTH_MONITOR_HTTPS" && h["monitor_port"] == 443)
    );
    assert!(hms.iter().all(|h| {
        h["description"]
            .as_str()
            .expect("d")
            .ends_with(", created from: fed-template")
    }));
    assert_eq!(gs["health_monitor_refs"].as_array().expect("refs").len(), 2);
}

#[test]
fn path_monitors_stop_at_the_controllers_limit() {
    let mut a = member(ObjectKind::Ingress, "east", "10.1.1.10");
    observed(&mut a).paths = ["/g", "/a", "/f", "/b", "/e", "/c", "/d"]
        .map(String::from)
        .to_vec();
    let (gs, hms) = build(&[a], &Policy::default(), None);
    let mut requests: Vec<&str> = hms
        .iter()
        .map(|h| h["http_monitor"]["http_request"].as_str().expect("req"))
        .collect();
    requests.sort();
    assert_eq!(
        requests,
        ["/a", "/b", "/c", "/d", "/e", "/f"].map(|p| format!("HEAD {p} HTTP/1.0"))
    );
    assert_eq!(gs["health_monitor_refs"].as_array().expect("refs").len(), 6);
}

#[test]
fn services_and_passthrough_get_transport_monitors() {
    let mut udp = member(ObjectKind::LbService, "east", "10.1.1.10");
    observed(&mut udp).port = Some((53, Protocol::Udp));
    let tcp = member(ObjectKind::LbService, "west", "10.2.2.10");
    let (_, hms) = build(&[udp, tcp], &Policy::default(), None);
    assert_eq!(hms.len(), 1);
    assert_eq!(
        hms[0]["name"],
        json!(crate::model::health::managed_hm_name("shop.example.com"))
    );
    assert_eq!(
        (hms[0]["type"].as_str(), hms[0]["monitor_port"].as_u64()),
        (Some("HEALTH_MONITOR_UDP"), Some(53))
    );

    let mut pt = member(ObjectKind::Route, "east", "10.1.1.10");
    observed(&mut pt).passthrough = true;
    observed(&mut pt).paths = vec![];
    observed(&mut pt).port = Some((443, Protocol::Tcp));
    let (_, hms) = build(&[pt], &Policy::default(), None);
    assert_eq!(
        hms[0]["name"],
        "amko--passthrough-hm-tcp-9b1f3c2e-1d2a-11ef-9c44-0a580a800001"
    );
    assert_eq!(hms[0]["description"], "created by: amko");
    assert_eq!(hms[0]["tcp_monitor"], json!({"tcp_half_open": false}));

    // A mixed GS is monitored as a Service, on the Service's port (not the Ingress's "0").
    let mut svc = member(ObjectKind::LbService, "east", "10.1.1.10");
    observed(&mut svc).port = Some((8443, Protocol::Tcp));
    let ing = member(ObjectKind::Ingress, "west", "10.2.2.10");
    let (_, hms) = build(&[svc, ing], &Policy::default(), None);
    assert_eq!(hms[0]["monitor_port"], 8443);
}

#[test]
fn site_persistence_only_with_tls_and_pki_resolution() {
    let mut tls = member(ObjectKind::Ingress, "east", "10.1.1.10");
    tls.tls = true;
    let plain = member(ObjectKind::Ingress, "west", "10.2.2.10");
    let mut policy = Policy::default();
    policy.properties.site_persistence = Some(Some(SitePersistence {
        profile_ref: "fed-cookie".into(),
        pki_profile_ref: None,
    }));
    let (gs, _) = build(std::slice::from_ref(&plain), &policy, None);
    assert_eq!(gs["site_persistence_enabled"], false);
    assert!(gs.get("application_persistence_profile_ref").is_none());

    let (gs, _) = build(&[plain.clone(), tls.clone()], &policy, None);
    assert_eq!(gs["site_persistence_enabled"], true);
    assert_eq!(
        gs["application_persistence_profile_ref"],
        "/api/applicationpersistenceprofile?name=fed-cookie"
    );
    assert_eq!(
        gs["pki_profile_ref"], "/api/pkiprofile?name=fed-pki",
        "falls back to a federated PKI profile"
    );

    policy.properties.pki_profile_ref = Some("gdp-pki".into());
    let (gs, _) = build(&[tls.clone()], &policy, None);
    assert_eq!(gs["pki_profile_ref"], "/api/pkiprofile?name=gdp-pki");

    let mut ghr = overrides();
    ghr.properties.site_persistence = Some(None);
    let (gs, _) = build(&[tls.clone()], &policy, Some(&ghr));
    assert_eq!(gs["site_persistence_enabled"], false);
    assert!(
        gs.get("pki_profile_ref").is_none(),
        "explicitly disabled persistence drops the PKI profile"
    );

    // A GSLBHostRule profile without its own PKI profile inherits the GDP's, wherever the GDP keeps it.
    let mut gdp_inner = Policy::default();
    gdp_inner.properties.site_persistence = Some(Some(SitePersistence {
        profile_ref: "fed-cookie".into(),
        pki_profile_ref: Some("inner-pki".into()),
    }));
    ghr.properties.site_persistence = Some(Some(SitePersistence {
        profile_ref: "ghr-cookie".into(),
        pki_profile_ref: None,
    }));
    let (gs, _) = build(std::slice::from_ref(&tls), &gdp_inner, Some(&ghr));
    assert_eq!(gs["pki_profile_ref"], "/api/pkiprofile?name=inner-pki");

    ghr.properties.site_persistence = Some(Some(SitePersistence {
        profile_ref: "ghr-cookie".into(),
        pki_profile_ref: Some("ghr-pki".into()),
    }));
    let (gs, _) = build(&[tls], &policy, Some(&ghr));
    assert_eq!(
        gs["application_persistence_profile_ref"],
        "/api/applicationpersistenceprofile?name=ghr-cookie"
    );
    assert_eq!(gs["pki_profile_ref"], "/api/pkiprofile?name=ghr-pki");
}

/// Where the PKI profile comes from: the configured one (GDP or GSLBHostRule), else the fallback
/// (the controller's first federated PKI profile), and only with site persistence and a TLS member.
#[test]
fn pki_profile_configured_fallback_or_none() {
    #[derive(Clone, Copy, Debug)]
    enum Persistence {
        Off,
        On,
        OnWithPki,
        OffByRule,
    }
    use Persistence::*;
    let cases = [
        // (TLS member, persistence, GDP pkiProfileRef, fallback, pki_profile_ref, uses fallback)
        (false, Off, None, Some("fed-pki"), None, false),
        (false, On, None, Some("fed-pki"), None, false),
        (false, On, Some("gdp-pki"), Some("fed-pki"), None, false),
        (true, Off, None, Some("fed-pki"), None, false),
        (true, Off, None, None, None, false),
        // Without persistence the GDP's PKI profile is still written, as AMKO does.
        (
            true,
            Off,
            Some("gdp-pki"),
            Some("fed-pki"),
            Some("gdp-pki"),
            false,
        ),
        (true, On, None, Some("fed-pki"), Some("fed-pki"), true),
        (true, On, None, None, None, true),
        (
            true,
            On,
            Some("gdp-pki"),
            Some("fed-pki"),
            Some("gdp-pki"),
            false,
        ),
        (true, On, Some("gdp-pki"), None, Some("gdp-pki"), false),
        (
            true,
            OnWithPki,
            None,
            Some("fed-pki"),
            Some("inner-pki"),
            false,
        ),
        (
            true,
            OnWithPki,
            Some("gdp-pki"),
            None,
            Some("inner-pki"),
            false,
        ),
        (
            true,
            OffByRule,
            Some("gdp-pki"),
            Some("fed-pki"),
            None,
            false,
        ),
        (true, OffByRule, None, Some("fed-pki"), None, false),
    ];
    for (tls, persistence, gdp_pki, fallback, expected, uses_fallback) in cases {
        let mut m = member(ObjectKind::Ingress, "east", "10.1.1.10");
        m.tls = tls;
        let mut policy = Policy::default();
        policy.properties.pki_profile_ref = gdp_pki.map(str::to_owned);
        let profile = |pki: Option<&str>| {
            Some(Some(SitePersistence {
                profile_ref: "fed-cookie".into(),
                pki_profile_ref: pki.map(str::to_owned),
            }))
        };
        policy.properties.site_persistence = match persistence {
            Off => None,
            On | OffByRule => profile(None),
            OnWithPki => profile(Some("inner-pki")),
        };
        let ghr = matches!(persistence, OffByRule).then(|| {
            let mut ghr = overrides();
            ghr.properties.site_persistence = Some(None);
            Arc::new(ghr)
        });
        let input = GsInputs {
            key: key(),
            domain_names: vec![key().fqdn],
            members: vec![m],
            policy: Arc::new(policy.clone()),
            overrides: ghr.clone(),
        };
        let case = format!("tls={tls} {persistence:?} gdp={gdp_pki:?} fallback={fallback:?}");
        let desired = build_gslb_service(&input, &settings(), fallback).expect("members present");
        assert_eq!(
            desired.gslb_service.pki_profile_ref,
            expected.map(|p| format!("/api/pkiprofile?name={p}")),
            "{case}"
        );
        assert_eq!(
            desired.gslb_service.site_persistence_enabled,
            tls && matches!(persistence, On | OnWithPki),
            "{case}"
        );
        assert_eq!(
            uses_fallback_pki(&key(), &policy, ghr.as_deref(), tls),
            uses_fallback,
            "{case}"
        );
    }
}

#[test]
fn third_party_members_public_ips_ttl_down_response_algorithm() {
    let members = [member(ObjectKind::Ingress, "east", "10.1.1.10")];
    let mut policy = Policy::default();
    policy.properties.ttl = Some(30);
    policy.properties.pool_algorithm = Some(PoolAlgorithm::Geo {
        fallback: GeoFallback::ConsistentHash { hash_mask: 24 },
    });
    policy.properties.down_response = Some(DownResponse::AllRecords);
    let mut ghr = overrides();
    ghr.properties.ttl = Some(15);
    ghr.properties.down_response = Some(DownResponse::FallbackIp(
        "198.51.100.7".parse().expect("ip"),
    ));
    ghr.public_ips
        .insert("east".into(), "2001:db8::30".parse().expect("ip"));
    ghr.third_party_members.insert(ThirdPartyMember {
        site: "legacy-dc".into(),
        vip: "203.0.113.20".parse().expect("ip"),
        public_ip: Some("198.51.100.20".parse().expect("ip")),
    });
    ghr.traffic_split.insert(
        "legacy-dc".into(),
        Split {
            weight: 2,
            priority: 5,
        },
    );
    let (gs, _) = build(&members, &policy, Some(&ghr));
    assert_eq!(gs["ttl"], 15);
    assert_eq!(
        gs["down_response"],
        json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP", "fallback_ip": {"addr": "198.51.100.7", "type": "V4"}})
    );
    assert_eq!(gs["groups"][0]["algorithm"], "GSLB_ALGORITHM_GEO");
    assert_eq!(
        gs["groups"][0]["fallback_algorithm"],
        "GSLB_ALGORITHM_CONSISTENT_HASH"
    );
    assert_eq!(gs["groups"][0]["consistent_hash_mask"], 24);
    assert_eq!(
        gs["groups"][0]["members"][0]["public_ip"],
        json!({"ip": {"addr": "2001:db8::30", "type": "V6"}})
    );
    assert_eq!(
        gs["groups"][1]["members"][0],
        json!({"enabled": true, "ratio": 2, "ip": {"addr": "203.0.113.20", "type": "V4"},
               "public_ip": {"ip": {"addr": "198.51.100.20", "type": "V4"}}})
    );
    assert_eq!(gs["groups"][1]["priority"], 5);
    assert_eq!(
        gs["description"], "INGRESS/east/shop/web/shop.example.com",
        "third-party members are not listed"
    );
}

#[test]
fn overrides_for_another_tenant_do_not_apply_and_empty_means_delete() {
    let members = [member(ObjectKind::Ingress, "east", "10.1.1.10")];
    let mut ghr = overrides();
    ghr.tenant = "other".into();
    ghr.properties.ttl = Some(99);
    let (gs, _) = build(&members, &Policy::default(), Some(&ghr));
    assert!(gs.get("ttl").is_none());

    let k = key();
    let s = settings();
    let policy = Policy::default();
    let input = GsInputs {
        key: k,
        domain_names: vec![],
        members: vec![],
        policy: Arc::new(policy),
        overrides: None,
    };
    assert!(build_gslb_service(&input, &s, None).is_none());
}
