//! Faults (down as refused or 503, failing requests, latency) through the Rust handle and the
//! `/sim/` control API; shared-port clusters under path prefixes; TLS with the generated CA.

mod sim_k8s_common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use amko_sim::k8s::{Down, Listen, SimClusters, SimConfig};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;
use sim_k8s_common::get_json;

/// A client that shows 503s instead of retrying them (kube retries 429/503/504 by default).
fn client_for(url: &str) -> Client {
    let mut config = Config::new(url.parse().expect("url"));
    config.default_retry = false;
    Client::try_from(config).expect("client")
}

async fn list_namespaces(client: &Client) -> Result<usize, kube::Error> {
    Api::<Namespace>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items.len())
}

#[tokio::test]
async fn down_refused_and_unavailable_then_back() {
    let sim = SimClusters::start(SimConfig::with_clusters(2))
        .await
        .expect("start");
    let url = sim.server_url("cluster1").expect("url").to_string();
    let client = client_for(&url);
    assert_eq!(list_namespaces(&client).await.expect("up"), 4);
    let faults = sim.faults("cluster1").expect("faults");

    faults.set_down(Down::Refused);
    // The listener closes asynchronously: wait (bounded) until connections are refused.
    let mut refused = false;
    for _ in 0..100 {
        match reqwest::get(format!("{url}/version")).await {
            Err(e) if e.is_connect() => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
    assert!(refused, "connections are refused while the cluster is down");
    assert!(list_namespaces(&client).await.is_err());
    // The other cluster is unaffected.
    assert!(
        list_namespaces(&client_for(sim.server_url("cluster2").expect("url")))
            .await
            .is_ok()
    );

    faults.set_down(Down::No);
    let mut back = false;
    for _ in 0..50 {
        if list_namespaces(&client).await.is_ok() {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(back, "the cluster answers again on the same port");

    faults.set_down(Down::Unavailable);
    match list_namespaces(&client).await {
        Err(kube::Error::Api(status)) => assert_eq!(
            (status.code, status.reason.as_str()),
            (503, "ServiceUnavailable")
        ),
        other => panic!("expected 503, got {other:?}"),
    }
    faults.set_down(Down::No);

    faults.set_error_rate(1.0);
    match list_namespaces(&client).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 500),
        other => panic!("expected 500, got {other:?}"),
    }
    faults.set_error_rate(0.0);
    assert!(list_namespaces(&client).await.is_ok());
    sim.shutdown().await;
}

#[tokio::test]
async fn control_api_over_http() {
    let sim = SimClusters::start(SimConfig::with_clusters(1))
        .await
        .expect("start");
    let http = reqwest::Client::new();
    let control = sim.control_url().to_string();
    let listed = get_json(&http, &format!("{control}/sim/clusters")).await;
    assert_eq!(listed["clusters"][0]["name"], "cluster1");

    let set = http
        .post(format!("{control}/sim/clusters/cluster1/faults"))
        .json(&json!({"down": "unavailable", "latencyMs": 5}))
        .send()
        .await
        .expect("set");
    assert!(set.status().is_success());
    let client = client_for(sim.server_url("cluster1").expect("url"));
    assert!(matches!(list_namespaces(&client).await, Err(kube::Error::Api(s)) if s.code == 503));
    let state = get_json(&http, &format!("{control}/sim/clusters/cluster1/faults")).await;
    assert_eq!(
        state["faults"],
        json!({"down": "unavailable", "latencyMs": 5, "errorRate": 0.0})
    );
    http.post(format!("{control}/sim/clusters/cluster1/faults"))
        .json(&json!({}))
        .send()
        .await
        .expect("reset");
    assert!(list_namespaces(&client).await.is_ok());
    // The cluster's own port serves /sim/ for itself, too.
    let own: serde_json::Value = http
        .post(format!(
            "{}/sim/gone-next-watch",
            sim.server_url("cluster1").expect("url")
        ))
        .send()
        .await
        .expect("own port")
        .json()
        .await
        .expect("json");
    assert_eq!(own["name"], "cluster1");
    let missing = http
        .post(format!("{control}/sim/clusters/nope/drop-watches"))
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn shared_port_with_path_prefixes() {
    let mut config = SimConfig::with_clusters(2);
    config.listen = Listen::Shared {
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
    };
    let sim = SimClusters::start(config).await.expect("start");
    let one = sim.server_url("cluster1").expect("url").to_string();
    let two = sim.server_url("cluster2").expect("url").to_string();
    assert!(one.ends_with("/clusters/cluster1") && two.ends_with("/clusters/cluster2"));
    let c1 = client_for(&one);
    let c2 = client_for(&two);
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "only-in-one"}})).expect("cm");
    Api::<ConfigMap>::namespaced(c1.clone(), "default")
        .create(&Default::default(), &cm)
        .await
        .expect("create");
    assert!(
        Api::<ConfigMap>::namespaced(c1, "default")
            .get_opt("only-in-one")
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        Api::<ConfigMap>::namespaced(c2, "default")
            .get_opt("only-in-one")
            .await
            .expect("get")
            .is_none()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn tls_with_generated_ca_from_the_kubeconfig() {
    let mut config = SimConfig::with_clusters(1);
    config.tls = true;
    let sim = SimClusters::start(config).await.expect("start");
    assert!(
        sim.server_url("cluster1")
            .expect("url")
            .starts_with("https://127.0.0.1:")
    );
    let kubeconfig: Kubeconfig = serde_json::from_value(sim.kubeconfig()).expect("kubeconfig");
    let options = KubeConfigOptions {
        context: Some("cluster1".into()),
        ..Default::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .expect("config");
    let client = Client::try_from(config).expect("client");
    assert_eq!(list_namespaces(&client).await.expect("list over TLS"), 4);
    sim.shutdown().await;
}

async fn wait_for(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>, name: &str) {
    let seen = async {
        while let Some(seen) = rx.recv().await {
            if seen == name {
                return;
            }
        }
        panic!("watcher stream ended");
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), seen)
        .await
        .expect("seen in time");
}

#[tokio::test]
async fn watcher_resumes_after_the_cluster_comes_back() {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};

    let sim = SimClusters::start(SimConfig::with_clusters(1))
        .await
        .expect("start");
    let client = client_for(sim.server_url("cluster1").expect("url"));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = watcher(cms.clone(), watcher::Config::default())
        .default_backoff()
        .applied_objects();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            if let Ok(cm) = item
                && tx.send(cm.metadata.name.unwrap_or_default()).is_err()
            {
                break;
            }
        }
    });
    let create = |name: &str| {
        serde_json::from_value::<ConfigMap>(json!({"metadata": {"name": name}})).expect("cm")
    };
    cms.create(&Default::default(), &create("before"))
        .await
        .expect("create");
    wait_for(&mut rx, "before").await;
    let faults = sim.faults("cluster1").expect("faults");
    faults.set_down(Down::Refused);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    faults.set_down(Down::No);
    let mut created = false;
    for _ in 0..100 {
        if cms
            .create(&Default::default(), &create("after"))
            .await
            .is_ok()
        {
            created = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(created);
    wait_for(&mut rx, "after").await;
    task.abort();
    sim.shutdown().await;
}

/// A watch gap: while watches are held nothing reaches the watcher (a deletion made meanwhile is
/// never an event); on release the watcher gets 410 Gone and relists, and only the relist shows
/// what changed.
#[tokio::test]
async fn held_watches_deliver_nothing_then_force_a_relist() {
    use futures::StreamExt;
    use kube::api::{DeleteParams, PostParams};
    use kube::runtime::watcher::{self, Event};

    let sim = SimClusters::start(SimConfig::with_clusters(1))
        .await
        .expect("start");
    let client = client_for(sim.server_url("cluster1").expect("url"));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let create = |name: &str| {
        serde_json::from_value::<ConfigMap>(json!({"metadata": {"name": name}})).expect("cm")
    };
    for name in ["kept", "deleted-in-gap"] {
        cms.create(&PostParams::default(), &create(name))
            .await
            .expect("create");
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = watcher::watcher(cms.clone(), watcher::Config::default());
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            if let Ok(event) = item
                && tx.send(event).is_err()
            {
                break;
            }
        }
    });
    let name = |cm: &ConfigMap| cm.metadata.name.clone().unwrap_or_default();
    // The first list.
    let mut listed = Vec::new();
    loop {
        match next(&mut rx).await {
            Event::InitApply(cm) => listed.push(name(&cm)),
            Event::InitDone => break,
            _ => {}
        }
    }
    listed.sort();
    assert_eq!(listed, ["deleted-in-gap", "kept"]);

    let faults = sim.faults("cluster1").expect("faults");
    faults.hold_watches();
    cms.delete("deleted-in-gap", &DeleteParams::default())
        .await
        .expect("delete");
    cms.create(&PostParams::default(), &create("created-in-gap"))
        .await
        .expect("create");
    // Nothing arrives while held (the watcher has re-watched and waits).
    let quiet = tokio::time::timeout(std::time::Duration::from_secs(1), rx.recv()).await;
    assert!(quiet.is_err(), "an event during the gap: {quiet:?}");

    faults.release_watches();
    let mut relisted = Vec::new();
    let mut started = false;
    loop {
        match next(&mut rx).await {
            Event::Init => started = true,
            Event::InitApply(cm) => relisted.push(name(&cm)),
            Event::InitDone => break,
            Event::Apply(cm) | Event::Delete(cm) => {
                panic!("{} came as a watch event, not by relisting", name(&cm))
            }
        }
    }
    relisted.sort();
    assert!(started, "the watcher relisted");
    assert_eq!(relisted, ["created-in-gap", "kept"]);

    // The control API opens and ends a gap too, and says whether one is open.
    let http = reqwest::Client::new();
    let control = sim.control_url().to_string();
    for (action, held) in [("hold-watches", true), ("release-watches", false)] {
        let answer: serde_json::Value = http
            .post(format!("{control}/sim/clusters/cluster1/{action}"))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        assert_eq!(answer["watchesHeld"], held, "{action}: {answer}");
    }
    task.abort();
    sim.shutdown().await;
}

