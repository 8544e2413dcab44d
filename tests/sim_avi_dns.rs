//! The Avi simulator's GSLB DNS service asked by dnspython over UDP and TCP: weighted round
//! robin shares, TTL, priority failover and the fallback IP driven through the `/sim/dns`
//! control API, AAAA for IPv6 members, consistent hash on the EDNS client subnet, NXDOMAIN,
//! REFUSED and dropped queries. GslbServices are seeded through the simulator's seed file; the
//! e2e test `dns_answers` drives the same through a running operator.

#[path = "support/tools.rs"]
mod tools;

#[path = "support/dns_client.rs"]
mod dns_client;

use std::net::SocketAddr;

use amko_sim::avi::{AviSim, AviSimConfig, AviSimHandle, SeedFile, SeedObject};
use dns_client::{Probe, Tally, ask, ask_one, tolerance};
use serde_json::{Value, json};

fn member(ip: &str, ratio: u32) -> Value {
    let kind = if ip.contains(':') { "V6" } else { "V4" };
    json!({"ip": {"addr": ip, "type": kind}, "ratio": ratio})
}

fn gs(name: &str, fqdn: &str, extra: Value, groups: Value) -> SeedObject {
    let mut body = json!({"name": name, "domain_names": [fqdn], "groups": groups});
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    SeedObject {
        obj_type: "gslbservice".into(),
        tenant: None,
        body,
    }
}

async fn start() -> AviSimHandle {
    let rr = |members: Vec<Value>| json!({"name": "p10", "priority": 10, "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN", "members": members});
    let seed = SeedFile {
        tenants: vec![],
        objects: vec![
            gs(
                "shop",
                "shop.example.com",
                json!({"ttl": 45}),
                json!([rr(vec![member("10.0.0.1", 1), member("10.0.0.2", 3)])]),
            ),
            gs(
                "failover",
                "failover.example.com",
                json!({"down_response": {"type": "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP",
                    "fallback_ip": {"addr": "192.0.2.99", "type": "V4"},
                    "fallback_ip6": {"addr": "2001:db8::99", "type": "V6"}}}),
                json!([
                    {"name": "high", "priority": 20, "members": [member("10.1.0.1", 1)]},
                    {"name": "low", "priority": 10, "members": [
                        {"ip": {"addr": "10.1.0.2", "type": "V4"}, "cluster_uuid": "cluster-east"}]}
                ]),
            ),
            gs(
                "dual",
                "dual.example.com",
                json!({}),
                json!([rr(vec![
                    member("10.2.0.1", 1),
                    member("2001:db8::1", 1),
                    member("2001:db8::2", 1)
                ])]),
            ),
            gs(
                "sticky",
                "sticky.example.com",
                json!({}),
                json!([{"name": "p10", "priority": 10, "algorithm": "GSLB_ALGORITHM_CONSISTENT_HASH",
                    "consistent_hash_mask": 24,
                    "members": (1..=4).map(|i| member(&format!("10.3.0.{i}"), 1)).collect::<Vec<_>>()}]),
            ),
            gs(
                "dark",
                "dark.example.com",
                json!({}),
                json!([rr(vec![member("10.4.0.1", 1)])]),
            ),
        ],
    };
    AviSim::start(AviSimConfig {
        tls: false,
        rate_limit: None,
        gslb_dns_domains: vec!["example.com".into()],
        seed: Some(seed),
        ..AviSimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn dns(sim: &AviSimHandle) -> SocketAddr {
    sim.dns_addr().expect("the simulator runs a DNS service")
}

async fn control(sim: &AviSimHandle, method: reqwest::Method, path: &str, body: Option<Value>) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, format!("{}/sim/dns{path}", sim.base_url()));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("control API answers");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "/sim/dns{path}: {status} {text}");
}

async fn set_health(sim: &AviSimHandle, key: &str, value: &str, up: bool) {
    control(
        sim,
        reqwest::Method::PUT,
        "/health",
        Some(json!({key: value, "up": up})),
    )
    .await;
}

