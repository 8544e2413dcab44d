//! Scale measurement (ignored by default; it prints figures, it asserts no timings):
//! `cargo test --release -p amko-sim --test sim_k8s_scale -- --ignored --nocapture`
//! Starts 200 clusters, loads 200,000 objects through the HTTP API (Ingresses, LoadBalancer
//! Services and ConfigMaps, so AKO emulation runs too), then measures list time, how fast a
//! change reaches an open watch, and the process RSS.

mod sim_k8s_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use amko_sim::k8s::{SimClusters, SimConfig};
use futures::StreamExt;
use serde_json::{Value, json};
use sim_k8s_common::get_json;

const CLUSTERS: usize = 200;
const OBJECTS_PER_CLUSTER: usize = 1000;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn object(i: usize) -> (&'static str, Value) {
    match i % 10 {
        0..=3 => (
            "/apis/networking.k8s.io/v1/namespaces/default/ingresses",
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": format!("ing-{i}"), "labels": {"app": "scale"}},
                   "spec": {"rules": [{"host": format!("app-{i}.example.com"), "http": {"paths": [{"path": "/", "pathType": "Prefix",
                            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
        ),
        4..=6 => (
            "/api/v1/namespaces/default/services",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("svc-{i}"), "labels": {"app": "scale"}},
                   "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
        ),
        _ => (
            "/api/v1/namespaces/default/configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}"), "labels": {"app": "scale"}},
                   "data": {"key": "value", "index": i.to_string()}}),
        ),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "scale measurement: run in release mode with --ignored --nocapture"]
async fn two_hundred_clusters_two_hundred_thousand_objects() {
    let rss_start = rss_mib();
    let started = Instant::now();
    let sim = SimClusters::start(SimConfig::with_clusters(CLUSTERS))
        .await
        .expect("start");
    println!("started {CLUSTERS} clusters in {:?}", started.elapsed());
    let urls: Arc<Vec<String>> =
        Arc::new(sim.endpoints().iter().map(|e| e.server.clone()).collect());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(8)
        .build()
        .expect("client");

    let load = Instant::now();
    let jobs = futures::stream::iter((0..CLUSTERS * OBJECTS_PER_CLUSTER).map(|n| {
        let http = http.clone();
        let urls = urls.clone();
        async move {
            let (path, body) = object(n / CLUSTERS);
            let url = format!("{}{path}", urls[n % CLUSTERS]);
            let response = http.post(url).json(&body).send().await.expect("post");
            assert_eq!(response.status(), 201, "{:?}", response.text().await);
        }
    }));
    jobs.buffer_unordered(64).collect::<Vec<()>>().await;
    let load_time = load.elapsed();
    let total: usize = sim
        .endpoints()
        .iter()
        .filter_map(|e| sim.object_count(&e.name))
        .sum();
    println!(
        "loaded {} objects through the API in {load_time:?} ({:.0} creates/s); store holds {total} objects (incl. namespaces, CRDs, ReplicaSets)",
        CLUSTERS * OBJECTS_PER_CLUSTER,
        (CLUSTERS * OBJECTS_PER_CLUSTER) as f64 / load_time.as_secs_f64()
    );

    let list_start = Instant::now();
    let list = get_json(&http, &format!("{}/api/v1/services", urls[0])).await;
    println!(
        "list of {} Services in one cluster: {:?}",
        list["items"].as_array().map_or(0, Vec::len),
        list_start.elapsed()
    );

    // One open watch per cluster on ConfigMaps; a change per cluster; time until each arrives.
    let mut latencies = Vec::new();
    let mut watches = Vec::new();
    for url in urls.iter() {
        let rv = http
            .get(format!(
                "{url}/api/v1/namespaces/default/configmaps?limit=1"
            ))
            .send()
            .await
            .expect("list")
            .json::<Value>()
            .await
            .expect("json")["metadata"]["resourceVersion"]
            .as_str()
            .expect("rv")
            .to_string();
        let response = http
            .get(format!("{url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&allowWatchBookmarks=true"))
            .send()
            .await
            .expect("watch");
        watches.push(response);
    }
    for round in 0..5 {
        for (i, url) in urls.iter().enumerate() {
            let name = format!("cm-{}", 7 + 10 * round);
            let sent = Instant::now();
            let patch = json!({"data": {"round": round.to_string()}});
            http.patch(format!("{url}/api/v1/namespaces/default/configmaps/{name}"))
                .header("Content-Type", "application/merge-patch+json")
                .body(patch.to_string())
                .send()
                .await
                .expect("patch");
            let watch = &mut watches[i];
            let mut buffer = String::new();
            loop {
                let chunk = tokio::time::timeout(Duration::from_secs(10), watch.chunk())
                    .await
                    .expect("event in time")
                    .expect("chunk")
                    .expect("open");
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                if buffer.contains("\"MODIFIED\"") && buffer.contains(&name) {
                    break;
                }
            }
            latencies.push(sent.elapsed());
        }
    }
    latencies.sort();
    println!(
        "write→watch latency over HTTP ({} changes, {CLUSTERS} open watches): p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    println!(
        "RSS: {:.0} MiB at start, {:.0} MiB loaded (simulator and load client in one process)",
        rss_start,
        rss_mib()
    );
    drop(watches);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "scale measurement: run in release mode with --ignored --nocapture"]
async fn many_host_rules_in_one_cluster() {
    const RULES: usize = 1000;
    let sim = SimClusters::start(SimConfig::with_clusters(1))
        .await
        .expect("start");
    let url = sim.server_url("cluster1").expect("url").to_string();
    let http = reqwest::Client::new();
    let started = Instant::now();
    for i in 0..RULES {
        // Every tenth rule claims an FQDN already taken, so AKO rejects it.
        let fqdn = if i % 10 == 9 {
            format!("host-{}.example.com", i - 1)
        } else {
            format!("host-{i}.example.com")
        };
        let body = json!({"apiVersion": "ako.vmware.com/v1beta1", "kind": "HostRule", "metadata": {"name": format!("hr-{i}")},
                          "spec": {"virtualhost": {"fqdn": fqdn}}});
        let response = http
            .post(format!(
                "{url}/apis/ako.vmware.com/v1beta1/namespaces/default/hostrules"
            ))
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 201);
    }
    let elapsed = started.elapsed();
    let list = get_json(
        &http,
        &format!("{url}/apis/ako.vmware.com/v1beta1/hostrules"),
    )
    .await;
    let rejected = list["items"].as_array().map_or(0, |items| {
        items
            .iter()
            .filter(|i| i["status"]["status"] == "Rejected")
            .count()
    });
    println!(
        "{RULES} HostRules created one by one in {elapsed:?} ({:.0}/s); {rejected} rejected as duplicates",
        RULES as f64 / elapsed.as_secs_f64()
    );
    sim.shutdown().await;
}
