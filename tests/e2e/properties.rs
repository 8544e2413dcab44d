//! End-to-end scenarios for the GslbService properties that come from the GlobalDeploymentPolicy
//! and are overridden per FQDN by GSLBHostRules: traffic split, TTL, down response, pool
//! algorithm, site persistence, health monitors, third-party members and public IPs, rule
//! rejection and conflicts, and what deleting a rule or the GDP does on the controller.

mod harness;

use std::time::Duration;

use amko::crd::GlobalDeploymentPolicy;
use harness::{Env, EnvOptions, HOME, members_of, ref_name, ref_names};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};

/// Selects `app: gslb` objects in both member clusters, with the fields of `extra`.
fn gdp(extra: Value) -> Value {
    harness::gdp(&["cluster1", "cluster2"], extra)
}

/// Two clusters, and `EnvOptions` with the GDP installed.
fn two_clusters(gdp_spec: Value) -> EnvOptions {
    EnvOptions::clusters(2).install(gdp_spec)
}

/// Starts two clusters, installs the GDP and runs the operator.
async fn started(name: &str, gdp_spec: Value) -> Env {
    Env::start(name, two_clusters(gdp_spec).run(&[])).await
}

/// An Ingress `shop/name` selected by the GDP, with one rule for `host` over `paths`; `tls` lists
/// it under `spec.tls` so its member is TLS.
async fn ingress(env: &Env, cluster: &str, name: &str, host: &str, paths: &[&str], tls: bool) {
    let object = harness::ingress("shop", name, host, paths, tls);
    env.create::<Ingress>(cluster, "shop", object).await;
}

/// The same host in both clusters.
async fn ingress_in_both(env: &Env, name: &str, host: &str) {
    for cluster in ["cluster1", "cluster2"] {
        ingress(env, cluster, name, host, &["/"], false).await;
    }
}

/// Creates or replaces the GSLBHostRule `HOME/name`, which must succeed.
async fn apply_rule(env: &Env, name: &str, spec: Value) {
    env.put_host_rule(HOME, name, spec).await;
}

/// `(pool name, priority, [(member ip, ratio)])`.
type PoolView = (String, i64, Vec<(String, i64)>);

/// The pools of a GslbService, in the controller's order.
fn pools(gs: &Value) -> Vec<PoolView> {
    gs["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let members = g["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    (
                        m["ip"]["addr"].as_str().unwrap_or_default().to_owned(),
                        m["ratio"].as_i64().unwrap_or_default(),
                    )
                })
                .collect();
            (
                g["name"].as_str().unwrap_or_default().to_owned(),
                g["priority"].as_i64().unwrap_or_default(),
                members,
            )
        })
        .collect()
}

/// The pools of a GslbService, in the controller's order, each with its members sorted.
fn sorted_pools(gs: &Value) -> Vec<PoolView> {
    let mut pools = pools(gs);
    for (_, _, members) in &mut pools {
        members.sort();
    }
    pools
}

/// The pool `amko-gs-group-<priority>` with `members`, sorted.
fn pool(priority: i64, mut members: Vec<(String, i64)>) -> PoolView {
    members.sort();
    (format!("amko-gs-group-{priority}"), priority, members)
}

/// The GslbService names neither a persistence profile nor a PKI profile.
fn assert_no_persistence_refs(gs: &Value) {
    assert!(
        gs.get("application_persistence_profile_ref")
            .is_none_or(Value::is_null),
        "{gs}"
    );
    assert!(gs.get("pki_profile_ref").is_none_or(Value::is_null), "{gs}");
}

/// The VIP AKO wrote on the Ingress `shop/name` for `host`.
async fn vip(env: &Env, cluster: &str, name: &str, host: &str) -> String {
    env.ingress_vip(cluster, "shop", name, host).await
}

/// Controller writes to the GslbService `fqdn` since audit entry `since`.
fn gs_writes_since(env: &Env, fqdn: &str, since: usize) -> usize {
    env.audit_since(since)
        .iter()
        .filter(|e| e.object_type == "gslbservice" && e.name == fqdn)
        .count()
}

/// The sorted HTTP request lines of the managed monitors `monitors`.
fn http_requests(monitors: &[Value]) -> Vec<&str> {
    let mut requests: Vec<&str> = monitors
        .iter()
        .filter_map(|m| m["http_monitor"]["http_request"].as_str())
        .collect();
    requests.sort();
    requests
}

