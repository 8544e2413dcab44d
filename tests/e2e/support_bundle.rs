//! `amko support-bundle` end to end: the chart installed with real helm v3 into a simulated home
//! cluster, `amko run` standing for the pod `amko-0` (the simulator's pod proxy reaches it, its
//! log is planted as the pod's), then the real binary writes a bundle that the system `tar`
//! unpacks. Every part support needs is there and non-empty, and none of the planted secrets (the
//! controller password and CA, a bearer token, a client key; in the credentials Secret, the chart
//! values, the members kubeconfig Secret, log lines, an Event, and a password in the pod's env)
//! appears anywhere in it, neither verbatim nor in base64.

mod harness;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use harness::{Env, EnvOptions, HOME, UUID};
use k8s_openapi::api::core::v1::{Event, Pod, Secret};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const RELEASE: &str = "amko";
const POD: &str = "amko-0";
/// A bearer token and a client key of the members kubeconfig (an extra user the contexts do not
/// use, so that the operator still reaches the simulated clusters).
const PLANTED_TOKEN: &str = "planted-bearer-eyJhbGciOi.token-5a1f0c3e9d7b";
const PLANTED_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvplantedCLIENTkeyQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ\nC7plantedSECONDlineOFtheCLIENTkeyXyZ0123456789abcdefABCDEF\n-----END PRIVATE KEY-----\n";

