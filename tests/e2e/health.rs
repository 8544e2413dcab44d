//! End-to-end: the liveness probe of the real `amko run` (`/api/status`, which the chart probes,
//! and `/healthz`) fails with the cause once the pipeline is dead, and only then; the debug
//! endpoints are off unless enabled, can live on a loopback listener of their own, and page.
//!
//! Nothing outside the process can stall or stop an actor (every request it makes is async and
//! times out), so the death is injected: `--sim-inject-fault` (simulator builds only, absent from
//! the production image) blocks, stops or panics the pipeline thread once the test creates the
//! trigger file.

mod harness;

use std::time::Duration;

use amko::crd::{AmkoCluster, GlobalDeploymentPolicy, GslbConfig};
use harness::{Env, EnvOptions, HOME, free_port, gdp, wait_until};
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

/// Runs a healthy pipeline, injects `fault`, and checks that both liveness endpoints answer 503
/// naming `cause`, that the cause is logged once at error level, and returns the log.
async fn liveness_fails_after(fault: &str, cause: &str) -> String {
    let options = EnvOptions::clusters(1).install(gdp(&["cluster1"], json!({})));
    let mut env = Env::start(&format!("liveness-{fault}"), options).await;
    let trigger = env.dir.join("inject-fault");
    let trigger_arg = trigger.to_string_lossy().into_owned();
    env.start_operator(&[
        "--stall-threshold-secs",
        "2",
        "--sim-inject-fault",
        fault,
        "--sim-inject-trigger",
        &trigger_arg,
    ]);
    env.wait_ready().await;
    env.create_gslb_ingress("cluster1", "shop", "web", "shop.example.com")
        .await;
    env.wait_gs("shop.example.com", "a GslbService", |_| true)
        .await;
    // Alive while working (and while idle, for longer than the threshold).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        status_of(&env, "/healthz").await,
        Some(200),
        "{}",
        env.log()
    );
    assert_eq!(status_of(&env, "/api/status").await, Some(200));

    std::fs::write(&trigger, "").expect("trigger file");
    wait_until(
        "the fault is injected",
        Duration::from_secs(30),
        || async { env.log().contains("injecting a fault") },
        || env.log(),
    )
    .await;
    // Work for the pipeline after the fault: a policy change the PolicyActor (on its own
    // thread) hands to the selection actor.
    env.patch::<GlobalDeploymentPolicy>(
        "cluster1",
        HOME,
        "global-gdp",
        json!({"spec": {"ttl": 42}}),
    )
    .await;
    wait_until(
        &format!("/healthz answers 503 naming {cause:?}"),
        Duration::from_secs(60),
        || async { matches!(env.get("/healthz").await, Some((503, body)) if body.contains(cause)) },
        || env.log(),
    )
    .await;
    let (status, body) = env.get("/api/status").await.expect("/api/status answers");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "dead");
    assert!(
        body["cause"].as_str().is_some_and(|c| c.contains(cause)),
        "{body}"
    );
    // A few more looks of the watchdog: still dead, still logged once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(status_of(&env, "/healthz").await, Some(503));
    let log = env.log();
    let deaths: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("the pipeline is dead"))
        .collect();
    assert_eq!(deaths.len(), 1, "logged once: {log}");
    assert!(
        deaths[0].contains("ERROR") && deaths[0].contains(cause),
        "{log}"
    );
    log
}

