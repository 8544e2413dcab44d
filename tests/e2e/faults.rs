//! End-to-end: refresh and failure handling of `amko run`. An in-sync refresh writes nothing; an
//! out-of-band edit is put back at the next refresh and an owned orphan is deleted; a member
//! cluster that goes away keeps its members; controller faults (429 storm, 5xx, outage, expired
//! sessions, follower mode) delay convergence but never duplicate or lose objects.

mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use amko::crd::GlobalDeploymentPolicy;
use amko_sim::avi::RateLimitConfig;
use amko_sim::k8s::Down;
use harness::{CREATED_BY, Env, EnvOptions, gdp, members_of};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::json;

/// Two clusters, the GDP selecting both, and `amko run` with `args`.
async fn start(name: &str, args: &[&str]) -> Env {
    let gdp = gdp(&["cluster1", "cluster2"], json!({}));
    Env::start(name, EnvOptions::clusters(2).install(gdp).run(args)).await
}

/// `web` in namespace `shop` of both clusters for `host`, and the GslbService with both members.
async fn in_both_clusters(env: &Env, host: &str) {
    for cluster in ["cluster1", "cluster2"] {
        env.create_gslb_ingress(cluster, "shop", "web", host).await;
    }
    env.eventually("two members", || async { env.has_gs_with_members(host, 2) })
        .await;
}