/// The GslbService references exactly the managed monitors `monitors`.
fn assert_refs_are(gs: &Value, monitors: &[Value]) {
    let mut referenced = ref_names(&gs["health_monitor_refs"]);
    referenced.sort();
    let mut names: Vec<String> = monitors
        .iter()
        .filter_map(|m| m["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(referenced, names);
}

/// Creates the federated HTTP monitor `fed-template` on the controller.
async fn create_template_monitor(env: &Env) {
    env.avi_client()
        .create(
            "healthmonitor",
            &json!({"name": "fed-template", "type": "HEALTH_MONITOR_HTTP", "is_federated": true,
                    "monitor_port": 80,
                    "http_monitor": {"http_request": "GET /healthz HTTP/1.1",
                                     "http_response_code": ["HTTP_2XX"]}}),
            None,
        )
        .await
        .expect("template monitor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_split_from_the_gdp_and_a_host_rule_for_one_fqdn() {
    let env = started(
        "split",
        gdp(json!({"trafficSplit": [
            {"cluster": "cluster1", "weight": 15, "priority": 20},
            {"cluster": "cluster2", "weight": 5, "priority": 10}
        ]})),
    )
    .await;
    ingress_in_both(&env, "a", "a.example.com").await;
    ingress_in_both(&env, "b", "b.example.com").await;
    let ip1 = vip(&env, "cluster1", "a", "a.example.com").await;
    let ip2 = vip(&env, "cluster2", "a", "a.example.com").await;

    for fqdn in ["a.example.com", "b.example.com"] {
        let gs = env
            .wait_gs(fqdn, "GslbService with two members", |gs| {
                members_of(gs).len() == 2
            })
            .await;
        let ip1 = vip(&env, "cluster1", &fqdn[..1], fqdn).await;
        let ip2 = vip(&env, "cluster2", &fqdn[..1], fqdn).await;
        assert_eq!(
            pools(&gs),
            vec![pool(20, vec![(ip1, 15)]), pool(10, vec![(ip2, 5)])],
            "two priorities, two pools, highest first"
        );
    }

    // A GSLBHostRule puts both clusters of a.example.com into one pool with its own weights.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = env.writes();
    apply_rule(
        &env,
        "a-split",
        json!({"fqdn": "a.example.com", "trafficSplit": [
            {"cluster": "cluster1", "weight": 3, "priority": 5},
            {"cluster": "cluster2", "weight": 7, "priority": 5}
        ]}),
    )
    .await;
    let gs = env
        .wait_gs("a.example.com", "the rule's split", |gs| {
            gs["groups"].as_array().map(Vec::len) == Some(1)
        })
        .await;
    assert_eq!(sorted_pools(&gs), vec![pool(5, vec![(ip1, 3), (ip2, 7)])]);
    env.wait_host_rule_status("a-split", "rule accepted", |s, e| {
        s == "Accepted" && e.is_empty()
    })
    .await;

    // b.example.com keeps the GDP's split and was not written at all.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let b = env.gslb_service("b.example.com").expect("b");
    assert_eq!(pools(&b).len(), 2);
    assert_eq!(gs_writes_since(&env, "b.example.com", before), 0);
    assert_eq!(gs_writes_since(&env, "a.example.com", before), 1);

    // A rule naming one cluster only: the other keeps the GDP's weight and priority.
    apply_rule(
        &env,
        "b-split",
        json!({"fqdn": "b.example.com", "trafficSplit": [
            {"cluster": "cluster2", "weight": 9, "priority": 20}
        ]}),
    )
    .await;
    let b = env
        .wait_gs("b.example.com", "partial split", |gs| {
            gs["groups"].as_array().map(Vec::len) == Some(1)
        })
        .await;
    let b1 = vip(&env, "cluster1", "b", "b.example.com").await;
    let b2 = vip(&env, "cluster2", "b", "b.example.com").await;
    assert_eq!(sorted_pools(&b), vec![pool(20, vec![(b1, 15), (b2, 9)])]);

    // syncVipOnly for cluster2: its members carry the VIP only.
    let mut spec = gdp(json!({"trafficSplit": [
        {"cluster": "cluster1", "weight": 15, "priority": 20},
        {"cluster": "cluster2", "weight": 5, "priority": 10}
    ]}));
    spec["matchClusters"] =
        json!([{"cluster": "cluster1"}, {"cluster": "cluster2", "syncVipOnly": true}]);
    env.replace_gdp(spec).await;
    let ip2 = vip(&env, "cluster2", "a", "a.example.com").await;
    let gs = env
        .wait_gs("a.example.com", "VIP-only member", |gs| {
            members_of(gs).iter().any(|m| {
                m["ip"]["addr"] == ip2.as_str() && m.get("vs_uuid").is_none_or(Value::is_null)
            })
        })
        .await;
    for member in members_of(&gs) {
        let vip_only = member["ip"]["addr"] == ip2.as_str();
        assert_eq!(
            member.get("vs_uuid").is_none_or(Value::is_null),
            vip_only,
            "{member}"
        );
        assert_eq!(
            member.get("cluster_uuid").is_none_or(Value::is_null),
            vip_only,
            "{member}"
        );
    }
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_down_response_and_pool_algorithm_from_the_gdp_and_a_host_rule() {
    let mut env = started(
        "properties",
        gdp(json!({
            "ttl": 30,
            "downResponse": {"type": "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP", "fallbackIP": "198.51.100.7"},
            "poolAlgorithmSettings": {"lbAlgorithm": "GSLB_ALGORITHM_CONSISTENT_HASH", "hashMask": 24}
        })),
    )
    .await;
    ingress_in_both(&env, "a", "a.example.com").await;
    ingress_in_both(&env, "b", "b.example.com").await;
    for fqdn in ["a.example.com", "b.example.com"] {
        let gs = env
            .wait_gs(fqdn, "GslbService", |gs| members_of(gs).len() == 2)
            .await;
        assert_eq!(gs["ttl"], 30);
        assert_eq!(
            gs["down_response"],
            json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP",
                   "fallback_ip": {"addr": "198.51.100.7", "type": "V4"}})
        );
        for pool in gs["groups"].as_array().expect("groups") {
            assert_eq!(pool["algorithm"], "GSLB_ALGORITHM_CONSISTENT_HASH");
            assert_eq!(pool["consistent_hash_mask"], 24);
            assert!(pool.get("fallback_algorithm").is_none_or(Value::is_null));
        }
    }

    // The rule overrides every one of them for a.example.com only.
    apply_rule(
        &env,
        "a-props",
        json!({"fqdn": "a.example.com", "ttl": 5,
               "downResponse": {"type": "GSLB_SERVICE_DOWN_RESPONSE_EMPTY"},
               "poolAlgorithmSettings": {"lbAlgorithm": "GSLB_ALGORITHM_GEO",
                   "geoFallback": {"lbAlgorithm": "GSLB_ALGORITHM_CONSISTENT_HASH", "hashMask": 16}}}),
    )
    .await;
    let gs = env
        .wait_gs("a.example.com", "the rule's properties", |gs| {
            gs["ttl"] == 5
        })
        .await;
    assert_eq!(
        gs["down_response"],
        json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_EMPTY"})
    );
    for pool in gs["groups"].as_array().expect("groups") {
        assert_eq!(pool["algorithm"], "GSLB_ALGORITHM_GEO");
        assert_eq!(pool["fallback_algorithm"], "GSLB_ALGORITHM_CONSISTENT_HASH");
        assert_eq!(pool["consistent_hash_mask"], 16);
    }
    let b = env.gslb_service("b.example.com").expect("b");
    assert_eq!(b["ttl"], 30);
    assert_eq!(
        b["groups"][0]["algorithm"],
        "GSLB_ALGORITHM_CONSISTENT_HASH"
    );

    // A GDP edit to GEO with a round-robin fallback reaches b.example.com, not a.example.com.
    env.replace_gdp(gdp(json!({
        "ttl": 60,
        "poolAlgorithmSettings": {"lbAlgorithm": "GSLB_ALGORITHM_GEO",
            "geoFallback": {"lbAlgorithm": "GSLB_ALGORITHM_ROUND_ROBIN"}}
    })))
    .await;
    let b = env
        .wait_gs("b.example.com", "the GDP edit", |gs| gs["ttl"] == 60)
        .await;
    for pool in b["groups"].as_array().expect("groups") {
        assert_eq!(pool["algorithm"], "GSLB_ALGORITHM_GEO");
        assert_eq!(pool["fallback_algorithm"], "GSLB_ALGORITHM_ROUND_ROBIN");
        assert!(pool.get("consistent_hash_mask").is_none_or(Value::is_null));
    }
    assert!(
        b.get("down_response").is_none_or(|d| d.is_null()
            || d == &json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_NONE"})),
        "the GDP no longer sets a down response: {}",
        b["down_response"]
    );
    let a = env.gslb_service("a.example.com").expect("a");
    assert_eq!(a["ttl"], 5);
    assert_eq!(
        a["groups"][0]["fallback_algorithm"],
        "GSLB_ALGORITHM_CONSISTENT_HASH"
    );

    env.assert_restart_writes_nothing().await;

    // Dropping the properties from the GDP unsets them on the controller (default algorithm, no
    // TTL); the rule's FQDN keeps its own.
    env.replace_gdp(gdp(json!({}))).await;
    let b = env
        .wait_gs("b.example.com", "GDP properties dropped", |gs| {
            gs.get("ttl").is_none_or(Value::is_null)
        })
        .await;
    for pool in b["groups"].as_array().expect("groups") {
        assert_eq!(pool["algorithm"], "GSLB_ALGORITHM_ROUND_ROBIN");
        assert!(pool.get("fallback_algorithm").is_none_or(Value::is_null));
        assert!(pool.get("consistent_hash_mask").is_none_or(Value::is_null));
    }
    let a = env.gslb_service("a.example.com").expect("a");
    assert_eq!(a["ttl"], 5);
    env.assert_restart_writes_nothing().await;

    // An invalid GDP edit (a monitor the controller does not have) is rejected and the previous
    // version stays in force, also across a restart: the operator comes up with it and writes
    // nothing.
    env.replace_gdp(gdp(
        json!({"ttl": 99, "healthMonitorRefs": ["no-such-monitor"]}),
    ))
    .await;
    let rejected =
        |status: String| status.contains("no-such-monitor") && status.contains("stays in force");
    env.eventually("GDP edit rejected", || async {
        rejected(env.gdp_status().await)
    })
    .await;
    env.assert_restart_writes_nothing().await;
    env.eventually("GDP still rejected after the restart", || async {
        rejected(env.gdp_status().await)
    })
    .await;
    let b = env.gslb_service("b.example.com").expect("b");
    assert!(b.get("ttl").is_none_or(Value::is_null), "{b}");
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_persistence_applies_to_tls_members_only() {
    let mut env = Env::start("persistence", EnvOptions::clusters(2)).await;
    let avi = env.avi_client();
    let profile = avi
        .create(
            "applicationpersistenceprofile",
            &json!({"name": "gslb-site", "is_federated": true,
                    "persistence_type": "PERSISTENCE_TYPE_GSLB_SITE"}),
            None,
        )
        .await
        .expect("persistence profile");
    for name in ["fed-pki", "other-pki"] {
        avi.create(
            "pkiprofile",
            &json!({"name": name, "is_federated": true}),
            None,
        )
        .await
        .expect("pki profile");
    }
    env.install_and_run(gdp(
        json!({"sitePersistenceRef": "gslb-site", "pkiProfileRef": "other-pki"}),
    ))
    .await;

    ingress(
        &env,
        "cluster1",
        "secure",
        "secure.example.com",
        &["/"],
        true,
    )
    .await;
    ingress(
        &env,
        "cluster2",
        "secure",
        "secure.example.com",
        &["/"],
        false,
    )
    .await;
    ingress(
        &env,
        "cluster1",
        "plain",
        "plain.example.com",
        &["/"],
        false,
    )
    .await;
    let secure = env
        .wait_gs("secure.example.com", "TLS GslbService", |gs| {
            members_of(gs).len() == 2
        })
        .await;
    assert_eq!(secure["site_persistence_enabled"], true);
    assert_eq!(
        ref_name(&secure["application_persistence_profile_ref"]),
        "gslb-site"
    );
    assert!(
        secure["application_persistence_profile_ref"]
            .as_str()
            .is_some_and(|r| r.contains(profile["uuid"].as_str().unwrap_or("?"))),
    );
    assert_eq!(ref_name(&secure["pki_profile_ref"]), "other-pki");
    // One TLS member makes the whole GslbService monitored over HTTPS.
    let monitors = env.managed_monitors_of("secure.example.com");
    assert_eq!(monitors.len(), 1);
    assert_eq!(monitors[0]["type"], "HEALTH_MONITOR_HTTPS");
    assert_eq!(monitors[0]["monitor_port"], 443);

    let plain = env
        .wait_gs("plain.example.com", "plain GslbService", |_| true)
        .await;
    assert_eq!(plain["site_persistence_enabled"], false);
    assert_no_persistence_refs(&plain);

    env.assert_restart_writes_nothing().await;

    // Without a PKI profile in the GDP, the first federated one on the controller is used.
    env.replace_gdp(gdp(json!({"sitePersistenceRef": "gslb-site"})))
        .await;
    let secure = env
        .wait_gs("secure.example.com", "fallback PKI profile", |gs| {
            ref_name(&gs["pki_profile_ref"]) == "fed-pki"
        })
        .await;
    assert_eq!(secure["site_persistence_enabled"], true);

    // A GSLBHostRule switches it off for the TLS FQDN ...
    apply_rule(
        &env,
        "secure-off",
        json!({"fqdn": "secure.example.com",
               "sitePersistence": {"enabled": false, "profileRef": "gslb-site"}}),
    )
    .await;
    let secure = env
        .wait_gs("secure.example.com", "persistence off", |gs| {
            gs["site_persistence_enabled"] == false
        })
        .await;
    assert_no_persistence_refs(&secure);

    // ... or on with another PKI profile; for a non-TLS FQDN it changes nothing.
    apply_rule(
        &env,
        "secure-off",
        json!({"fqdn": "secure.example.com",
               "sitePersistence": {"enabled": true, "profileRef": "gslb-site", "pkiProfileRef": "other-pki"}}),
    )
    .await;
    apply_rule(
        &env,
        "plain-on",
        json!({"fqdn": "plain.example.com",
               "sitePersistence": {"enabled": true, "profileRef": "gslb-site"}}),
    )
    .await;
    let secure = env
        .wait_gs("secure.example.com", "other PKI profile", |gs| {
            ref_name(&gs["pki_profile_ref"]) == "other-pki"
        })
        .await;
    assert_eq!(secure["site_persistence_enabled"], true);
    env.wait_host_rule_status("plain-on", "plain rule accepted", |s, _| s == "Accepted")
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let plain = env.gslb_service("plain.example.com").expect("plain");
    assert_eq!(plain["site_persistence_enabled"], false);

    // A rule naming a profile that does not exist is rejected.
    apply_rule(
        &env,
        "plain-on",
        json!({"fqdn": "plain.example.com",
               "sitePersistence": {"enabled": true, "profileRef": "no-such-profile"}}),
    )
    .await;
    env.wait_host_rule_status("plain-on", "missing profile rejected", |s, e| {
        s == "Rejected" && e.contains("no-such-profile")
    })
    .await;

    // A profile the controller would refuse for site persistence (not federated) is rejected
    // when the rule is checked, instead of failing every write of the GslbService; the rule's
    // previous version stays in force.
    apply_rule(
        &env,
        "secure-off",
        json!({"fqdn": "secure.example.com", "ttl": 9,
               "sitePersistence": {"enabled": true, "profileRef": "System-Persistence-Client-IP"}}),
    )
    .await;
    env.wait_host_rule_status("secure-off", "unusable profile rejected", |s, e| {
        s == "Rejected"
            && e.contains("System-Persistence-Client-IP")
            && e.contains("not federated")
            && e.contains("stays in force")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let secure = env.gslb_service("secure.example.com").expect("secure");
    assert_eq!(ref_name(&secure["pki_profile_ref"]), "other-pki");
    assert!(secure.get("ttl").is_none_or(Value::is_null));

    // When the only TLS member goes, site persistence goes too, and the HTTPS monitor is
    // replaced by an HTTP one.
    let https_monitor = env.managed_monitors_of("secure.example.com")[0]["name"].clone();
    env.delete::<Ingress>("cluster1", "shop", "secure").await;
    let secure = env
        .wait_gs("secure.example.com", "no TLS member left", |gs| {
            members_of(gs).len() == 1 && gs["site_persistence_enabled"] == false
        })
        .await;
    assert_no_persistence_refs(&secure);
    env.eventually("HTTP monitor instead of HTTPS", || async {
        let monitors = env.managed_monitors_of("secure.example.com");
        monitors.len() == 1
            && monitors[0]["type"] == "HEALTH_MONITOR_HTTP"
            && monitors[0]["name"] != https_monitor
            && env.gslb_service("secure.example.com").is_some_and(|gs| {
                ref_names(&gs["health_monitor_refs"])
                    == [monitors[0]["name"].as_str().unwrap_or("?")]
            })
    })
    .await;
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_monitor_refs_template_and_control_plane_only() {
    let mut env = Env::start("monitors", EnvOptions::clusters(2)).await;
    create_template_monitor(&env).await;
    env.install_and_run(gdp(json!({}))).await;
    ingress(
        &env,
        "cluster1",
        "web",
        "hm.example.com",
        &["/app", "/api"],
        false,
    )
    .await;
    ingress(&env, "cluster2", "web", "hm.example.com", &["/app"], false).await;

    // Managed monitors: one per path.
    let gs = env
        .wait_gs("hm.example.com", "two path monitors", |gs| {
            gs["health_monitor_refs"].as_array().map(Vec::len) == Some(2)
        })
        .await;
    let managed = env.managed_monitors_of("hm.example.com");
    assert_eq!(
        http_requests(&managed),
        ["HEAD /api HTTP/1.0", "HEAD /app HTTP/1.0"]
    );
    assert_refs_are(&gs, &managed);

    // User refs replace them, and the managed ones are deleted: one GslbService update, then the
    // two monitor deletions (a monitor still referenced cannot be deleted).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = env.writes();
    env.replace_gdp(gdp(json!({"healthMonitorRefs": ["System-GSLB-HTTP"]})))
        .await;
    let gs = env
        .wait_gs("hm.example.com", "user monitor referenced", |gs| {
            ref_names(&gs["health_monitor_refs"]) == ["System-GSLB-HTTP"]
        })
        .await;
    assert_eq!(gs["groups"][0]["min_health_monitors_up"], 2);
    env.eventually("managed monitors deleted", || async {
        env.managed_monitors_of("hm.example.com").is_empty()
    })
    .await;
    assert!(
        env.health_monitors()
            .iter()
            .any(|m| m["name"] == "System-GSLB-HTTP"),
        "the user's monitor is never deleted"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes = env.writes_since(before);
    assert_eq!(
        writes,
        [
            "PUT gslbservice",
            "DELETE healthmonitor",
            "DELETE healthmonitor"
        ],
        "{}",
        env.log()
    );

    // A template: managed monitors again, with its method, version and response codes.
    env.replace_gdp(gdp(json!({"healthMonitorTemplate": "fed-template"})))
        .await;
    env.eventually("templated monitors", || async {
        let managed = env.managed_monitors_of("hm.example.com");
        managed.len() == 2
            && env
                .gslb_service("hm.example.com")
                .is_some_and(|gs| ref_names(&gs["health_monitor_refs"]).len() == 2)
    })
    .await;
    let managed = env.managed_monitors_of("hm.example.com");
    assert_eq!(
        http_requests(&managed),
        ["GET /api HTTP/1.1", "GET /app HTTP/1.1"]
    );
    for m in &managed {
        assert_eq!(m["http_monitor"]["http_response_code"], json!(["HTTP_2XX"]));
        assert!(
            m["description"]
                .as_str()
                .is_some_and(|d| d.contains("created from: fed-template")),
            "{m}"
        );
        assert_eq!(m["is_federated"], true);
    }

    // controlPlaneHmOnly on the FQDN's rule: no data-plane monitors at all.
    apply_rule(
        &env,
        "hm-cp",
        json!({"fqdn": "hm.example.com", "controlPlaneHmOnly": true}),
    )
    .await;
    let gs = env
        .wait_gs("hm.example.com", "no monitor refs", |gs| {
            gs["health_monitor_refs"]
                .as_array()
                .is_none_or(Vec::is_empty)
        })
        .await;
    for pool in gs["groups"].as_array().expect("groups") {
        assert_eq!(pool["min_health_monitors_up"], 1);
    }
    env.eventually("managed monitors deleted", || async {
        env.managed_monitors_of("hm.example.com").is_empty()
    })
    .await;
    assert!(
        env.health_monitors()
            .iter()
            .any(|m| m["name"] == "fed-template"),
        "the template is never deleted"
    );
    env.assert_restart_writes_nothing().await;

    // Deleting the rule brings the GDP's templated monitors back.
    env.delete_host_rule("hm-cp").await;
    env.eventually("templated monitors again", || async {
        env.managed_monitors_of("hm.example.com").len() == 2
            && env
                .gslb_service("hm.example.com")
                .is_some_and(|gs| ref_names(&gs["health_monitor_refs"]).len() == 2)
    })
    .await;
    assert!(env.managed_monitors_of("hm.example.com").iter().all(|m| {
        m["http_monitor"]["http_request"]
            .as_str()
            .is_some_and(|r| r.starts_with("GET "))
    }),);
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_monitor_precedence_rule_over_gdp() {
    let mut env = Env::start("hm-precedence", EnvOptions::clusters(2)).await;
    create_template_monitor(&env).await;
    env.install_and_run(gdp(json!({"controlPlaneHmOnly": true,
                           "healthMonitorRefs": ["System-GSLB-HTTP"]})))
        .await;
    // y: the rule's template and controlPlaneHmOnly false win; z: the rule only lifts
    // controlPlaneHmOnly, so the GDP's refs apply; x: the GDP alone.
    apply_rule(
        &env,
        "y",
        json!({"fqdn": "y.example.com", "controlPlaneHmOnly": false,
               "healthMonitorTemplate": "fed-template"}),
    )
    .await;
    apply_rule(
        &env,
        "z",
        json!({"fqdn": "z.example.com", "controlPlaneHmOnly": false}),
    )
    .await;
    for fqdn in ["x", "y", "z"] {
        ingress(
            &env,
            "cluster1",
            fqdn,
            &format!("{fqdn}.example.com"),
            &["/p"],
            false,
        )
        .await;
    }
    // w: a TLS member; the template's request line goes into an HTTPS monitor.
    apply_rule(
        &env,
        "w",
        json!({"fqdn": "w.example.com", "controlPlaneHmOnly": false,
               "healthMonitorTemplate": "fed-template"}),
    )
    .await;
    ingress(&env, "cluster2", "w", "w.example.com", &["/secure"], true).await;
    let x = env.wait_gs("x.example.com", "x", |_| true).await;
    assert!(
        x["health_monitor_refs"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{x}"
    );
    let y = env
        .wait_gs("y.example.com", "y with a templated monitor", |gs| {
            ref_names(&gs["health_monitor_refs"]).len() == 1
        })
        .await;
    let managed = env.managed_monitors_of("y.example.com");
    assert_eq!(managed.len(), 1);
    assert_eq!(
        ref_names(&y["health_monitor_refs"]),
        [managed[0]["name"].as_str().unwrap_or("?")]
    );
    assert_eq!(
        managed[0]["http_monitor"]["http_request"],
        "GET /p HTTP/1.1"
    );
    let z = env
        .wait_gs("z.example.com", "z with the GDP's refs", |gs| {
            ref_names(&gs["health_monitor_refs"]) == ["System-GSLB-HTTP"]
        })
        .await;
    assert_eq!(z["groups"][0]["min_health_monitors_up"], 2);
    assert!(env.managed_monitors_of("x.example.com").is_empty());
    assert!(env.managed_monitors_of("z.example.com").is_empty());
    env.wait_gs("w.example.com", "w with a templated HTTPS monitor", |gs| {
        ref_names(&gs["health_monitor_refs"]).len() == 1
    })
    .await;
    let managed = env.managed_monitors_of("w.example.com");
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0]["type"], "HEALTH_MONITOR_HTTPS");
    assert_eq!(managed[0]["monitor_port"], 443);
    assert_eq!(
        managed[0]["https_monitor"]["http_request"],
        "GET /secure HTTP/1.1"
    );
    assert_eq!(
        managed[0]["https_monitor"]["http_response_code"],
        json!(["HTTP_2XX"])
    );
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// Edits the controller's GSLB configuration object through the API.
async fn edit_gslb(env: &Env, edit: impl FnOnce(&mut Value)) {
    let avi = env.avi_client();
    let mut gslb = avi
        .list("gslb", &[], Some("admin"))
        .await
        .expect("gslb")
        .into_iter()
        .next()
        .expect("one gslb object");
    let uuid = gslb["uuid"].as_str().expect("gslb uuid").to_owned();
    edit(&mut gslb);
    avi.update("gslb", &uuid, &gslb, Some("admin"))
        .await
        .expect("gslb updated");
}

/// Adds a third-party site to the controller's GSLB configuration through the API.
async fn add_third_party_site(env: &Env, site: &str) {
    edit_gslb(env, |gslb| {
        let mut sites = gslb["third_party_sites"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        sites.push(json!({"name": site, "enabled": true}));
        gslb["third_party_sites"] = Value::Array(sites);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_party_members_and_public_ips_from_a_host_rule() {
    let mut env = Env::start("third-party", EnvOptions::clusters(2)).await;
    add_third_party_site(&env, "legacy-dc").await;
    env.install_and_run(gdp(json!({"trafficSplit": [
        {"cluster": "cluster1", "weight": 4, "priority": 10},
        {"cluster": "cluster2", "weight": 6, "priority": 10}
    ]})))
    .await;
    ingress_in_both(&env, "web", "tp.example.com").await;
    env.wait_gs("tp.example.com", "GslbService", |gs| {
        members_of(gs).len() == 2
    })
    .await;
    let ip1 = vip(&env, "cluster1", "web", "tp.example.com").await;
    let ip2 = vip(&env, "cluster2", "web", "tp.example.com").await;

    apply_rule(
        &env,
        "tp",
        json!({"fqdn": "tp.example.com",
               "thirdPartyMembers": [{"site": "legacy-dc", "vip": "203.0.113.20", "publicIP": "198.51.100.20"}],
               "trafficSplit": [{"cluster": "legacy-dc", "weight": 2, "priority": 5}],
               "publicIP": [{"cluster": "cluster1", "ip": "198.51.100.30"},
                            {"cluster": "cluster2", "ip": "2001:db8::30"}]}),
    )
    .await;
    let gs = env
        .wait_gs("tp.example.com", "third-party member", |gs| {
            members_of(gs).len() == 3
        })
        .await;
    assert_eq!(
        sorted_pools(&gs),
        vec![
            pool(10, vec![(ip1.clone(), 4), (ip2.clone(), 6)]),
            pool(5, vec![("203.0.113.20".to_owned(), 2)]),
        ]
    );
    let members = members_of(&gs);
    let member = |ip: &str| {
        members
            .iter()
            .find(|m| m["ip"]["addr"] == ip)
            .cloned()
            .expect("member")
    };
    let third = member("203.0.113.20");
    assert_eq!(
        third["public_ip"],
        json!({"ip": {"addr": "198.51.100.20", "type": "V4"}})
    );
    assert!(third.get("vs_uuid").is_none_or(Value::is_null));
    assert!(third.get("cluster_uuid").is_none_or(Value::is_null));
    assert_eq!(
        member(&ip1)["public_ip"],
        json!({"ip": {"addr": "198.51.100.30", "type": "V4"}})
    );
    assert_eq!(
        member(&ip2)["public_ip"],
        json!({"ip": {"addr": "2001:db8::30", "type": "V6"}})
    );
    assert!(
        !gs["description"]
            .as_str()
            .unwrap_or_default()
            .contains("203.0.113.20"),
        "third-party members are not k8s objects"
    );

    // A site the controller does not know is rejected and changes nothing.
    apply_rule(
        &env,
        "tp-unknown",
        json!({"fqdn": "tp2.example.com",
               "thirdPartyMembers": [{"site": "nowhere-dc", "vip": "203.0.113.21"}]}),
    )
    .await;
    env.wait_host_rule_status("tp-unknown", "unknown site rejected", |s, e| {
        s == "Rejected" && e.contains("nowhere-dc")
    })
    .await;
    env.assert_restart_writes_nothing().await;

    // An edit that drops the third-party member removes it from the GslbService.
    apply_rule(
        &env,
        "tp",
        json!({"fqdn": "tp.example.com",
               "publicIP": [{"cluster": "cluster1", "ip": "198.51.100.30"}]}),
    )
    .await;
    let gs = env
        .wait_gs("tp.example.com", "third-party member gone", |gs| {
            members_of(gs).len() == 2
        })
        .await;
    assert_eq!(pools(&gs).len(), 1);
    assert!(
        members_of(&gs)
            .iter()
            .all(|m| m["ip"]["addr"] != "203.0.113.20")
    );
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_host_rules_are_rejected_and_the_last_good_one_stays() {
    let mut env = started("invalid-rule", gdp(json!({"ttl": 30}))).await;
    ingress_in_both(&env, "a", "a.example.com").await;
    let gs = env
        .wait_gs("a.example.com", "GslbService", |gs| {
            members_of(gs).len() == 2
        })
        .await;
    let gdp_refs = ref_names(&gs["health_monitor_refs"]);
    assert_eq!(gdp_refs.len(), 1);

    // A monitor that does not exist.
    apply_rule(
        &env,
        "bad-ref",
        json!({"fqdn": "a.example.com", "ttl": 5, "healthMonitorRefs": ["no-such-monitor"]}),
    )
    .await;
    env.wait_host_rule_status("bad-ref", "missing monitor rejected", |s, e| {
        s == "Rejected" && e.contains("no-such-monitor") && e.contains("not found")
    })
    .await;
    // A monitor that exists but is not federated (a GslbService cannot use it).
    apply_rule(
        &env,
        "bad-ref",
        json!({"fqdn": "a.example.com", "ttl": 5, "healthMonitorRefs": ["System-HTTP"]}),
    )
    .await;
    env.wait_host_rule_status("bad-ref", "non-federated monitor rejected", |s, e| {
        s == "Rejected" && e.contains("System-HTTP") && e.contains("not federated")
    })
    .await;
    env.delete_host_rule("bad-ref").await;

    // Refs and template together: the CRD's validation refuses the object outright.
    let refused = env.try_put_host_rule(
        HOME,
        "both",
        json!({"fqdn": "a.example.com", "ttl": 5,
               "healthMonitorRefs": ["System-GSLB-HTTP"], "healthMonitorTemplate": "System-GSLB-HTTP"}),
    )
    .await
    .expect_err("refs and template together are refused");
    assert!(
        refused.to_string().contains("cannot be specified together"),
        "{refused}"
    );
    // A template that is not an HTTP(S) monitor is only known to the controller.
    apply_rule(
        &env,
        "both",
        json!({"fqdn": "a.example.com", "ttl": 5, "healthMonitorTemplate": "System-GSLB-TCP"}),
    )
    .await;
    env.wait_host_rule_status("both", "non-HTTP template rejected", |s, e| {
        s == "Rejected" && e.contains("System-GSLB-TCP")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let gs = env.gslb_service("a.example.com").expect("a");
    assert_eq!(gs["ttl"], 30, "rejected rules change nothing");
    assert_eq!(ref_names(&gs["health_monitor_refs"]), gdp_refs);

    // Fixed: accepted and applied.
    apply_rule(
        &env,
        "both",
        json!({"fqdn": "a.example.com", "ttl": 5, "healthMonitorRefs": ["System-GSLB-HTTP"]}),
    )
    .await;
    env.wait_host_rule_status("both", "accepted", |s, e| s == "Accepted" && e.is_empty())
        .await;
    env.wait_gs("a.example.com", "the rule in force", |gs| {
        gs["ttl"] == 5 && ref_names(&gs["health_monitor_refs"]) == ["System-GSLB-HTTP"]
    })
    .await;
    env.eventually("the GDP's managed monitor deleted", || async {
        env.managed_monitors_of("a.example.com").is_empty()
    })
    .await;

    // Broken again: rejected, says the previous version stays, and it does.
    apply_rule(
        &env,
        "both",
        json!({"fqdn": "a.example.com", "ttl": 7,
               "downResponse": {"type": "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP", "fallbackIP": "not-an-ip"},
               "healthMonitorRefs": ["System-GSLB-HTTP"]}),
    )
    .await;
    env.wait_host_rule_status("both", "invalid edit rejected", |s, e| {
        s == "Rejected" && e.contains("not-an-ip") && e.contains("stays in force")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let gs = env.gslb_service("a.example.com").expect("a");
    assert_eq!(gs["ttl"], 5);
    assert_eq!(ref_names(&gs["health_monitor_refs"]), ["System-GSLB-HTTP"]);

    // A restart keeps that promise: the accepted version is recorded on the rule, so the
    // rejected edit still does not reach the controller.
    env.assert_restart_writes_nothing().await;
    let gs = env.gslb_service("a.example.com").expect("a");
    assert_eq!(gs["ttl"], 5);
    env.wait_host_rule_status("both", "still rejected, old version in force", |s, e| {
        s == "Rejected" && e.contains("not-an-ip") && e.contains("stays in force")
    })
    .await;
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_rule_for_an_fqdn_is_rejected_and_deleting_rules_reverts_to_the_gdp() {
    let mut env = Env::start("rule-conflict", EnvOptions::clusters(2)).await;
    add_third_party_site(&env, "legacy-dc").await;
    env.install_and_run(gdp(json!({"ttl": 30}))).await;
    ingress_in_both(&env, "a", "a.example.com").await;
    env.wait_gs("a.example.com", "GslbService", |gs| {
        members_of(gs).len() == 2
    })
    .await;

    apply_rule(
        &env,
        "first",
        json!({"fqdn": "a.example.com", "ttl": 5,
               "thirdPartyMembers": [{"site": "legacy-dc", "vip": "203.0.113.20"}]}),
    )
    .await;
    env.wait_host_rule_status("first", "first accepted", |s, _| s == "Accepted")
        .await;
    env.wait_gs("a.example.com", "first rule applied", |gs| {
        gs["ttl"] == 5 && members_of(gs).len() == 3
    })
    .await;
    apply_rule(
        &env,
        "second",
        json!({"fqdn": "a.example.com", "ttl": 7,
               "thirdPartyMembers": [{"site": "legacy-dc", "vip": "203.0.113.21"}]}),
    )
    .await;
    env.wait_host_rule_status("second", "second rejected", |s, e| {
        s == "Rejected" && e.contains("existing GSLBHostRule") && e.contains("first")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(env.gslb_service("a.example.com").expect("a")["ttl"], 5);

    // Deleting the first lets the second take over; the third-party member goes with the first.
    env.delete_host_rule("first").await;
    env.wait_host_rule_status("second", "second accepted", |s, e| {
        s == "Accepted" && e.is_empty()
    })
    .await;
    let gs = env
        .wait_gs("a.example.com", "second rule applied", |gs| gs["ttl"] == 7)
        .await;
    let third_party: Vec<Value> = members_of(&gs)
        .into_iter()
        .filter(|m| {
            m["ip"]["addr"]
                .as_str()
                .is_some_and(|a| a.starts_with("203.0.113."))
        })
        .map(|m| m["ip"]["addr"].clone())
        .collect();
    assert_eq!(
        third_party,
        ["203.0.113.21"],
        "only the second rule's member: {gs}"
    );

    // Deleting the last rule reverts to the GDP.
    env.delete_host_rule("second").await;
    let gs = env
        .wait_gs("a.example.com", "GDP properties again", |gs| {
            gs["ttl"] == 30
        })
        .await;
    assert_eq!(members_of(&gs).len(), 2, "third-party member removed: {gs}");

    // A rule in an application namespace works the same (its namespace has no tenant
    // annotation, so it maps to the default tenant); moving it to another FQDN reverts the first.
    ingress_in_both(&env, "b", "b.example.com").await;
    env.wait_gs("b.example.com", "b", |gs| members_of(gs).len() == 2)
        .await;
    env.put_host_rule(
        "shop",
        "movable",
        json!({"fqdn": "a.example.com", "ttl": 21}),
    )
    .await;
    env.wait_gs("a.example.com", "rule from namespace shop", |gs| {
        gs["ttl"] == 21
    })
    .await;
    env.put_host_rule(
        "shop",
        "movable",
        json!({"fqdn": "b.example.com", "ttl": 21}),
    )
    .await;
    env.wait_gs("b.example.com", "rule moved to b", |gs| gs["ttl"] == 21)
        .await;
    env.wait_gs("a.example.com", "a reverted", |gs| gs["ttl"] == 30)
        .await;
    let status = env.host_rule_status("shop", "movable").await;
    assert_eq!(status.map(|(s, _)| s).as_deref(), Some("Accepted"));

    // A rule for an FQDN nothing serves yet waits; the GslbService is created with it at once.
    apply_rule(&env, "early", json!({"fqdn": "c.example.com", "ttl": 11})).await;
    env.wait_host_rule_status("early", "early rule accepted", |s, _| s == "Accepted")
        .await;
    let before = env.writes();
    ingress_in_both(&env, "c", "c.example.com").await;
    env.wait_gs("c.example.com", "GslbService with the rule's TTL", |gs| {
        gs["ttl"] == 11 && members_of(gs).len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let gs_writes = env.gs_writes_since(before);
    // Created once (the two clusters' Ingresses may land in the POST or in one update).
    assert!(
        gs_writes.first().map(String::as_str) == Some("POST c.example.com") && gs_writes.len() <= 2,
        "{gs_writes:?}"
    );
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_gdp_deletes_its_gslb_services_and_their_monitors() {
    let env = started("gdp-delete", gdp(json!({}))).await;
    ingress_in_both(&env, "a", "a.example.com").await;
    ingress(&env, "cluster1", "b", "b.example.com", &["/x", "/y"], false).await;
    for fqdn in ["a.example.com", "b.example.com"] {
        env.wait_gs(fqdn, "GslbService", |gs| {
            gs["health_monitor_refs"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        })
        .await;
    }
    assert_eq!(env.managed_monitors_of("b.example.com").len(), 2);
    apply_rule(&env, "b-ttl", json!({"fqdn": "b.example.com", "ttl": 13})).await;
    env.wait_gs("b.example.com", "rule applied", |gs| gs["ttl"] == 13)
        .await;
    let system_monitors = env
        .health_monitors()
        .iter()
        .filter(|m| m["name"].as_str().is_some_and(|n| n.starts_with("System-")))
        .count();

    env.delete::<GlobalDeploymentPolicy>("cluster1", HOME, "global-gdp")
        .await;
    env.eventually("GslbServices and managed monitors gone", || async {
        env.gslb_services().is_empty() && !env.has_managed_monitors()
    })
    .await;
    assert_eq!(
        env.health_monitors()
            .iter()
            .filter(|m| m["name"].as_str().is_some_and(|n| n.starts_with("System-")))
            .count(),
        system_monitors,
        "monitors amko-rs does not own stay"
    );

    // A new GDP selects them again; the GSLBHostRule still applies.
    env.apply_gdp(gdp(json!({"ttl": 40}))).await; // a new object: apply creates it
    env.wait_gs("a.example.com", "GslbService recreated", |gs| {
        gs["ttl"] == 40 && members_of(gs).len() == 2
    })
    .await;
    env.wait_gs("b.example.com", "recreated with the rule", |gs| {
        gs["ttl"] == 13
    })
    .await;
    assert_eq!(env.managed_monitors_of("b.example.com").len(), 2);
    env.eventually("GDP status success", || async {
        env.gdp_status().await == "success"
    })
    .await;
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_more_paths_than_monitors_allowed_still_gets_a_gslb_service() {
    let env = started("many-paths", gdp(json!({}))).await;
    let paths = ["/a", "/b", "/c", "/d", "/e", "/f", "/g"];
    ingress(&env, "cluster1", "many", "many.example.com", &paths, false).await;
    // The controller takes at most six monitors per GslbService: the first six paths are
    // monitored, and no monitor is created that nothing references.
    let gs = env
        .wait_gs("many.example.com", "GslbService", |gs| {
            ref_names(&gs["health_monitor_refs"]).len() == 6
        })
        .await;
    let managed = env.managed_monitors_of("many.example.com");
    assert_eq!(
        http_requests(&managed),
        paths[..6]
            .iter()
            .map(|p| format!("HEAD {p} HTTP/1.0"))
            .collect::<Vec<_>>()
    );
    assert_refs_are(&gs, &managed);

    // Seven user refs are refused when the rule is checked, not by the controller later.
    for name in ["hm-1", "hm-2", "hm-3"] {
        env.avi_client()
            .create(
                "healthmonitor",
                &json!({"name": name, "type": "HEALTH_MONITOR_PING", "is_federated": true}),
                None,
            )
            .await
            .expect("monitor");
    }
    apply_rule(
        &env,
        "seven",
        json!({"fqdn": "many.example.com", "healthMonitorRefs": [
            "System-GSLB-Ping", "System-GSLB-TCP", "System-GSLB-HTTP", "System-GSLB-HTTPS",
            "hm-1", "hm-2", "hm-3"]}),
    )
    .await;
    env.wait_host_rule_status("seven", "seven refs rejected", |s, e| {
        s == "Rejected" && e.contains("at most 6")
    })
    .await;
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_of_a_gslb_service_the_controller_refused_are_cleaned_up() {
    let mut env = Env::start("refused", EnvOptions::clusters(2)).await;
    // The controller only takes FQDNs under its GSLB DNS subdomain.
    edit_gslb(&env, |gslb| {
        gslb["dns_configs"] = json!([{"domain_name": "example.com"}]);
    })
    .await;
    env.install_and_run(gdp(json!({}))).await;

    // Monitors come first, then the controller refuses the GslbService.
    for (name, host) in [("one", "one.example.org"), ("two", "two.example.org")] {
        ingress(&env, "cluster1", name, host, &["/"], false).await;
    }
    env.eventually("monitors created for the refused GslbServices", || async {
        env.managed_monitors_of("one.example.org").len() == 1
            && env.managed_monitors_of("two.example.org").len() == 1
    })
    .await;
    assert!(env.gslb_service("one.example.org").is_none());
    // A GSLBHostRule for the FQDN is valid, and its status tells why nothing happens.
    apply_rule(&env, "one", json!({"fqdn": "one.example.org", "ttl": 5})).await;
    env.wait_host_rule_status("one", "the controller's refusal in the status", |s, e| {
        s == "Accepted" && e.contains("one.example.org") && e.contains("subdomain")
    })
    .await;

    // The Ingress goes while the operator runs: its monitor goes with it.
    env.delete::<Ingress>("cluster1", "shop", "one").await;
    env.eventually("monitor of one.example.org deleted", || async {
        env.managed_monitors_of("one.example.org").is_empty()
    })
    .await;
    env.wait_host_rule_status("one", "nothing left to refuse", |s, e| {
        s == "Accepted" && e.is_empty()
    })
    .await;

    // The Ingress goes while the operator is down: the restart finds the monitor and deletes it.
    env.stop_operator();
    env.delete::<Ingress>("cluster1", "shop", "two").await;
    env.start_operator(&[]);
    env.wait_ready().await;
    env.eventually("monitor of two.example.org deleted", || async {
        env.managed_monitors_of("two.example.org").is_empty()
    })
    .await;
    harness::remove_dir(&env.dir);
}
