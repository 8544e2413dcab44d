//! End-to-end: the GslbServices the real `amko run` writes are answered by the simulated
//! controller's GSLB DNS service the way the policy says, asked with dnspython: GDP weights 1:3
//! give 25 %/75 %, the GDP TTL, priority failover when the preferred site goes down, the
//! fallback IP when every member is down, consistent hash keeping an ECS subnet on one member,
//! and AAAA for a cluster whose AKO assigns IPv6 VIPs. Also a measurement (printed, not
//! asserted) of 10,000 queries.

mod harness;

use std::time::Instant;

use amko_sim::k8s::VipFamily;
use harness::dns_client::{Probe, Tally, ask, tolerance};
use harness::{Env, EnvOptions, gdp, tools, wait_until};
use serde_json::{Value, json};

const FQDN: &str = "shop.example.com";

/// The blocking dnspython run, off the async runtime.
async fn query(env: &Env, probes: Vec<Probe>) -> Vec<Tally> {
    let server = env.dns_addr();
    tokio::task::spawn_blocking(move || ask(tools::python(), server, &probes))
        .await
        .expect("dnspython run")
}

async fn query_one(env: &Env, probe: Probe) -> Tally {
    query(env, vec![probe]).await.remove(0)
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

fn policy(split: Value, extra: Value) -> Value {
    let mut spec = gdp(&["cluster1", "cluster2"], json!({"trafficSplit": split}));
    for (k, v) in extra.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    spec
}

fn groups(gs: &Value) -> usize {
    gs["groups"].as_array().map_or(0, Vec::len)
}

/// Waits until `count` A queries all answer `ip`.
async fn wait_answer(env: &Env, what: &str, probe: Probe, ip: &str) {
    wait_until(
        what,
        std::time::Duration::from_secs(30),
        || {
            let probe = probe.clone();
            async move {
                let tally = query_one(env, probe).await;
                tally.first.len() == 1 && tally.first.contains_key(ip)
            }
        },
        || env.log(),
    )
    .await;
}

#[tokio::test]
async fn the_operators_policy_is_what_dns_answers() {
    let split = json!([
        {"cluster": "cluster1", "weight": 1, "priority": 10},
        {"cluster": "cluster2", "weight": 3, "priority": 10}
    ]);
    let extra = json!({"ttl": 20, "downResponse": {"type": "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP", "fallbackIP": "192.0.2.53"}});
    let options = EnvOptions::clusters(2)
        .install(policy(split, extra.clone()))
        .run(&[]);
    let env = Env::start("dns-policy", options).await;
    env.create_gslb_ingress("cluster1", "shop", "web", FQDN)
        .await;
    env.create_gslb_ingress("cluster2", "shop", "web", FQDN)
        .await;
    let gs = env
        .wait_gs(FQDN, "a GslbService with both members", |gs| {
            harness::members_of(gs).len() == 2
        })
        .await;
    let vip1 = env.ingress_vip("cluster1", "shop", "web", FQDN).await;
    let vip2 = env.ingress_vip("cluster2", "shop", "web", FQDN).await;

    // Weights 1:3 over UDP, and over TCP; the GDP's TTL.
    let tallies = query(&env, vec![Probe::a(FQDN, 4000), Probe::a(FQDN, 1000).tcp()]).await;
    assert_share(&tallies[0], &vip1, 4000, 0.25);
    assert_share(&tallies[0], &vip2, 4000, 0.75);
    assert_share(&tallies[1], &vip1, 1000, 0.25);
    for tally in &tallies {
        assert_eq!(tally.first.len(), 2, "only the two VIPs: {tally:?}");
        assert_eq!(tally.ttls, [20].into(), "the GDP's TTL");
    }

    // cluster1 preferred: all answers go there, until its site goes down.
    let split = json!([
        {"cluster": "cluster1", "weight": 1, "priority": 20},
        {"cluster": "cluster2", "weight": 3, "priority": 10}
    ]);
    env.replace_gdp(policy(split, extra.clone())).await;
    env.wait_gs(FQDN, "two priority pools", |gs| groups(gs) == 2)
        .await;
    wait_answer(&env, "cluster1 takes everything", Probe::a(FQDN, 20), &vip1).await;
    let site1 = harness::member_with_ip(&gs, &vip1)["cluster_uuid"]
        .as_str()
        .expect("the member names its site")
        .to_owned();
    let book = env.avi.control().dns();
    book.set_site_health(&site1, false);
    assert_eq!(query_one(&env, Probe::a(FQDN, 20)).await.only(), vip2);

    // Every member down: the GDP's fallback IP, with the same TTL.
    book.set_member_health(&vip2, false);
    let fallback = query_one(&env, Probe::a(FQDN, 5)).await;
    assert_eq!(fallback.only(), "192.0.2.53");
    assert_eq!(fallback.ttls, [20].into());
    book.clear_health();
    assert_eq!(query_one(&env, Probe::a(FQDN, 5)).await.only(), vip1);

    // Consistent hash on a /24: each client subnet sticks to one member.
    let split = json!([
        {"cluster": "cluster1", "weight": 1, "priority": 10},
        {"cluster": "cluster2", "weight": 1, "priority": 10}
    ]);
    let hashing = json!({"ttl": 20, "poolAlgorithmSettings": {"lbAlgorithm": "GSLB_ALGORITHM_CONSISTENT_HASH", "hashMask": 24}});
    env.replace_gdp(policy(split, hashing)).await;
    env.wait_gs(FQDN, "a consistent-hash pool", |gs| {
        gs["groups"][0]["algorithm"] == "GSLB_ALGORITHM_CONSISTENT_HASH"
    })
    .await;
    let probes: Vec<Probe> = (0..16)
        .flat_map(|i| {
            [
                Probe::a(FQDN, 8).ecs(&format!("203.0.{i}.0/24")),
                Probe::a(FQDN, 4).ecs(&format!("203.0.{i}.99/32")),
            ]
        })
        .collect();
    let tallies = query(&env, probes).await;
    let mut seen = std::collections::BTreeSet::new();
    for pair in tallies.chunks(2) {
        assert_eq!(pair[0].only(), pair[1].only(), "a subnet sticks: {pair:?}");
        seen.insert(pair[0].only().to_owned());
    }
    assert_eq!(
        seen,
        [vip1.clone(), vip2.clone()].into(),
        "16 subnets reach both members"
    );

    // Measurement, not an assertion: 10,000 UDP queries through dnspython (client included).
    let started = Instant::now();
    let tally = query_one(&env, Probe::a(FQDN, 10_000)).await;
    let elapsed = started.elapsed();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "dns measurement: 10000 queries (dnspython over UDP) in {:.2} s; load average {}",
        elapsed.as_secs_f64(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert_eq!(tally.rcodes.get("NOERROR"), Some(&10_000), "{tally:?}");
}

#[tokio::test]
async fn aaaa_answers_the_ipv6_cluster() {
    let split = json!([
        {"cluster": "cluster1", "weight": 1, "priority": 10},
        {"cluster": "cluster2", "weight": 1, "priority": 10}
    ]);
    let options = EnvOptions::clusters(2)
        .vip_family("cluster2", VipFamily::V6)
        .install(policy(split, json!({})))
        .run(&[]);
    let env = Env::start("dns-aaaa", options).await;
    env.create_gslb_ingress("cluster1", "shop", "web", FQDN)
        .await;
    env.create_gslb_ingress("cluster2", "shop", "web", FQDN)
        .await;
    env.wait_gs(FQDN, "a GslbService with both members", |gs| {
        harness::members_of(gs).len() == 2
    })
    .await;
    let vip4 = env.ingress_vip("cluster1", "shop", "web", FQDN).await;
    let vip6 = env.ingress_vip("cluster2", "shop", "web", FQDN).await;
    assert!(vip6.contains(':'), "cluster2's AKO assigns IPv6: {vip6}");
    let tallies = query(
        &env,
        vec![
            Probe::aaaa(FQDN, 10),
            Probe::a(FQDN, 10),
            Probe::aaaa(FQDN, 10).tcp(),
        ],
    )
    .await;
    let canonical6: std::net::Ipv6Addr = vip6.parse().expect("IPv6 VIP");
    assert_eq!(tallies[0].only(), canonical6.to_string());
    assert_eq!(tallies[1].only(), vip4);
    assert_eq!(tallies[2].only(), canonical6.to_string());
    assert_eq!(
        tallies[0].ttls,
        [30].into(),
        "no TTL in the GDP: the profile default"
    );
}
