//! The chart as an operator installs it: real helm v3 `install`, `list`, `upgrade` (changing the
//! GDP) and `uninstall` against a simulated cluster, and `amko run` started with the rendered
//! Deployment's arguments and environment (read back from the cluster) converging against a
//! simulated Avi controller.

mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::{CREATED_BY, Env, EnvOptions, HOME, Operator, UUID, wait_until};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{EnvVar, Secret};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

const RELEASE: &str = "amko";

fn chart() -> String {
    format!("{}/../charts/amko", env!("CARGO_MANIFEST_DIR"))
}

/// helm with its caches and config in the test's directory.
struct Helm {
    env: Vec<(&'static str, PathBuf)>,
}

impl Helm {
    fn new(dir: &Path, kubeconfig: &Path) -> Self {
        Helm {
            env: vec![
                ("KUBECONFIG", kubeconfig.to_path_buf()),
                ("HELM_KUBECONTEXT", PathBuf::from("cluster1")),
                ("KUBECACHEDIR", dir.join("kube-cache")),
                ("HELM_CACHE_HOME", dir.join("helm-cache")),
                ("HELM_CONFIG_HOME", dir.join("helm-config")),
                ("HELM_DATA_HOME", dir.join("helm-data")),
            ],
        }
    }

    /// Runs helm (bounded); fails the test with its output unless it succeeds.
    async fn run(&self, args: &[&str]) -> String {
        let mut command = tokio::process::Command::from(harness::tools::helm());
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_os_str())))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .unwrap_or_else(|_| panic!("helm {args:?} did not finish"))
            .expect("helm runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "helm {args:?} failed: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    async fn releases(&self) -> Vec<Value> {
        let text = self.run(&["list", "-n", HOME, "-o", "json"]).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("helm list -o json ({e}): {text}"))
    }
}

/// The values an operator writes for this environment: the simulated controller as the GSLB
/// leader (its CA, its credentials), both simulated clusters as members, and a GDP.
fn values(env: &Env, cluster2_weight: u32) -> Value {
    json!({
        "configs": {
            "gslbLeaderController": env.avi.base_url(),
            "controllerVersion": env.avi.version(),
            "memberClusters": [{"clusterContext": "cluster1"}, {"clusterContext": "cluster2"}],
            "amkoUUID": UUID,
            "federation": {"currentCluster": "cluster1", "currentClusterIsLeader": true}
        },
        "gslbLeaderCredentials": {
            "username": env.avi.username(),
            "password": env.avi.password(),
            "certificateAuthorityData": env.avi.ca_pem().unwrap_or_default()
        },
        "gdpConfig": {
            "appSelector": {"label": {"app": "gslb"}},
            "matchClusters": ["cluster1", "cluster2"],
            "trafficSplit": [
                {"cluster": "cluster1", "weight": 15, "priority": 10},
                {"cluster": "cluster2", "weight": cluster2_weight, "priority": 10}
            ],
            "ttl": 30
        }
    })
}

fn write_values(env: &Env, name: &str, values: &Value) -> String {
    let path = env.dir.join(name);
    std::fs::write(&path, values.to_string()).expect("values file");
    path.display().to_string()
}

/// The value of one container env entry as the kubelet would resolve it.
async fn resolve_env(client: &Client, namespace: &str, var: &EnvVar) -> String {
    if let Some(value) = &var.value {
        return value.clone();
    }
    let from = var.value_from.as_ref().expect("env value or valueFrom");
    if let Some(key_ref) = &from.secret_key_ref {
        let secret = Api::<Secret>::namespaced(client.clone(), namespace)
            .get(&key_ref.name)
            .await
            .expect("the Secret an env entry refers to");
        let bytes = secret
            .data
            .and_then(|d| d.get(&key_ref.key).cloned())
            .unwrap_or_else(|| panic!("Secret {} has no key {}", key_ref.name, key_ref.key));
        return String::from_utf8(bytes.0).expect("UTF-8 secret value");
    }
    match from.field_ref.as_ref().map(|f| f.field_path.as_str()) {
        Some("metadata.name") => "amko-0".to_owned(),
        Some("metadata.namespace") => namespace.to_owned(),
        other => panic!("env {}: unexpected valueFrom {other:?}", var.name),
    }
}