/// No name appears twice among the controller's GslbServices and health monitors.
fn assert_no_duplicates(env: &Env) {
    for objects in [env.gslb_services(), env.health_monitors()] {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for o in objects {
            *seen
                .entry(o["name"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        assert!(seen.values().all(|n| *n == 1), "duplicates: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_writes_nothing_when_in_sync_and_repairs_drift() {
    let env = start("refresh", &["--refresh-secs", "2"]).await;
    in_both_clusters(&env, "drift.example.com").await;

    // Two refreshes later, still no write.
    let before = env.writes();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        env.writes(),
        before,
        "an in-sync refresh wrote\n{}",
        env.log()
    );

    // Someone edits our GslbService: the next refresh puts it back.
    let client = env.avi_client();
    let mut edited = env.gslb_service("drift.example.com").expect("gs");
    let uuid = edited["uuid"].as_str().expect("uuid").to_owned();
    edited["groups"][0]["members"][0]["ratio"] = json!(7);
    edited["ttl"] = json!(999);
    client
        .update("gslbservice", &uuid, &edited, Some("admin"))
        .await
        .expect("out-of-band edit");
    env.wait_gs("drift.example.com", "drift repaired", |gs| {
        gs["ttl"].is_null() && gs["groups"][0]["members"][0]["ratio"] == 1
    })
    .await;

    // An owned GslbService nothing wants (say, left by a crash) is deleted at refresh; one
    // owned by someone else is not.
    for (name, owner) in [
        ("orphan.example.com", CREATED_BY),
        ("theirs.example.com", "someone-else"),
    ] {
        let body = json!({"name": name, "created_by": owner, "domain_names": [name],
            "groups": [{"name": "g", "priority": 10, "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN",
                        "members": [{"ip": {"addr": "192.0.2.9", "type": "V4"}, "ratio": 1}]}]});
        client
            .create("gslbservice", &body, Some("admin"))
            .await
            .expect("create");
    }
    env.eventually("orphan deleted", || async {
        env.gslb_service("orphan.example.com").is_none()
    })
    .await;
    assert!(
        env.gslb_service("theirs.example.com").is_some(),
        "a foreign object was deleted"
    );
    let metrics = env.metrics().await;
    assert!(metrics.contains("amko_drift_repairs_total"), "{metrics}");
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_member_cluster_keeps_its_members() {
    let env = start("cluster-down", &[]).await;
    in_both_clusters(&env, "stay.example.com").await;
    let before = env.writes();
    let faults = env.clusters.faults("cluster2").expect("cluster2");
    faults.set_down(Down::Refused);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        env.writes(),
        before,
        "an unreachable cluster caused writes\n{}",
        env.log()
    );
    assert_eq!(
        env.gslb_service("stay.example.com")
            .map(|gs| members_of(&gs).len()),
        Some(2)
    );
    let members = env
        .get("/debug/members")
        .await
        .map(|(_, b)| b)
        .unwrap_or_default();
    assert!(members.contains("\"connected\":false"), "{members}");

    // Back: changes there converge again.
    faults.set_down(Down::No);
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.delete::<Ingress>("cluster2", "shop", "web").await;
    env.eventually_within(
        "member of the returned cluster removed",
        Duration::from_secs(40),
        || async { env.has_gs_with_members("stay.example.com", 1) },
    )
    .await;
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_faults_delay_but_never_duplicate() {
    let env = start("avi-faults", &["--avi-rate", "1000", "--avi-burst", "1000"]).await;
    let control = env.avi.control();

    // A 429 storm: the controller allows far less than the operator's budget.
    control.set_rate_limit(Some(RateLimitConfig {
        rate_per_sec: 5.0,
        burst: 2,
        delay: false,
        ..RateLimitConfig::default()
    }));
    for i in 0..6 {
        env.create_gslb_ingress(
            "cluster1",
            "a",
            &format!("w{i}"),
            &format!("storm{i}.example.com"),
        )
        .await;
    }
    env.eventually_within("all six despite 429s", Duration::from_secs(60), || async {
        (0..6).all(|i| env.gslb_service(&format!("storm{i}.example.com")).is_some())
    })
    .await;
    control.set_rate_limit(None);
    assert!(
        control.audit_log().iter().any(|e| e.status == 429)
            || control.counters().entries.iter().any(|e| e.status == 429),
        "the storm produced 429s"
    );

    // 5xx on half the requests, then a full outage.
    control.set_error_rate(0.5, 503);
    env.create_gslb_ingress("cluster2", "b", "w", "flaky.example.com")
        .await;
    env.eventually_within("written despite 5xx", Duration::from_secs(60), || async {
        env.gslb_service("flaky.example.com").is_some()
    })
    .await;
    control.set_error_rate(0.0, 503);
    control.set_outage(true);
    env.create_gslb_ingress("cluster2", "b", "w2", "outage.example.com")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    control.set_outage(false);
    env.eventually_within(
        "written after the outage",
        Duration::from_secs(60),
        || async { env.gslb_service("outage.example.com").is_some() },
    )
    .await;

    // Every session expires: the operator logs in again.
    control.expire_sessions();
    env.create_gslb_ingress("cluster1", "c", "w", "relogin.example.com")
        .await;
    env.eventually("written after sessions expired", || async {
        env.gslb_service("relogin.example.com").is_some()
    })
    .await;

    // Follower mode: writes pause, then resume when the controller leads again.
    control.set_follower(true).expect("follower");
    env.create_gslb_ingress("cluster1", "c", "w2", "leader.example.com")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        env.gslb_service("leader.example.com").is_none(),
        "written to a follower"
    );
    control.set_follower(false).expect("leader again");
    env.eventually_within(
        "written once the controller leads again",
        Duration::from_secs(60),
        || async { env.gslb_service("leader.example.com").is_some() },
    )
    .await;
    assert_no_duplicates(&env);
    assert_eq!(env.gslb_services().len(), 10);
    harness::remove_dir(&env.dir);
}

/// Any kubeconfig context name is a cluster name: with an EKS and an OpenShift context name (they
/// hold `/`, `:` and `@`), a restart while one cluster is unreachable keeps that cluster's members
/// (the boot guard reads the clusters back from the GslbService description) and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_world_context_names_survive_a_restart_during_an_outage() {
    const EKS: &str = "arn:aws:eks:eu-west-1:123456789012:cluster/prod";
    const OCP: &str = "default/api-ocp-example-com:6443/kube:admin@ocp";
    let gdp = gdp(&[EKS, OCP], json!({}));
    let mut env = Env::start(
        "context-names",
        EnvOptions::named(&[EKS, OCP]).install(gdp).run(&[]),
    )
    .await;
    for cluster in [EKS, OCP] {
        env.create_gslb_ingress(cluster, "shop", "web", "names.example.com")
            .await;
    }
    env.eventually("two members", || async {
        env.has_gs_with_members("names.example.com", 2)
    })
    .await;
    let description = env
        .gslb_service("names.example.com")
        .map(|gs| gs["description"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let clusters = amko::model::identity::clusters_in_description(&description);
    assert!(
        clusters.contains(EKS) && clusters.contains(OCP),
        "{description} reads back as {clusters:?}"
    );

    env.stop_operator();
    let before = env.writes();
    let faults = env
        .clusters
        .faults(OCP)
        .expect("the OpenShift-named cluster");
    faults.set_down(Down::Refused);
    env.start_operator(&["--boot-timeout-secs", "1"]);
    env.wait_ready().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.writes(),
        before,
        "a restart during the outage wrote\n{}",
        env.log()
    );
    assert!(
        env.has_gs_with_members("names.example.com", 2),
        "{}",
        env.log()
    );
    faults.set_down(Down::No);
    harness::remove_dir(&env.dir);
}

/// A watch gap on the cluster amko-rs runs in: a GSLBHostRule deleted meanwhile stops being in
/// force once the watch relists (the GslbService's TTL reverts to the GDP's); a GDP made invalid
/// meanwhile keeps its last good version in force; and a GDP deleted meanwhile is treated exactly
/// like a deleted GDP: its GslbServices and their managed monitors are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_deleted_during_a_watch_gap_is_dropped_at_the_relist() {
    let policy = gdp(&["cluster1", "cluster2"], json!({"ttl": 30}));
    let env = Env::start(
        "policy-relist",
        EnvOptions::clusters(2).install(policy).run(&[]),
    )
    .await;
    in_both_clusters(&env, "gap.example.com").await;
    env.put_host_rule(
        harness::HOME,
        "gap-ttl",
        json!({"fqdn": "gap.example.com", "ttl": 13}),
    )
    .await;
    env.wait_gs("gap.example.com", "the rule's TTL", |gs| gs["ttl"] == 13)
        .await;
    let home = env
        .clusters
        .faults(env.home_cluster())
        .expect("home cluster");

    // The rule is deleted while the watches are held: no watch event tells the operator.
    home.hold_watches();
    env.delete_host_rule("gap-ttl").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        env.gslb_service("gap.example.com")
            .map(|gs| gs["ttl"].clone()),
        Some(json!(13)),
        "the operator saw the deletion during the gap: the gap is not one\n{}",
        env.log()
    );
    home.release_watches();
    env.wait_gs("gap.example.com", "the GDP's TTL after the relist", |gs| {
        gs["ttl"] == 30
    })
    .await;
    // Every watch relists about a second after its 410 (the watcher's backoff); a list made during
    // the next gap would see that gap's deletion, so let them all finish first.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // A typo made during a gap is an invalid edit, not a deletion: the last good GDP stays in
    // force and no GslbService goes.
    home.hold_watches();
    env.replace_gdp(gdp(&["cluster1", "nowhere"], json!({"ttl": 30})))
        .await;
    home.release_watches();
    env.eventually("the GDP says its last good version stays", || async {
        env.gdp_status().await.contains("stays in force")
    })
    .await;
    assert!(
        env.has_gs_with_members("gap.example.com", 2),
        "an invalid GDP seen at a relist changed the GslbService\n{}",
        env.log()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The GDP is deleted during a gap: as if deleted in plain sight, its GslbServices go.
    home.hold_watches();
    env.delete::<GlobalDeploymentPolicy>(env.home_cluster(), harness::HOME, "global-gdp")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        env.gslb_service("gap.example.com").is_some(),
        "the operator saw the deletion during the gap: the gap is not one\n{}",
        env.log()
    );
    home.release_watches();
    env.eventually("GslbServices and managed monitors gone", || async {
        env.gslb_services().is_empty() && !env.has_managed_monitors()
    })
    .await;
    harness::remove_dir(&env.dir);
}

/// Refreshes race writes: with every list answered 2 s after it was read, each refresh is in
/// flight while the writer updates one GslbService and deletes another. The refresh that lands
/// afterwards brings the controller's state from before those writes; the writer keeps their
/// effect, so nothing is written twice: no second update, no second delete of the deleted one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_in_flight_does_not_undo_the_writes_made_meanwhile() {
    let env = start("refresh-race", &["--refresh-secs", "1"]).await;
    env.create_gslb_ingress("cluster1", "shop", "a", "race-a.example.com")
        .await;
    env.create_gslb_ingress("cluster1", "shop", "b", "race-b.example.com")
        .await;
    env.eventually("both written", || async {
        env.has_gs_with_members("race-a.example.com", 1)
            && env.has_gs_with_members("race-b.example.com", 1)
    })
    .await;
    let control = env.avi.control();
    let lists = || {
        control
            .counters()
            .count(Some("GET"), Some("gslbservice"), Some(200))
    };
    // Lists answered since `from` (counted when answered).
    let wait_lists = |what: &'static str, from: u64| {
        env.eventually(what, move || async move { lists() >= from + 2 })
    };
    control.set_list_delay(Duration::from_secs(2));
    // A refresh is in flight from now on, nearly all the time.
    wait_lists("slow refreshes running", lists()).await;

    let mark = env.writes();
    env.create_gslb_ingress("cluster2", "shop", "a", "race-a.example.com")
        .await;
    env.eventually("the update", || async {
        env.has_gs_with_members("race-a.example.com", 2)
    })
    .await;
    env.delete::<Ingress>("cluster1", "shop", "b").await;
    env.eventually("the delete", || async {
        env.gslb_service("race-b.example.com").is_none()
    })
    .await;
    // The refresh in flight during the delete, and the one after it, have landed.
    wait_lists("two refreshes after the writes", lists()).await;
    control.set_list_delay(Duration::ZERO);
    assert_eq!(
        env.gs_writes_since(mark),
        ["PUT race-a.example.com", "DELETE race-b.example.com"],
        "a stale refresh undid a write (audit: {:?})\n{}",
        env.audit_since(mark),
        env.log()
    );
    let gone: Vec<_> = env
        .audit_since(mark)
        .into_iter()
        .filter(|e| e.status == 404)
        .collect();
    assert!(
        gone.is_empty(),
        "writes of objects already deleted: {gone:?}"
    );
    assert_no_duplicates(&env);
    harness::remove_dir(&env.dir);
}

