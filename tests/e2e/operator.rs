//! End-to-end scenarios of `amko run` against the simulated member clusters and Avi controller
//! (see `harness.rs`). Each asserts the controller's GslbServices and monitors, CR status, and
//! where it matters the number of controller writes from the simulator's audit log.

mod harness;

use std::time::Duration;

use futures::StreamExt;

use amko::crd::{GlobalDeploymentPolicy, GslbConfig, GslbHostRule};
use harness::{
    CREATED_BY, Env, EnvOptions, HOME, assert_member_placed, gdp, gslb_host_rule, members_of,
};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn two_cluster_gdp() -> Value {
    gdp(
        &["cluster1", "cluster2"],
        json!({
            "trafficSplit": [
                {"cluster": "cluster1", "weight": 15, "priority": 20},
                {"cluster": "cluster2", "weight": 5, "priority": 20}
            ],
            "ttl": 30
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_in_two_clusters_becomes_one_gslb_service_and_restart_writes_nothing() {
    let options = EnvOptions::clusters(2).install(two_cluster_gdp()).run(&[]);
    let mut env = Env::start("two-clusters", options).await;

    for cluster in ["cluster1", "cluster2"] {
        env.create_gslb_ingress(cluster, "shop", "web", "shop.example.com")
            .await;
    }
    // An Ingress the selector does not pick.
    env.create_ingress(
        "cluster1",
        "shop",
        "other",
        "other.example.com",
        json!({"app": "nope"}),
    )
    .await;
    let gs = env
        .wait_gs("shop.example.com", "a GslbService with two members", |gs| {
            members_of(gs).len() == 2
        })
        .await;
    assert_eq!(gs["created_by"], CREATED_BY);
    assert_eq!(gs["ttl"], 30);
    assert_eq!(
        gs["groups"].as_array().map(Vec::len),
        Some(1),
        "both clusters share priority 20"
    );
    assert_eq!(gs["groups"][0]["priority"], 20);
    for (cluster, weight) in [("cluster1", 15), ("cluster2", 5)] {
        let placement = env
            .ingress_placement(cluster, "shop", "web", "shop.example.com")
            .await;
        assert_member_placed(&gs, &placement);
        assert_eq!(
            harness::member_with_ip(&gs, &placement.vip)["ratio"],
            weight
        );
    }
    assert!(
        env.gslb_service("other.example.com").is_none(),
        "not selected"
    );
    let monitors = env.health_monitors();
    let refs = gs["health_monitor_refs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(refs.len(), 1);
    assert!(monitors.iter().any(
        |m| m["name"].as_str().is_some_and(|n| n.starts_with("amko--"))
            && m["is_federated"] == true
    ));

    // Status on the CRs.
    let home = env.home().await;
    let gc = Api::<GslbConfig>::namespaced(home.clone(), HOME)
        .get("gc-1")
        .await
        .expect("gc");
    assert_eq!(
        gc.status.map(|s| s.state).as_deref(),
        Some("success: gslb config accepted")
    );
    let gdp = Api::<GlobalDeploymentPolicy>::namespaced(home.clone(), HOME)
        .get("global-gdp")
        .await
        .expect("gdp");
    assert_eq!(
        gdp.status.map(|s| s.error_status).as_deref(),
        Some("success")
    );

    // A restart with nothing changed writes nothing.
    env.assert_restart_writes_nothing().await;

    // Deleting one Ingress removes its member; deleting the last removes the GslbService and its
    // managed monitors.
    env.delete::<Ingress>("cluster2", "shop", "web").await;
    env.eventually("one member left", || async {
        env.has_gs_with_members("shop.example.com", 1)
    })
    .await;
    env.delete::<Ingress>("cluster1", "shop", "web").await;
    env.eventually("GslbService and monitors gone", || async {
        env.gslb_service("shop.example.com").is_none() && !env.has_managed_monitors()
    })
    .await;
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_policy_keeps_the_last_good_one_and_foreign_objects_are_never_touched() {
    let mut env = Env::start("policy", EnvOptions::clusters(2).install(two_cluster_gdp())).await;
    // A GslbService someone else owns, with a name we would also want.
    let foreign = json!({
        "name": "taken.example.com", "created_by": "someone-else", "domain_names": ["taken.example.com"],
        "groups": [{"name": "g", "priority": 10, "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN",
                    "members": [{"ip": {"addr": "192.0.2.1", "type": "V4"}, "ratio": 1}]}]
    });
    let foreign_before = env
        .avi_client()
        .create("gslbservice", &foreign, Some("admin"))
        .await
        .expect("foreign GS");
    env.start_operator(&[]);
    env.wait_ready().await;
    env.create_gslb_ingress("cluster1", "shop", "web", "shop.example.com")
        .await;
    env.create_gslb_ingress("cluster2", "shop", "taken", "taken.example.com")
        .await;
    env.wait_gs("shop.example.com", "shop GslbService", |_| true)
        .await;

    // An edit naming a cluster the GSLBConfig does not have: rejected, the old policy stays.
    let mut bad = two_cluster_gdp();
    bad["matchClusters"] = json!([{"cluster": "cluster1"}, {"cluster": "nowhere"}]);
    env.apply_gdp(bad).await;
    env.eventually("GDP status names the problem", || async {
        let status = env.gdp_status().await;
        status.contains("nowhere") && status.contains("stays in force")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let gs = env.gslb_service("shop.example.com").expect("still there");
    assert_eq!(
        members_of(&gs)[0]["ratio"],
        15,
        "previous traffic split still applied"
    );

    // A GSLBHostRule changes the TTL of one FQDN.
    let home = env.home().await;
    let rule = gslb_host_rule(
        HOME,
        "shop-rule",
        json!({"fqdn": "shop.example.com", "ttl": 5}),
    );
    Api::<GslbHostRule>::namespaced(home.clone(), HOME)
        .create(&PostParams::default(), &rule)
        .await
        .expect("rule created");
    env.wait_gs("shop.example.com", "TTL from the GSLBHostRule", |gs| {
        gs["ttl"] == 5
    })
    .await;
    let rule = Api::<GslbHostRule>::namespaced(home.clone(), HOME)
        .get("shop-rule")
        .await
        .expect("rule");
    assert_eq!(rule.status.map(|s| s.status).as_deref(), Some("Accepted"));

    // The foreign GslbService was never modified.
    let foreign_now = env
        .gslb_service("taken.example.com")
        .expect("foreign GS still there");
    assert_eq!(
        foreign_now["_last_modified"],
        foreign_before["_last_modified"]
    );
    assert_eq!(foreign_now["created_by"], "someone-else");
    assert!(
        !env.avi
            .control()
            .audit_log()
            .iter()
            .any(|e| e.name == "taken.example.com" && e.method != "POST"),
        "no write ever touched the foreign object"
    );
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_changes_to_one_fqdn_is_coalesced() {
    let options = EnvOptions::clusters(1)
        .install(gdp(&["cluster1"], json!({})))
        .run(&["--coalesce-ms", "300"]);
    let env = Env::start("burst", options).await;
    env.create_gslb_ingress("cluster1", "shop", "web", "burst.example.com")
        .await;
    env.wait_gs("burst.example.com", "GslbService", |_| true)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = env.writes();
    // 50 concurrent edits, each giving the host another path: every one changes the monitors the
    // GslbService references, so each would cost a GslbService write without coalescing.
    let api = Api::<Ingress>::namespaced(env.client("cluster1").await, "shop");
    let started = std::time::Instant::now();
    let edits = (0..50).map(|i| {
        let patch = json!({"spec": {"rules": [{"host": "burst.example.com", "http": {"paths": [
            {"path": format!("/p{i}"), "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}});
        let api = api.clone();
        async move { api.patch("web", &PatchParams::default(), &Patch::Merge(patch)).await }
    });
    for edit in futures::future::join_all(edits).await {
        edit.expect("patch");
    }
    let burst = started.elapsed();
    let last = api.get("web").await.expect("ingress");
    let final_path = last
        .spec
        .and_then(|s| s.rules)
        .and_then(|r| r.into_iter().next())
        .and_then(|r| r.http)
        .and_then(|h| h.paths.into_iter().next())
        .and_then(|p| p.path)
        .expect("path");
    let expected_request = format!("HEAD {final_path} HTTP/1.0");
    env.eventually("the final path monitored", || async {
        env.gslb_service("burst.example.com").is_some_and(|gs| {
            gs["health_monitor_refs"]
                .as_array()
                .is_some_and(|r| r.len() == 1)
        }) && env
            .health_monitors()
            .iter()
            .any(|m| m["http_monitor"]["http_request"] == expected_request.as_str())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let gs_writes = env.gs_writes_since(before).len();
    assert!(
        gs_writes <= 2,
        "{gs_writes} GslbService writes for one burst of 50 changes in {burst:?}\n{}",
        env.log()
    );
    assert!(gs_writes >= 1, "the final state was written");
    harness::remove_dir(&env.dir);
}

/// A second GSLBConfig created while amko-rs runs is told within seconds that one is in use (not
/// only at the next restart, as AMKO does), and the running one goes on unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gslbconfig_created_while_running_is_refused_at_once() {
    let mut env = Env::start(
        "second-gc",
        EnvOptions::clusters(2).install(two_cluster_gdp()),
    )
    .await;
    env.start_operator(&[]);
    env.wait_ready().await;
    env.wait_policy_accepted().await;
    let home = env.home().await;
    let api = Api::<GslbConfig>::namespaced(home, HOME);
    let mut second = api.get("gc-1").await.expect("gc-1");
    second.metadata = kube::api::ObjectMeta {
        name: Some("gc-2".into()),
        ..Default::default()
    };
    second.status = None;
    api.create(&PostParams::default(), &second)
        .await
        .expect("gc-2 created");
    let refused = "error: a GSLBConfig (gc-1) is already in use, can't add another";
    env.eventually_within(
        "gc-2 refused while gc-1 runs",
        Duration::from_secs(10),
        || async {
            api.get("gc-2")
                .await
                .ok()
                .and_then(|g| g.status)
                .is_some_and(|s| s.state == refused)
        },
    )
    .await;
    assert_eq!(
        env.gslb_config_state().await,
        "success: gslb config accepted"
    );
    env.create_gslb_ingress("cluster1", "shop", "web", "shop.example.com")
        .await;
    env.eventually("gc-1 still converges", || async {
        env.has_gs_with_members("shop.example.com", 1)
    })
    .await;
    harness::remove_dir(&env.dir);
}

/// A wrong password is no login storm that could lock the account: after the controller refuses
/// the credentials, amko-rs waits minutes before it tries again, says why in the GSLBConfig status,
/// and tries at once when the credentials Secret is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_waits_for_the_secret_instead_of_retrying() {
    use k8s_openapi::api::core::v1::Secret;

    let mut env = Env::start(
        "wrong-password",
        EnvOptions::clusters(1).install(gdp(&["cluster1"], json!({}))),
    )
    .await;
    let secrets = Api::<Secret>::namespaced(env.home().await, HOME);
    let set_password = |password: &str| {
        let patch = json!({"stringData": {"password": password}});
        let secrets = secrets.clone();
        async move {
            secrets
                .patch(
                    "gslb-avi-secret",
                    &PatchParams::default(),
                    &Patch::Merge(patch),
                )
                .await
                .expect("secret patched");
        }
    };
    set_password("not-the-password").await;
    env.start_operator(&[]);
    let logins = || {
        env.avi
            .control()
            .counters()
            .count(Some("POST"), Some("login"), None)
    };
    env.eventually("the GSLBConfig says the credentials are wrong", || async {
        env.gslb_config_state()
            .await
            .contains("invalid credentials")
    })
    .await;
    let refused = logins();
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert_eq!(
        logins(),
        refused,
        "logged in again within 35 s\n{}",
        env.log()
    );

    set_password(env.avi.password()).await;
    env.eventually_within(
        "fixed credentials take effect at once",
        Duration::from_secs(15),
        || async { env.gslb_config_state().await == "success: gslb config accepted" },
    )
    .await;
    harness::remove_dir(&env.dir);
}

/// A credentials Secret without a password is named with its missing field in the GSLBConfig
/// status, no login is tried with half the credentials, and adding the field takes effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_without_a_password_is_named_in_the_status() {
    use k8s_openapi::api::core::v1::Secret;

    let mut env = Env::start(
        "secret-field",
        EnvOptions::clusters(1).install(gdp(&["cluster1"], json!({}))),
    )
    .await;
    let secrets = Api::<Secret>::namespaced(env.home().await, HOME);
    let mut secret = secrets.get("gslb-avi-secret").await.expect("secret read");
    // Everything else (user name, CA) stays as installed.
    if let Some(data) = secret.data.as_mut() {
        data.remove("password");
    }
    if let Some(strings) = secret.string_data.as_mut() {
        strings.remove("password");
    }
    secrets
        .replace("gslb-avi-secret", &PostParams::default(), &secret)
        .await
        .expect("secret replaced");
    env.start_operator(&[]);
    env.eventually("the GSLBConfig names the missing field", || async {
        env.gslb_config_state()
            .await
            .contains("secret gslb-avi-secret has no password")
    })
    .await;
    let logins = env
        .avi
        .control()
        .counters()
        .count(Some("POST"), Some("login"), None);
    assert_eq!(logins, 0, "logged in without a password\n{}", env.log());

    let patch = json!({"stringData": {"password": env.avi.password()}});
    secrets
        .patch(
            "gslb-avi-secret",
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
        .expect("secret patched");
    env.eventually("the completed Secret is used", || async {
        env.gslb_config_state().await == "success: gslb config accepted"
    })
    .await;
    harness::remove_dir(&env.dir);
}

/// An `http://` controller address would send the controller password unencrypted at login:
/// amko-rs refuses it with a status naming the field and never contacts the controller, unless
/// the operator opted in with `--allow-insecure-http`, when it logs in over plain HTTP and works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_controller_is_refused_unless_the_operator_opts_in() {
    use amko_sim::avi::{AviSim, AviSimConfig};

    let mut env = Env::start(
        "plain-http",
        EnvOptions::clusters(1).install(gdp(&["cluster1"], json!({}))),
    )
    .await;
    // A second simulated controller that speaks plain HTTP, with the installed Secret's password.
    let plain = AviSim::start(AviSimConfig {
        tls: false,
        password: Some(env.avi.password().to_owned()),
        rate_limit: None,
        ..AviSimConfig::default()
    })
    .await
    .expect("plain-HTTP controller starts");
    assert!(
        plain.base_url().starts_with("http://"),
        "{}",
        plain.base_url()
    );
    Api::<GslbConfig>::namespaced(env.home().await, HOME)
        .patch(
            "gc-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"gslbLeader": {"controllerIP": plain.base_url()}}})),
        )
        .await
        .expect("GSLBConfig points at the plain-HTTP controller");
    let logins = || {
        plain
            .control()
            .counters()
            .count(Some("POST"), Some("login"), None)
    };

    env.start_operator(&[]);
    env.eventually("the GSLBConfig says plain HTTP is refused", || async {
        let state = env.gslb_config_state().await;
        state.starts_with("error: gslbLeader.controllerIP uses plain http://")
            && state.contains("--allow-insecure-http")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        plain.control().counters().count(None, None, None),
        0,
        "a request reached the plain-HTTP controller without the opt-in\n{}",
        env.log()
    );

    env.start_operator(&["--allow-insecure-http"]);
    env.eventually_within(
        "with the opt-in the plain-HTTP controller is used",
        Duration::from_secs(30),
        || async { env.gslb_config_state().await == "success: gslb config accepted" },
    )
    .await;
    assert!(logins() >= 1, "{}", env.log());
    assert!(
        env.log().contains("plain HTTP (--allow-insecure-http)"),
        "the opt-in is not logged\n{}",
        env.log()
    );
    harness::remove_dir(&env.dir);
}

/// `name{actor="…"} value` series of the /metrics text, by actor.
fn by_actor(metrics: &str, name: &str) -> std::collections::BTreeMap<String, f64> {
    let prefix = format!("{name}{{actor=\"");
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (actor, value) = rest.split_once("\"} ")?;
            Some((actor.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// Waits until every actor has handled what it was sent and nothing waits in any mailbox.
async fn wait_until_mailboxes_balanced(env: &Env) {
    env.eventually("every mailbox balanced and empty", || async {
        let metrics = env.metrics().await;
        let sent = by_actor(&metrics, "amko_mailbox_sent_total");
        let handled = by_actor(&metrics, "amko_mailbox_handled_total");
        let depth = by_actor(&metrics, "amko_mailbox_depth");
        !sent.is_empty() && sent == handled && depth.values().all(|d| *d == 0.0)
    })
    .await;
}

/// After a scenario that exercises every actor (watch streams, policy, status writes, events,
/// the writer's self-sent results and timers, GslbService actors), the mailbox metrics tell the
/// truth: no handled message was uncounted, and once idle every actor has handled what it was
/// sent and nothing waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_metrics_balance_for_every_actor_once_idle() {
    let options = EnvOptions::clusters(2)
        .install(two_cluster_gdp())
        .run(&["--coalesce-ms", "100"]);
    let env = Env::start("mailbox-metrics", options).await;
    for (cluster, name) in [("cluster1", "a"), ("cluster1", "b"), ("cluster2", "a")] {
        env.create_gslb_ingress(
            cluster,
            "shop",
            name,
            &format!("{name}.mailbox.example.com"),
        )
        .await;
    }
    env.wait_gs("a.mailbox.example.com", "two members", |gs| {
        members_of(gs).len() == 2
    })
    .await;
    env.wait_gs("b.mailbox.example.com", "one member", |gs| {
        members_of(gs).len() == 1
    })
    .await;
    env.delete::<Ingress>("cluster1", "shop", "b").await;
    env.eventually("b removed", || async {
        env.gslb_service("b.mailbox.example.com").is_none()
    })
    .await;
    // A GSLBHostRule: the policy actor publishes it to selection and its status to the status
    // actor.
    let rule = gslb_host_rule(
        HOME,
        "mailbox-rule",
        json!({"fqdn": "a.mailbox.example.com", "ttl": 5}),
    );
    Api::<GslbHostRule>::namespaced(env.home().await, HOME)
        .create(&PostParams::default(), &rule)
        .await
        .expect("rule created");
    env.wait_gs("a.mailbox.example.com", "TTL from the GSLBHostRule", |gs| {
        gs["ttl"] == 5
    })
    .await;

    wait_until_mailboxes_balanced(&env).await;
    let metrics = env.metrics().await;
    let sent = by_actor(&metrics, "amko_mailbox_sent_total");
    for actor in [
        "cluster",
        "selection",
        "gslb_service",
        "avi",
        "policy",
        "status",
    ] {
        assert!(
            sent.get(actor).is_some_and(|n| *n > 0.0),
            "{actor} sent nothing:\n{metrics}"
        );
    }
    let underflows = by_actor(&metrics, "amko_mailbox_depth_underflows_total");
    assert!(
        underflows.is_empty(),
        "messages handled without being counted as sent: {underflows:?}"
    );

    // A GSLBConfig edit restarts the pipeline in process: the new actors start from their own
    // counts, and whatever the old ones left unhandled counts as dropped.
    env.patch::<GslbConfig>(
        "cluster1",
        HOME,
        "gc-1",
        json!({"spec": {"refreshInterval": 900}}),
    )
    .await;
    env.eventually("the pipeline restarted in process", || async {
        env.log().matches("pipeline started").count() >= 2
            && env.get("/readyz").await.is_some_and(|(s, _)| s == 200)
    })
    .await;
    env.eventually("every mailbox accounted for after the restart", || async {
        let metrics = env.metrics().await;
        let sent = by_actor(&metrics, "amko_mailbox_sent_total");
        let handled = by_actor(&metrics, "amko_mailbox_handled_total");
        let dropped = by_actor(&metrics, "amko_mailbox_dropped_total");
        let depth = by_actor(&metrics, "amko_mailbox_depth");
        sent.iter().all(|(actor, n)| {
            *n == handled.get(actor).copied().unwrap_or(0.0)
                + dropped.get(actor).copied().unwrap_or(0.0)
        }) && depth.values().all(|d| *d == 0.0)
    })
    .await;
    let metrics = env.metrics().await;
    let underflows = by_actor(&metrics, "amko_mailbox_depth_underflows_total");
    assert!(
        underflows.is_empty(),
        "after the restart, messages handled without being counted as sent: {underflows:?}"
    );
    harness::remove_dir(&env.dir);
}

/// A GDP edit that touches more GslbServices than the selection actor routes in one turn (it
/// routes them in slices, letting the GslbService actors and the writer start on the first ones):
/// every GslbService is updated exactly once, none is forgotten between slices, and once idle
/// every mailbox is balanced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gdp_edit_touching_more_gslb_services_than_one_slice_updates_each_once() {
    // Two slices of 500 (`ROUTE_SLICE`), the second partly filled.
    const FQDNS: usize = 600;
    let spec = |ttl: u32| gdp(&["cluster1"], json!({"ttl": ttl}));
    // Not the default 30 requests/s: 1,800 writes would take a minute.
    let options = EnvOptions::clusters(1).install(spec(30)).run(&[
        "--avi-rate",
        "1000",
        "--avi-burst",
        "100",
    ]);
    let env = Env::start("gdp-edit-slices", options).await;
    let client = env.client("cluster1").await;
    let creates = (0..FQDNS).map(|i| {
        let client = client.clone();
        async move {
            let host = format!("app-{i}.slices.example.com");
            let labels = json!({"app": "gslb"});
            amko_sim::scenario::create_ingress(&client, "shop", &format!("web-{i}"), &host, labels)
                .await
                .map_err(|e| format!("ingress {i}: {e}"))
        }
    });
    let created: Vec<Result<(), String>> = futures::stream::iter(creates)
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    env.eventually_within(
        "every GslbService created",
        Duration::from_secs(120),
        || async { env.gslb_services().len() == FQDNS },
    )
    .await;
    env.wait_ready().await;

    let mark = env.writes();
    env.apply_gdp(spec(31)).await;
    env.eventually_within(
        "every GslbService has TTL 31",
        Duration::from_secs(120),
        || async {
            let services = env.gslb_services();
            services.len() == FQDNS && services.iter().all(|gs| gs["ttl"] == 31)
        },
    )
    .await;
    wait_until_mailboxes_balanced(&env).await;
    let mut writes = env.gs_writes_since(mark);
    writes.sort();
    writes.dedup();
    assert_eq!(writes.len(), FQDNS, "one PUT per GslbService");
    assert_eq!(
        env.writes_since(mark).len(),
        FQDNS,
        "{:?}",
        env.writes_since(mark)
    );
    assert!(writes.iter().all(|w| w.starts_with("PUT ")), "{writes:?}");
}
