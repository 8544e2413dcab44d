//! helm v3 against a simulated cluster: install (CRD from crds/, then a Deployment, RBAC, a
//! Secret, a ConfigMap and a custom resource; release records in protobuf), list, upgrade
//! (changing the Deployment and the CR through strategic and merge patches), uninstall.

mod sim_k8s_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use amko_sim::k8s::{SimClusters, SimConfig};
use serde_json::Value;
use sim_k8s_common::{Kubectl, Run, TempDir, run, temp_dir, tools};

struct Helm {
    env: Vec<(&'static str, PathBuf)>,
    _dir: TempDir,
}

impl Helm {
    fn new(kubeconfig: &Path) -> Self {
        let dir = temp_dir("helm");
        let env = vec![
            ("KUBECONFIG", kubeconfig.to_path_buf()),
            ("KUBECACHEDIR", dir.join("kube-cache")),
            ("HELM_CACHE_HOME", dir.join("cache")),
            ("HELM_CONFIG_HOME", dir.join("config")),
            ("HELM_DATA_HOME", dir.join("data")),
        ];
        Helm {
            env,
            _dir: TempDir(dir),
        }
    }

    async fn run(&self, args: &[&str]) -> Run {
        let env: Vec<(&str, &Path)> = self.env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        run(tools::helm(), args, &env, None, Duration::from_secs(120)).await
    }
}

fn chart() -> String {
    format!(
        "{}/../tests/fixtures/sim_k8s/chart",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_list_upgrade_uninstall() {
    let sim = SimClusters::start(SimConfig::with_clusters(1))
        .await
        .expect("simulator starts");
    let k = Kubectl::new(&sim);
    let helm = Helm::new(&k.kubeconfig);
    let chart = chart();
    let ctx = "cluster1";

    helm.run(&[
        "install",
        "demo",
        &chart,
        "-n",
        "demo",
        "--create-namespace",
        "--wait",
        "--timeout",
        "60s",
    ])
    .await
    .expect_ok();
    let crd = k.json(ctx, "get crd widgets.example.io").await;
    assert_eq!(crd["status"]["conditions"][1]["type"], "Established");
    let deploy = k.json(ctx, "get deploy demo-web -n demo").await;
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    assert_eq!(
        deploy["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "Helm"
    );
    assert_eq!(deploy["status"]["readyReplicas"], 2);
    let widget = k.json(ctx, "get widget demo-widget -n demo").await;
    assert_eq!(widget["spec"]["size"], 3);
    let release = k
        .json(ctx, "get secret sh.helm.release.v1.demo.v1 -n demo")
        .await;
    assert_eq!(release["type"], "helm.sh/release.v1");
    assert_eq!(release["metadata"]["labels"]["status"], "deployed");

    let list = json(
        &helm
            .run(&["list", "-n", "demo", "-o", "json"])
            .await
            .expect_ok(),
    );
    assert_eq!(list[0]["name"], "demo");
    assert_eq!(list[0]["status"], "deployed");
    let all = json(&helm.run(&["list", "-A", "-o", "json"]).await.expect_ok());
    assert_eq!(all.as_array().map(Vec::len), Some(1));

    helm.run(&[
        "upgrade",
        "demo",
        &chart,
        "-n",
        "demo",
        "--set",
        "image=nginx:1.27",
        "--set",
        "widgetSize=5",
        "--wait",
        "--timeout",
        "60s",
    ])
    .await
    .expect_ok();
    let deploy = k.json(ctx, "get deploy demo-web -n demo").await;
    let containers = &deploy["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().map(Vec::len), Some(1));
    assert_eq!(containers[0]["image"], "nginx:1.27");
    assert_eq!(
        containers[0]["env"][0]["name"], "MODE",
        "strategic merge kept the env"
    );
    assert_eq!(deploy["metadata"]["generation"], 2);
    let widget = k.json(ctx, "get widget demo-widget -n demo").await;
    assert_eq!(widget["spec"]["size"], 5);
    let history = json(
        &helm
            .run(&["history", "demo", "-n", "demo", "-o", "json"])
            .await
            .expect_ok(),
    );
    assert_eq!(history.as_array().map(Vec::len), Some(2));
    let manifest = helm
        .run(&["get", "manifest", "demo", "-n", "demo"])
        .await
        .expect_ok();
    assert!(manifest.contains("nginx:1.27"), "{manifest}");

    helm.run(&["uninstall", "demo", "-n", "demo", "--wait"])
        .await
        .expect_ok();
    let left = k
        .json(ctx, "get deploy,secrets,configmaps,serviceaccounts -n demo")
        .await;
    assert_eq!(left["items"].as_array().map(Vec::len), Some(0), "{left}");
    let widgets = k.json(ctx, "get widgets -A").await;
    assert_eq!(widgets["items"].as_array().map(Vec::len), Some(0));
    k.run(ctx, &["get", "clusterrole", "demo-reader"], None)
        .await
        .expect_err();
    k.ok(ctx, "get crd widgets.example.io", &[]).await;
    assert_eq!(
        json(&helm.run(&["list", "-A", "-o", "json"]).await.expect_ok()),
        serde_json::json!([])
    );
    sim.shutdown().await;
}
