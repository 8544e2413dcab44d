//! The chart's RBAC, derived from what amko-rs really does. The real `amko run` and
//! `amko federate`, started with the arguments the chart renders (leader election on), go through
//! representative scenarios against the simulated home cluster, whose request log records each
//! request in RBAC's terms. Every request must be granted by the Role or ClusterRole that
//! `helm template` renders from charts/amko, and every granted verb must have been used, apart
//! from the short, commented allowance below. docs/rbac.md explains the method.

mod harness;

use std::collections::BTreeSet;
use std::time::Duration;

use amko::crd::{AmkoCluster, GslbConfig, GslbHostRule, all_crds};
use amko_sim::k8s::RbacRequest;
use harness::{Env, EnvOptions, HOME, gdp, gslb_host_rule, wait_until};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// The token the binaries present to the home cluster: the simulator takes it as their user name,
/// telling their requests from the test's own.
const SERVICE_ACCOUNT: &str = "system:serviceaccount:avi-system:amko";

/// Rendered with every feature the RBAC depends on: two replicas (leader election) and a
/// federation (the federator container).
const FIXTURE: &str = "full";

/// Granted verbs no scenario here can reach, each with the reason it stays granted. Keep it short:
/// today the scenarios reach every granted verb, so it is empty.
const ALLOWED_UNUSED: &[(&str, &str, &str, &str)] = &[
    // (group, resource, verb, why)
];

/// One RBAC rule of the rendered Role (namespaced) or ClusterRole.
#[derive(Debug)]
struct Rule {
    namespaced: bool,
    groups: Vec<String>,
    resources: Vec<String>,
    names: Vec<String>,
    verbs: Vec<String>,
}

