//! End-to-end federation and high availability: three simulated clusters, the real `amko run`
//! and `amko federate` binaries per cluster. The leader's GSLBConfig and GDP reach the followers
//! (strays removed, another version skipped), a follower promoted after its leader cluster died
//! adopts the GslbServices without deleting or duplicating any, and of two replicas electing a
//! leader through a Lease the standby finishes the work of a killed holder without losing or
//! doubling a write (the controller simulator's audit log is the judge).

mod harness;

use std::process::Command;
use std::time::Duration;

use amko::crd::amkocluster::{
    CONDITION_GDP_FEDERATION, CONDITION_GSLBCONFIG_FEDERATION, CONDITION_MEMBER_INIT,
    CONDITION_MEMBER_VALIDATION, CONDITION_VALIDATION,
};
use amko::crd::{AmkoCluster, AmkoClusterStatus, GlobalDeploymentPolicy, GslbConfig, all_crds};
use amko::federation as fed;
use amko_sim::k8s::Down;
use harness::{CREATED_BY, Env, EnvOptions, HOME, HOME_CLUSTER, Operator, UUID, wait_until};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

/// `amko run` in cluster `context`, with the harness kubeconfig as members.
fn operator(env: &Env, label: &str, context: &str, extra: &[&str]) -> Operator {
    let mut args = vec![
        "--coalesce-ms",
        "50",
        "--boot-timeout-secs",
        "5",
        "--role-poll-ms",
        "300",
    ];
    args.extend_from_slice(extra);
    env.spawn(label, "run", context, &env.kubeconfig, &args)
}

/// `amko federate` with rounds every `interval` seconds besides those local changes trigger.
fn federator_every(env: &Env, label: &str, context: &str, interval: &str) -> Operator {
    let args = ["--interval-secs", interval];
    env.spawn(label, "federate", context, &env.kubeconfig, &args)
}

fn federator(env: &Env, label: &str, context: &str) -> Operator {
    federator_every(env, label, context, "1")
}

/// What the chart installs in every cluster besides GSLBConfig and GDP: CRDs, the namespace and
/// the controller credentials (a follower needs them once promoted).
async fn install_basics(env: &Env, context: &str) {
    let client = env.client(context).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in all_crds().expect("CRDs generate") {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("CRD created");
    }
    harness::ensure_namespace(&client, HOME).await;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "gslb-avi-secret", "namespace": HOME},
        "stringData": {
            "username": env.avi.username(),
            "password": env.avi.password(),
            "certificateAuthorityData": env.avi.ca_pem().unwrap_or_default(),
        }
    }))
    .expect("secret");
    Api::<Secret>::namespaced(client, HOME)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret created");
}

async fn create_amko_cluster(env: &Env, context: &str, leader: bool, version: &str) {
    create_amko_cluster_of(
        env,
        context,
        leader,
        version,
        &["cluster1", "cluster2", "cluster3"],
    )
    .await;
}

/// The AMKOCluster of `context`, federating `clusters`.
async fn create_amko_cluster_of(
    env: &Env,
    context: &str,
    leader: bool,
    version: &str,
    clusters: &[&str],
) {
    let cluster: AmkoCluster = serde_json::from_value(json!({
        "apiVersion": "amko.vmware.com/v1alpha1", "kind": "AMKOCluster",
        "metadata": {"name": "amkocluster-federation", "namespace": HOME},
        "spec": {"isLeader": leader, "clusterContext": context, "version": version,
                 "clusters": clusters}
    }))
    .expect("amkocluster");
    Api::<AmkoCluster>::namespaced(env.client(context).await, HOME)
        .create(&PostParams::default(), &cluster)
        .await
        .expect("AMKOCluster created");
}

/// A federation of three clusters: cluster1 leads (GSLBConfig gc-1 and GDP installed there);
/// `followers` gives each follower's version.
async fn federation(name: &str, gdp: Value, followers: [(&str, &str); 2]) -> Env {
    let env = Env::start(name, EnvOptions::clusters(3).install(gdp)).await;
    create_amko_cluster(&env, "cluster1", true, "1.0").await;
    for (context, version) in followers {
        install_basics(&env, context).await;
        create_amko_cluster(&env, context, false, version).await;
    }
    env
}

