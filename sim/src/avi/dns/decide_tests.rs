//! Table tests of the answer decision: one GslbService body per case, questions in, records out.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

const CLIENT: &str = "192.0.2.10";

fn catalog(services: &[Value]) -> Catalog {
    catalog_with_gslb(
        services,
        json!({"dns_configs": [{"domain_name": "example.com"}]}),
    )
}

fn catalog_with_gslb(services: &[Value], gslb: Value) -> Catalog {
    let bodies: Vec<(String, serde_json::Map<String, Value>)> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("gslbservice-{i}"), s.as_object().cloned().unwrap()))
        .collect();
    let gslb = gslb.as_object().cloned().unwrap();
    Catalog::build(bodies.iter().map(|(u, b)| (u.as_str(), b)), Some(&gslb))
}

fn member(ip: &str, ratio: u32) -> Value {
    let kind = if ip.contains(':') { "V6" } else { "V4" };
    json!({"ip": {"addr": ip, "type": kind}, "ratio": ratio, "enabled": true})
}

fn pool(name: &str, priority: u32, members: Vec<Value>) -> Value {
    json!({"name": name, "priority": priority, "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN", "members": members})
}

fn service(pools: Vec<Value>) -> Value {
    json!({"name": "shop", "domain_names": ["shop.example.com"], "groups": pools})
}

fn question(name: &str, qtype: QueryType) -> Question {
    Question {
        name: name.into(),
        qtype,
        source: CLIENT.parse().unwrap(),
        client_subnet: None,
    }
}

struct Dns {
    catalog: Catalog,
    health: HealthBook,
    geo: GeoDb,
    rotation: Rotation,
}

impl Dns {
    fn new(services: &[Value]) -> Dns {
        Dns::from_catalog(catalog(services))
    }

    fn from_catalog(catalog: Catalog) -> Dns {
        Dns {
            catalog,
            health: HealthBook::default(),
            geo: GeoDb::default(),
            rotation: Rotation::default(),
        }
    }

    fn ask(&mut self, q: &Question) -> Decision {
        decide(
            &self.catalog,
            &self.health,
            &self.geo,
            &mut self.rotation,
            q,
        )
    }

    fn a(&mut self) -> Decision {
        self.ask(&question("shop.example.com", QueryType::A))
    }

    /// The addresses of an answer, as text.
    fn a_records(&mut self) -> Vec<String> {
        records(&self.a())
    }

    /// How often each first record came back over `n` A queries.
    fn tally(&mut self, n: usize) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for _ in 0..n {
            let first = self.a_records().into_iter().next().unwrap_or_default();
            *counts.entry(first).or_insert(0) += 1;
        }
        counts
    }
}

fn records(decision: &Decision) -> Vec<String> {
    match decision {
        Decision::Answer { records, .. } => records
            .iter()
            .map(|r| match r {
                Rdata::Addr(ip) => ip.to_string(),
                Rdata::Cname(name) => format!("CNAME {name}"),
            })
            .collect(),
        other => panic!("expected an answer, got {other:?}"),
    }
}