/// The blocking dnspython run, off the async runtime.
async fn query(sim: &AviSimHandle, probes: Vec<Probe>) -> Vec<Tally> {
    let server = dns(sim);
    tokio::task::spawn_blocking(move || ask(tools::python(), server, &probes))
        .await
        .expect("dnspython run")
}

async fn query_one(sim: &AviSimHandle, probe: Probe) -> Tally {
    let server = dns(sim);
    tokio::task::spawn_blocking(move || ask_one(tools::python(), server, probe))
        .await
        .expect("dnspython run")
}

fn assert_share(tally: &Tally, ip: &str, n: usize, share: f64) {
    let expected = n as f64 * share;
    let got = tally.count(ip) as f64;
    let slack = tolerance(n, share);
    assert!(
        (got - expected).abs() <= slack,
        "{ip}: {got} of {n}, expected {expected} ± {slack:.0}: {tally:?}"
    );
}

#[tokio::test]
async fn weights_one_to_three_over_udp_and_tcp_with_the_service_ttl() {
    let sim = start().await;
    let tallies = query(
        &sim,
        vec![
            Probe::a("shop.example.com", 4000),
            Probe::a("shop.example.com", 4000).tcp(),
        ],
    )
    .await;
    for tally in &tallies {
        assert_eq!(tally.rcodes.get("NOERROR"), Some(&4000), "{tally:?}");
        assert_share(tally, "10.0.0.1", 4000, 0.25);
        assert_share(tally, "10.0.0.2", 4000, 0.75);
        assert_eq!(tally.first.len(), 2, "only the pool's members: {tally:?}");
        assert_eq!(tally.ttls, [45].into(), "TTL from the GslbService");
        assert!(
            tally.sets.keys().all(|s| !s.contains(' ')),
            "num_dns_ip unset answers one record: {tally:?}"
        );
    }
    let status: Value = reqwest::get(format!("{}/sim/dns", sim.base_url()))
        .await
        .expect("status")
        .json()
        .await
        .expect("JSON");
    assert_eq!(status["queries"], 8000);
    assert_eq!(status["address"], dns(&sim).to_string());
}

#[tokio::test]
async fn priority_failover_fallback_ip_and_recovery() {
    let sim = start().await;
    let probe = || Probe::a("failover.example.com", 20);
    assert_eq!(query_one(&sim, probe()).await.only(), "10.1.0.1");

    set_health(&sim, "member", "10.1.0.1", false).await;
    let failed_over = query_one(&sim, probe()).await;
    assert_eq!(
        failed_over.only(),
        "10.1.0.2",
        "the lower-priority pool takes over"
    );
    assert_eq!(failed_over.ttls, [30].into(), "profile default TTL");

    // The low pool's site goes down: nothing is eligible, the down response answers.
    set_health(&sim, "cluster_uuid", "cluster-east", false).await;
    let tallies = query(
        &sim,
        vec![
            probe(),
            Probe::aaaa("failover.example.com", 5),
            Probe::a("failover.example.com", 5).tcp(),
        ],
    )
    .await;
    assert_eq!(tallies[0].only(), "192.0.2.99");
    assert_eq!(tallies[1].only(), "2001:db8::99");
    assert_eq!(tallies[2].only(), "192.0.2.99");

    control(&sim, reqwest::Method::DELETE, "/health", None).await;
    assert_eq!(query_one(&sim, probe()).await.only(), "10.1.0.1");
}

#[tokio::test]
async fn aaaa_answers_the_ipv6_members() {
    let sim = start().await;
    let tallies = query(
        &sim,
        vec![
            Probe::aaaa("dual.example.com", 40),
            Probe::a("dual.example.com", 10),
            Probe::aaaa("shop.example.com", 3),
        ],
    )
    .await;
    assert_eq!(tallies[0].count("2001:db8::1"), 20);
    assert_eq!(tallies[0].count("2001:db8::2"), 20);
    assert_eq!(tallies[1].only(), "10.2.0.1");
    assert_eq!(
        (tallies[2].only(), tallies[2].rcodes.get("NOERROR")),
        ("", Some(&3)),
        "an IPv4-only service answers AAAA with NOERROR and no records"
    );
}

