//! End-to-end: `amko plan` (the real binary) against the simulated clusters and controller after
//! `amko run` converged. It says "no changes" (exit 0) when in sync, lists per GslbService the
//! weight changes of a proposed GDP and the TTL of a proposed GSLBHostRule (exit 2), reports an
//! invalid proposed GDP or GSLBHostRule with the message `amko run` puts in its status (exit 1),
//! leaves the GslbServices of an unlistable member cluster alone (deferred), fails clearly when
//! the controller is unreachable (exit 1), and never writes: the controller's audit log does not
//! grow while it runs, nor does the GDP's resourceVersion change.

mod harness;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use amko::crd::{GlobalDeploymentPolicy, GslbConfig};
use amko_sim::k8s::Down;
use harness::{Env, EnvOptions, HOME, members_of};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

const FQDNS: [&str; 2] = ["shop.example.com", "cart.example.com"];

/// Selects `app: gslb` objects of both clusters, `cluster1` with `weight1`, `cluster2` with 1.
fn gdp_spec(weight1: u32) -> Value {
    harness::gdp(
        &["cluster1", "cluster2"],
        json!({"trafficSplit": [
            {"cluster": "cluster1", "weight": weight1, "priority": 10},
            {"cluster": "cluster2", "weight": 1, "priority": 10}
        ]}),
    )
}

/// The GDP `global-gdp` with `spec`, as a file a user would pass with `-f`.
fn gdp_yaml(spec: &Value) -> String {
    let object = json!({
        "apiVersion": "amko.vmware.com/v1alpha2",
        "kind": "GlobalDeploymentPolicy",
        "metadata": {"name": "global-gdp", "namespace": HOME},
        "spec": spec,
    });
    // JSON is YAML; a leading separator makes it a (one-document) stream like `kubectl get -o yaml`.
    format!("---\n{object:#}\n")
}