/// `amko run` started as the rendered Deployment would start it; killed on drop.
async fn start_workload(env: &Env, client: &Client) -> Operator {
    let deployment = Api::<Deployment>::namespaced(client.clone(), HOME)
        .get("amko")
        .await
        .expect("the chart's Deployment");
    let container = deployment
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.into_iter().find(|c| c.name == "amko"))
        .expect("container amko");
    let rendered_args = container.args.unwrap_or_default();
    assert_eq!(rendered_args.first().map(String::as_str), Some("run"));
    assert!(rendered_args.iter().any(|a| a.starts_with("--listen=")));

    let listen = format!("127.0.0.1:{}", harness::free_port());
    // The pod's 0.0.0.0:8080 would collide with other processes on a shared machine; every
    // other argument is used as rendered.
    let mut args: Vec<String> = rendered_args
        .into_iter()
        .map(|a| {
            if a.starts_with("--listen=") {
                format!("--listen={listen}")
            } else {
                a
            }
        })
        .collect();
    // Not in a pod: reach the cluster through the kubeconfig instead of the service account.
    args.extend([
        "--kubeconfig".to_owned(),
        env.kubeconfig.display().to_string(),
        "--context".to_owned(),
        "cluster1".to_owned(),
    ]);

    let mut vars = Vec::new();
    for var in container.env.unwrap_or_default() {
        let value = resolve_env(client, HOME, &var).await;
        vars.push((var.name, value));
    }
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"GSLB_CONFIG") && names.contains(&"POD_NAMESPACE"),
        "rendered env: {names:?}"
    );

    let log = env.dir.join("amko-run.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_amko"))
        .args(&args)
        .env_clear()
        .envs(vars)
        .env("AMKO_LOG", "info,amko=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file))
        .spawn()
        .expect("amko run starts");
    Operator::new(child, listen, log)
}

fn ratios(gs: &Value) -> Vec<u64> {
    let mut ratios: Vec<u64> = harness::members_of(gs)
        .iter()
        .filter_map(|m| m["ratio"].as_u64())
        .collect();
    ratios.sort_unstable();
    ratios
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_then_amko_run_converges_upgrade_changes_the_split_uninstall_cleans_up() {
    let env = Env::start("helm-install", EnvOptions::clusters(2)).await;
    let home = env.home().await;
    let helm = Helm::new(&env.dir, &env.kubeconfig);

    // What the docs ask for before `helm install`: the namespace and the members kubeconfig.
    harness::ensure_namespace(&home, HOME).await;
    let members = std::fs::read_to_string(&env.kubeconfig).expect("kubeconfig");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "gslb-config-secret", "namespace": HOME},
        "stringData": {"gslb-members": members}
    }))
    .expect("secret");
    Api::<Secret>::namespaced(home.clone(), HOME)
        .create(&PostParams::default(), &secret)
        .await
        .expect("gslb-config-secret created");

    let chart = chart();
    let v1 = write_values(&env, "values-1.json", &values(&env, 5));
    helm.run(&["install", RELEASE, &chart, "-n", HOME, "-f", &v1])
        .await;
    let releases = helm.releases().await;
    assert_eq!(releases.len(), 1, "{releases:?}");
    assert_eq!(releases[0]["name"], RELEASE);
    assert_eq!(releases[0]["status"], "deployed");
    assert_eq!(releases[0]["revision"], "1");

    let workload = start_workload(&env, &home).await;
    let log = || workload.log();
    workload.wait_ready().await;

    for cluster in ["cluster1", "cluster2"] {
        env.create_gslb_ingress(cluster, "shop", "web", "shop.example.com")
            .await;
    }
    wait_until(
        "a GslbService with the chart's traffic split",
        Duration::from_secs(30),
        || async {
            env.gslb_service("shop.example.com")
                .is_some_and(|gs| ratios(&gs) == [5, 15])
        },
        log,
    )
    .await;
    let gs = env.gslb_service("shop.example.com").expect("gslbservice");
    assert_eq!(
        gs["created_by"], CREATED_BY,
        "configs.amkoUUID names the owner"
    );
    assert_eq!(gs["ttl"], 30);

    // Upgrade: cluster2's weight 5 → 20 through the GDP the chart renders.
    let v2 = write_values(&env, "values-2.json", &values(&env, 20));
    helm.run(&["upgrade", RELEASE, &chart, "-n", HOME, "-f", &v2])
        .await;
    let releases = helm.releases().await;
    assert_eq!(releases[0]["revision"], "2", "{releases:?}");
    assert_eq!(releases[0]["status"], "deployed", "{releases:?}");
    wait_until(
        "the upgraded traffic split on the controller",
        Duration::from_secs(30),
        || async {
            env.gslb_service("shop.example.com")
                .is_some_and(|gs| ratios(&gs) == [15, 20])
        },
        log,
    )
    .await;

    // Uninstall as docs/helm.md says: the GDP first (amko-rs removes its GslbServices), then
    // the release.
    Api::<amko::crd::GlobalDeploymentPolicy>::namespaced(home.clone(), HOME)
        .delete("global-gdp", &DeleteParams::default())
        .await
        .expect("GDP deleted");
    wait_until(
        "the GslbService removed with the GDP",
        Duration::from_secs(30),
        || async { env.gslb_service("shop.example.com").is_none() },
        log,
    )
    .await;
    helm.run(&["uninstall", RELEASE, "-n", HOME]).await;
    assert!(
        helm.releases().await.is_empty(),
        "helm list after uninstall"
    );
    let deployments = Api::<Deployment>::namespaced(home.clone(), HOME);
    assert!(
        deployments.get_opt("amko").await.expect("get").is_none(),
        "the Deployment is gone"
    );
    let configs = Api::<amko::crd::GslbConfig>::namespaced(home.clone(), HOME);
    assert!(
        configs.get_opt("gc-1").await.expect("get").is_none(),
        "gc-1 is gone"
    );

    drop(workload);
    harness::remove_dir(&env.dir);
}