/// At the controller's limit a cold start spends the request budget on writes: the periodic
/// refresh (here every 2 s) waits until the backlog has drained instead of re-reading the
/// controller while about 24 s of creates wait for budget (240 creates at 10 requests/s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_at_the_budget_reads_the_controller_once() {
    let gdp = gdp(&["cluster1", "cluster2"], json!({}));
    let mut env = Env::start("at-budget", EnvOptions::clusters(2).install(gdp)).await;
    const HOSTS: usize = 120;
    for i in 0..HOSTS {
        env.create_gslb_ingress(
            "cluster1",
            "shop",
            &format!("web{i}"),
            &format!("b{i}.example.com"),
        )
        .await;
    }
    let control = env.avi.control().clone();
    let listings = || {
        control
            .counters()
            .count(Some("GET"), Some("gslbservice"), None)
    };
    assert_eq!(listings(), 0, "nothing read the controller yet");
    env.start_operator(&[
        "--avi-rate",
        "10",
        "--avi-burst",
        "1",
        "--refresh-secs",
        "2",
    ]);
    env.eventually_within(
        "every GslbService and monitor created",
        Duration::from_secs(120),
        || async {
            let managed = env
                .health_monitors()
                .iter()
                .filter(|m| m["name"].as_str().is_some_and(|n| n.starts_with("amko--")))
                .count();
            env.gslb_services().len() == HOSTS && managed == HOSTS
        },
    )
    .await;
    let reads = listings();
    // The boot read, the postponed refresh (it starts once the last write has landed) and at
    // most one regular one after it. Before the refresh waited for the backlog: 9 in this time.
    assert!(
        reads <= 3,
        "{reads} listings of GslbServices during a cold start that only needed one\n{}",
        env.log()
    );
    assert_no_duplicates(&env);
    harness::remove_dir(&env.dir);
}
