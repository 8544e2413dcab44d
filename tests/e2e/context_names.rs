//! End-to-end: any kubeconfig context name is a member cluster name. With an EKS ARN, an OpenShift
//! context and a name holding a space, `,`, `%`, `"` and `\` as cluster names, a member cluster
//! unreachable when amko-rs first boots, and one that goes down while it runs, behave exactly as
//! `cluster2` would: boot goes on without it, its members are kept, nothing is written, and its
//! name reads back intact from the GslbService description, `/debug/members` and `/metrics`.

mod harness;

use std::time::Duration;

use amko_sim::k8s::Down;
use harness::{Env, EnvOptions, gdp};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};

const EKS: &str = "arn:aws:eks:eu-west-1:123456789012:cluster/prod";
const OCP: &str = "default/api-ocp-example-com:6443/kube:admin@ocp";
/// Legal in a kubeconfig, awkward everywhere else: the identity separators `,` and `%`, a space,
/// and `"` and `\`, which the OpenMetrics text format must escape in a label value.
const ODD: &str = "team a, 100% \"prod\" \\ east.example";

/// The member clusters a GslbService's description names, read back as the writer reads them.
fn clusters_of(env: &Env, fqdn: &str) -> Vec<String> {
    let description = env
        .gslb_service(fqdn)
        .map(|gs| gs["description"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    amko::model::identity::clusters_in_description(&description)
        .into_iter()
        .collect()
}

/// `/debug/members`: whether each cluster's watches are connected, by cluster name (sorted).
async fn connected(env: &Env) -> Vec<(String, bool)> {
    let body = env
        .get("/debug/members")
        .await
        .map(|(_, b)| b)
        .unwrap_or_default();
    let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    value["clusters"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, c)| Some((name.clone(), c["connected"].as_bool()?)))
        .collect()
}

/// The `amko_cluster_connected` sample of `cluster` as the OpenMetrics text format writes it.
fn connected_sample(cluster: &str, value: u8) -> String {
    let escaped = cluster
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("amko_cluster_connected{{cluster=\"{escaped}\"}} {value}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_unreachable_at_first_boot_is_waited_for_then_joins_under_any_name() {
    let clusters = [EKS, OCP, ODD];
    let mut env = Env::start(
        "names-boot-down",
        EnvOptions::named(&clusters).install(gdp(&clusters, json!({}))),
    )
    .await;
    for cluster in [EKS, OCP] {
        env.create_gslb_ingress(cluster, "shop", "web", "boot.example.com")
            .await;
    }
    let odd = env.clusters.faults(ODD).expect("the odd-named cluster");
    odd.set_down(Down::Refused);
    env.start_operator(&["--boot-timeout-secs", "2"]);
    env.wait_ready().await;
    env.eventually("boot goes on without the unreachable cluster", || async {
        env.has_gs_with_members("boot.example.com", 2)
    })
    .await;
    let mut expected = vec![EKS.to_owned(), OCP.to_owned()];
    expected.sort();
    assert_eq!(clusters_of(&env, "boot.example.com"), expected);
    let mut expected_connected = vec![
        (EKS.to_owned(), true),
        (OCP.to_owned(), true),
        (ODD.to_owned(), false),
    ];
    expected_connected.sort();
    env.eventually("/debug/members names the unreachable cluster", || async {
        connected(&env).await == expected_connected
    })
    .await;
    let metrics = env.metrics().await;
    assert!(metrics.contains(&connected_sample(ODD, 0)), "{metrics}");
    assert!(metrics.contains(&connected_sample(EKS, 1)), "{metrics}");

    // It comes up: its Ingress joins the GslbService under its own name.
    odd.set_down(Down::No);
    env.create_gslb_ingress(ODD, "shop", "web", "boot.example.com")
        .await;
    env.eventually_within(
        "the returned cluster's member joins",
        Duration::from_secs(40),
        || async { env.has_gs_with_members("boot.example.com", 3) },
    )
    .await;
    let mut all: Vec<String> = clusters.iter().map(|c| (*c).to_owned()).collect();
    all.sort();
    assert_eq!(clusters_of(&env, "boot.example.com"), all);
    env.eventually("every cluster connected", || async {
        connected(&env).await.iter().all(|(_, up)| *up)
    })
    .await;
    let metrics = env.metrics().await;
    assert!(metrics.contains(&connected_sample(ODD, 1)), "{metrics}");
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_down_at_runtime_keeps_its_members_under_any_name() {
    let clusters = [EKS, OCP, ODD];
    let env = Env::start(
        "names-runtime-down",
        EnvOptions::named(&clusters)
            .install(gdp(&clusters, json!({})))
            .run(&[]),
    )
    .await;
    for cluster in clusters {
        env.create_gslb_ingress(cluster, "shop", "web", "stay.example.com")
            .await;
    }
    env.eventually("three members", || async {
        env.has_gs_with_members("stay.example.com", 3)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = env.writes();
    for down in [OCP, ODD] {
        env.clusters
            .faults(down)
            .expect("named cluster")
            .set_down(Down::Refused);
    }
    env.eventually("both are seen down", || async {
        connected(&env).await.iter().filter(|(_, up)| !*up).count() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        env.writes(),
        before,
        "unreachable clusters caused writes\n{}",
        env.log()
    );
    let mut all: Vec<String> = clusters.iter().map(|c| (*c).to_owned()).collect();
    all.sort();
    assert_eq!(clusters_of(&env, "stay.example.com"), all);

    // Back: a change there converges again, and removes exactly that cluster's member.
    for up in [OCP, ODD] {
        env.clusters
            .faults(up)
            .expect("named cluster")
            .set_down(Down::No);
    }
    env.eventually("every cluster reconnected", || async {
        connected(&env).await.iter().all(|(_, up)| *up)
    })
    .await;
    env.delete::<Ingress>(ODD, "shop", "web").await;
    env.eventually_within(
        "the odd-named cluster's member removed",
        Duration::from_secs(40),
        || async { env.has_gs_with_members("stay.example.com", 2) },
    )
    .await;
    let mut left = vec![EKS.to_owned(), OCP.to_owned()];
    left.sort();
    assert_eq!(clusters_of(&env, "stay.example.com"), left);
    harness::remove_dir(&env.dir);
}

/// `/debug/members` names a skipped object (here an Ingress AKO never gave a VIP) by the same
/// escaped identity as members, so its cluster reads back even when the name holds `/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_object_names_its_cluster_readably_in_debug_members() {
    let clusters = [EKS, OCP];
    let env = Env::start(
        "names-skipped",
        EnvOptions::named(&clusters)
            .without_ako(OCP)
            .install(gdp(&clusters, json!({})))
            .run(&[]),
    )
    .await;
    env.create_gslb_ingress(OCP, "shop", "web", "novip.example.com")
        .await;
    let skipped_clusters = || async {
        let body = env
            .get("/debug/members")
            .await
            .map(|(_, b)| b)
            .unwrap_or_default();
        let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        value["skipped"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["object"].as_str())
            .flat_map(amko::model::identity::clusters_in_description)
            .collect::<Vec<String>>()
    };
    env.eventually("the Ingress without a VIP is listed as skipped", || async {
        !skipped_clusters().await.is_empty()
    })
    .await;
    assert_eq!(skipped_clusters().await, [OCP]);
    harness::remove_dir(&env.dir);
}
