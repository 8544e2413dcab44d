//! End-to-end scenarios of `amko run` against the simulated member clusters and Avi controller
//! (see `harness.rs`). Each asserts the controller's GslbServices and monitors, CR status, and
//! where it matters the number of controller writes from the simulator's audit log.

mod harness;

use std::time::Duration;

use amko::crd::{GlobalDeploymentPolicy, GslbConfig, GslbHostRule};
use harness::{CREATED_BY, Env, HOME, members_of, wait_until};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn two_cluster_gdp() -> Value {
    json!({
        "matchRules": {"appSelector": {"label": {"app": "gslb"}}},
        "matchClusters": [{"cluster": "cluster1"}, {"cluster": "cluster2"}],
        "trafficSplit": [
            {"cluster": "cluster1", "weight": 15, "priority": 20},
            {"cluster": "cluster2", "weight": 5, "priority": 20}
        ],
        "ttl": 30
    })
}

async fn ingress_vip_and_uuid(
    env: &Env,
    cluster: &str,
    ns: &str,
    name: &str,
    host: &str,
) -> (String, String, String) {
    let ing = Api::<Ingress>::namespaced(env.client(cluster).await, ns)
        .get(name)
        .await
        .expect("ingress");
    let ip = ing
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|lb| lb.ingress)
        .and_then(|i| i.into_iter().next())
        .and_then(|i| i.ip)
        .expect("AKO wrote a VIP");
    let annotations = ing.metadata.annotations.unwrap_or_default();
    let map: Value = serde_json::from_str(
        annotations
            .get("ako.vmware.com/host-fqdn-vs-uuid-map")
            .expect("vs map"),
    )
    .expect("json");
    let vs = map[host].as_str().expect("vs uuid").to_owned();
    let cluster_uuid = annotations
        .get("ako.vmware.com/controller-cluster-uuid")
        .expect("cluster uuid")
        .clone();
    (ip, vs, cluster_uuid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_in_two_clusters_becomes_one_gslb_service_and_restart_writes_nothing() {
    let mut env = Env::start("two-clusters", 2, 0).await;
    env.install(two_cluster_gdp()).await;
    env.start_operator(&[]);
    env.wait_ready().await;

    for cluster in ["cluster1", "cluster2"] {
        env.create_ingress(
            cluster,
            "shop",
            "web",
            "shop.example.com",
            json!({"app": "gslb"}),
        )
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
    wait_until(
        "a GslbService with two members",
        Duration::from_secs(30),
        || async {
            env.gslb_service("shop.example.com")
                .is_some_and(|gs| members_of(&gs).len() == 2)
        },
        || env.log(),
    )
    .await;

    let gs = env.gslb_service("shop.example.com").expect("gslbservice");
    assert_eq!(gs["created_by"], CREATED_BY);
    assert_eq!(gs["ttl"], 30);
    assert_eq!(
        gs["groups"].as_array().map(Vec::len),
        Some(1),
        "both clusters share priority 20"
    );
    assert_eq!(gs["groups"][0]["priority"], 20);
    for (cluster, weight) in [("cluster1", 15), ("cluster2", 5)] {
        let (ip, vs, cluster_uuid) =
            ingress_vip_and_uuid(&env, cluster, "shop", "web", "shop.example.com").await;
        let member = members_of(&gs)
            .into_iter()
            .find(|m| m["ip"]["addr"] == ip.as_str())
            .expect("member for the VIP");
        assert_eq!(member["ratio"], weight);
        assert_eq!(member["vs_uuid"], vs.as_str());
        assert_eq!(member["cluster_uuid"], cluster_uuid.as_str());
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
    let before = env.writes();
    env.start_operator(&[]);
    env.wait_ready().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        env.writes(),
        before,
        "restart wrote to the controller\n{}",
        env.log()
    );

    // Deleting one Ingress removes its member; deleting the last removes the GslbService and its
    // managed monitors.
    Api::<Ingress>::namespaced(env.client("cluster2").await, "shop")
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    wait_until(
        "one member left",
        Duration::from_secs(30),
        || async {
            env.gslb_service("shop.example.com")
                .is_some_and(|gs| members_of(&gs).len() == 1)
        },
        || env.log(),
    )
    .await;
    Api::<Ingress>::namespaced(env.client("cluster1").await, "shop")
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    wait_until(
        "GslbService and monitors gone",
        Duration::from_secs(30),
        || async {
            env.gslb_service("shop.example.com").is_none()
                && !env
                    .health_monitors()
                    .iter()
                    .any(|m| m["name"].as_str().is_some_and(|n| n.starts_with("amko--")))
        },
        || env.log(),
    )
    .await;
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_policy_keeps_the_last_good_one_and_foreign_objects_are_never_touched() {
    let mut env = Env::start("policy", 2, 0).await;
    env.install(two_cluster_gdp()).await;
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
    env.create_ingress(
        "cluster1",
        "shop",
        "web",
        "shop.example.com",
        json!({"app": "gslb"}),
    )
    .await;
    env.create_ingress(
        "cluster2",
        "shop",
        "taken",
        "taken.example.com",
        json!({"app": "gslb"}),
    )
    .await;
    wait_until(
        "shop GslbService",
        Duration::from_secs(30),
        || async { env.gslb_service("shop.example.com").is_some() },
        || env.log(),
    )
    .await;

    // An edit naming a cluster the GSLBConfig does not have: rejected, the old policy stays.
    let mut bad = two_cluster_gdp();
    bad["matchClusters"] = json!([{"cluster": "cluster1"}, {"cluster": "nowhere"}]);
    env.apply_gdp(bad).await;
    let home = env.home().await;
    wait_until(
        "GDP status names the problem",
        Duration::from_secs(30),
        || async {
            Api::<GlobalDeploymentPolicy>::namespaced(home.clone(), HOME)
                .get("global-gdp")
                .await
                .ok()
                .and_then(|g| g.status)
                .is_some_and(|s| {
                    s.error_status.contains("nowhere") && s.error_status.contains("stays in force")
                })
        },
        || env.log(),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let gs = env.gslb_service("shop.example.com").expect("still there");
    assert_eq!(
        members_of(&gs)[0]["ratio"],
        15,
        "previous traffic split still applied"
    );

    // A GSLBHostRule changes the TTL of one FQDN.
    let rule: GslbHostRule = serde_json::from_value(json!({
        "apiVersion": "amko.vmware.com/v1alpha1", "kind": "GSLBHostRule",
        "metadata": {"name": "shop-rule", "namespace": HOME},
        "spec": {"fqdn": "shop.example.com", "ttl": 5}
    }))
    .expect("rule");
    Api::<GslbHostRule>::namespaced(home.clone(), HOME)
        .create(&PostParams::default(), &rule)
        .await
        .expect("rule created");
    wait_until(
        "TTL from the GSLBHostRule",
        Duration::from_secs(30),
        || async {
            env.gslb_service("shop.example.com")
                .is_some_and(|gs| gs["ttl"] == 5)
        },
        || env.log(),
    )
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
    let mut env = Env::start("burst", 1, 0).await;
    env.install(json!({
        "matchRules": {"appSelector": {"label": {"app": "gslb"}}},
        "matchClusters": [{"cluster": "cluster1"}]
    }))
    .await;
    env.start_operator(&["--coalesce-ms", "300"]);
    env.wait_ready().await;
    env.create_ingress(
        "cluster1",
        "shop",
        "web",
        "burst.example.com",
        json!({"app": "gslb"}),
    )
    .await;
    wait_until(
        "GslbService",
        Duration::from_secs(30),
        || async { env.gslb_service("burst.example.com").is_some() },
        || env.log(),
    )
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
    wait_until(
        "the final path monitored",
        Duration::from_secs(30),
        || async {
            env.gslb_service("burst.example.com").is_some_and(|gs| {
                gs["health_monitor_refs"]
                    .as_array()
                    .is_some_and(|r| r.len() == 1)
            }) && env
                .health_monitors()
                .iter()
                .any(|m| m["http_monitor"]["http_request"] == expected_request.as_str())
        },
        || env.log(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let gs_writes = env
        .avi
        .control()
        .audit_log()
        .iter()
        .skip(before)
        .filter(|e| e.object_type == "gslbservice")
        .count();
    assert!(
        gs_writes <= 2,
        "{gs_writes} GslbService writes for one burst of 50 changes in {burst:?}\n{}",
        env.log()
    );
    assert!(gs_writes >= 1, "the final state was written");
    harness::remove_dir(&env.dir);
}