/// A password written straight into the pod's env (in no Secret).
const PLANTED_ENV: &str = "env-only-planted-pw-31337";

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// helm with its caches and config in the test's directory; fails the test unless it succeeds.
async fn helm(env: &Env, args: &[&str]) {
    let mut command = tokio::process::Command::from(harness::tools::helm());
    command
        .args(args)
        .env("KUBECONFIG", &env.kubeconfig)
        .env("HELM_KUBECONTEXT", "cluster1")
        .env("KUBECACHEDIR", env.dir.join("kube-cache"))
        .env("HELM_CACHE_HOME", env.dir.join("helm-cache"))
        .env("HELM_CONFIG_HOME", env.dir.join("helm-config"))
        .env("HELM_DATA_HOME", env.dir.join("helm-data"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("helm {args:?} did not finish"))
        .expect("helm runs");
    assert!(
        output.status.success(),
        "helm {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The members kubeconfig: the simulator's, plus a user holding the planted token and key.
fn members_kubeconfig(env: &Env) -> String {
    let text = std::fs::read_to_string(&env.kubeconfig).expect("kubeconfig");
    let mut kubeconfig: Value = serde_json::from_str(&text).expect("the simulator writes JSON");
    let users = kubeconfig["users"].as_array_mut().expect("users");
    users.push(json!({"name": "support-planted", "user": {
        "token": PLANTED_TOKEN,
        "client-key-data": b64(PLANTED_KEY),
    }}));
    serde_json::to_string_pretty(&kubeconfig).expect("kubeconfig text")
}

/// Runs `amko support-bundle` with `args` (bounded); its stdout names the bundle.
fn support_bundle(env: &Env, output: &Path, args: &[&str]) -> String {
    let result = Command::new(env!("CARGO_BIN_EXE_amko"))
        .arg("support-bundle")
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["--context", "cluster1", "--namespace", HOME])
        .arg("--output")
        .arg(output)
        .args(if args.contains(&"--step-timeout-secs") {
            &[][..]
        } else {
            &["--step-timeout-secs", "20"][..]
        })
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("amko support-bundle runs");
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    assert!(result.status.success(), "support-bundle failed: {stderr}");
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    assert_eq!(stdout.trim(), output.display().to_string(), "{stderr}");
    stderr
}

/// The bundle unpacked with the system tar: (path inside the bundle's folder, text) per file.
fn unpack(bundle: &Path, into: &Path) -> Vec<(String, String)> {
    std::fs::create_dir_all(into).expect("unpack dir");
    let listed = Command::new("tar")
        .arg("-tzf")
        .arg(bundle)
        .output()
        .expect("tar runs");
    assert!(listed.status.success(), "tar -tzf: {listed:?}");
    let names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let root = names
        .first()
        .and_then(|n| n.split('/').next())
        .expect("a file in the bundle")
        .to_owned();
    assert!(root.starts_with("amko-support-"), "{names:?}");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(bundle)
        .arg("-C")
        .arg(into)
        .status()
        .expect("tar runs");
    assert!(status.success(), "tar -xzf");
    names
        .iter()
        .map(|name| {
            assert!(
                name.starts_with(&format!("{root}/")),
                "{name} outside {root}/"
            );
            let bytes = std::fs::read(into.join(name)).expect("unpacked file");
            let relative = name[root.len() + 1..].to_owned();
            (relative, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

fn file<'a>(files: &'a [(String, String)], path: &str) -> &'a str {
    let text = files
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, t)| t.as_str())
        .unwrap_or_else(|| {
            let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
            panic!("{path} not in the bundle: {paths:?}")
        });
    assert!(!text.trim().is_empty(), "{path} is empty");
    text
}

fn json_file(files: &[(String, String)], path: &str) -> Value {
    serde_json::from_str(file(files, path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The items of a list file, which must have some.
fn items(files: &[(String, String)], path: &str) -> Vec<Value> {
    let value = json_file(files, path);
    let items = value
        .as_array()
        .or_else(|| value["items"].as_array())
        .cloned()
        .unwrap_or_default();
    assert!(!items.is_empty(), "{path} has no items: {value}");
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_support_bundle_has_every_part_and_no_secret() {
    let mut env = Env::start("support-bundle", EnvOptions::clusters(2)).await;
    let home = env.home().await;
    let password = env.avi.password().to_owned();
    let ca = env
        .avi
        .ca_pem()
        .expect("the simulated controller serves TLS")
        .to_owned();

    // What the docs ask for before `helm install`: the namespace and the members kubeconfig.
    harness::ensure_namespace(&home, HOME).await;
    let members = members_kubeconfig(&env);
    let members_file = env.dir.join("members-kubeconfig");
    std::fs::write(&members_file, &members).expect("members kubeconfig");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "gslb-config-secret", "namespace": HOME},
        "stringData": {"gslb-members": members}
    }))
    .expect("secret");
    Api::<Secret>::namespaced(home.clone(), HOME)
        .create(&PostParams::default(), &secret)
        .await
        .expect("gslb-config-secret created");

    // The chart, with the controller's password and CA in its values (and so in the rendered
    // gslb-avi-secret and in helm's release Secret).
    let values = json!({
        "configs": {
            "gslbLeaderController": env.avi.base_url(),
            "controllerVersion": env.avi.version(),
            "memberClusters": [{"clusterContext": "cluster1"}, {"clusterContext": "cluster2"}],
            "amkoUUID": UUID,
            "federation": {"currentCluster": "cluster1", "currentClusterIsLeader": true}
        },
        "gslbLeaderCredentials": {
            "username": env.avi.username(), "password": password, "certificateAuthorityData": ca
        },
        "gdpConfig": {"appSelector": {"label": {"app": "gslb"}}, "matchClusters": ["cluster1", "cluster2"]}
    });
    let values_file = env.dir.join("values.json");
    std::fs::write(&values_file, values.to_string()).expect("values file");
    let chart = format!("{}/../charts/amko", env!("CARGO_MANIFEST_DIR"));
    helm(
        &env,
        &[
            "install",
            RELEASE,
            &chart,
            "-n",
            HOME,
            "-f",
            &values_file.display().to_string(),
        ],
    )
    .await;

    // The operator, with its endpoints and debug endpoints; the pod it stands for points there.
    let operator = env.spawn(
        "operator",
        "run",
        "cluster1",
        &members_file,
        &["--debug-endpoints"],
    );
    let port: u16 = operator
        .listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    env.operator = Some(operator);
    env.wait_ready().await;
    for cluster in ["cluster1", "cluster2"] {
        env.create_gslb_ingress(cluster, "shop", "web", "shop.example.com")
            .await;
    }
    env.put_host_rule(
        HOME,
        "shop-ttl",
        json!({"fqdn": "shop.example.com", "ttl": 13}),
    )
    .await;
    env.wait_gs("shop.example.com", "the rule's TTL", |gs| gs["ttl"] == 13)
        .await;

    let pods = Api::<Pod>::namespaced(home.clone(), HOME);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": POD, "namespace": HOME,
                     "labels": {"app.kubernetes.io/name": "amko", "app.kubernetes.io/instance": RELEASE}},
        "spec": {"containers": [{"name": "amko", "image": "amko-rs:test",
                                 "ports": [{"name": "http", "containerPort": port}],
                                 "env": [{"name": "AVI_PASSWORD", "value": PLANTED_ENV}]}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("pod created");
    pods.patch_status(
        POD,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running", "podIP": "127.0.0.1"}})),
    )
    .await
    .expect("pod IP");
    // The pod's log: the operator's real log, and lines a careless component might write.
    let current = format!(
        "{}\nlogin to controller with password={password}\nGET /apis Authorization: Bearer {PLANTED_TOKEN}\nloaded client key:\n{PLANTED_KEY}",
        env.log()
    );
    let previous = format!(
        "previous container: members kubeconfig client-key-data: {}\nca: {ca}\npanicked: out of memory\n",
        b64(PLANTED_KEY)
    );
    assert!(
        env.clusters
            .set_pod_log("cluster1", HOME, POD, "amko", false, current)
    );
    assert!(
        env.clusters
            .set_pod_log("cluster1", HOME, POD, "amko", true, previous)
    );
    let event: Event = serde_json::from_value(json!({
        "metadata": {"name": "amko-0.planted", "namespace": HOME},
        "involvedObject": {"kind": "Pod", "name": POD, "namespace": HOME},
        "reason": "Unhealthy", "type": "Warning",
        "message": format!("probe sent Authorization: Bearer {PLANTED_TOKEN} token={PLANTED_TOKEN}")
    }))
    .expect("event");
    Api::<Event>::namespaced(home.clone(), HOME)
        .create(&PostParams::default(), &event)
        .await
        .expect("event created");

    // Default: the operator's endpoints through the API server's pod proxy.
    let bundle = env.dir.join("bundle.tar.gz");
    let stderr = support_bundle(&env, &bundle, &[]);
    let files = unpack(&bundle, &env.dir.join("unpacked"));

    let manifest = json_file(&files, "manifest.json");
    assert_eq!(manifest["failedSteps"], json!([]), "{manifest:#}\n{stderr}");
    let log = file(&files, "logs/amko-0/amko.log");
    assert!(
        log.contains("login to controller with password=<redacted>"),
        "{log}"
    );
    assert!(file(&files, "logs/amko-0/amko.previous.log").contains("panicked: out of memory"));
    let configs = items(&files, "crs/gslbconfigs.json");
    assert_eq!(configs[0]["metadata"]["name"], "gc-1");
    assert!(
        configs[0]["status"].is_object(),
        "GSLBConfig status: {}",
        configs[0]
    );
    let gdps = items(&files, "crs/globaldeploymentpolicies.json");
    assert!(gdps[0]["status"].is_object(), "GDP status: {}", gdps[0]);
    let rules = items(&files, "crs/gslbhostrules.json");
    assert_eq!(rules[0]["metadata"]["name"], "shop-ttl");
    assert!(
        rules[0]["status"].is_object(),
        "GSLBHostRule status: {}",
        rules[0]
    );
    items(&files, "crs/amkoclusters.json");
    let events = items(&files, "kubernetes/events.json");
    assert!(
        events.iter().any(|e| e["reason"] == "Unhealthy"),
        "{events:?}"
    );
    items(&files, "kubernetes/pods.json");
    let secrets = items(&files, "kubernetes/secrets.json");
    assert!(
        secrets.iter().any(|s| s["name"] == "gslb-avi-secret"
            && s["keys"].as_array().is_some_and(|keys| keys
                .iter()
                .any(|k| k["key"] == "password" && k["bytes"].as_u64() > Some(0)))),
        "{secrets:?}"
    );
    let status = json_file(&files, "operator/amko-0/api-status.json");
    assert_eq!(status["status"], "running", "{status}");
    assert!(file(&files, "operator/amko-0/metrics.txt").contains("amko_leading 1"));
    for debug in ["actors", "policy", "members", "gslbservices"] {
        json_file(&files, &format!("operator/amko-0/debug-{debug}.json"));
    }
    assert!(file(&files, "operator/amko-0/debug-gslbservices.json").contains("shop.example.com"));
    let versions = json_file(&files, "versions.json");
    assert_eq!(versions["amkoSupportBundle"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        versions["kubernetes"]["gitVersion"],
        amko_sim::k8s::KUBERNETES_VERSION
    );
    assert_eq!(
        versions["aviController"]["version"]["Version"],
        env.avi.version(),
        "{versions}"
    );
    assert_eq!(versions["amkoPods"][0]["image"], "amko-rs:test");
    let release = json_file(&files, "chart/amko/release.json");
    assert_eq!(
        (release["status"].as_str(), release["revision"].as_i64()),
        (Some("deployed"), Some(1))
    );
    let chart_values = json_file(&files, "chart/amko/values.json");
    assert_eq!(
        chart_values["configs"]["gslbLeaderController"],
        env.avi.base_url()
    );
    assert_eq!(
        chart_values["gslbLeaderCredentials"]["username"],
        env.avi.username()
    );
    assert_eq!(
        chart_values["gslbLeaderCredentials"]["password"],
        "<redacted>"
    );
    assert_eq!(
        chart_values["gslbLeaderCredentials"]["certificateAuthorityData"],
        "<redacted>"
    );

    // No planted secret anywhere, in any form.
    let ca_body_line = ca
        .lines()
        .find(|l| !l.starts_with("-----") && l.len() > 20)
        .expect("a CA body line")
        .to_owned();
    let key_body_line = PLANTED_KEY
        .lines()
        .nth(1)
        .expect("a key body line")
        .to_owned();
    let planted = [
        ("the controller password", password.clone()),
        ("the controller CA", ca.clone()),
        ("a line of the controller CA", ca_body_line),
        ("the bearer token", PLANTED_TOKEN.to_owned()),
        ("the client key", PLANTED_KEY.to_owned()),
        ("a line of the client key", key_body_line),
        ("a password in the pod's env", PLANTED_ENV.to_owned()),
    ];
    let assert_clean = |files: &[(String, String)]| {
        for (path, text) in files {
            for (what, secret) in &planted {
                for (form, needle) in [("verbatim", secret.clone()), ("base64", b64(secret))] {
                    assert!(
                        !text.contains(needle.as_str()),
                        "{what} ({form}) appears in {path}:\n{text}"
                    );
                }
            }
        }
    };
    assert_clean(&files);

    // With --operator, and a step that fails (no pod matches): recorded, the rest still there.
    let listen = env
        .operator
        .as_ref()
        .map(|o| o.listen.clone())
        .expect("operator");
    let second = env.dir.join("second.tar.gz");
    support_bundle(
        &env,
        &second,
        &[
            "--operator",
            &format!("http://{listen}"),
            "--selector",
            "app=nothing",
            "--debug-page-size",
            "1",
        ],
    );
    let files = unpack(&second, &env.dir.join("unpacked-second"));
    let manifest = json_file(&files, "manifest.json");
    assert_eq!(manifest["failedSteps"], json!(["pods"]), "{manifest:#}");
    let pods_step = manifest["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == "pods"))
        .cloned()
        .unwrap_or_default();
    assert!(
        pods_step["error"]
            .as_str()
            .is_some_and(|e| e.contains("no pod matches app=nothing")),
        "{pods_step}"
    );
    assert_eq!(
        json_file(&files, "operator/operator/api-status.json")["status"],
        "running"
    );
    json_file(&files, "operator/operator/debug-policy.json");
    // One item a page: the two members come in two pages.
    let first = json_file(&files, "operator/operator/debug-members.json");
    let second = json_file(&files, "operator/operator/debug-members.page-2.json");
    assert_eq!(
        first["members"].as_array().map(Vec::len),
        Some(1),
        "{first}"
    );
    assert_eq!(
        second["members"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    assert_ne!(
        first["members"][0]["object"],
        second["members"][0]["object"]
    );
    assert_eq!(second["next"], Value::Null, "{second}");
    items(&files, "crs/gslbconfigs.json");
    assert_clean(&files);

    // A home cluster that answers too slowly: each of its steps gives up at the step limit and
    // says so; the operator's endpoints, read directly, are still in the bundle.
    let faults = env.clusters.faults("cluster1").expect("cluster1");
    faults.set_latency(Duration::from_secs(3));
    let slow = env.dir.join("slow.tar.gz");
    support_bundle(
        &env,
        &slow,
        &[
            "--operator",
            &format!("http://{listen}"),
            "--step-timeout-secs",
            "1",
        ],
    );
    faults.set_latency(Duration::ZERO);
    let files = unpack(&slow, &env.dir.join("unpacked-slow"));
    let manifest = json_file(&files, "manifest.json");
    let failed: Vec<&str> = manifest["failedSteps"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for expected in [
        "secrets",
        "custom resources",
        "events",
        "pods",
        "controller version",
    ] {
        assert!(
            failed.contains(&expected),
            "{expected} not failed: {manifest:#}"
        );
    }
    let secrets_step = manifest["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == "secrets"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        secrets_step["error"], "gave up after 1 s (--step-timeout-secs)",
        "{manifest:#}"
    );
    assert_eq!(
        json_file(&files, "operator/operator/api-status.json")["status"],
        "running"
    );
    assert_clean(&files);
}