async fn status_of(env: &Env, path: &str) -> Option<u16> {
    env.get(path).await.map(|(status, _)| status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_pipeline_thread_fails_the_liveness_probe() {
    let log = liveness_fails_after("stall", "pipeline thread pipeline stalled").await;
    let death = log
        .lines()
        .find(|l| l.contains("the pipeline is dead"))
        .unwrap_or_default();
    // The policy change waits in the selection actor's mailbox behind the blocked thread.
    assert!(
        death.contains("(threshold 2s); messages waiting: selection/world: "),
        "{death}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_pipeline_thread_fails_the_liveness_probe() {
    liveness_fails_after("stop", "pipeline thread pipeline stopped").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_fails_the_liveness_probe_naming_where_not_what() {
    let log = liveness_fails_after("panic", "a panic on thread").await;
    let death = log
        .lines()
        .find(|l| l.contains("the pipeline is dead"))
        .unwrap_or_default();
    assert!(death.contains("actors/src/liveness.rs:"), "{death}");
    assert!(
        !death.contains("fault injected"),
        "the panic's message stays out of the cause: {death}"
    );
}

/// Sets this cluster's AMKOCluster (creating it): leader or follower.
async fn set_role(env: &Env, leader: bool) {
    let api = Api::<AmkoCluster>::namespaced(env.client("cluster1").await, HOME);
    let spec = json!({"isLeader": leader, "clusterContext": "cluster1", "version": "1.0",
                      "clusters": ["cluster1"]});
    if api.get_opt("amkocluster").await.ok().flatten().is_some() {
        env.patch::<AmkoCluster>("cluster1", HOME, "amkocluster", json!({"spec": spec}))
            .await;
        return;
    }
    let object: AmkoCluster = serde_json::from_value(json!({
        "apiVersion": "amko.vmware.com/v1alpha1", "kind": "AMKOCluster",
        "metadata": {"name": "amkocluster", "namespace": HOME},
        "spec": spec
    }))
    .expect("AMKOCluster");
    api.create(&PostParams::default(), &object)
        .await
        .expect("AMKOCluster created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_follower_and_restarted_pipelines_stay_alive() {
    let options = EnvOptions::clusters(1).install(gdp(&["cluster1"], json!({})));
    let mut env = Env::start("liveness-idle", options).await;
    set_role(&env, false).await;
    env.start_operator(&["--stall-threshold-secs", "1", "--role-poll-ms", "300"]);
    // A follower idles: ready as such, and alive well past the stall threshold.
    env.wait_ready().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        status_of(&env, "/healthz").await,
        Some(200),
        "{}",
        env.log()
    );

    // Promoted: the pipeline starts. A GSLBConfig edit restarts it in process.
    set_role(&env, true).await;
    env.create_gslb_ingress("cluster1", "shop", "web", "shop.example.com")
        .await;
    env.wait_gs("shop.example.com", "a GslbService", |_| true)
        .await;
    env.patch::<GslbConfig>(
        "cluster1",
        HOME,
        "gc-1",
        json!({"spec": {"refreshInterval": 900}}),
    )
    .await;
    wait_until(
        "the pipeline restarted in process and booted again",
        Duration::from_secs(60),
        || async {
            env.log().contains("restarting the actors")
                && env.log().matches("pipeline started").count() >= 2
                && env.get("/readyz").await.is_some_and(|(s, _)| s == 200)
        },
        || env.log(),
    )
    .await;
    // Demoted again: the pipeline stops because the gate closed.
    set_role(&env, false).await;
    wait_until(
        "the operator stops leading",
        Duration::from_secs(30),
        || async { env.log().contains("no longer leads") },
        || env.log(),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        status_of(&env, "/healthz").await,
        Some(200),
        "{}",
        env.log()
    );
    assert_eq!(status_of(&env, "/api/status").await, Some(200));
    assert!(!env.log().contains("the pipeline is dead"), "{}", env.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_endpoints_are_off_by_default_and_page_on_a_loopback_listener() {
    let options = EnvOptions::clusters(1).install(gdp(&["cluster1"], json!({})));
    let mut env = Env::start("debug-endpoints", options).await;
    let debug_listen = format!("127.0.0.1:{}", free_port());
    env.start_operator(&["--debug-listen", &debug_listen]);
    env.wait_ready().await;
    for i in 0..5 {
        env.create_gslb_ingress(
            "cluster1",
            "shop",
            &format!("web{i}"),
            &format!("s{i}.example.com"),
        )
        .await;
    }
    for i in 0..5 {
        env.wait_gs(&format!("s{i}.example.com"), "a GslbService", |_| true)
            .await;
    }
    // Not on the main listener, next to /metrics and the probes.
    for path in [
        "/debug/actors",
        "/debug/gslbservices",
        "/debug/policy",
        "/debug/members",
    ] {
        assert_eq!(status_of(&env, path).await, Some(404), "{path} on --listen");
    }
    assert_eq!(status_of(&env, "/metrics").await, Some(200));

    // On the loopback listener, in pages of two.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    let get = |path: String| {
        let http = http.clone();
        let url = format!("http://{debug_listen}{path}");
        async move {
            let response = http.get(url).send().await.expect("debug listener answers");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let mut names = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let (status, body) = get(format!("/debug/gslbservices?limit=2&continue={token}")).await;
        assert_eq!(status, 200, "{body}");
        let page = body["gslbservices"].as_array().cloned().unwrap_or_default();
        assert!(page.len() <= 2, "{body}");
        names.extend(
            page.iter()
                .filter_map(|g| g["name"].as_str().map(str::to_owned)),
        );
        pages += 1;
        match body["next"].as_str() {
            Some(next) => token = next.to_owned(),
            None => break,
        }
        assert!(pages < 10, "pages end");
    }
    let want: Vec<String> = (0..5).map(|i| format!("s{i}.example.com")).collect();
    assert_eq!((names, pages), (want, 3));

    let (status, body) = get("/debug/members?limit=3".into()).await;
    assert_eq!(status, 200);
    assert_eq!(body["members"].as_array().map(Vec::len), Some(3), "{body}");
    assert_eq!(body["next"], "3");
    let (_, rest) = get("/debug/members?limit=3&continue=3".into()).await;
    assert_eq!(rest["members"].as_array().map(Vec::len), Some(2), "{rest}");
    assert_eq!(rest["next"], Value::Null);
    let (status, body) = get("/debug/policy?limit=1".into()).await;
    assert_eq!(
        (status, body["gslbservices"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, body) = get("/debug/actors?limit=1".into()).await;
    assert_eq!(
        (status, body["busiest"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    assert!(body["next"].is_string(), "{body}");
    let (status, body) = get("/debug/members?limit=5000".into()).await;
    assert_eq!(
        status, 400,
        "a page larger than the bound is refused: {body}"
    );
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("limit")),
        "{body}"
    );

    // Without either flag, no debug endpoint anywhere.
    env.stop_operator();
    let members = env.dir.join("members-kubeconfig");
    let plain = env.spawn("operator-plain", "run", "cluster1", &members, &[]);
    env.operator = Some(plain);
    env.wait_ready().await;
    for path in [
        "/debug/actors",
        "/debug/gslbservices",
        "/debug/policy",
        "/debug/members",
    ] {
        assert_eq!(
            status_of(&env, path).await,
            Some(404),
            "{path} without the flags"
        );
    }
    assert_eq!(status_of(&env, "/healthz").await, Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debug_listener_reachable_from_other_hosts_is_refused() {
    let env = Env::start("debug-listen-refused", EnvOptions::clusters(1)).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_amko"))
        .arg("run")
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["--context", "cluster1", "--namespace", HOME])
        .arg("--members-kubeconfig")
        .arg(&env.kubeconfig)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--debug-listen", &format!("0.0.0.0:{}", free_port())])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("amko run starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("amko run can be waited for") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("amko run kept running with a non-loopback --debug-listen");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("stderr");
    }
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("--debug-listen 0.0.0.0:") && stderr.contains("is not a loopback address"),
        "{stderr}"
    );
}