fn ttl(decision: &Decision) -> u32 {
    match decision {
        Decision::Answer { ttl, .. } => *ttl,
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn weighted_round_robin_follows_the_ratios_exactly() {
    let mut dns = Dns::new(&[service(vec![pool(
        "p",
        10,
        vec![member("10.0.0.1", 1), member("10.0.0.2", 3)],
    )])]);
    let counts = dns.tally(4000);
    assert_eq!(counts["10.0.0.1"], 1000);
    assert_eq!(counts["10.0.0.2"], 3000);
    // Smooth: the light member never comes twice in a row, the heavy one never four times.
    let sequence: Vec<String> = (0..8).map(|_| dns.a_records().remove(0)).collect();
    assert_eq!(sequence.iter().filter(|ip| *ip == "10.0.0.1").count(), 2);
    assert!(
        !sequence
            .windows(2)
            .any(|w| w[0] == "10.0.0.1" && w[1] == "10.0.0.1")
    );
}

#[test]
fn ratios_one_two_three_give_sixths() {
    let mut dns = Dns::new(&[service(vec![pool(
        "p",
        10,
        vec![
            member("10.0.0.1", 1),
            member("10.0.0.2", 2),
            member("10.0.0.3", 3),
        ],
    )])]);
    let counts = dns.tally(600);
    assert_eq!(
        (counts["10.0.0.1"], counts["10.0.0.2"], counts["10.0.0.3"]),
        (100, 200, 300)
    );
}

#[test]
fn rotation_reset_starts_over() {
    let mut dns = Dns::new(&[service(vec![pool(
        "p",
        10,
        vec![member("10.0.0.1", 1), member("10.0.0.2", 1)],
    )])]);
    let first = dns.a_records();
    assert_ne!(dns.a_records(), first);
    dns.rotation.reset();
    assert_eq!(dns.a_records(), first);
}

#[test]
fn priority_failover_and_return() {
    let mut dns = Dns::new(&[service(vec![
        pool("high", 20, vec![member("10.0.0.1", 1)]),
        pool("low", 10, vec![member("10.0.0.2", 1)]),
    ])]);
    assert_eq!(dns.a_records(), ["10.0.0.1"]);
    dns.health.set_member("10.0.0.1", false);
    assert_eq!(dns.a_records(), ["10.0.0.2"]);
    dns.health.set_member("10.0.0.1", true);
    assert_eq!(dns.a_records(), ["10.0.0.1"]);
}

#[test]
fn pools_sharing_the_top_priority_rotate() {
    let mut dns = Dns::new(&[service(vec![
        pool("a", 10, vec![member("10.0.0.1", 1)]),
        pool("b", 10, vec![member("10.0.0.2", 1)]),
        pool("c", 5, vec![member("10.0.0.3", 1)]),
    ])]);
    let counts = dns.tally(10);
    assert_eq!((counts["10.0.0.1"], counts["10.0.0.2"]), (5, 5));
    assert!(!counts.contains_key("10.0.0.3"));
}

#[test]
fn eligibility_flags_site_state_and_priority_zero() {
    let mut disabled_member = member("10.0.0.1", 1);
    disabled_member["enabled"] = json!(false);
    let mut disabled_pool = pool("off", 30, vec![member("10.0.0.5", 1)]);
    disabled_pool["enabled"] = json!(false);
    let mut site_member = member("10.0.0.2", 1);
    site_member["cluster_uuid"] = json!("cluster-west");
    let gslb = json!({"sites": [
        {"name": "west", "cluster_uuid": "cluster-west", "enabled": true},
        {"name": "gone", "cluster_uuid": "cluster-gone", "enabled": false}
    ]});
    let mut disabled_site_member = member("10.0.0.6", 1);
    disabled_site_member["cluster_uuid"] = json!("cluster-gone");
    let services = [service(vec![
        disabled_pool,
        pool("zero", 0, vec![member("10.0.0.9", 1)]),
        pool("gone", 25, vec![disabled_site_member]),
        pool("high", 20, vec![disabled_member, site_member]),
        pool("low", 10, vec![member("10.0.0.3", 1)]),
    ])];
    let mut dns = Dns::from_catalog(catalog_with_gslb(&services, gslb));
    assert_eq!(dns.tally(4).keys().collect::<Vec<_>>(), ["10.0.0.2"]);
    dns.health.set_site("cluster-west", false);
    assert_eq!(dns.a_records(), ["10.0.0.3"]);
    dns.health.set_member("10.0.0.3", false);
    assert_eq!(dns.a(), Decision::Drop, "priority 0 is never chosen");
}

#[test]
fn min_members_moves_traffic_to_the_next_pool() {
    let mut gs = service(vec![
        pool(
            "high",
            20,
            vec![member("10.0.0.1", 1), member("10.0.0.2", 1)],
        ),
        pool(
            "low",
            10,
            vec![member("10.0.0.3", 1), member("10.0.0.4", 1)],
        ),
    ]);
    gs["min_members"] = json!(2);
    let mut dns = Dns::new(&[gs]);
    assert!(
        dns.tally(4)
            .keys()
            .all(|ip| ip == "10.0.0.1" || ip == "10.0.0.2")
    );
    dns.health.set_member("10.0.0.1", false);
    assert!(
        dns.tally(4)
            .keys()
            .all(|ip| ip == "10.0.0.3" || ip == "10.0.0.4")
    );
    dns.health.set_member("10.0.0.3", false);
    assert_eq!(dns.a(), Decision::Drop, "no pool keeps two members");
}

#[test]
fn num_dns_ip_unset_zero_and_n() {
    let members = vec![
        member("10.0.0.1", 1),
        member("10.0.0.2", 2),
        member("10.0.0.3", 3),
    ];
    let with = |n: Option<u32>| {
        let mut gs = service(vec![pool("p", 10, members.clone())]);
        if let Some(n) = n {
            gs["num_dns_ip"] = json!(n);
        }
        Dns::new(&[gs]).a_records()
    };
    assert_eq!(with(None).len(), 1);
    let mut all = with(Some(0));
    all.sort();
    assert_eq!(all, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    let two = with(Some(2));
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);
    assert_eq!(
        two[0], "10.0.0.3",
        "the heaviest member comes first at the start"
    );
}

#[test]
fn ttl_from_the_service_else_the_profile_default() {
    let mut gs = service(vec![pool("p", 10, vec![member("10.0.0.1", 1)])]);
    assert_eq!(ttl(&Dns::new(std::slice::from_ref(&gs)).a()), 30);
    gs["ttl"] = json!(7);
    assert_eq!(ttl(&Dns::new(&[gs]).a()), 7);
}

#[test]
fn aaaa_answers_ipv6_members_and_nothing_for_ipv4_only() {
    let mut dns = Dns::new(&[service(vec![pool(
        "p",
        10,
        vec![member("10.0.0.1", 1), member("2001:db8::1", 1)],
    )])]);
    for _ in 0..4 {
        assert_eq!(
            records(&dns.ask(&question("shop.example.com", QueryType::Aaaa))),
            ["2001:db8::1"]
        );
        assert_eq!(dns.a_records(), ["10.0.0.1"]);
    }
    let mut v4_only = Dns::new(&[service(vec![pool("p", 10, vec![member("10.0.0.1", 1)])])]);
    assert_eq!(
        records(&v4_only.ask(&question("shop.example.com", QueryType::Aaaa))),
        Vec::<String>::new(),
        "an up service without IPv6 members answers NOERROR with no records"
    );
    assert_eq!(
        records(&v4_only.ask(&question("shop.example.com", QueryType::Other))),
        Vec::<String>::new()
    );
}

fn down(response: Value) -> Dns {
    let mut gs = service(vec![pool(
        "p",
        10,
        vec![member("10.0.0.1", 1), member("2001:db8::1", 1)],
    )]);
    gs["down_response"] = response;
    let mut dns = Dns::new(&[gs, service_b()]);
    dns.health.set_member("10.0.0.1", false);
    dns.health.set_member("2001:db8::1", false);
    dns
}

fn service_b() -> Value {
    json!({"name": "b", "domain_names": ["b.example.com"], "groups": [pool("p", 10, vec![member("10.9.9.9", 1)])]})
}

#[test]
fn down_responses() {
    let aaaa = question("shop.example.com", QueryType::Aaaa);
    let mut none = down(json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_NONE"}));
    assert_eq!(none.a(), Decision::Drop);
    assert_eq!(none.ask(&aaaa), Decision::Drop);
    assert_eq!(down(json!(null)).a(), Decision::Drop, "NONE is the default");

    let mut empty = down(json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_EMPTY"}));
    assert_eq!(empty.a_records(), Vec::<String>::new());

    let mut fallback = down(json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP",
        "fallback_ip": {"addr": "192.0.2.99", "type": "V4"},
        "fallback_ip6": {"addr": "2001:db8::99", "type": "V6"}}));
    assert_eq!(fallback.a_records(), ["192.0.2.99"]);
    assert_eq!(records(&fallback.ask(&aaaa)), ["2001:db8::99"]);

    let mut all = down(json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_ALL_RECORDS"}));
    assert_eq!(all.a_records(), ["10.0.0.1"]);
    assert_eq!(records(&all.ask(&aaaa)), ["2001:db8::1"]);

    let mut cname = down(
        json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_CNAME", "fallback_cname": "Sorry.Example.net"}),
    );
    assert_eq!(cname.a_records(), ["CNAME sorry.example.net"]);

    // Other services are not affected.
    assert_eq!(
        records(&none.ask(&question("b.example.com", QueryType::A))),
        ["10.9.9.9"]
    );
}

#[test]
fn disabled_unknown_and_foreign_names() {
    let mut gs = service(vec![pool("p", 10, vec![member("10.0.0.1", 1)])]);
    gs["enabled"] = json!(false);
    gs["ttl"] = json!(5);
    let mut dns = Dns::new(&[gs]);
    assert_eq!(
        dns.a(),
        Decision::Answer {
            ttl: 5,
            records: vec![],
            scope_prefix: 0
        }
    );
    assert_eq!(
        dns.ask(&question("nope.example.com", QueryType::A)),
        Decision::NxDomain
    );
    assert_eq!(
        dns.ask(&question("shop.example.org", QueryType::A)),
        Decision::Refused
    );
}

#[test]
fn fqdn_members_answer_with_a_cname() {
    let mut dns = Dns::new(&[service(vec![pool(
        "p",
        10,
        vec![json!({"fqdn": "lb.Other.net", "ratio": 1})],
    )])]);
    assert_eq!(dns.a_records(), ["CNAME lb.other.net"]);
    assert_eq!(
        records(&dns.ask(&question("shop.example.com", QueryType::Aaaa))),
        ["CNAME lb.other.net"]
    );
}

fn hash_service(use_ecs: bool) -> Value {
    let mut p = pool(
        "p",
        10,
        (1..=4).map(|i| member(&format!("10.0.0.{i}"), 1)).collect(),
    );
    p["algorithm"] = json!("GSLB_ALGORITHM_CONSISTENT_HASH");
    p["consistent_hash_mask"] = json!(24);
    let mut gs = service(vec![p]);
    gs["use_edns_client_subnet"] = json!(use_ecs);
    gs
}

fn from_subnet(subnet: &str, prefix: u8) -> Question {
    Question {
        client_subnet: Some((subnet.parse().unwrap(), prefix)),
        ..question("shop.example.com", QueryType::A)
    }
}

#[test]
fn consistent_hash_keeps_a_subnet_on_one_member() {
    let mut dns = Dns::new(&[hash_service(true)]);
    let mut seen = BTreeMap::new();
    for third in 0..200u32 {
        let subnet = format!("198.51.{third}.0");
        let first = records(&dns.ask(&from_subnet(&subnet, 24)));
        for host in [1, 77, 254] {
            let again = records(&dns.ask(&from_subnet(&format!("198.51.{third}.{host}"), 32)));
            assert_eq!(again, first, "same /24 lands on the same member");
        }
        *seen.entry(first[0].clone()).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 4, "keys spread over every member: {seen:?}");
    assert!(seen.values().all(|n| *n > 20), "{seen:?}");

    // Removing a member only moves the subnets it had.
    let before: Vec<Vec<String>> = (0..200u32)
        .map(|t| records(&dns.ask(&from_subnet(&format!("198.51.{t}.0"), 24))))
        .collect();
    dns.health.set_member("10.0.0.2", false);
    for (t, old) in before.iter().enumerate() {
        let now = records(&dns.ask(&from_subnet(&format!("198.51.{t}.0"), 24)));
        if old[0] != "10.0.0.2" {
            assert_eq!(&now, old);
        } else {
            assert_ne!(now[0], "10.0.0.2");
        }
    }
}

#[test]
fn consistent_hash_ignores_ecs_when_told_to_and_reports_the_scope() {
    let mut dns = Dns::new(&[hash_service(false)]);
    let answers: std::collections::BTreeSet<Vec<String>> = (0..50u32)
        .map(|t| records(&dns.ask(&from_subnet(&format!("203.0.{t}.0"), 24))))
        .collect();
    assert_eq!(
        answers.len(),
        1,
        "the packet source decides, not the ECS option"
    );

    let mut ecs = Dns::new(&[hash_service(true)]);
    match ecs.ask(&from_subnet("203.0.113.0", 24)) {
        Decision::Answer { scope_prefix, .. } => assert_eq!(scope_prefix, 24),
        other => panic!("{other:?}"),
    }
}

#[test]
fn preference_order_lowest_wins_ties_rotate() {
    let mut p = pool(
        "p",
        10,
        vec![
            member("10.0.0.1", 1),
            member("10.0.0.2", 1),
            member("10.0.0.3", 1),
        ],
    );
    p["algorithm"] = json!("GSLB_ALGORITHM_PREFERENCE_ORDER");
    p["members"][0]["preference_order"] = json!(5);
    p["members"][1]["preference_order"] = json!(2);
    p["members"][2]["preference_order"] = json!(2);
    let mut dns = Dns::new(&[service(vec![p])]);
    let counts = dns.tally(10);
    assert_eq!((counts["10.0.0.2"], counts["10.0.0.3"]), (5, 5));
    dns.health.set_member("10.0.0.2", false);
    dns.health.set_member("10.0.0.3", false);
    assert_eq!(dns.a_records(), ["10.0.0.1"]);
}

fn located(ip: &str, latitude: f64, longitude: f64) -> Value {
    let mut m = member(ip, 1);
    m["location"] = json!({"source": "GSLB_LOCATION_SRC_USER_CONFIGURED",
        "location": {"latitude": latitude, "longitude": longitude}});
    m
}

#[test]
fn geo_picks_the_closest_member_and_falls_back_without_locations() {
    let mut p = pool(
        "p",
        10,
        vec![
            located("10.0.0.1", 48.8, 2.3),
            located("10.0.0.2", 40.7, -74.0),
        ],
    );
    p["algorithm"] = json!("GSLB_ALGORITHM_GEO");
    let mut dns = Dns::new(&[service(vec![p])]);
    // No client location known: the fallback (round robin) alternates.
    assert_eq!(dns.tally(4).len(), 2);
    dns.geo.insert(
        "192.0.2.0".parse().unwrap(),
        24,
        GeoPoint {
            latitude: 51.5,
            longitude: -0.1,
        },
    );
    assert_eq!(dns.tally(4).keys().collect::<Vec<_>>(), ["10.0.0.1"]);
    let boston = GeoPoint {
        latitude: 42.4,
        longitude: -71.1,
    };
    dns.geo.insert("198.51.100.0".parse().unwrap(), 24, boston);
    assert_eq!(
        records(&dns.ask(&from_subnet("198.51.100.0", 24))),
        ["10.0.0.2"]
    );
}

#[test]
fn topology_without_policies_uses_the_fallback_algorithm() {
    let mut p = pool(
        "p",
        10,
        (1..=3).map(|i| member(&format!("10.0.0.{i}"), 1)).collect(),
    );
    p["algorithm"] = json!("GSLB_ALGORITHM_TOPOLOGY");
    p["fallback_algorithm"] = json!("GSLB_ALGORITHM_CONSISTENT_HASH");
    p["consistent_hash_mask"] = json!(24);
    let mut dns = Dns::new(&[service(vec![p])]);
    assert_eq!(
        dns.tally(9).len(),
        1,
        "consistent hash on one client: one member"
    );
}

#[test]
fn geo_service_algorithm_picks_the_closest_pool() {
    let mut gs = service(vec![
        pool("paris", 10, vec![located("10.0.0.1", 48.8, 2.3)]),
        pool("newyork", 20, vec![located("10.0.0.2", 40.7, -74.0)]),
    ]);
    gs["pool_algorithm"] = json!("GSLB_SERVICE_ALGORITHM_GEO");
    let mut dns = Dns::new(&[gs]);
    assert_eq!(dns.a_records(), ["10.0.0.2"], "unknown client: priority");
    dns.geo.insert(
        "192.0.2.0".parse().unwrap(),
        24,
        GeoPoint {
            latitude: 45.8,
            longitude: 4.8,
        },
    );
    assert_eq!(dns.a_records(), ["10.0.0.1"]);
}

#[test]
fn manual_resume_keeps_a_recovered_member_out_until_resumed() {
    let mut high = pool("high", 20, vec![member("10.0.0.1", 1)]);
    high["manual_resume"] = json!(true);
    let mut dns = Dns::new(&[service(vec![
        high,
        pool("low", 10, vec![member("10.0.0.2", 1)]),
    ])]);
    dns.health.set_member("10.0.0.1", false);
    dns.health.set_member("10.0.0.1", true);
    assert_eq!(dns.a_records(), ["10.0.0.2"]);
    dns.health.resume();
    assert_eq!(dns.a_records(), ["10.0.0.1"]);
}

#[test]
fn site_ratio_overrides_member_ratios() {
    let mut a = member("10.0.0.1", 1);
    a["cluster_uuid"] = json!("cluster-a");
    let b = member("10.0.0.2", 1);
    let gslb = json!({"sites": [{"name": "a", "cluster_uuid": "cluster-a", "ratio": 3}]});
    let mut dns = Dns::from_catalog(catalog_with_gslb(
        &[service(vec![pool("p", 10, vec![a, b])])],
        gslb,
    ));
    let counts = dns.tally(400);
    assert_eq!((counts["10.0.0.1"], counts["10.0.0.2"]), (300, 100));
}

#[test]
fn mask_ip_clears_host_bits() {
    assert_eq!(
        mask_ip("192.0.2.77".parse().unwrap(), 24),
        "192.0.2.0".parse::<IpAddr>().unwrap()
    );
    assert_eq!(
        mask_ip("2001:db8::1".parse().unwrap(), 32),
        "2001:db8::".parse::<IpAddr>().unwrap()
    );
    assert_eq!(
        mask_ip("10.1.2.3".parse().unwrap(), 0),
        "0.0.0.0".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn public_clients_get_the_public_ip() {
    let mut natted = member("10.0.0.1", 1);
    natted["public_ip"] = json!({"ip": {"addr": "203.0.113.1", "type": "V4"}});
    let services = [service(vec![pool("p", 10, vec![natted])])];
    let ask_from = |dns: &mut Dns, source: &str| {
        records(&dns.ask(&Question {
            source: source.parse().unwrap(),
            ..question("shop.example.com", QueryType::A)
        }))
    };
    // No client group: every client is private.
    let mut dns = Dns::new(&services);
    assert_eq!(ask_from(&mut dns, "198.51.100.7"), ["10.0.0.1"]);
    // GSLB_IP_PUBLIC (default type): the listed clients are public.
    let public_listed = json!({"client_ip_addr_group": {
        "prefixes": [{"ip_addr": {"addr": "198.51.100.0", "type": "V4"}, "mask": 24}],
        "addrs": [{"addr": "192.0.2.200", "type": "V4"}]}});
    let mut dns = Dns::from_catalog(catalog_with_gslb(&services, public_listed));
    assert_eq!(ask_from(&mut dns, "198.51.100.7"), ["203.0.113.1"]);
    assert_eq!(ask_from(&mut dns, "192.0.2.200"), ["203.0.113.1"]);
    assert_eq!(ask_from(&mut dns, "192.0.2.10"), ["10.0.0.1"]);
    // GSLB_IP_PRIVATE: the listed clients are private, the rest public.
    let private_listed = json!({"client_ip_addr_group": {"type": "GSLB_IP_PRIVATE",
        "ranges": [{"begin": {"addr": "10.0.0.0", "type": "V4"}, "end": {"addr": "10.255.255.255", "type": "V4"}}]}});
    let mut dns = Dns::from_catalog(catalog_with_gslb(&services, private_listed));
    assert_eq!(ask_from(&mut dns, "10.1.2.3"), ["10.0.0.1"]);
    assert_eq!(ask_from(&mut dns, "198.51.100.7"), ["203.0.113.1"]);
}
