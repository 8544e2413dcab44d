//! kubectl (default flags, so with OpenAPI validation) against the simulated clusters: get in
//! every output form, watch, client-side and server-side apply, the three patch types, label,
//! annotate and delete, for built-in kinds, Routes, AKO HostRules and custom resources.

mod sim_k8s_common;

use amko_sim::k8s::{ClusterSpec, SimClusters, SimConfig};
use sim_k8s_common::Kubectl;

async fn start() -> (SimClusters, Kubectl) {
    let config = SimConfig {
        clusters: vec![
            ClusterSpec::new("plain"),
            ClusterSpec::new("ocp").openshift(),
        ],
        ..Default::default()
    };
    let sim = SimClusters::start(config).await.expect("simulator starts");
    let kubectl = Kubectl::new(&sim);
    (sim, kubectl)
}

const INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: apps
  labels: {app: web}
spec:
  rules:
  - host: web.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"#;

const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: lb
  namespace: apps
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
"#;

const SECRET: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: apps
stringData:
  token: s3cr3t
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_kinds_get_apply_patch_label_annotate_delete() {
    let (sim, k) = start().await;
    let ctx = "plain";
    k.ok(ctx, "create namespace apps", &[]).await;
    k.apply(ctx, INGRESS).await.expect_ok();
    k.apply(ctx, SERVICE).await.expect_ok();
    k.apply(ctx, SECRET).await.expect_ok();

    // get: -o json / -o yaml / -A / -l / default table.
    let ing = k.json(ctx, "get ingress web -n apps").await;
    assert_eq!(ing["spec"]["rules"][0]["host"], "web.example.com");
    let yaml = k.ok(ctx, "get svc lb -n apps -o yaml", &[]).await;
    assert!(
        yaml.contains("type: LoadBalancer") && yaml.contains("clusterIP:"),
        "{yaml}"
    );
    let all = k.json(ctx, "get ingress -A").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1));
    let none = k.json(ctx, "get ingress -A -l app=other").await;
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0));
    let table = k.ok(ctx, "get namespaces", &[]).await;
    assert!(table.contains("NAME") && table.contains("apps"), "{table}");
    let secret = k.json(ctx, "get secret creds -n apps").await;
    assert_eq!(
        secret["data"]["token"], "czNjcjN0",
        "stringData became base64 data"
    );
    assert!(secret.get("stringData").is_none());

    // Client-side apply again with a change, then server-side apply.
    let changed = INGRESS.replace("number: 80", "number: 8080");
    let out = k.apply(ctx, &changed).await.expect_ok();
    assert!(out.contains("configured"), "{out}");
    let ing = k.json(ctx, "get ingress web -n apps").await;
    assert_eq!(
        ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"],
        8080
    );
    assert_eq!(ing["metadata"]["generation"], 2);
    let ssa = SERVICE.replace("targetPort: 8080", "targetPort: 9090");
    k.run(ctx, &["apply", "--server-side", "-f", "-"], Some(&ssa))
        .await
        .expect_ok();
    let svc = k.json(ctx, "get svc lb -n apps").await;
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 9090);
    assert_eq!(
        svc["spec"]["ports"].as_array().map(Vec::len),
        Some(1),
        "ports merged by port, not appended"
    );

    // Patches: strategic (default), merge, json.
    for (target, patch) in [
        (
            "svc lb -n apps",
            r#"{"spec":{"ports":[{"port":443,"name":"https"}]}}"#,
        ),
        (
            "ingress web -n apps --type merge",
            r#"{"spec":{"ingressClassName":"avi"}}"#,
        ),
        (
            "secret creds -n apps --type json",
            r#"[{"op":"add","path":"/data/extra","value":"eA=="}]"#,
        ),
    ] {
        k.ok(ctx, &format!("patch {target} -p"), &[patch]).await;
    }
    let svc = k.json(ctx, "get svc lb -n apps").await;
    assert_eq!(svc["spec"]["ports"].as_array().map(Vec::len), Some(2));
    let ing = k.json(ctx, "get ingress web -n apps").await;
    assert_eq!(ing["spec"]["ingressClassName"], "avi");
    let secret = k.json(ctx, "get secret creds -n apps").await;
    assert_eq!(secret["data"]["extra"], "eA==");

    // label, annotate, selectors see them.
    k.ok(ctx, "label ingress web -n apps tier=front", &[]).await;
    k.ok(
        ctx,
        "annotate namespace apps ako.vmware.com/tenant-name=team-a",
        &[],
    )
    .await;
    let labelled = k
        .json(ctx, "get ingress -n apps -l tier=front,app=web")
        .await;
    assert_eq!(labelled["items"].as_array().map(Vec::len), Some(1));
    let all = k.json(ctx, "get ingress -n apps").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1));
    let ns = k.json(ctx, "get namespace apps").await;
    assert_eq!(
        ns["metadata"]["annotations"]["ako.vmware.com/tenant-name"],
        "team-a"
    );

    // Imperative creates send protobuf bodies.
    k.ok(
        ctx,
        "create service loadbalancer imperative -n apps --tcp=80:8080",
        &[],
    )
    .await;
    k.ok(ctx, "create ingress imperative -n apps --class=avi --rule=shop.example.com/=imperative:80,tls=cert", &[]).await;
    let svc = k.json(ctx, "get svc imperative -n apps").await;
    assert_eq!(
        (
            svc["spec"]["type"].as_str(),
            svc["spec"]["ports"][0]["targetPort"].as_i64()
        ),
        (Some("LoadBalancer"), Some(8080))
    );
    let ing = k.json(ctx, "get ingress imperative -n apps").await;
    assert_eq!(
        ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"],
        80
    );
    assert_eq!(ing["spec"]["tls"][0]["secretName"], "cert");
    assert_eq!(ing["spec"]["ingressClassName"], "avi");

    k.ok(
        ctx,
        "create deployment imperative -n apps --image=nginx:1.27 --port=80 --replicas=3",
        &[],
    )
    .await;
    k.ok(
        ctx,
        "rollout status deployment/imperative -n apps --timeout=20s",
        &[],
    )
    .await;
    k.ok(
        ctx,
        "expose deployment imperative -n apps --name=exposed --type=LoadBalancer --port=80",
        &[],
    )
    .await;
    let deploy = k.json(ctx, "get deployment imperative -n apps").await;
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        80
    );
    assert_eq!(deploy["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(deploy["status"]["readyReplicas"], 3);
    let exposed = k.json(ctx, "get svc exposed -n apps").await;
    assert_eq!(exposed["spec"]["selector"]["app"], "imperative");

    // Watch with a bounded timeout prints the current objects.
    let watched = k
        .run(
            ctx,
            &["get", "ingress", "-n", "apps", "-w", "--request-timeout=2s"],
            None,
        )
        .await;
    assert!(watched.stdout.contains("web"), "{watched:?}");

    // delete: the objects, then a missing one (NotFound, rc 1), then the namespace with its content.
    k.ok(ctx, "delete ingress web -n apps", &[]).await;
    let err = k
        .run(ctx, &["delete", "ingress", "web", "-n", "apps"], None)
        .await
        .expect_err();
    assert!(
        err.contains("(NotFound)") && err.contains("ingresses.networking.k8s.io \"web\" not found"),
        "{err}"
    );
    k.ok(ctx, "delete namespace apps", &[]).await;
    let left = k.json(ctx, "get secrets,services -A").await;
    assert!(
        left["items"]
            .as_array()
            .is_some_and(|i| i.iter().all(|o| o["metadata"]["namespace"] != "apps"))
    );
    sim.shutdown().await;
}

const ROUTE: &str = r#"
apiVersion: route.openshift.io/v1
kind: Route
metadata:
  name: shop
  namespace: default
spec:
  host: shop.example.com
  to: {kind: Service, name: shop}
"#;

const HOST_RULE: &str = r#"
apiVersion: ako.vmware.com/v1beta1
kind: HostRule
metadata:
  name: shop
  namespace: default
spec:
  virtualhost:
    fqdn: shop.example.com
    aliases: [shop-alt.example.com]
    gslb: {fqdn: shop.global.example.com}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_and_host_rules() {
    let (sim, k) = start().await;
    k.apply("ocp", ROUTE).await.expect_ok();
    k.ok("ocp", "label route shop gslb=yes", &[]).await;
    k.ok("ocp", "annotate route shop note=x", &[]).await;
    k.ok(
        "ocp",
        "patch route shop --type merge -p",
        &[r#"{"spec":{"path":"/cart"}}"#],
    )
    .await;
    let route = k.json("ocp", "get route shop").await;
    assert_eq!(route["spec"]["path"], "/cart");
    assert_eq!(route["metadata"]["labels"]["gslb"], "yes");
    assert_eq!(route["status"]["ingress"][0]["routerName"], "ako-ocp");
    // Routes exist only on the OpenShift cluster.
    k.apply("plain", ROUTE).await.expect_err();

    for ctx in ["plain", "ocp"] {
        k.apply(ctx, HOST_RULE).await.expect_ok();
        let second = HOST_RULE.replace("name: shop\n", "name: shop-dup\n");
        k.apply(ctx, &second).await.expect_ok();
        let table = k.ok(ctx, "get hr", &[]).await;
        assert!(
            table.contains("Accepted") && table.contains("Rejected"),
            "{table}"
        );
        k.ok(
            ctx,
            "patch hostrule shop --type merge -p",
            &[r#"{"spec":{"virtualhost":{"aliases":["x.example.com"]}}}"#],
        )
        .await;
        k.run(ctx, &["apply", "--server-side", "-f", "-"], Some(HOST_RULE))
            .await
            .expect_ok();
        k.ok(ctx, "delete hostrule shop", &[]).await;
        let dup = k.json(ctx, "get hostrule shop-dup").await;
        assert_eq!(
            dup["status"]["status"], "Accepted",
            "the FQDN is free again"
        );
    }
    let bad = HOST_RULE.replace(
        "fqdn: shop.example.com",
        "fqdnType: Nope\n    fqdn: shop.example.com",
    );
    let err = k.apply("plain", &bad).await.expect_err();
    assert!(
        err.contains("spec.virtualhost.fqdnType: Unsupported value: \"Nope\""),
        "{err}"
    );
    sim.shutdown().await;
}

const WIDGET_CRD: &str = include_str!("fixtures/sim_k8s/chart/crds/widget-crd.yaml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_after_their_crd() {
    let (sim, k) = start().await;
    let ctx = "plain";
    k.apply(ctx, WIDGET_CRD).await.expect_ok();
    let widget = "apiVersion: example.io/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n  color: red\n";
    k.apply(ctx, widget).await.expect_ok();
    k.apply(ctx, &widget.replace("size: 3", "size: 4"))
        .await
        .expect_ok();
    k.run(
        ctx,
        &["apply", "--server-side", "-f", "-"],
        Some(&widget.replace("size: 3", "size: 5")),
    )
    .await
    .expect_ok();
    for (target, patch) in [
        ("widget w1 --type merge", r#"{"spec":{"color":"blue"}}"#),
        (
            "wd w1 --type json",
            r#"[{"op":"replace","path":"/spec/size","value":6}]"#,
        ),
    ] {
        k.ok(ctx, &format!("patch {target} -p"), &[patch]).await;
    }
    k.ok(ctx, "label wd w1 team=a", &[]).await;
    k.ok(ctx, "annotate wd w1 note=x", &[]).await;
    let w = k.json(ctx, "get widgets.example.io w1").await;
    assert_eq!(
        (w["spec"]["size"].as_i64(), w["spec"]["color"].as_str()),
        (Some(6), Some("blue"))
    );
    assert_eq!(w["metadata"]["labels"]["team"], "a");
    let table = k.ok(ctx, "get wd", &[]).await;
    assert!(table.contains("SIZE") && table.contains('6'), "{table}");

    // A resource violating the schema: every problem with its field path.
    let bad = "apiVersion: example.io/v1\nkind: Widget\nmetadata:\n  name: w2\nspec:\n  size: 30\n  color: pink\n  hashMask: 24\n  lbAlgorithm: GSLB_ALGORITHM_ROUND_ROBIN\n";
    let err = k.apply(ctx, bad).await.expect_err();
    assert!(err.contains("The Widget \"w2\" is invalid"), "{err}");
    assert!(
        err.contains(
            "spec.size: Invalid value: 30: spec.size in body should be less than or equal to 10"
        ),
        "{err}"
    );
    assert!(
        err.contains("spec.color: Unsupported value: \"pink\""),
        "{err}"
    );
    assert!(
        err.contains("hashMask is only allowed with GSLB_ALGORITHM_CONSISTENT_HASH"),
        "{err}"
    );
    let missing =
        "apiVersion: example.io/v1\nkind: Widget\nmetadata:\n  name: w3\nspec:\n  color: red\n";
    let err = k.apply(ctx, missing).await.expect_err();
    assert!(err.contains("spec.size: Required value"), "{err}");
    let unknown = "apiVersion: example.io/v1\nkind: Widget\nmetadata:\n  name: w4\nspec:\n  size: 1\n  bogus: 1\n";
    let err = k.apply(ctx, unknown).await.expect_err();
    assert!(err.contains("unknown field \"spec.bogus\""), "{err}");

    k.ok(ctx, "delete wd w1", &[]).await;
    k.ok(ctx, "delete crd widgets.example.io", &[]).await;
    let gone = k
        .run(ctx, &["get", "widgets.example.io"], None)
        .await
        .expect_err();
    assert!(
        gone.contains("the server doesn't have a resource type") || gone.contains("NotFound"),
        "{gone}"
    );
    sim.shutdown().await;
}

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: app-0
  namespace: apps
spec:
  containers:
  - name: app
    image: example/app:1
    ports:
    - {name: http, containerPort: 8080}
"#;

/// A one-shot HTTP server on 127.0.0.1 that answers each request with its request line.
async fn echo_server() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = vec![0u8; 4096];
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let line = text.lines().next().unwrap_or_default().to_owned();
            let answer =
                format!("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nseen: {line}\n");
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_logs_and_the_pod_proxy() {
    let (sim, k) = start().await;
    let ctx = "plain";
    k.ok(ctx, "create namespace apps", &[]).await;
    k.apply(ctx, POD).await.expect_ok();

    // Nothing planted: an empty log, and no previous container.
    assert_eq!(k.ok(ctx, "logs app-0 -n apps", &[]).await, "");
    let err = k
        .run(ctx, &["logs", "app-0", "-n", "apps", "--previous"], None)
        .await
        .expect_err();
    assert!(err.contains("previous terminated container"), "{err}");

    // Planted through the control API, read by kubectl logs.
    let http = reqwest::Client::new();
    for (which, text) in [("log", "one\ntwo\nthree\n"), ("previous-log", "crashed\n")] {
        let url = format!(
            "{}/sim/clusters/plain/pods/apps/app-0/app/{which}",
            sim.control_url()
        );
        let answer = http.put(&url).body(text).send().await.expect("control API");
        assert!(answer.status().is_success(), "{url}: {}", answer.status());
    }
    assert_eq!(
        k.ok(ctx, "logs app-0 -n apps", &[]).await,
        "one\ntwo\nthree\n"
    );
    assert_eq!(
        k.ok(ctx, "logs app-0 -n apps --tail 1", &[]).await,
        "three\n"
    );
    assert_eq!(
        k.ok(ctx, "logs app-0 -n apps -c app --previous", &[]).await,
        "crashed\n"
    );
    let err = k
        .run(ctx, &["logs", "app-0", "-n", "apps", "-c", "other"], None)
        .await
        .expect_err();
    assert!(err.contains("not valid for pod app-0"), "{err}");

    // The pod proxy: to status.podIP on the given port, with the query string.
    let err = k
        .run(
            ctx,
            &[
                "get",
                "--raw",
                "/api/v1/namespaces/apps/pods/app-0:8080/proxy/x",
            ],
            None,
        )
        .await
        .expect_err();
    assert!(err.contains("no IP address"), "{err}");
    let port = echo_server().await;
    k.ok(
        ctx,
        "patch pod app-0 -n apps --subresource=status --type=merge",
        &["-p", r#"{"status":{"podIP":"127.0.0.1"}}"#],
    )
    .await;
    let seen = k
        .ok(
            ctx,
            "get --raw",
            &[&format!(
                "/api/v1/namespaces/apps/pods/app-0:{port}/proxy/metrics?a=1"
            )],
        )
        .await;
    assert_eq!(seen, "seen: GET /metrics?a=1 HTTP/1.0\n");
}
