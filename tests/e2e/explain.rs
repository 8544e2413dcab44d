//! End-to-end: `amko explain` (the real binary) against the simulated clusters and controller.
//! The GDP selects `app: gslb` objects in namespaces labelled `gslb: yes` of `cluster1` and
//! `cluster3` (where AKO does not run, so nothing gets a VIP); `cluster2` is a member cluster
//! outside matchClusters. Five Ingresses for one FQDN: one selected, one excluded by its labels,
//! one by its namespace's labels, one in cluster2, one without VIP; a GSLBHostRule in force for
//! the FQDN. Asked through the running operator's debug API, it gives each verdict with its chain
//! of checks, the GSLBHostRule in force (a second one for the FQDN loses), the last write and,
//! after the controller failed a write, the last error; computed standalone after an out-of-band edit
//! of the GslbService on the controller, it shows the field that differs. It never writes. A
//! GslbService deleted from the controller leaves no write history behind.

mod harness;

use std::process::{Command, Stdio};

use amko::crd::route::Route;
use harness::{Env, EnvOptions, HOME, members_of};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

const FQDN: &str = "shop.example.com";

struct Explained {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Explained {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// `amko explain` with `args`; standalone unless `args` has `--operator`, with the very cluster
/// flags the harness gives `amko run`.
fn explain(env: &Env, args: &[&str]) -> Explained {
    let members = env.dir.join("explain-members-kubeconfig");
    std::fs::copy(&env.kubeconfig, &members).expect("members kubeconfig");
    let output = Command::new(env!("CARGO_BIN_EXE_amko"))
        .arg("explain")
        .args(args)
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["--context", env.home_cluster(), "--namespace", HOME])
        .arg("--members-kubeconfig")
        .arg(&members)
        .args(["--boot-timeout-secs", "20", "--timeout-secs", "60"])
        .env("AMKO_LOG", "info,amko=debug")
        .env_remove("POD_NAME")
        .stdin(Stdio::null())
        .output()
        .expect("amko explain runs");
    let explained = Explained {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let password = env.avi.password();
    assert!(
        !explained.stdout.contains(password) && !explained.stderr.contains(password),
        "the controller password reached amko explain's output"
    );
    explained
}

fn operator_url(env: &Env) -> String {
    format!(
        "http://{}",
        env.operator.as_ref().expect("operator running").listen
    )
}

/// The host verdict of `object` (`ingress/NS/NAME`) in `cluster` in a JSON report.
fn host<'a>(report: &'a Value, cluster: &str, object: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| h["cluster"] == cluster && h["object"] == object)
        .unwrap_or_else(|| panic!("no verdict on {object} in {cluster}: {report:#}"))
}