impl Rule {
    fn grants(&self, request: &RbacRequest) -> bool {
        let has = |list: &[String], item: &str| list.iter().any(|x| x == item || x == "*");
        (!self.namespaced || request.namespace.as_deref() == Some(HOME))
            && has(&self.groups, &request.group)
            && has(&self.resources, &request.resource)
            && has(&self.verbs, &request.verb)
            && (self.names.is_empty()
                || request
                    .name
                    .as_deref()
                    .is_some_and(|n| self.names.iter().any(|x| x == n)))
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// The rendered chart's documents (in namespace `avi-system`, so the Role is the home one).
fn rendered() -> Vec<Value> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let output = harness::tools::helm()
        .current_dir(root)
        .args(["template", "amko", "charts/amko", "--namespace", HOME])
        .arg("--values")
        .arg(format!("tests/fixtures/chart-values/{FIXTURE}.yaml"))
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
        .collect()
}

fn rules(docs: &[Value]) -> Vec<Rule> {
    docs.iter()
        .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
        .flat_map(|d| {
            let namespaced = d["kind"] == "Role";
            d["rules"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |r| Rule {
                    namespaced,
                    groups: strings(&r["apiGroups"]),
                    resources: strings(&r["resources"]),
                    names: strings(&r["resourceNames"]),
                    verbs: strings(&r["verbs"]),
                })
        })
        .collect()
}

/// The args the chart gives `container`, minus `--listen` and `--debug-listen` (the test picks
/// free ports; the debug endpoints do not touch the API server).
fn container_args(docs: &[Value], container: &str) -> Vec<String> {
    docs.iter()
        .filter(|d| d["kind"] == "Deployment")
        .flat_map(|d| {
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|c| c["name"] == container)
        .map(|c| strings(&c["args"]))
        .unwrap_or_else(|| panic!("no {container} container rendered"))
        .into_iter()
        .skip(1)
        .filter(|a| !a.starts_with("--listen") && !a.starts_with("--debug-listen"))
        .collect()
}

async fn install_follower(env: &Env, context: &str) {
    let client = env.client(context).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in all_crds().expect("CRDs generate") {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("CRD created");
    }
    harness::ensure_namespace(&client, HOME).await;
    create_amko_cluster(env, context, false).await;
}

async fn create_amko_cluster(env: &Env, context: &str, leader: bool) {
    let cluster: AmkoCluster = serde_json::from_value(json!({
        "apiVersion": "amko.vmware.com/v1alpha1", "kind": "AMKOCluster",
        "metadata": {"name": "amkocluster-federation", "namespace": HOME},
        "spec": {"isLeader": leader, "clusterContext": context, "version": "1.0",
                 "clusters": ["cluster1", "cluster3"]}
    }))
    .expect("amkocluster");
    Api::<AmkoCluster>::namespaced(env.client(context).await, HOME)
        .create(&PostParams::default(), &cluster)
        .await
        .expect("AMKOCluster created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_grants_exactly_the_verbs_amko_run_and_federate_use() {
    let docs = rendered();
    let rules = rules(&docs);
    assert!(!rules.is_empty(), "no RBAC rules rendered");

    // cluster1 is home only (no member, no follower): what the binaries ask of it they ask with
    // the chart's ServiceAccount. cluster2 is the member, cluster3 the federation's follower.
    let mut env = Env::start(
        "rbac",
        EnvOptions::clusters(3)
            .install(gdp(&["cluster2"], json!({"ttl": 30})))
            .gslb_config(json!({"memberClusters": [{"clusterContext": "cluster2"}]})),
    )
    .await;
    create_amko_cluster(&env, "cluster1", true).await;
    install_follower(&env, "cluster3").await;
    // Without the uuid annotation amko-rs generates one and records it (a chart install with
    // configs.amkoUUID empty).
    let home = env.home().await;
    Api::<GslbConfig>::namespaced(home.clone(), HOME)
        .patch(
            "gc-1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"amko.vmware.com/amko-uuid": null}}}),
            ),
        )
        .await
        .expect("uuid annotation removed");

    // The binaries start with a wrong controller password, so that the error path (a status, then
    // re-reading the GSLBConfig and Secret until one changes) is part of the scenario.
    let secrets = Api::<Secret>::namespaced(home.clone(), HOME);
    let set_password = |password: String| {
        let secrets = secrets.clone();
        async move {
            secrets
                .patch(
                    "gslb-avi-secret",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"stringData": {"password": password}})),
                )
                .await
                .expect("secret patched");
        }
    };
    set_password("not-the-password".to_owned()).await;

    let run_args = container_args(&docs, "amko");
    let federate_args = container_args(&docs, "amko-federator");
    assert!(
        run_args.iter().any(|a| a == "--leader-elect"),
        "{run_args:?}"
    );
    // Members (cluster2) and followers (cluster3) are reached with the members kubeconfig; the
    // home cluster with the ServiceAccount's token.
    let members = env.dir.join("members-kubeconfig");
    std::fs::copy(&env.kubeconfig, &members).expect("members kubeconfig");
    let mut own = env.clusters.kubeconfig();
    for user in own["users"].as_array_mut().into_iter().flatten() {
        if user["name"] == "cluster1" {
            user["user"] = json!({"token": SERVICE_ACCOUNT});
        }
    }
    let own_path = env.dir.join("serviceaccount-kubeconfig");
    std::fs::write(&own_path, own.to_string()).expect("kubeconfig written");
    let test_kubeconfig = std::mem::replace(&mut env.kubeconfig, own_path);
    let run_refs: Vec<&str> = run_args.iter().map(String::as_str).collect();
    let federate_refs: Vec<&str> = federate_args.iter().map(String::as_str).collect();
    let operator = env.spawn("operator", "run", "cluster1", &members, &run_refs);
    let federator = env.spawn(
        "federator",
        "federate",
        "cluster1",
        &members,
        &federate_refs,
    );
    env.kubeconfig = test_kubeconfig;
    let log = || format!("{}\n--- federator ---\n{}", operator.log(), federator.log());

    wait_until(
        "the GSLBConfig says the credentials are wrong",
        Duration::from_secs(30),
        || async {
            env.gslb_config_state()
                .await
                .contains("invalid credentials")
        },
        log,
    )
    .await;
    set_password(env.avi.password().to_owned()).await;

    // Scenarios: an Ingress becomes a GslbService; a GSLBHostRule is accepted and one rejected;
    // the GDP is edited (valid, then invalid); the follower gets GSLBConfig and GDP.
    env.create_gslb_ingress("cluster2", "shop", "web", "rbac.example.com")
        .await;
    wait_until(
        "a GslbService",
        Duration::from_secs(60),
        || async { env.has_gs_with_members("rbac.example.com", 1) },
        log,
    )
    .await;
    harness::ensure_namespace(&home, "shop").await;
    for (name, spec) in [
        ("good", json!({"fqdn": "rbac.example.com", "ttl": 5})),
        (
            "bad",
            json!({"fqdn": "other.example.com", "trafficSplit": [{"cluster": "nowhere", "weight": 1}]}),
        ),
    ] {
        Api::<GslbHostRule>::namespaced(home.clone(), "shop")
            .create(&PostParams::default(), &gslb_host_rule("shop", name, spec))
            .await
            .expect("GSLBHostRule created");
    }
    wait_until(
        "the GslbService takes the GSLBHostRule's TTL",
        Duration::from_secs(30),
        || async {
            env.gslb_service("rbac.example.com")
                .is_some_and(|gs| gs["ttl"] == 5)
        },
        log,
    )
    .await;
    env.apply_gdp(gdp(&["cluster2"], json!({"ttl": 40}))).await;
    env.apply_gdp(gdp(
        &["cluster2"],
        json!({"ttl": 40, "trafficSplit": [{"cluster": "nowhere", "weight": 1}]}),
    ))
    .await;
    wait_until(
        "the follower holds the GSLBConfig and GDP",
        Duration::from_secs(30),
        || async {
            !env.list::<GslbConfig>("cluster3", HOME).await.is_empty()
                && !env
                    .list::<amko::crd::GlobalDeploymentPolicy>("cluster3", HOME)
                    .await
                    .is_empty()
        },
        log,
    )
    .await;
    // Long enough for a Lease renewal and a periodic federation round.
    tokio::time::sleep(Duration::from_secs(8)).await;

    let used: Vec<RbacRequest> = env
        .clusters
        .requests("cluster1")
        .expect("cluster1")
        .into_keys()
        .filter(|r| r.user.as_deref() == Some(SERVICE_ACCOUNT))
        .collect();
    assert!(!used.is_empty(), "no request of the binaries was recorded");
    let ungranted: Vec<&RbacRequest> = used
        .iter()
        .filter(|r| !rules.iter().any(|rule| rule.grants(r)))
        .collect();
    assert!(
        ungranted.is_empty(),
        "amko-rs made requests the chart does not grant: {ungranted:#?}\n{}",
        log()
    );

    let used_verbs: BTreeSet<(String, String, String)> = used
        .iter()
        .map(|r| (r.group.clone(), r.resource.clone(), r.verb.clone()))
        .collect();
    let mut unused = Vec::new();
    for rule in &rules {
        for group in &rule.groups {
            for resource in &rule.resources {
                for verb in &rule.verbs {
                    let key = (group.clone(), resource.clone(), verb.clone());
                    let allowed = ALLOWED_UNUSED.iter().any(|(g, r, v, _)| {
                        (*g, *r, *v) == (group.as_str(), resource.as_str(), verb.as_str())
                    });
                    if !used_verbs.contains(&key) && !allowed {
                        unused.push(key);
                    }
                }
            }
        }
    }
    assert!(
        unused.is_empty(),
        "the chart grants verbs amko-rs never used: {unused:#?}\nused: {used_verbs:#?}"
    );
    drop(operator);
    drop(federator);
    harness::remove_dir(&env.dir);
}