async fn next<K>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<K>) -> K {
    tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
        .await
        .expect("an event in time")
        .expect("stream open")
}

/// Any kubeconfig context name is a cluster name, also on a shared port, where the name is a URL
/// path segment: an EKS ARN (`/`, `:`), an OpenShift context (`/`, `:`, `@`) and a name with a
/// space, `,`, `%`, `?` and `#` each get a server URL of their own, the kubeconfig reaches the
/// right cluster by that name, and the control API addresses the cluster by its encoded name.
#[tokio::test]
async fn shared_port_serves_clusters_with_any_context_name() {
    use amko_sim::k8s::ClusterSpec;
    const NAMES: [&str; 3] = [
        "arn:aws:eks:eu-west-1:123456789012:cluster/prod",
        "default/api-ocp-example-com:6443/kube:admin",
        "team a, 100% \"prod\"?#",
    ];
    let config = SimConfig {
        clusters: NAMES.iter().map(|n| ClusterSpec::new(*n)).collect(),
        listen: Listen::Shared {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        },
        ..SimConfig::default()
    };
    let sim = SimClusters::start(config).await.expect("start");
    let kubeconfig: Kubeconfig = serde_json::from_value(sim.kubeconfig()).expect("kubeconfig");
    for (i, name) in NAMES.iter().enumerate() {
        let options = KubeConfigOptions {
            context: Some((*name).to_owned()),
            ..Default::default()
        };
        let config = Config::from_custom_kubeconfig(kubeconfig.clone(), &options)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let client = Client::try_from(config).expect("client");
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("only-in-{i}")}}))
                .expect("cm");
        Api::<ConfigMap>::namespaced(client, "default")
            .create(&Default::default(), &cm)
            .await
            .unwrap_or_else(|e| panic!("create in {name}: {e}"));
    }
    for (i, name) in NAMES.iter().enumerate() {
        let client = client_for(sim.server_url(name).expect("url"));
        let names: Vec<String> = Api::<ConfigMap>::namespaced(client, "default")
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("list in {name}: {e}"))
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .filter(|n| n.starts_with("only-in-"))
            .collect();
        assert_eq!(names, [format!("only-in-{i}")], "{name}");
    }
    let http = reqwest::Client::new();
    let control = sim.control_url().to_string();
    let path = sim.server_url(NAMES[2]).expect("url");
    let encoded = path.rsplit_once("/clusters/").expect("path prefix").1;
    let set = http
        .post(format!("{control}/sim/clusters/{encoded}/faults"))
        .json(&json!({"latencyMs": 1}))
        .send()
        .await
        .expect("set");
    assert!(set.status().is_success(), "{}", set.status());
    let state: serde_json::Value = set.json().await.expect("json");
    assert_eq!(state["name"], NAMES[2]);
    assert_eq!(state["faults"]["latencyMs"], 1);
    sim.shutdown().await;
}