/// The failed check of a rejected host: (check, detail).
fn failed(host: &Value) -> (String, String) {
    assert_eq!(host["selected"], false, "{host:#}");
    let last = host["reasons"]
        .as_array()
        .and_then(|r| r.last())
        .unwrap_or_else(|| panic!("no reasons: {host:#}"));
    assert_eq!(last["passed"], false, "{host:#}");
    (
        last["check"].as_str().unwrap_or_default().to_owned(),
        last["detail"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn label_namespace(env: &Env, cluster: &str, name: &str, labels: Value) {
    let client = env.client(cluster).await;
    harness::ensure_namespace(&client, name).await;
    Api::<Namespace>::all(client)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": labels}})),
        )
        .await
        .expect("namespace labelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_gives_each_verdict_its_reasons_and_the_gslbservice_both_sides() {
    let gdp = json!({
        "matchRules": {
            "appSelector": {"label": {"app": "gslb"}},
            "namespaceSelector": {"label": {"gslb": "yes"}}
        },
        "matchClusters": [{"cluster": "cluster1"}, {"cluster": "cluster3"}],
    });
    let mut env = Env::start(
        "explain",
        EnvOptions::clusters(3)
            .without_ako("cluster3")
            .install(gdp)
            .run(&[]),
    )
    .await;
    for cluster in ["cluster1", "cluster2", "cluster3"] {
        label_namespace(&env, cluster, "shop", json!({"gslb": "yes"})).await;
    }
    label_namespace(&env, "cluster1", "other", json!({"team": "b"})).await;
    let gslb = json!({"app": "gslb"});
    for (cluster, namespace, name, labels) in [
        ("cluster1", "shop", "web", &gslb),
        ("cluster1", "shop", "nolabel", &json!({"app": "other"})),
        ("cluster1", "other", "web", &gslb),
        ("cluster2", "shop", "web", &gslb),
        ("cluster3", "shop", "web", &gslb),
    ] {
        env.create_ingress(cluster, namespace, name, FQDN, labels.clone())
            .await;
    }
    env.put_host_rule(HOME, "shop-rule", json!({"fqdn": FQDN, "ttl": 42}))
        .await;
    env.wait_gs(FQDN, "one member, the GSLBHostRule's TTL", |gs| {
        members_of(gs).len() == 1 && gs["ttl"] == 42
    })
    .await;
    let vip = env.ingress_vip("cluster1", "shop", "web", FQDN).await;
    // A second GSLBHostRule for the FQDN loses the claim to the older one.
    env.put_host_rule(HOME, "shop-rule-2", json!({"fqdn": FQDN, "ttl": 7}))
        .await;
    env.wait_host_rule_status("shop-rule-2", "the second rule rejected", |status, _| {
        status == "Rejected"
    })
    .await;

    // Through the running operator: its own verdicts, members, GSLBHostRule and last write.
    let url = operator_url(&env);
    let writes = env.writes();
    let by_fqdn = explain(&env, &[FQDN, "--operator", &url, "-o", "json"]);
    assert_eq!(
        by_fqdn.code,
        Some(0),
        "{}\n{}",
        by_fqdn.stdout,
        by_fqdn.stderr
    );
    let report = by_fqdn.json();
    assert_eq!(report["source"], format!("operator {url}"));
    let selected = host(&report, "cluster1", "ingress/shop/web");
    assert_eq!(selected["selected"], true, "{selected:#}");
    assert_eq!(selected["gslb_service"], format!("admin/{FQDN}"));
    assert_eq!(selected["vip"], vip.as_str());
    assert!(
        selected["reasons"]
            .as_array()
            .is_some_and(|r| r.len() > 5 && r.iter().all(|r| r["passed"] == true)),
        "{selected:#}"
    );
    assert_eq!(
        failed(host(&report, "cluster1", "ingress/shop/nolabel")),
        (
            "app-labels".to_owned(),
            "labels do not match appSelector app=gslb".to_owned()
        )
    );
    assert_eq!(
        failed(host(&report, "cluster1", "ingress/other/web")),
        (
            "namespace-labels".to_owned(),
            "namespace other labels do not match namespaceSelector gslb=yes".to_owned()
        )
    );
    assert_eq!(
        failed(host(&report, "cluster2", "ingress/shop/web")),
        (
            "match-clusters".to_owned(),
            "cluster cluster2 is not in the GDP's matchClusters".to_owned()
        )
    );
    let (check, detail) = failed(host(&report, "cluster3", "ingress/shop/web"));
    assert_eq!(check, "vip", "{detail}");
    assert!(detail.contains("no VIP"), "{detail}");
    let [gs] = report["gslb_services"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    else {
        panic!("one GslbService: {report:#}")
    };
    assert_eq!(gs["name"], FQDN);
    assert_eq!(
        gs["members"],
        json!([format!("INGRESS/cluster1/shop/web/{FQDN}")])
    );
    assert_eq!(gs["host_rule"], format!("{HOME}/shop-rule"));
    assert_eq!(gs["in_sync"], true, "{gs:#}");
    assert_eq!(gs["desired"]["ttl"], 42);
    assert_eq!(gs["controller"]["ttl"], 42);
    let last_write = &gs["last_write"];
    assert!(
        last_write["writes"].as_array().is_some_and(|w| w
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.ends_with(" gslbservice")))),
        "{gs:#}"
    );
    assert_eq!(last_write["error"], Value::Null);
    assert_eq!(gs["last_error"], Value::Null);

    // The same through the operator, for one object, as text.
    let object = explain(
        &env,
        &[
            "ingress/shop/web",
            "--cluster",
            "cluster1",
            "--operator",
            &url,
        ],
    );
    assert_eq!(object.code, Some(0), "{}\n{}", object.stdout, object.stderr);
    for expected in [
        "ingress shop/web in cluster cluster1 (from operator http://".to_owned(),
        format!(
            "ingress/shop/web in cluster cluster1, host {FQDN}: SELECTED into GslbService admin/{FQDN}\n"
        ),
        "  [yes] matchClusters: cluster cluster1 is in the GDP's matchClusters\n".to_owned(),
        "  [yes] namespace labels: namespace shop labels match namespaceSelector gslb=yes\n"
            .to_owned(),
        format!("  GSLBHostRule in force: {HOME}/shop-rule\n"),
        "  the controller's copy is in sync\n".to_owned(),
        "  last error: none\n".to_owned(),
    ] {
        assert!(
            object.stdout.contains(&expected),
            "{expected}\n{}",
            object.stdout
        );
    }
    assert!(
        object.stdout.contains("  last write: 20"),
        "{}",
        object.stdout
    );
    assert_eq!(env.writes(), writes, "amko explain wrote to the controller");

    // The endpoint refuses what it cannot explain.
    for (query, expected) in [
        (
            "object=pod/shop/web&cluster=cluster1",
            "kind \\\"pod\\\" is not ingress, route or service",
        ),
        (
            "object=ingress/shop/web",
            "give its member cluster with --cluster",
        ),
        ("", "give either fqdn= or object="),
    ] {
        let (status, body) = env
            .get(&format!("/debug/explain?{query}"))
            .await
            .expect("the operator answers");
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(expected), "{query}: {body}");
    }

    // The controller fails every request while the GSLBHostRule's TTL changes: the operator
    // reports the failed write as the last write and the last error; once the controller is back
    // and the write went through, the last write is clean and the last error stays.
    let control = env.avi.control();
    control.set_error_rate(1.0, 503);
    env.put_host_rule(HOME, "shop-rule", json!({"fqdn": FQDN, "ttl": 43}))
        .await;
    let last_error = |report: &Value| report["gslb_services"][0]["last_error"].clone();
    env.eventually("a failed write reported", || async {
        let ran = explain(&env, &[FQDN, "--operator", &url, "-o", "json"]);
        ran.code == Some(0) && last_error(&ran.json())["error"].is_string()
    })
    .await;
    let failing = explain(&env, &[FQDN, "--operator", &url, "-o", "json"]).json();
    let error = last_error(&failing);
    assert!(
        error["error"].as_str().is_some_and(|e| e.contains("503")),
        "{failing:#}"
    );
    assert_eq!(failing["gslb_services"][0]["last_write"], error);
    control.set_error_rate(0.0, 503);
    env.wait_gs(FQDN, "the new TTL written", |gs| gs["ttl"] == 43)
        .await;
    env.eventually("a clean write reported", || async {
        let ran = explain(&env, &[FQDN, "--operator", &url, "-o", "json"]);
        let report = ran.json();
        let gs = &report["gslb_services"][0];
        gs["last_write"]["error"].is_null() && gs["in_sync"] == true
    })
    .await;
    let recovered = explain(&env, &[FQDN, "--operator", &url]);
    assert!(
        recovered.stdout.contains("  last error: 20") && recovered.stdout.contains("; failed: "),
        "{}",
        recovered.stdout
    );

    // An operator with its debug endpoints on a separate loopback listener: its main listener
    // refuses (404, with a hint), the debug one answers (an address without scheme is http).
    let debug_listen = format!("127.0.0.1:{}", harness::free_port());
    env.start_operator(&["--debug-listen", &debug_listen]);
    env.wait_ready().await;
    let main_listener = explain(&env, &[FQDN, "--operator", &operator_url(&env)]);
    assert_eq!(main_listener.code, Some(1), "{}", main_listener.stdout);
    assert!(
        main_listener.stderr.contains("404 Not Found")
            && main_listener.stderr.contains("--debug-endpoints"),
        "{}",
        main_listener.stderr
    );
    let debug_listener = explain(&env, &[FQDN, "--operator", &debug_listen]);
    assert_eq!(
        debug_listener.code,
        Some(0),
        "{}\n{}",
        debug_listener.stdout,
        debug_listener.stderr
    );
    assert!(
        debug_listener.stdout.contains(&format!(
            "ingress/shop/web in cluster cluster1, host {FQDN}: SELECTED into GslbService admin/{FQDN}\n"
        )),
        "{}",
        debug_listener.stdout
    );

    // Someone edits the GslbService on the controller while the operator is away: computed
    // standalone, the controller's copy differs from the desired one in exactly that field.
    env.stop_operator();
    let mut edited = env.gslb_service(FQDN).expect("gs");
    let uuid = edited["uuid"].as_str().expect("uuid").to_owned();
    edited["ttl"] = json!(999);
    env.avi_client()
        .update("gslbservice", &uuid, &edited, Some("admin"))
        .await
        .expect("out-of-band edit");
    let writes = env.writes();
    let drifted = explain(&env, &[FQDN]);
    assert_eq!(
        drifted.code,
        Some(0),
        "{}\n{}",
        drifted.stdout,
        drifted.stderr
    );
    for expected in [
        format!("FQDN {FQDN} (from standalone)\n"),
        "the controller's copy differs in 1 field(s) (controller -> desired):\n    /ttl: 999 -> 43\n"
            .to_owned(),
        format!("  GSLBHostRule in force: {HOME}/shop-rule\n  GSLBHostRule not in force: {HOME}/shop-rule-2: "),
        "ingress/shop/nolabel in cluster cluster1, host shop.example.com: NOT SELECTED\n".to_owned(),
        "  [NO ] object labels: labels do not match appSelector app=gslb\n".to_owned(),
        "  [NO ] matchClusters: cluster cluster2 is not in the GDP's matchClusters\n".to_owned(),
        "  [NO ] namespace labels: namespace other labels do not match namespaceSelector gslb=yes\n"
            .to_owned(),
        "ingress/shop/web in cluster cluster3, host shop.example.com: NOT SELECTED\n  [NO ] VIP: no VIP"
            .to_owned(),
        "  last write, last error: known only to the running operator (--operator)\n".to_owned(),
    ] {
        assert!(drifted.stdout.contains(&expected), "{expected}\n{}", drifted.stdout);
    }

    // A LoadBalancer Service created while no operator runs: selected, desired, not on the
    // controller yet.
    let service = harness::lb_service(
        "shop",
        "api",
        "api.example.com",
        json!({"app": "gslb"}),
        json!({"selector": {"app": "api"}, "ports": [{"port": 443, "protocol": "TCP"}]}),
    );
    env.create::<Service>("cluster1", "shop", service).await;
    env.eventually("AKO gave the Service a VIP", || async {
        env.get_object::<Service>("cluster1", "shop", "api")
            .await
            .and_then(|s| s.status?.load_balancer?.ingress)
            .is_some_and(|i| !i.is_empty())
    })
    .await;
    let new_service = explain(&env, &["service/shop/api", "--cluster", "cluster1"]);
    assert_eq!(new_service.code, Some(0), "{}", new_service.stderr);
    for expected in [
        "service/shop/api in cluster cluster1, host api.example.com: SELECTED into GslbService admin/api.example.com\n",
        "GslbService admin/api.example.com\n",
        "  desired, not on the controller yet\n",
    ] {
        assert!(
            new_service.stdout.contains(expected),
            "{expected}\n{}",
            new_service.stdout
        );
    }

    // One object standalone, as JSON: the namespace check fails, and no GslbService is its.
    let excluded = explain(
        &env,
        &["ingress/other/web", "--cluster", "cluster1", "-o", "json"],
    );
    assert_eq!(excluded.code, Some(0), "{}", excluded.stderr);
    let report = excluded.json();
    assert_eq!(report["exit_code"], 0);
    assert_eq!(
        failed(host(&report, "cluster1", "ingress/other/web")).0,
        "namespace-labels"
    );
    assert_eq!(report["gslb_services"], json!([]));

    // Unknown objects and malformed subjects exit 1.
    let unknown = explain(&env, &["ingress/shop/ghost", "--cluster", "cluster1"]);
    assert_eq!(
        unknown.code,
        Some(1),
        "{}\n{}",
        unknown.stdout,
        unknown.stderr
    );
    assert!(unknown.stdout.contains("not found"), "{}", unknown.stdout);
    // An operator without debug endpoints (here: none at all on that port) is an error too.
    let closed = format!("http://127.0.0.1:{}", harness::free_port());
    let unreachable = explain(&env, &[FQDN, "--operator", &closed]);
    assert_eq!(unreachable.code, Some(1), "{}", unreachable.stdout);
    assert!(
        unreachable
            .stderr
            .contains(&format!("operator {closed}: cannot reach it")),
        "{}",
        unreachable.stderr
    );
    let malformed = explain(&env, &["ingress/shop/web"]);
    assert_eq!(malformed.code, Some(1), "{}", malformed.stderr);
    assert!(
        malformed.stderr.contains("--cluster"),
        "{}",
        malformed.stderr
    );
    assert_eq!(env.writes(), writes, "amko explain wrote to the controller");
    harness::remove_dir(&env.dir);
}

/// An OpenShift Route subject, standalone, with no operator ever started: selected into its
/// GslbService, which is desired and not on the controller yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_a_route_standalone() {
    let gdp = harness::gdp(&["ocp1"], json!({}));
    let env = Env::start(
        "explain-route",
        EnvOptions::clusters(1).openshift(1).install(gdp),
    )
    .await;
    let route = harness::route("web", "shop", json!({"host": "route.example.com"}));
    env.create::<Route>("ocp1", "web", route).await;
    env.eventually("AKO gave the Route a VIP", || async {
        let ran = explain(&env, &["route/web/shop", "--cluster", "ocp1", "-o", "json"]);
        ran.code == Some(0) && ran.json()["hosts"][0]["selected"] == true
    })
    .await;
    let ran = explain(&env, &["route/web/shop", "--cluster", "ocp1"]);
    for expected in [
        "route web/shop in cluster ocp1 (from standalone)\n",
        "route/web/shop in cluster ocp1, host route.example.com: SELECTED into GslbService admin/route.example.com\n",
        "  desired, not on the controller yet\n",
    ] {
        assert!(ran.stdout.contains(expected), "{expected}\n{}", ran.stdout);
    }
    assert_eq!(env.writes(), 0, "amko explain wrote to the controller");
    harness::remove_dir(&env.dir);
}