#[tokio::test]
async fn consistent_hash_keeps_a_client_subnet_on_one_member() {
    let sim = start().await;
    let probes: Vec<Probe> = (0..24)
        .flat_map(|i| {
            [
                Probe::a("sticky.example.com", 10).ecs(&format!("198.51.{i}.0/24")),
                Probe::a("sticky.example.com", 5).ecs(&format!("198.51.{i}.200/32")),
            ]
        })
        .collect();
    let tallies = query(&sim, probes).await;
    let mut members = std::collections::BTreeSet::new();
    for pair in tallies.chunks(2) {
        let subnet_member = pair[0].only();
        assert_eq!(
            pair[1].only(),
            subnet_member,
            "a host of the /24 lands where its subnet does"
        );
        assert!(
            pair[0].scopes.contains(&24),
            "ECS scope echoed: {:?}",
            pair[0]
        );
        members.insert(subnet_member.to_owned());
    }
    assert!(
        members.len() >= 3,
        "24 subnets spread over the 4 members: {members:?}"
    );
}

#[tokio::test]
async fn unknown_foreign_and_dropped_names() {
    let sim = start().await;
    set_health(&sim, "member", "10.4.0.1", false).await;
    let tallies = query(
        &sim,
        vec![
            Probe::a("nope.example.com", 2),
            Probe::a("shop.example.org", 2),
            Probe::a("dark.example.com", 2).timeout(0.5),
            Probe::a("Shop.Example.COM.", 2),
        ],
    )
    .await;
    assert_eq!(tallies[0].rcodes.get("NXDOMAIN"), Some(&2));
    assert_eq!(tallies[1].rcodes.get("REFUSED"), Some(&2));
    assert_eq!(
        tallies[2].timeouts, 2,
        "down_response NONE drops the query: {:?}",
        tallies[2]
    );
    assert_eq!(
        tallies[3].rcodes.get("NOERROR"),
        Some(&2),
        "names are case-insensitive"
    );
}

async fn control_status(
    sim: &AviSimHandle,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> u16 {
    reqwest::Client::new()
        .request(method, format!("{}/sim/dns{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("control API answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn rotation_reset_and_control_api_input_checks() {
    let sim = start().await;
    // Smooth weighted round robin over 1:3 starts with the heavy member, then the light one.
    assert_eq!(
        query_one(&sim, Probe::a("shop.example.com", 1))
            .await
            .only(),
        "10.0.0.2"
    );
    control(&sim, reqwest::Method::DELETE, "/rotation", None).await;
    assert_eq!(
        query_one(&sim, Probe::a("shop.example.com", 1))
            .await
            .only(),
        "10.0.0.2",
        "after the reset the rotation starts over"
    );
    assert_eq!(
        query_one(&sim, Probe::a("shop.example.com", 1))
            .await
            .only(),
        "10.0.0.1"
    );

    let put = reqwest::Method::PUT;
    assert_eq!(
        control_status(
            &sim,
            put.clone(),
            "/health",
            json!({"site": "nope", "up": false})
        )
        .await,
        400
    );
    assert_eq!(
        control_status(
            &sim,
            put.clone(),
            "/health",
            json!({"member": "10.0.0.1", "cluster_uuid": "c", "up": false})
        )
        .await,
        400
    );
    assert_eq!(
        control_status(&sim, put.clone(), "/health", json!({"member": "10.0.0.1"})).await,
        400
    );
    assert_eq!(
        control_status(
            &sim,
            put.clone(),
            "/geo",
            json!({"subnet": "10.0.0.0/40", "latitude": 1.0, "longitude": 1.0})
        )
        .await,
        400
    );
    assert_eq!(
        control_status(
            &sim,
            put,
            "/geo",
            json!({"subnet": "10.0.0.0/8", "latitude": 1.0, "longitude": 1.0})
        )
        .await,
        204
    );
    // Nothing was marked down by the refused updates.
    let status: Value = reqwest::get(format!("{}/sim/dns", sim.base_url()))
        .await
        .expect("status")
        .json()
        .await
        .expect("JSON");
    assert_eq!(status["down_members"], json!([]));
    assert_eq!(status["down_sites"], json!([]));
}