struct Planned {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `amko plan` with the very flags the harness gives `amko run` (`Env::spawn` and
/// `Env::start_operator`: kubeconfig, context, namespace, members kubeconfig, listen address,
/// coalescing window, boot timeout, debug endpoints) and `extra`.
fn plan(env: &Env, extra: &[&str]) -> Planned {
    let listen = format!("127.0.0.1:{}", harness::free_port());
    let members = env.dir.join("plan-members-kubeconfig");
    std::fs::copy(&env.kubeconfig, &members).expect("members kubeconfig");
    let output = Command::new(env!("CARGO_BIN_EXE_amko"))
        .arg("plan")
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["--context", env.home_cluster(), "--namespace", HOME])
        .arg("--members-kubeconfig")
        .arg(&members)
        .args(["--listen", &listen])
        .args([
            "--coalesce-ms",
            "50",
            "--boot-timeout-secs",
            "20",
            "--debug-endpoints",
        ])
        .args(["--timeout-secs", "60"])
        .args(extra)
        .env("AMKO_LOG", "info,amko=debug")
        .env_remove("POD_NAME")
        .stdin(Stdio::null())
        .output()
        .expect("amko plan runs");
    let planned = Planned {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    // Its debug logging included, nothing shows the controller password.
    let password = env.avi.password();
    assert!(
        !planned.stdout.contains(password) && !planned.stderr.contains(password),
        "the controller password reached amko plan's output"
    );
    planned
}

fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("proposed file written");
    path.display().to_string()
}

/// Two clusters, the operator converged on two GslbServices with a member in each cluster, then
/// stopped, so that every controller write afterwards would be `amko plan`'s.
async fn converged(name: &str) -> Env {
    let mut env = Env::start(name, EnvOptions::clusters(2).install(gdp_spec(1)).run(&[])).await;
    for fqdn in FQDNS {
        let app = &fqdn[..fqdn.find('.').unwrap_or(fqdn.len())];
        for cluster in ["cluster1", "cluster2"] {
            env.create_gslb_ingress(cluster, "shop", app, fqdn).await;
        }
    }
    for fqdn in FQDNS {
        env.wait_gs(fqdn, "a member in each cluster", |gs| {
            members_of(gs).len() == 2
        })
        .await;
    }
    // Let the writer finish what it queued (monitors, a second coalesced write).
    tokio::time::sleep(Duration::from_secs(2)).await;
    env.stop_operator();
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_what_run_would_write_and_writes_nothing() {
    let mut env = converged("plan").await;
    let writes = env.writes();
    let gdp_version = || async {
        env.get_object::<GlobalDeploymentPolicy>(env.home_cluster(), HOME, "global-gdp")
            .await
            .and_then(|g| g.metadata.resource_version)
            .unwrap_or_default()
    };
    let gdp_before = gdp_version().await;

    // In sync: nothing to do.
    let in_sync = plan(&env, &[]);
    assert_eq!(
        in_sync.code,
        Some(0),
        "{}\n{}",
        in_sync.stdout,
        in_sync.stderr
    );
    assert!(in_sync.stdout.contains("no changes"), "{}", in_sync.stdout);

    // A proposed GDP with another weight: both GslbServices get cluster1's member ratio 5.
    let file = write_file(&env.dir, "new-gdp.yaml", &gdp_yaml(&gdp_spec(5)));
    let weighted = plan(&env, &["-f", &file]);
    assert_eq!(
        weighted.code,
        Some(2),
        "{}\n{}",
        weighted.stdout,
        weighted.stderr
    );
    for fqdn in FQDNS {
        assert!(
            weighted
                .stdout
                .contains(&format!("update  gslbservice  admin/{fqdn}\n")),
            "{fqdn}: {}",
            weighted.stdout
        );
    }
    // One ratio line per GslbService, naming cluster1's member by its VIP.
    let mut vips = Vec::new();
    for fqdn in FQDNS {
        let app = &fqdn[..fqdn.find('.').unwrap_or(fqdn.len())];
        vips.push(env.ingress_vip("cluster1", "shop", app, fqdn).await);
    }
    let ratio_lines: Vec<&str> = weighted
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("/groups/") && l.contains("/ratio"))
        .collect();
    assert_eq!(ratio_lines.len(), 2, "{}", weighted.stdout);
    for vip in &vips {
        assert!(
            ratio_lines
                .iter()
                .any(|l| l.ends_with(&format!("/ratio (member {vip}): 1 -> 5"))),
            "{vip}: {}",
            weighted.stdout
        );
    }
    assert!(
        weighted
            .stdout
            .contains("0 to create, 2 to update, 0 to delete"),
        "{}",
        weighted.stdout
    );

    // The same plan as JSON.
    let json_run = plan(&env, &["-f", &file, "--output", "json"]);
    assert_eq!(json_run.code, Some(2), "{}", json_run.stderr);
    let report: Value = serde_json::from_str(&json_run.stdout).expect("JSON output");
    assert_eq!(report["exit_code"], 2);
    assert_eq!(
        report["summary"],
        json!({"create": 0, "update": 2, "delete": 0})
    );
    let changes = report["changes"].as_array().expect("changes");
    let mut services: Vec<&str> = changes
        .iter()
        .map(|c| c["gslb_service"].as_str().unwrap_or_default())
        .collect();
    services.sort();
    assert_eq!(
        services,
        ["admin/cart.example.com", "admin/shop.example.com"]
    );
    for change in changes {
        assert_eq!(change["action"], "update", "{change}");
        assert_eq!(change["object_type"], "gslbservice", "{change}");
        let fields = change["fields"].as_array().expect("fields");
        assert_eq!(fields.len(), 1, "{change}");
        assert!(
            fields[0]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/groups/") && p.ends_with("/ratio")),
            "{change}"
        );
        assert_eq!(
            (&fields[0]["before"], &fields[0]["after"]),
            (&json!(1), &json!(5))
        );
        assert!(
            vips.iter().any(|v| fields[0]["member"] == v.as_str()),
            "cluster1's member: {change}"
        );
    }

    // A proposed new GSLBHostRule: the TTL of one GslbService.
    let rule = json!({
        "apiVersion": "amko.vmware.com/v1alpha1", "kind": "GSLBHostRule",
        "metadata": {"name": "shop-ttl", "namespace": HOME},
        "spec": {"fqdn": "shop.example.com", "ttl": 30},
    });
    let rule_file = write_file(&env.dir, "rule.yaml", &format!("{rule:#}\n"));
    let with_rule = plan(&env, &["-f", &rule_file]);
    assert_eq!(
        with_rule.code,
        Some(2),
        "{}\n{}",
        with_rule.stdout,
        with_rule.stderr
    );
    assert!(
        with_rule
            .stdout
            .contains("update  gslbservice  admin/shop.example.com\n"),
        "{}",
        with_rule.stdout
    );
    assert!(
        with_rule.stdout.contains("/ttl: (absent) -> 30"),
        "{}",
        with_rule.stdout
    );
    assert!(
        with_rule
            .stdout
            .contains("0 to create, 1 to update, 0 to delete"),
        "{}",
        with_rule.stdout
    );

    // An invalid proposed GDP: exit code 1 with the problem; the last good GDP stays in force,
    // so nothing would change.
    let mut bad = gdp_spec(5);
    bad["matchClusters"] = json!([{"cluster": "cluster1"}, {"cluster": "nowhere"}]);
    let bad_file = write_file(&env.dir, "bad-gdp.yaml", &gdp_yaml(&bad));
    let invalid = plan(&env, &["-f", &bad_file]);
    assert_eq!(
        invalid.code,
        Some(1),
        "{}\n{}",
        invalid.stdout,
        invalid.stderr
    );
    assert!(invalid.stdout.contains("no changes"), "{}", invalid.stdout);
    let shown = invalid
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("invalid: GlobalDeploymentPolicy avi-system/global-gdp: "))
        .unwrap_or_else(|| panic!("no problem shown: {}", invalid.stdout))
        .to_owned();