/// The shell block after `<!-- runbook:<marker> -->` in docs/disaster-recovery.md.
fn runbook_block(marker: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/disaster-recovery.md");
    let doc = std::fs::read_to_string(path).expect("docs/disaster-recovery.md");
    let tag = format!("<!-- runbook:{marker} -->");
    let after = doc
        .split_once(&tag)
        .unwrap_or_else(|| panic!("the runbook has no {tag}"))
        .1;
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .unwrap_or_else(|| panic!("no sh block after {tag}"))
        .0;
    block.to_owned()
}

/// Runs a runbook block with kubectl against the simulated clusters; returns its stdout lines.
fn run_runbook(env: &Env, marker: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let output = Command::new("sh")
        .args(["-ec", &runbook_block(marker)])
        .env("KUBECONFIG", &env.kubeconfig)
        .env("PATH", harness::tools::path_with_tools())
        .envs(vars.iter().copied())
        .output()
        .expect("sh runs");
    assert!(
        output.status.success(),
        "runbook step {marker} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn gdp() -> Value {
    harness::gdp(&["cluster1", "cluster2", "cluster3"], json!({"ttl": 30}))
}

async fn gslb_configs(env: &Env, context: &str) -> Vec<GslbConfig> {
    env.list(context, HOME).await
}

async fn gdps(env: &Env, context: &str) -> Vec<GlobalDeploymentPolicy> {
    env.list(context, HOME).await
}

/// The status of the AMKOCluster in `context`, once written.
async fn amko_cluster_status(env: &Env, context: &str) -> Option<AmkoClusterStatus> {
    env.get_object::<AmkoCluster>(context, HOME, "amkocluster-federation")
        .await
        .and_then(|c| c.status)
}

/// `(type, status, reason)` of the AMKOCluster's conditions.
async fn conditions(env: &Env, context: &str) -> Vec<(String, String, String)> {
    amko_cluster_status(env, context)
        .await
        .map(|s| {
            s.conditions
                .into_iter()
                .map(|c| (c.type_, c.status, c.reason))
                .collect()
        })
        .unwrap_or_default()
}

fn triple(t: &str, s: &str, r: &str) -> (String, String, String) {
    (t.to_owned(), s.to_owned(), r.to_owned())
}

/// cluster2 or cluster3 holds exactly cluster1's gc-1 (spec and uuid) and global-gdp (spec).
async fn follower_matches_leader(env: &Env, context: &str) -> bool {
    follower_matches(env, "cluster1", context).await
}

/// `follower` holds exactly `leader`'s gc-1 (spec and uuid) and global-gdp (spec).
async fn follower_matches(env: &Env, leader: &str, context: &str) -> bool {
    let (leader_gc, leader_gdp) = (gslb_configs(env, leader).await, gdps(env, leader).await);
    let (gcs, policies) = (gslb_configs(env, context).await, gdps(env, context).await);
    let same_gc = matches!((leader_gc.as_slice(), gcs.as_slice()), ([l], [f])
        if l.name_any() == f.name_any() && l.spec == f.spec
            && f.annotations().get("amko.vmware.com/amko-uuid").map(String::as_str) == Some(UUID));
    let same_gdp = matches!((leader_gdp.as_slice(), policies.as_slice()), ([l], [f])
        if l.name_any() == f.name_any() && l.spec == f.spec);
    same_gc && same_gdp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_federates_its_gslbconfig_and_gdp_and_skips_a_follower_on_another_version() {
    let env = federation(
        "federate",
        gdp(),
        [("cluster2", "1.0"), ("cluster3", "0.9")],
    )
    .await;
    // Strays on the follower that the leader does not have.
    let client2 = env.client("cluster2").await;
    let stray_gdp: GlobalDeploymentPolicy = serde_json::from_value(json!({
        "apiVersion": "amko.vmware.com/v1alpha2", "kind": "GlobalDeploymentPolicy",
        "metadata": {"name": "old-gdp", "namespace": HOME}, "spec": {"ttl": 5}
    }))
    .expect("gdp");
    Api::<GlobalDeploymentPolicy>::namespaced(client2.clone(), HOME)
        .create(&PostParams::default(), &stray_gdp)
        .await
        .expect("stray GDP");
    let mut stray_gc = gslb_configs(&env, "cluster1").await.remove(0);
    stray_gc.metadata = kube::api::ObjectMeta {
        name: Some("gc-old".to_owned()),
        namespace: Some(HOME.to_owned()),
        ..Default::default()
    };
    stray_gc.status = None;
    Api::<GslbConfig>::namespaced(client2.clone(), HOME)
        .create(&PostParams::default(), &stray_gc)
        .await
        .expect("stray GSLBConfig");

    // The leader's periodic round is far away: its first round and the GDP edit below are
    // handled because it watches its own AMKOCluster, GSLBConfig and GDP.
    let leader = federator_every(&env, "federator-cluster1", "cluster1", "600");
    let follower = federator(&env, "federator-cluster2", "cluster2");
    wait_until(
        "cluster2 holds exactly the leader's GSLBConfig and GDP",
        Duration::from_secs(30),
        || follower_matches_leader(&env, "cluster2"),
        || leader.log(),
    )
    .await;

    let expected = vec![
        triple(CONDITION_VALIDATION, fed::VALID_AMKOCLUSTER, ""),
        triple(CONDITION_MEMBER_INIT, fed::ALL_CLIENTS_FETCHED, ""),
        triple(
            CONDITION_MEMBER_VALIDATION,
            fed::SOME_MEMBERS_INVALID,
            "version mismatch, current AMKO: 1.0, AMKO in cluster cluster3: 0.9",
        ),
        triple(CONDITION_GSLBCONFIG_FEDERATION, fed::FEDERATED_ALL, ""),
        triple(CONDITION_GDP_FEDERATION, fed::FEDERATED_ALL, ""),
    ];
    wait_until(
        "the leader's AMKOCluster conditions",
        Duration::from_secs(30),
        || async { conditions(&env, "cluster1").await == expected },
        || leader.log(),
    )
    .await;
    wait_until(
        "the follower's federator reports it does not federate",
        Duration::from_secs(30),
        || async {
            conditions(&env, "cluster2").await
                == vec![triple(
                    CONDITION_VALIDATION,
                    fed::NOT_FEDERATING,
                    fed::NOT_A_LEADER,
                )]
        },
        || follower.log(),
    )
    .await;
    assert!(
        gslb_configs(&env, "cluster3").await.is_empty() && gdps(&env, "cluster3").await.is_empty(),
        "a follower on another version got objects"
    );

    // An edit of the leader's GDP reaches the follower.
    let mut edited = gdp();
    edited["ttl"] = json!(45);
    env.apply_gdp(edited).await;
    wait_until(
        "the follower's GDP follows the edit",
        Duration::from_secs(30),
        || async {
            let policies = gdps(&env, "cluster2").await;
            policies.len() == 1 && policies[0].spec.ttl == Some(45)
        },
        || leader.log(),
    )
    .await;
    assert!(follower_matches_leader(&env, "cluster2").await);
    let metrics = leader.metrics().await;
    assert!(
        metrics.contains("amko_federation_writes_total{kind=\"delete\"} 2"),
        "{metrics}"
    );
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_follower_adopts_the_gslb_services_without_deleting_or_duplicating() {
    let mut env = federation(
        "disaster",
        gdp(),
        [("cluster2", "1.0"), ("cluster3", "1.0")],
    )
    .await;
    env.start_operator(&["--role-poll-ms", "300"]);
    let leader_federator = federator(&env, "federator-cluster1", "cluster1");
    let standby = operator(&env, "operator-cluster2", "cluster2", &[]);
    env.wait_ready().await;

    // Each GslbService has members in two clusters; two of them in the cluster that fails.
    let hosts = ["one.example.com", "two.example.com", "three.example.com"];
    let placements = [
        ("one.example.com", ["cluster1", "cluster2"]),
        ("two.example.com", ["cluster2", "cluster3"]),
        ("three.example.com", ["cluster1", "cluster3"]),
    ];
    for (i, (host, clusters)) in placements.iter().enumerate() {
        for cluster in clusters {
            env.create_gslb_ingress(cluster, "shop", &format!("web{i}"), host)
                .await;
        }
    }
    env.eventually_within(
        "three GslbServices with two members each",
        Duration::from_secs(40),
        || async {
            hosts.iter().all(|h| {
                env.gslb_service(h).is_some_and(|gs| {
                    gs["groups"][0]["members"].as_array().map(Vec::len) == Some(2)
                })
            })
        },
    )
    .await;
    wait_until(
        "gc-1 and global-gdp federated to cluster2",
        Duration::from_secs(30),
        || follower_matches_leader(&env, "cluster2"),
        || leader_federator.log(),
    )
    .await;
    // The follower idles: not ready, and it never wrote the federated GSLBConfig's status.
    assert!(
        standby.phase().await.starts_with("follower"),
        "{}",
        standby.log()
    );
    // Idle on purpose counts as ready (rollouts do not wait for a follower to lead).
    assert!(standby.ready().await && !standby.leading().await);
    assert!(gslb_configs(&env, "cluster2").await[0].status.is_none());
    // The runbook's pre-flight check says recovery will work.
    assert_eq!(
        run_runbook(&env, "check", &[("SURVIVOR", "cluster2")]),
        [UUID, "false"]
    );
    let before: Vec<(String, Value)> = env
        .gslb_services()
        .into_iter()
        .map(|gs| {
            (
                gs["name"].as_str().unwrap_or_default().to_owned(),
                gs["uuid"].clone(),
            )
        })
        .collect();

    // The leader cluster fails: its API server is gone and its amko-rs with it.
    env.clusters
        .faults("cluster1")
        .expect("cluster1")
        .set_down(Down::Refused);
    env.stop_operator();
    drop(leader_federator);
    let mark = env.writes();

    // Promote cluster2 with the runbook (cluster failure: the controller is unchanged, and the
    // federated gc-1 already points at it).
    let federated_gc = gslb_configs(&env, "cluster2").await.remove(0);
    assert_eq!(
        federated_gc.spec.gslb_leader.controller_ip,
        env.avi.base_url()
    );
    run_runbook(&env, "promote", &[("SURVIVOR", "cluster2")]);
    wait_until(
        "the promoted operator finished its boot sync",
        Duration::from_secs(60),
        || standby.leads_and_is_ready(),
        || standby.log(),
    )
    .await;
    // It writes: a new application gets its GslbService.
    env.create_gslb_ingress("cluster3", "shop", "new", "new.example.com")
        .await;
    wait_until(
        "the new leader creates a GslbService",
        Duration::from_secs(30),
        || async { env.gslb_service("new.example.com").is_some() },
        || standby.log(),
    )
    .await;

    // The site failure step: point gc-1 at the controller (the same one, spelled without the
    // scheme): the new leader restarts its actors in-process and is accepted again.
    let address = env.avi.base_url().trim_start_matches("https://").to_owned();
    run_runbook(
        &env,
        "point",
        &[("SURVIVOR", "cluster2"), ("NEW_CONTROLLER", &address)],
    );
    wait_until(
        "gc-1 accepted with the new controller address",
        Duration::from_secs(60),
        || async {
            let gcs = gslb_configs(&env, "cluster2").await;
            gcs.len() == 1
                && gcs[0].spec.gslb_leader.controller_ip == address
                && standby.log().contains("GSLBConfig or its Secret changed")
                && run_runbook(&env, "verify", &[("SURVIVOR", "cluster2")])
                    .first()
                    .is_some_and(|state| state == "success: gslb config accepted")
        },
        || standby.log(),
    )
    .await;
    let verified = run_runbook(&env, "verify", &[("SURVIVOR", "cluster2")]);
    assert!(
        verified.get(1).is_some_and(|since| since.len() >= 20),
        "leaderSince recorded: {verified:?}"
    );
    wait_until(
        "the restarted pipeline is ready",
        Duration::from_secs(60),
        || async {
            standby.log().matches("pipeline started").count() >= 2
                && standby.leads_and_is_ready().await
        },
        || standby.log(),
    )
    .await;

    let writes = env.audit_since(mark);
    let deletions: Vec<_> = writes.iter().filter(|w| w.method == "DELETE").collect();
    assert!(
        deletions.is_empty(),
        "deleted after promotion: {deletions:?}"
    );
    let creations: Vec<&str> = writes
        .iter()
        .filter(|w| w.method == "POST" && w.object_type == "gslbservice")
        .map(|w| w.name.as_str())
        .collect();
    assert_eq!(
        creations,
        ["new.example.com"],
        "only the new GslbService is created"
    );
    for (name, uuid) in &before {
        let same_name: Vec<Value> = env
            .gslb_services()
            .into_iter()
            .filter(|gs| gs["name"] == name.as_str())
            .collect();
        assert_eq!(same_name.len(), 1, "{name} duplicated");
        assert_eq!(&same_name[0]["uuid"], uuid, "{name} re-created");
        assert_eq!(same_name[0]["created_by"], CREATED_BY);
    }
    harness::remove_dir(&env.dir);
}

async fn lease_holder(env: &Env) -> String {
    env.get_object::<Lease>(HOME_CLUSTER, HOME, "amko-leader")
        .await
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_replica_finishes_what_a_killed_lease_holder_started() {
    let gdp = harness::gdp(&["cluster1"], json!({}));
    let env = Env::start("ha", EnvOptions::clusters(1).install(gdp)).await;
    // A slow write budget, so the holder is killed with work left.
    let replica = |label: &str| {
        operator(
            &env,
            label,
            "cluster1",
            &[
                "--leader-elect",
                "--lease-duration-secs",
                "3",
                "--identity",
                label,
                "--avi-rate",
                "3",
                "--avi-burst",
                "1",
            ],
        )
    };
    let holder = replica("replica-a");
    wait_until(
        "replica-a holds the lease",
        Duration::from_secs(30),
        || async { lease_holder(&env).await == "replica-a" },
        || holder.log(),
    )
    .await;
    let standby = replica("replica-b");
    wait_until(
        "replica-a is ready and replica-b stands by",
        Duration::from_secs(60),
        || async {
            holder.leads_and_is_ready().await
                && standby.phase().await
                    == "standby: the leader-election lease is held by replica-a"
        },
        || standby.log(),
    )
    .await;
    let leading = |metrics: &str| metrics.lines().any(|l| l == "amko_leading 1");
    let standby_metrics = standby.metrics().await;
    assert!(!leading(&standby_metrics), "{standby_metrics}");
    assert!(
        standby_metrics.contains("amko_lease_holder{holder=\"replica-a\"} 1"),
        "{standby_metrics}"
    );

    let hosts: Vec<String> = (0..16).map(|i| format!("app{i}.example.com")).collect();
    for (i, host) in hosts.iter().enumerate() {
        env.create_gslb_ingress("cluster1", "shop", &format!("web{i}"), host)
            .await;
    }
    wait_until(
        "the holder wrote some GslbServices",
        Duration::from_secs(30),
        || async { env.gslb_services().len() >= 2 },
        || holder.log(),
    )
    .await;
    let written_by_a = env.gslb_services().len();
    drop(holder); // SIGKILL: no release, the lease has to expire.
    assert!(
        written_by_a < hosts.len(),
        "the holder finished before it was killed"
    );

    wait_until(
        "every GslbService exists",
        Duration::from_secs(60),
        || async { hosts.iter().all(|h| env.gslb_service(h).is_some()) },
        || standby.log(),
    )
    .await;
    assert_eq!(lease_holder(&env).await, "replica-b");
    let metrics = standby.metrics().await;
    assert!(leading(&metrics), "{metrics}");

    // Nothing lost, nothing doubled: each GslbService written exactly once (its create; the
    // standby found the holder's writes on the controller and did not repeat them), no deletion.
    let writes = env.avi.control().audit_log();
    for host in &hosts {
        let written: Vec<_> = writes
            .iter()
            .filter(|w| w.object_type == "gslbservice" && &w.name == host)
            .filter(|w| (200..300).contains(&w.status))
            .map(|w| w.method.as_str())
            .collect();
        assert_eq!(written, ["POST"], "{host}");
    }
    assert!(
        writes.iter().all(|w| w.method != "DELETE"),
        "{:?}",
        writes
            .iter()
            .filter(|w| w.method == "DELETE")
            .collect::<Vec<_>>()
    );
    assert_eq!(env.gslb_services().len(), hosts.len());
    harness::remove_dir(&env.dir);
}

async fn leader_since(env: &Env, context: &str) -> Option<String> {
    amko_cluster_status(env, context)
        .await
        .and_then(|s| s.leader_since)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_leaders_are_reported_on_both_and_the_newer_waits_until_one_is_demoted() {
    let mut env = federation(
        "two-leaders",
        gdp(),
        [("cluster2", "1.0"), ("cluster3", "1.0")],
    )
    .await;
    env.start_operator(&["--role-poll-ms", "300"]);
    let federator1 = federator(&env, "federator-cluster1", "cluster1");
    let federator2 = federator(&env, "federator-cluster2", "cluster2");
    let second = operator(&env, "operator-cluster2", "cluster2", &[]);
    env.wait_ready().await;
    wait_until(
        "gc-1 and global-gdp federated to cluster2, cluster1's leadership recorded",
        Duration::from_secs(30),
        || async {
            follower_matches_leader(&env, "cluster2").await
                && leader_since(&env, "cluster1").await.is_some()
        },
        || federator1.log(),
    )
    .await;

    // cluster2 is promoted while cluster1 still leads.
    run_runbook(&env, "promote", &[("SURVIVOR", "cluster2")]);
    let conflict = |other: &str| {
        triple(
            CONDITION_MEMBER_VALIDATION,
            fed::MEMBER_CLIENTS_INVALID,
            &format!("AMKO in cluster {other} is also a leader, conflicting state"),
        )
    };
    wait_until(
        "the conflict is reported on both AMKOClusters",
        Duration::from_secs(30),
        || async {
            conditions(&env, "cluster1")
                .await
                .contains(&conflict("cluster2"))
                && conditions(&env, "cluster2")
                    .await
                    .contains(&conflict("cluster1"))
        },
        || federator2.log(),
    )
    .await;
    wait_until(
        "the newer leader does not write",
        Duration::from_secs(30),
        || async {
            second
                .phase()
                .await
                .starts_with("AMKO in cluster cluster1 is also a leader, conflicting state")
        },
        || second.log(),
    )
    .await;
    assert!(!second.leading().await);
    // The older leader goes on writing.
    env.create_gslb_ingress("cluster2", "shop", "during", "during.example.com")
        .await;
    env.eventually("the older leader creates a GslbService", || async {
        env.gslb_service("during.example.com").is_some()
    })
    .await;
    assert!(matches!(env.get("/readyz").await, Some((200, _))));

    // Resolved as the runbook says: the returning (older) leader is demoted, in-process.
    run_runbook(&env, "demote", &[("OLD_LEADER", "cluster1")]);
    wait_until(
        "cluster2 leads and cluster1 idles",
        Duration::from_secs(60),
        || async {
            let status = env
                .get("/api/status")
                .await
                .map(|(_, b)| b)
                .unwrap_or_default();
            second.leads_and_is_ready().await && status.contains("follower")
        },
        || second.log(),
    )
    .await;
    let metrics = env.metrics().await;
    assert!(metrics.lines().any(|l| l == "amko_leading 0"), "{metrics}");
    assert_eq!(leader_since(&env, "cluster1").await, None);
    env.create_gslb_ingress("cluster3", "shop", "after", "after.example.com")
        .await;
    wait_until(
        "the promoted leader creates a GslbService",
        Duration::from_secs(30),
        || async { env.gslb_service("after.example.com").is_some() },
        || second.log(),
    )
    .await;
    let writes = env.avi.control().audit_log();
    assert!(writes.iter().all(|w| w.method != "DELETE"), "{writes:?}");
    for host in ["during.example.com", "after.example.com"] {
        let creates = writes
            .iter()
            .filter(|w| w.method == "POST" && w.object_type == "gslbservice" && w.name == host)
            .count();
        assert_eq!(creates, 1, "{host} created {creates} times");
    }
    harness::remove_dir(&env.dir);
}

/// Any kubeconfig context name federates: a leader named like an EKS context, followers named like
/// an OpenShift context and with a space, `,`, `%` and `"`. AMKOCluster `clusterContext` and
/// `clusters`, GDP `matchClusters` and `trafficSplit` name them; `amko federate` copies GSLBConfig
/// and GDP to the follower on the same version and names the other in its condition; `amko run` on
/// the leader places each cluster's member with that cluster's weight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_named_like_real_contexts_federate_and_keep_their_weights() {
    const EKS: &str = "arn:aws:eks:eu-west-1:123456789012:cluster/prod";
    const OCP: &str = "default/api-ocp-example-com:6443/kube:admin";
    const ODD: &str = "team a, 100% \"dr\"";
    let names = [EKS, OCP, ODD];
    let weights = [(EKS, 5), (OCP, 10), (ODD, 20)];
    let split: Vec<Value> = weights
        .iter()
        .map(|(c, w)| json!({"cluster": c, "weight": w}))
        .collect();
    let mut env = Env::start(
        "federate-names",
        EnvOptions::named(&names).install(harness::gdp(&names, json!({"trafficSplit": split}))),
    )
    .await;
    create_amko_cluster_of(&env, EKS, true, "1.0", &names).await;
    for (context, version) in [(OCP, "1.0"), (ODD, "0.9")] {
        install_basics(&env, context).await;
        create_amko_cluster_of(&env, context, false, version, &names).await;
    }
    let leader = federator(&env, "federator-eks", EKS);
    wait_until(
        "the OpenShift-named follower holds exactly the leader's GSLBConfig and GDP",
        Duration::from_secs(30),
        || follower_matches(&env, EKS, OCP),
        || leader.log(),
    )
    .await;
    let expected = vec![
        triple(CONDITION_VALIDATION, fed::VALID_AMKOCLUSTER, ""),
        triple(CONDITION_MEMBER_INIT, fed::ALL_CLIENTS_FETCHED, ""),
        triple(
            CONDITION_MEMBER_VALIDATION,
            fed::SOME_MEMBERS_INVALID,
            &format!("version mismatch, current AMKO: 1.0, AMKO in cluster {ODD}: 0.9"),
        ),
        triple(CONDITION_GSLBCONFIG_FEDERATION, fed::FEDERATED_ALL, ""),
        triple(CONDITION_GDP_FEDERATION, fed::FEDERATED_ALL, ""),
    ];
    wait_until(
        "the leader's AMKOCluster conditions",
        Duration::from_secs(30),
        || async { conditions(&env, EKS).await == expected },
        || leader.log(),
    )
    .await;
    assert!(
        gslb_configs(&env, ODD).await.is_empty() && gdps(&env, ODD).await.is_empty(),
        "a follower on another version got objects"
    );
    let copied = gdps(&env, OCP).await;
    let match_clusters: Vec<String> = copied
        .first()
        .map(|g| {
            g.spec
                .match_clusters
                .iter()
                .map(|m| m.cluster.clone())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(match_clusters, names, "the copied GDP's matchClusters");

    // The leader's operator: each cluster's member carries that cluster's weight.
    env.start_operator(&["--role-poll-ms", "300"]);
    env.wait_ready().await;
    for cluster in names {
        env.create_gslb_ingress(cluster, "shop", "web", "fed-names.example.com")
            .await;
    }
    let gs = env
        .wait_gs("fed-names.example.com", "three members", |gs| {
            harness::members_of(gs).len() == 3
        })
        .await;
    for (cluster, weight) in weights {
        let placement = env
            .ingress_placement(cluster, "shop", "web", "fed-names.example.com")
            .await;
        harness::assert_member_placed(&gs, &placement);
        assert_eq!(
            harness::member_with_ip(&gs, &placement.vip)["ratio"],
            weight,
            "{cluster}"
        );
    }
    let description = gs["description"].as_str().unwrap_or_default();
    let read_back = amko::model::identity::clusters_in_description(description);
    assert!(
        names.iter().all(|n| read_back.contains(*n)),
        "{description} reads back as {read_back:?}"
    );
    harness::remove_dir(&env.dir);
}

/// The containers of the chart's Deployment when rendered with `fixture` (tests/fixtures/chart-values).
fn rendered_containers(fixture: &str) -> Vec<Value> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let output = harness::tools::helm()
        .current_dir(root)
        .args([
            "template",
            "amko",
            "charts/amko",
            "--namespace",
            HOME,
            "--values",
        ])
        .arg(format!("tests/fixtures/chart-values/{fixture}.yaml"))
        .output()
        .expect("helm runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .split("\n---")
        .filter_map(|doc| serde_saphyr::from_str::<Value>(doc).ok())
        .filter(|doc| doc["kind"] == "Deployment")
        .flat_map(|doc| {
            doc["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn the_binary_accepts_every_argument_the_chart_passes() {
    // "full" runs two replicas (leader election) and a federation (the federator container).
    let containers = rendered_containers("full");
    let args_of = |name: &str| -> Vec<String> {
        containers
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["args"].as_array())
            .unwrap_or_else(|| panic!("no {name} container"))
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect()
    };
    for (container, subcommand) in [("amko", "run"), ("amko-federator", "federate")] {
        let args = args_of(container);
        assert_eq!(args.first().map(String::as_str), Some(subcommand));
        assert!(args.iter().any(|a| a == "--leader-elect"), "{args:?}");
        // clap parses every argument before it acts on --help: an unknown one fails here.
        let output = Command::new(env!("CARGO_BIN_EXE_amko"))
            .args(&args)
            .arg("--help")
            .output()
            .expect("amko runs");
        assert!(
            output.status.success(),
            "amko rejects the chart's {container} args {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