/// A GslbService deleted from the controller takes its write history with it: created again, its
/// explanation shows no error from its earlier life. (The writer kept the last write and last
/// error of every GslbService it ever wrote, for good.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_gslbservice_leaves_no_write_history_behind() {
    const HOST: &str = "again.example.com";
    let gdp = harness::gdp(&["cluster1"], json!({}));
    let env = Env::start(
        "explain-forget",
        EnvOptions::clusters(1).install(gdp).run(&[]),
    )
    .await;
    let url = operator_url(&env);
    let report = || explain(&env, &[HOST, "--operator", &url, "-o", "json"]).json();
    let last_error = |report: &Value| report["gslb_services"][0]["last_error"].clone();

    // Its first create fails: the explanation has the error.
    let control = env.avi.control();
    control.set_error_rate(1.0, 503);
    env.create_gslb_ingress("cluster1", "shop", "web", HOST)
        .await;
    env.eventually("a failed write reported", || async {
        last_error(&report())["error"].is_string()
    })
    .await;
    control.set_error_rate(0.0, 503);
    env.eventually("created", || async { env.has_gs_with_members(HOST, 1) })
        .await;

    // Deleted, then created again.
    env.delete::<Ingress>("cluster1", "shop", "web").await;
    env.eventually("deleted", || async { env.gslb_service(HOST).is_none() })
        .await;
    env.create_gslb_ingress("cluster1", "shop", "web", HOST)
        .await;
    env.eventually("created again", || async {
        env.has_gs_with_members(HOST, 1)
    })
    .await;
    env.eventually("the new create reported", || async {
        let report = report();
        let gs = &report["gslb_services"][0];
        gs["in_sync"] == true && gs["last_write"]["writes"].is_array()
    })
    .await;
    let again = report();
    assert_eq!(
        last_error(&again),
        Value::Null,
        "an error of the deleted GslbService's earlier life: {again:#}"
    );
    assert!(
        again["gslb_services"][0]["last_write"]["error"].is_null(),
        "{again:#}"
    );
    harness::remove_dir(&env.dir);
}
