//! End-to-end: the `amko` binary installed as `kubectl-amko` on PATH is found by the real kubectl
//! (`kubectl plugin list`) and answers `kubectl amko …`: its help says `kubectl amko`, a
//! subcommand it does not offer (`run`) is refused, and `kubectl amko plan` with the cluster
//! flags kubectl does not forward to plugins reads a converged environment and says "no changes";
//! `kubectl amko support-bundle` writes a bundle, and `kubectl amko explain` says why an Ingress
//! of it is selected.

mod harness;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use harness::{Env, EnvOptions, HOME, members_of, tools};
use serde_json::json;

/// A folder holding only `kubectl-amko`, a symlink to the built `amko` binary, as the install
/// instructions in docs/plan.md say.
fn plugin_dir(dir: &Path) -> PathBuf {
    let bin = dir.join("plugin-bin");
    std::fs::create_dir_all(&bin).expect("plugin folder");
    let link = bin.join("kubectl-amko");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_amko"), &link).expect("kubectl-amko link");
    }
    bin
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The real kubectl with `args`, PATH holding only the plugin folder (kubectl itself is started
/// by its path), so the plugin it finds can only be ours.
fn kubectl(plugin_dir: &Path, args: &[&str]) -> Ran {
    kubectl_with_kubeconfig(plugin_dir, None, args)
}

/// As `kubectl`, with env `KUBECONFIG` set to `kubeconfig` (kubectl passes its environment on to
/// the plugin).
fn kubectl_with_kubeconfig(plugin_dir: &Path, kubeconfig: Option<&Path>, args: &[&str]) -> Ran {
    let mut command = tools::kubectl();
    command
        .args(args)
        .env("PATH", plugin_dir)
        .env("AMKO_LOG", "info")
        .env_remove("POD_NAME")
        .env_remove("POD_NAMESPACE")
        .env_remove("GSLB_CONFIG")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null());
    if let Some(kubeconfig) = kubeconfig {
        command.env("KUBECONFIG", kubeconfig);
    }
    let output = command.output().expect("kubectl runs");
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn kubectl_finds_the_plugin_and_it_answers_as_kubectl_amko() {
    let scratch = std::env::temp_dir().join(format!("amko-kplugin-{}", std::process::id()));
    let bin = plugin_dir(&scratch);

    let list = kubectl(&bin, &["plugin", "list"]);
    assert_eq!(list.code, Some(0), "{}\n{}", list.stdout, list.stderr);
    assert!(
        list.stdout
            .contains(&bin.join("kubectl-amko").display().to_string()),
        "{}\n{}",
        list.stdout,
        list.stderr
    );

    let help = kubectl(&bin, &["amko", "--help"]);
    assert_eq!(help.code, Some(0), "{}", help.stderr);
    assert!(
        help.stdout.contains("Usage: kubectl amko <COMMAND>"),
        "{}",
        help.stdout
    );
    assert!(help.stdout.contains("plan"), "{}", help.stdout);
    assert!(help.stdout.contains("support-bundle"), "{}", help.stdout);
    // `run` belongs to the `amko` command only.
    assert!(!help.stdout.contains("\n  run "), "{}", help.stdout);

    let verify_help = kubectl(&bin, &["amko", "verify-dns", "--help"]);
    assert_eq!(verify_help.code, Some(0), "{}", verify_help.stderr);
    assert!(
        verify_help
            .stdout
            .contains("Usage: kubectl amko verify-dns [OPTIONS] --server <ADDR[:PORT]>"),
        "{}",
        verify_help.stdout
    );

    let plan_help = kubectl(&bin, &["amko", "plan", "--help"]);
    assert_eq!(plan_help.code, Some(0), "{}", plan_help.stderr);
    for expected in [
        "Usage: kubectl amko plan [OPTIONS]",
        "--kubeconfig",
        "--context",
    ] {
        assert!(
            plan_help.stdout.contains(expected),
            "{expected}: {}",
            plan_help.stdout
        );
    }

    let crds = kubectl(&bin, &["amko", "crds"]);
    assert_eq!(crds.code, Some(0), "{}", crds.stderr);
    assert!(
        crds.stdout
            .contains("name: globaldeploymentpolicies.amko.vmware.com"),
        "{}",
        crds.stdout
    );

    for refused in ["run", "federate"] {
        let ran = kubectl(&bin, &["amko", refused]);
        assert_eq!(
            ran.code,
            Some(2),
            "{refused}: {}\n{}",
            ran.stdout,
            ran.stderr
        );
        assert!(
            ran.stderr
                .contains(&format!("unrecognized subcommand '{refused}'")),
            "{refused}: {}",
            ran.stderr
        );
        assert!(ran.stderr.contains("kubectl amko"), "{}", ran.stderr);
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_amko_plan_reads_a_converged_environment() {
    let gdp = harness::gdp(
        &["cluster1", "cluster2"],
        json!({"trafficSplit": [
            {"cluster": "cluster1", "weight": 1, "priority": 10},
            {"cluster": "cluster2", "weight": 1, "priority": 10}
        ]}),
    );
    let mut env = Env::start("kplugin", EnvOptions::clusters(2).install(gdp).run(&[])).await;
    for cluster in ["cluster1", "cluster2"] {
        env.create_gslb_ingress(cluster, "shop", "shop", "shop.example.com")
            .await;
    }
    env.wait_gs("shop.example.com", "a member in each cluster", |gs| {
        members_of(gs).len() == 2
    })
    .await;
    // Let the writer finish what it queued, then leave the controller to `kubectl amko plan`.
    tokio::time::sleep(Duration::from_secs(2)).await;
    env.stop_operator();
    let writes = env.writes();

    let bin = plugin_dir(&env.dir);
    let members = env.dir.join("plugin-members-kubeconfig");
    std::fs::copy(&env.kubeconfig, &members).expect("members kubeconfig");
    let kubeconfig = env.kubeconfig.display().to_string();
    let members = members.display().to_string();
    let planned = kubectl(
        &bin,
        &[
            "amko",
            "plan",
            "--kubeconfig",
            &kubeconfig,
            "--context",
            env.home_cluster(),
            "--namespace",
            HOME,
            "--members-kubeconfig",
            &members,
            "--boot-timeout-secs",
            "20",
            "--timeout-secs",
            "60",
        ],
    );
    assert_eq!(
        planned.code,
        Some(0),
        "{}\n{}",
        planned.stdout,
        planned.stderr
    );
    assert!(planned.stdout.contains("no changes"), "{}", planned.stdout);

    // `kubectl amko explain`: one Ingress of the converged environment, computed standalone.
    let explained = kubectl(
        &bin,
        &[
            "amko",
            "explain",
            "ingress/shop/shop",
            "--cluster",
            "cluster2",
            "--kubeconfig",
            &kubeconfig,
            "--context",
            env.home_cluster(),
            "--namespace",
            HOME,
            "--members-kubeconfig",
            &members,
            "--boot-timeout-secs",
            "20",
            "--timeout-secs",
            "60",
        ],
    );
    assert_eq!(
        explained.code,
        Some(0),
        "{}\n{}",
        explained.stdout,
        explained.stderr
    );
    for expected in [
        "ingress/shop/shop in cluster cluster2, host shop.example.com: SELECTED into GslbService admin/shop.example.com\n",
        "  the controller's copy is in sync\n",
    ] {
        assert!(
            explained.stdout.contains(expected),
            "{expected}\n{}",
            explained.stdout
        );
    }
    assert!(
        !planned.stdout.contains(env.avi.password())
            && !planned.stderr.contains(env.avi.password()),
        "the controller password reached kubectl amko plan's output"
    );

    // The usual kubectl way: KUBECONFIG in the environment and only --context, here naming the
    // home cluster while the kubeconfig's current context is another one.
    let user_kubeconfig = env.dir.join("plugin-user-kubeconfig");
    std::fs::copy(&env.kubeconfig, &user_kubeconfig).expect("user kubeconfig");
    let contexts = kubectl_with_kubeconfig(
        &bin,
        Some(&user_kubeconfig),
        &["config", "get-contexts", "-o", "name"],
    );
    assert_eq!(contexts.code, Some(0), "{}", contexts.stderr);
    let other = contexts
        .stdout
        .lines()
        .find(|c| *c != env.home_cluster())
        .unwrap_or_else(|| panic!("a second context: {}", contexts.stdout))
        .to_owned();
    let switched = kubectl_with_kubeconfig(
        &bin,
        Some(&user_kubeconfig),
        &["config", "use-context", &other],
    );
    assert_eq!(switched.code, Some(0), "{}", switched.stderr);
    let by_context = kubectl_with_kubeconfig(
        &bin,
        Some(&user_kubeconfig),
        &[
            "amko",
            "plan",
            "--context",
            env.home_cluster(),
            "--namespace",
            HOME,
            "--members-kubeconfig",
            &members,
            "--boot-timeout-secs",
            "20",
            "--timeout-secs",
            "60",
        ],
    );
    assert_eq!(
        by_context.code,
        Some(0),
        "{}\n{}",
        by_context.stdout,
        by_context.stderr
    );
    assert!(
        by_context.stdout.contains("no changes"),
        "{}",
        by_context.stdout
    );

    assert_eq!(
        env.writes_since(writes),
        Vec::<String>::new(),
        "kubectl amko plan wrote to the controller"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_amko_support_bundle_writes_a_bundle() {
    let gdp = harness::gdp(&["cluster1", "cluster2"], json!({}));
    let env = Env::start(
        "kplugin-bundle",
        EnvOptions::clusters(2).install(gdp).run(&[]),
    )
    .await;
    let bin = plugin_dir(&env.dir);
    let kubeconfig = env.kubeconfig.display().to_string();
    let output = env.dir.join("kubectl-bundle.tar.gz");
    let operator = format!(
        "http://{}",
        env.operator
            .as_ref()
            .map(|o| o.listen.clone())
            .expect("operator")
    );
    let ran = kubectl(
        &bin,
        &[
            "amko",
            "support-bundle",
            "--kubeconfig",
            &kubeconfig,
            "--context",
            env.home_cluster(),
            "--namespace",
            HOME,
            "--operator",
            &operator,
            "--output",
            &output.display().to_string(),
        ],
    );
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.stdout.trim(), output.display().to_string());
    let listed = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(&output)
        .output()
        .expect("tar runs");
    let listed = String::from_utf8_lossy(&listed.stdout);
    for part in [
        "/manifest.json",
        "/crs/gslbconfigs.json",
        "/operator/operator/api-status.json",
        "/operator/operator/metrics.txt",
        "/versions.json",
    ] {
        assert!(
            listed.lines().any(|l| l.ends_with(part)),
            "{part}: {listed}"
        );
    }
}