    // An invalid proposed GSLBHostRule (a monitor the controller does not have): exit code 1.
    let bad_rule_spec =
        json!({"fqdn": "cart.example.com", "ttl": 5, "healthMonitorRefs": ["no-such-monitor"]});
    let bad_rule = json!({
        "apiVersion": "amko.vmware.com/v1alpha1", "kind": "GSLBHostRule",
        "metadata": {"name": "cart-rule", "namespace": HOME},
        "spec": bad_rule_spec,
    });
    let bad_rule_file = write_file(&env.dir, "bad-rule.yaml", &format!("{bad_rule:#}\n"));
    let invalid_rule = plan(&env, &["-f", &bad_rule_file]);
    assert_eq!(
        invalid_rule.code,
        Some(1),
        "{}\n{}",
        invalid_rule.stdout,
        invalid_rule.stderr
    );
    assert!(
        invalid_rule.stdout.contains("no changes"),
        "{}",
        invalid_rule.stdout
    );
    let shown_rule = invalid_rule
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("invalid: GSLBHostRule avi-system/cart-rule: "))
        .unwrap_or_else(|| panic!("no problem shown: {}", invalid_rule.stdout))
        .to_owned();

    // A member cluster that cannot be listed: its GslbServices are left alone (deferred), as
    // `amko run` leaves them until the cluster lists, even with a proposed weight change.
    let faults = env.clusters.faults("cluster2").expect("cluster2");
    faults.set_down(Down::Refused);
    let down = plan(&env, &["-f", &file]);
    faults.set_down(Down::No);
    assert_eq!(down.code, Some(0), "{}\n{}", down.stdout, down.stderr);
    assert!(
        down.stdout
            .contains("warning: member cluster cluster2 cannot be listed"),
        "{}",
        down.stdout
    );
    for fqdn in FQDNS {
        assert!(
            down.stdout.contains(&format!(
                "deferred: gslbservice admin/{fqdn} (member clusters not listed: cluster2)"
            )),
            "{fqdn}: {}",
            down.stdout
        );
    }
    assert!(down.stdout.contains("no changes"), "{}", down.stdout);

    // Nothing of all this reached the controller, nor the GDP (no status, no annotation).
    assert_eq!(
        env.writes_since(writes),
        Vec::<String>::new(),
        "amko plan wrote to the controller"
    );
    assert_eq!(
        gdp_version().await,
        gdp_before,
        "amko plan wrote to the GDP"
    );

    // `amko run` tells the GDP exactly what `amko plan` showed.
    env.start_operator(&[]);
    env.wait_ready().await;
    env.apply_gdp(bad).await;
    env.eventually("the GDP status names the problem", || async {
        env.gdp_status().await.contains("nowhere")
    })
    .await;
    assert_eq!(env.gdp_status().await, shown);
    env.put_host_rule(HOME, "cart-rule", bad_rule_spec).await;
    env.wait_host_rule_status("cart-rule", "the rule is rejected", |s, _| s == "Rejected")
        .await;
    let (_, error) = env
        .host_rule_status(HOME, "cart-rule")
        .await
        .unwrap_or_default();
    assert_eq!(error, shown_rule);
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_fails_clearly_when_the_controller_is_unreachable() {
    let env = Env::start("plan-down", EnvOptions::clusters(2).install(gdp_spec(1))).await;
    let unreachable = format!("https://127.0.0.1:{}", harness::free_port());
    Api::<GslbConfig>::namespaced(env.home().await, HOME)
        .patch(
            "gc-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"gslbLeader": {"controllerIP": unreachable}}})),
        )
        .await
        .expect("GSLBConfig patched");
    let down = plan(&env, &[]);
    assert_eq!(down.code, Some(1), "{}\n{}", down.stdout, down.stderr);
    assert!(
        down.stderr.contains(&format!(
            "amko: issue in connecting to the controller API at {unreachable}"
        )),
        "{}",
        down.stderr
    );
    assert_eq!(env.writes(), 0);

    // JSON output says so too, for pipelines that parse it.
    let json_run = plan(&env, &["--output", "json"]);
    assert_eq!(json_run.code, Some(1));
    let report: Value = serde_json::from_str(&json_run.stdout).expect("JSON output");
    assert_eq!(report["exit_code"], 1);
    assert!(
        report["error"]
            .as_str()
            .is_some_and(|e| e.contains("issue in connecting to the controller API")),
        "{report}"
    );
    harness::remove_dir(&env.dir);
}
