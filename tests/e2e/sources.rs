//! End-to-end scenarios of `amko run` about where members come from and where they go: object
//! sources (LoadBalancer Services, OpenShift Routes, IPv6 VIPs), syncVipOnly, app and namespace
//! selection at runtime, custom global FQDNs from AKO HostRules, and Avi tenants. Each asserts
//! the controller's GslbServices and monitors against what AKO emulation wrote on the objects.

mod harness;

use std::time::Duration;

use amko::crd::ako_hostrule::HostRule;
use amko::crd::route::Route;
use amko::crd::{GlobalDeploymentPolicy, GslbConfig};
use amko_sim::k8s::VipFamily;
use harness::{CREATED_BY, Env, EnvOptions, HOME, UUID, members_of, wait_until};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Helpers: reading the controller and the clusters.
// ---------------------------------------------------------------------------------------------

fn member_with_ip(gs: &Value, ip: &str) -> Value {
    members_of(gs)
        .into_iter()
        .find(|m| m["ip"]["addr"] == ip)
        .unwrap_or_else(|| panic!("no member with VIP {ip} in {gs:#}"))
}

/// The name part of a rendered reference (`https://…/api/<type>/<uuid>#<name>`).
fn ref_name(reference: &Value) -> String {
    reference
        .as_str()
        .and_then(|r| r.rsplit_once('#'))
        .map(|(_, name)| name.to_owned())
        .unwrap_or_default()
}

/// The health monitors the GslbService references, as stored on the controller.
fn monitors_of(env: &Env, gs: &Value) -> Vec<Value> {
    let names: Vec<String> = gs["health_monitor_refs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(ref_name)
        .collect();
    env.health_monitors()
        .into_iter()
        .filter(|m| names.iter().any(|n| m["name"] == n.as_str()))
        .collect()
}

fn domain_names(gs: &Value) -> Vec<String> {
    let mut names: Vec<String> = gs["domain_names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn gs_with_members(env: &Env, name: &str, count: usize) -> bool {
    env.gslb_service(name)
        .is_some_and(|gs| members_of(&gs).len() == count)
}

/// What AKO emulation wrote on an object for `host`: (VIP, VS UUID, controller cluster UUID).
#[derive(Debug)]
struct AkoPlacement {
    vip: String,
    vs_uuid: String,
    cluster_uuid: String,
}

fn placement_from(
    annotations: &std::collections::BTreeMap<String, String>,
    host: &str,
    vip: String,
) -> AkoPlacement {
    let map: Value = serde_json::from_str(
        annotations
            .get("ako.vmware.com/host-fqdn-vs-uuid-map")
            .expect("AKO wrote the VS UUID map"),
    )
    .expect("the VS UUID map is JSON");
    AkoPlacement {
        vip,
        vs_uuid: map[host]
            .as_str()
            .expect("a VS UUID for the host")
            .to_owned(),
        cluster_uuid: annotations
            .get("ako.vmware.com/controller-cluster-uuid")
            .expect("AKO wrote the controller cluster UUID")
            .clone(),
    }
}

async fn service_placement(env: &Env, cluster: &str, ns: &str, name: &str) -> AkoPlacement {
    let svc = Api::<Service>::namespaced(env.client(cluster).await, ns)
        .get(name)
        .await
        .expect("service");
    let entry = svc
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|lb| lb.ingress)
        .and_then(|i| i.into_iter().next())
        .expect("AKO wrote status.loadBalancer.ingress");
    let host = entry.hostname.expect("hostname");
    placement_from(
        &svc.metadata.annotations.unwrap_or_default(),
        &host,
        entry.ip.expect("ip"),
    )
}

async fn ingress_placement(
    env: &Env,
    cluster: &str,
    ns: &str,
    name: &str,
    host: &str,
) -> AkoPlacement {
    let ing = Api::<Ingress>::namespaced(env.client(cluster).await, ns)
        .get(name)
        .await
        .expect("ingress");
    let vip = ing
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|lb| lb.ingress)
        .into_iter()
        .flatten()
        .find(|i| i.hostname.as_deref() == Some(host))
        .and_then(|i| i.ip)
        .expect("AKO wrote a VIP for the host");
    placement_from(&ing.metadata.annotations.unwrap_or_default(), host, vip)
}

async fn route_placement(env: &Env, cluster: &str, ns: &str, name: &str) -> (String, AkoPlacement) {
    let route = Api::<Route>::namespaced(env.client(cluster).await, ns)
        .get(name)
        .await
        .expect("route");
    let entry = route
        .status
        .as_ref()
        .and_then(|s| s.ingress.iter().find(|i| i.router_name.starts_with("ako-")))
        .cloned()
        .expect("AKO admitted the route");
    let vip = entry
        .conditions
        .first()
        .map(|c| c.message.clone())
        .expect("AKO condition with the VIP");
    let placement = placement_from(
        &route.metadata.annotations.unwrap_or_default(),
        &entry.host,
        vip,
    );
    (entry.host, placement)
}

fn assert_member_placed(gs: &Value, placement: &AkoPlacement) {
    let member = member_with_ip(gs, &placement.vip);
    assert_eq!(member["vs_uuid"], placement.vs_uuid.as_str(), "{member}");
    assert_eq!(
        member["cluster_uuid"],
        placement.cluster_uuid.as_str(),
        "{member}"
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers: writing to the clusters.
// ---------------------------------------------------------------------------------------------

/// Creates a namespace with these labels and annotations, or adds them to an existing one
/// (server-side apply; the simulator merges, so use `patch_namespace_labels` to remove labels).
async fn apply_namespace(client: &Client, name: &str, labels: Value, annotations: Value) {
    let ns = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": labels, "annotations": annotations}
    });
    Api::<Namespace>::all(client.clone())
        .patch(name, &PatchParams::apply("e2e").force(), &Patch::Apply(&ns))
        .await
        .expect("namespace applied");
}

/// Merge-patches a namespace's labels (`null` removes one).
async fn patch_namespace_labels(env: &Env, cluster: &str, name: &str, labels: Value) {
    Api::<Namespace>::all(env.client(cluster).await)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": labels}})),
        )
        .await
        .expect("namespace labels patched");
}

async fn create<K>(client: &Client, ns: &str, object: Value)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    harness::ensure_namespace(client, ns).await;
    let typed: K = serde_json::from_value(object).expect("a valid object");
    Api::<K>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &typed)
        .await
        .expect("object created");
}

async fn create_lb_service(
    env: &Env,
    cluster: &str,
    ns: &str,
    name: &str,
    host: &str,
    ports: Value,
    labels: Value,
) {
    create::<Service>(
        &env.client(cluster).await,
        ns,
        json!({
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                "annotations": {"external-dns.alpha.kubernetes.io/hostname": host}},
            "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": ports}
        }),
    )
    .await;
}

async fn create_route(env: &Env, cluster: &str, ns: &str, name: &str, spec: Value) {
    let mut spec = spec;
    spec["to"] = json!({"kind": "Service", "name": "web", "weight": 100});
    create::<Route>(
        &env.client(cluster).await,
        ns,
        json!({
            "apiVersion": "route.openshift.io/v1", "kind": "Route",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": "gslb"}},
            "spec": spec
        }),
    )
    .await;
}

async fn create_host_rule(env: &Env, cluster: &str, ns: &str, name: &str, virtualhost: Value) {
    create_host_rule_expecting(env, cluster, ns, name, virtualhost, "Accepted").await;
}

/// Creates an AKO HostRule and waits until AKO gives it `status.status == expected`.
async fn create_host_rule_expecting(
    env: &Env,
    cluster: &str,
    ns: &str,
    name: &str,
    virtualhost: Value,
    expected: &str,
) {
    create::<HostRule>(
        &env.client(cluster).await,
        ns,
        json!({
            "apiVersion": "ako.vmware.com/v1beta1", "kind": "HostRule",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"virtualhost": virtualhost}
        }),
    )
    .await;
    let api = Api::<HostRule>::namespaced(env.client(cluster).await, ns);
    wait_until(
        "AKO's verdict on the HostRule",
        WAIT,
        || async {
            api.get(name)
                .await
                .ok()
                .and_then(|r| serde_json::to_value(r).ok())
                .is_some_and(|r| r["status"]["status"] == expected)
        },
        || env.log(),
    )
    .await;
}

fn avi_client(env: &Env) -> amko::avi::AviClient {
    amko::avi::AviClient::new(amko::avi::AviConnection {
        base_url: env.avi.base_url().to_owned(),
        username: env.avi.username().to_owned(),
        password: env.avi.password().to_owned(),
        version: env.avi.version().to_owned(),
        tenant: "admin".into(),
        ca_pem: env.avi.ca_pem().map(str::to_owned),
        insecure_skip_verify: false,
        timeout: Duration::from_secs(10),
    })
    .expect("Avi client")
}

async fn gdp_status(env: &Env) -> String {
    Api::<GlobalDeploymentPolicy>::namespaced(env.home().await, HOME)
        .get("global-gdp")
        .await
        .ok()
        .and_then(|g| g.status)
        .map(|s| s.error_status)
        .unwrap_or_default()
}

async fn gslb_config_state(env: &Env) -> String {
    Api::<GslbConfig>::namespaced(env.home().await, HOME)
        .get("gc-1")
        .await
        .ok()
        .and_then(|g| g.status)
        .map(|s| s.state)
        .unwrap_or_default()
}

/// Waits for the GSLBConfig and GDP status to say accepted (the supervisor writes the
/// GSLBConfig state shortly after the writer reports boot done, so readiness can come first).
async fn wait_policy_accepted(env: &Env) {
    wait_until(
        "GSLBConfig and GDP accepted",
        WAIT,
        || async {
            gslb_config_state(env).await == "success: gslb config accepted"
                && gdp_status(env).await == "success"
        },
        || env.log(),
    )
    .await;
}

fn gdp(clusters: &[&str]) -> Value {
    json!({
        "matchRules": {"appSelector": {"label": {"app": "gslb"}}},
        "matchClusters": clusters.iter().map(|c| json!({"cluster": c})).collect::<Vec<_>>(),
        "ttl": 30
    })
}

// ---------------------------------------------------------------------------------------------
// Scenarios.
// ---------------------------------------------------------------------------------------------

/// LoadBalancer Services in two clusters become one GslbService monitored on the lowest port
/// (TCP or UDP); syncVipOnly for one cluster strips its members of their AKO UUIDs (one write)
/// and back; a new lowest port rewrites only the monitor; a Service that stops being a
/// LoadBalancer leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lb_services_become_one_gslb_service_and_sync_vip_only_drops_uuids() {
    let mut env = Env::start("lbsvc", 2, 0).await;
    env.install(gdp(&["cluster1", "cluster2"])).await;
    env.start_operator(&[]);
    env.wait_ready().await;

    let tcp_ports = json!([
        {"name": "alt", "port": 8443, "protocol": "TCP"},
        {"name": "https", "port": 443, "protocol": "TCP"},
        {"name": "admin", "port": 9443, "protocol": "TCP"}
    ]);
    for cluster in ["cluster1", "cluster2"] {
        create_lb_service(
            &env,
            cluster,
            "pay",
            "api",
            "api.example.com",
            tcp_ports.clone(),
            json!({"app": "gslb"}),
        )
        .await;
    }
    // A UDP service in one cluster, and a LoadBalancer Service the selector does not pick.
    create_lb_service(
        &env,
        "cluster1",
        "infra",
        "dns",
        "dns.example.com",
        json!([{"name": "dns-tcp", "port": 5353, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]),
        json!({"app": "gslb"}),
    )
    .await;
    create_lb_service(
        &env,
        "cluster2",
        "pay",
        "internal",
        "internal.example.com",
        tcp_ports.clone(),
        json!({"app": "other"}),
    )
    .await;

    wait_until(
        "api and dns GslbServices",
        WAIT,
        || async {
            gs_with_members(&env, "api.example.com", 2)
                && gs_with_members(&env, "dns.example.com", 1)
        },
        || env.log(),
    )
    .await;
    let gs = env.gslb_service("api.example.com").expect("api GS");
    assert_eq!(gs["created_by"], CREATED_BY);
    assert_eq!(gs["ttl"], 30);
    assert_eq!(domain_names(&gs), ["api.example.com"]);
    for cluster in ["cluster1", "cluster2"] {
        let placement = service_placement(&env, cluster, "pay", "api").await;
        assert_member_placed(&gs, &placement);
        assert_eq!(member_with_ip(&gs, &placement.vip)["ip"]["type"], "V4");
    }
    let monitors = monitors_of(&env, &gs);
    assert_eq!(monitors.len(), 1, "one transport monitor: {monitors:#?}");
    assert_eq!(monitors[0]["type"], "HEALTH_MONITOR_TCP");
    assert_eq!(monitors[0]["monitor_port"], 443, "the lowest Service port");
    assert_eq!(monitors[0]["is_federated"], true);
    assert_eq!(
        monitors[0]["description"],
        "created by: amko, gsname: api.example.com"
    );

    let dns = env.gslb_service("dns.example.com").expect("dns GS");
    assert_member_placed(
        &dns,
        &service_placement(&env, "cluster1", "infra", "dns").await,
    );
    let dns_monitors = monitors_of(&env, &dns);
    assert_eq!(dns_monitors.len(), 1);
    assert_eq!(dns_monitors[0]["type"], "HEALTH_MONITOR_UDP");
    assert_eq!(dns_monitors[0]["monitor_port"], 53);
    assert!(
        env.gslb_service("internal.example.com").is_none(),
        "not selected"
    );
    wait_policy_accepted(&env).await;

    // syncVipOnly for cluster2: its member keeps the VIP but loses the AKO UUIDs; cluster1's
    // member is unchanged.
    let mut spec = gdp(&["cluster1", "cluster2"]);
    spec["matchClusters"] =
        json!([{"cluster": "cluster1"}, {"cluster": "cluster2", "syncVipOnly": true}]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = env.writes();
    env.apply_gdp(spec).await;
    let vip2 = service_placement(&env, "cluster2", "pay", "api").await.vip;
    wait_until(
        "cluster2's member without UUIDs",
        WAIT,
        || async {
            env.gslb_service("api.example.com").is_some_and(|gs| {
                let m = member_with_ip(&gs, &vip2);
                m.get("vs_uuid").is_none_or(Value::is_null)
                    && m.get("cluster_uuid").is_none_or(Value::is_null)
            })
        },
        || env.log(),
    )
    .await;
    let gs = env.gslb_service("api.example.com").expect("api GS");
    assert_eq!(members_of(&gs).len(), 2);
    assert_member_placed(
        &gs,
        &service_placement(&env, "cluster1", "pay", "api").await,
    );
    wait_policy_accepted(&env).await;

    // The flip cost exactly one write: the GslbService of cluster2's member (not the UDP one).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let gs_writes: Vec<String> = env
        .avi
        .control()
        .audit_log()
        .iter()
        .skip(before)
        .filter(|e| e.object_type == "gslbservice")
        .map(|e| format!("{} {}", e.method, e.name))
        .collect();
    assert_eq!(gs_writes, ["PUT api.example.com"], "{}", env.log());
    assert_eq!(env.writes(), before + 1, "no other write");

    // syncVipOnly off again: the UUIDs come back.
    env.apply_gdp(gdp(&["cluster1", "cluster2"])).await;
    let placement2 = service_placement(&env, "cluster2", "pay", "api").await;
    wait_until(
        "cluster2's member with UUIDs again",
        WAIT,
        || async {
            env.gslb_service("api.example.com").is_some_and(|gs| {
                member_with_ip(&gs, &placement2.vip)["vs_uuid"] == placement2.vs_uuid.as_str()
            })
        },
        || env.log(),
    )
    .await;
    assert_member_placed(
        &env.gslb_service("api.example.com").expect("GS"),
        &placement2,
    );

    // A new lowest port in both clusters moves the monitor; the GslbService keeps its monitor
    // reference (same name), so only the monitor is rewritten.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = env.writes();
    for cluster in ["cluster1", "cluster2"] {
        Api::<Service>::namespaced(env.client(cluster).await, "pay")
            .patch(
                "api",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"ports": [
                    {"name": "alt", "port": 8443, "protocol": "TCP"},
                    {"name": "low", "port": 80, "protocol": "TCP"}
                ]}})),
            )
            .await
            .expect("ports changed");
    }
    wait_until(
        "monitor on port 80",
        WAIT,
        || async {
            env.gslb_service("api.example.com").is_some_and(|gs| {
                monitors_of(&env, &gs)
                    .first()
                    .is_some_and(|m| m["monitor_port"] == 80)
            })
        },
        || env.log(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes: Vec<String> = env
        .avi
        .control()
        .audit_log()
        .iter()
        .skip(before)
        .map(|e| format!("{} {}", e.method, e.object_type))
        .collect();
    assert!(
        writes.iter().all(|w| w.ends_with("healthmonitor")) && !writes.is_empty(),
        "only the monitor is rewritten: {writes:?}"
    );

    // cluster1's Service stops being a LoadBalancer: its member leaves.
    Api::<Service>::namespaced(env.client("cluster1").await, "pay")
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"type": "ClusterIP"}})),
        )
        .await
        .expect("type changed");
    wait_until(
        "only cluster2's member left",
        WAIT,
        || async {
            env.gslb_service("api.example.com").is_some_and(|gs| {
                members_of(&gs).len() == 1
                    && members_of(&gs)[0]["ip"]["addr"] == placement2.vip.as_str()
            })
        },
        || env.log(),
    )
    .await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// A cluster without AKO, whose LoadBalancer VIPs come from another load balancer: its objects
/// have no AKO UUIDs, so they wait for AKO until syncVipOnly sends their VIPs alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_vip_only_takes_vips_from_a_cluster_without_ako() {
    let mut env = Env::start_with(
        "no-ako",
        2,
        0,
        EnvOptions {
            without_ako: vec!["cluster2".into()],
            ..EnvOptions::default()
        },
    )
    .await;
    env.install(gdp(&["cluster1", "cluster2"])).await;
    env.start_operator(&[]);
    env.wait_ready().await;

    let ports = json!([{"name": "https", "port": 443, "protocol": "TCP"}]);
    for cluster in ["cluster1", "cluster2"] {
        create_lb_service(
            &env,
            cluster,
            "pay",
            "api",
            "api.example.com",
            ports.clone(),
            json!({"app": "gslb"}),
        )
        .await;
    }
    // What a non-AKO load balancer controller (e.g. MetalLB) writes: a VIP, no AKO annotations.
    Api::<Service>::namespaced(env.client("cluster2").await, "pay")
        .patch_status(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"loadBalancer": {"ingress": [
                {"ip": "192.0.2.10", "hostname": "api.example.com"}
            ]}}})),
        )
        .await
        .expect("status written");
    wait_until(
        "cluster1's member, and cluster2's refused for want of AKO UUIDs",
        WAIT,
        || async {
            let waiting = env.get("/debug/members").await.is_some_and(|(_, body)| {
                body.contains("waiting for AKO to annotate")
                    && body.contains("syncVipOnly for cluster cluster2")
            });
            waiting && gs_with_members(&env, "api.example.com", 1)
        },
        || env.log(),
    )
    .await;
    let placement1 = service_placement(&env, "cluster1", "pay", "api").await;
    assert_member_placed(
        &env.gslb_service("api.example.com").expect("GS"),
        &placement1,
    );

    let mut spec = gdp(&["cluster1", "cluster2"]);
    spec["matchClusters"] =
        json!([{"cluster": "cluster1"}, {"cluster": "cluster2", "syncVipOnly": true}]);
    env.apply_gdp(spec).await;
    wait_until(
        "cluster2's VIP as a member",
        WAIT,
        || async { gs_with_members(&env, "api.example.com", 2) },
        || env.log(),
    )
    .await;
    let gs = env.gslb_service("api.example.com").expect("GS");
    let vip_only = member_with_ip(&gs, "192.0.2.10");
    assert!(
        vip_only.get("vs_uuid").is_none_or(Value::is_null),
        "{vip_only}"
    );
    assert!(
        vip_only.get("cluster_uuid").is_none_or(Value::is_null),
        "{vip_only}"
    );
    assert_eq!(vip_only["ip"]["type"], "V4");
    assert_member_placed(&gs, &placement1);
    wait_policy_accepted(&env).await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// Routes in an OpenShift cluster: by host and by subdomain + the GDP's defaultDomain (also
/// changed at runtime); an edge TLS route, or a HostRule certificate, gives HTTPS monitors;
/// passthrough routes share the instance's TCP/443 monitor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openshift_routes_become_gslb_services_with_the_right_monitors() {
    let mut env = Env::start("routes", 1, 1).await;
    env.install(json!({
        "matchRules": {"appSelector": {"label": {"app": "gslb"}}},
        "matchClusters": [{"cluster": "ocp1"}],
        "defaultDomain": "apps.ocp1.sim.local"
    }))
    .await;
    env.start_operator(&[]);
    env.wait_ready().await;

    create_route(
        &env,
        "ocp1",
        "web",
        "plain",
        json!({"host": "plain.example.com", "path": "/app"}),
    )
    .await;
    create_route(&env, "ocp1", "web", "sub", json!({"subdomain": "shop"})).await;
    create_route(
        &env,
        "ocp1",
        "web",
        "edge",
        json!({"host": "secure.example.com", "tls": {"termination": "edge"}}),
    )
    .await;
    create_route(
        &env,
        "ocp1",
        "web",
        "pass-a",
        json!({"host": "pass-a.example.com", "tls": {"termination": "passthrough"}}),
    )
    .await;
    create_route(
        &env,
        "ocp1",
        "web",
        "pass-b",
        json!({"host": "pass-b.example.com", "tls": {"termination": "passthrough"}}),
    )
    .await;
    let names = [
        "plain.example.com",
        "shop.apps.ocp1.sim.local",
        "secure.example.com",
        "pass-a.example.com",
        "pass-b.example.com",
    ];
    wait_until(
        "five GslbServices from routes",
        WAIT,
        || async { names.iter().all(|n| gs_with_members(&env, n, 1)) },
        || env.log(),
    )
    .await;

    for (route, gs_name) in [
        ("plain", "plain.example.com"),
        ("sub", "shop.apps.ocp1.sim.local"),
        ("edge", "secure.example.com"),
        ("pass-a", "pass-a.example.com"),
        ("pass-b", "pass-b.example.com"),
    ] {
        let (host, placement) = route_placement(&env, "ocp1", "web", route).await;
        assert_eq!(host, gs_name, "AKO's host is the GslbService name");
        let gs = env.gslb_service(gs_name).expect("GS");
        assert_member_placed(&gs, &placement);
    }

    let plain = monitors_of(&env, &env.gslb_service("plain.example.com").expect("GS"));
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0]["type"], "HEALTH_MONITOR_HTTP");
    assert_eq!(plain[0]["monitor_port"], 80);
    assert_eq!(
        plain[0]["http_monitor"]["http_request"],
        "HEAD /app HTTP/1.0"
    );

    let sub = monitors_of(
        &env,
        &env.gslb_service("shop.apps.ocp1.sim.local").expect("GS"),
    );
    assert_eq!(sub.len(), 1);
    assert_eq!(sub[0]["http_monitor"]["http_request"], "HEAD / HTTP/1.0");

    let edge = monitors_of(&env, &env.gslb_service("secure.example.com").expect("GS"));
    assert_eq!(edge.len(), 1);
    assert_eq!(edge[0]["type"], "HEALTH_MONITOR_HTTPS");
    assert_eq!(edge[0]["monitor_port"], 443);
    assert_eq!(edge[0]["https_monitor"]["http_request"], "HEAD / HTTP/1.0");
    assert_eq!(
        edge[0]["description"],
        "created by: amko, gsname: secure.example.com, path: /, protocol: https"
    );

    let shared = format!("amko--passthrough-hm-tcp-{UUID}");
    for gs_name in ["pass-a.example.com", "pass-b.example.com"] {
        let monitors = monitors_of(&env, &env.gslb_service(gs_name).expect("GS"));
        assert_eq!(monitors.len(), 1, "{gs_name}: {monitors:#?}");
        assert_eq!(monitors[0]["name"], shared.as_str());
        assert_eq!(monitors[0]["type"], "HEALTH_MONITOR_TCP");
        assert_eq!(monitors[0]["monitor_port"], 443);
    }
    assert_eq!(
        env.health_monitors()
            .iter()
            .filter(|m| m["name"] == shared.as_str())
            .count(),
        1,
        "one passthrough monitor for both"
    );
    wait_policy_accepted(&env).await;

    // An AKO HostRule giving plain.example.com a certificate makes its member TLS: the monitor
    // becomes HTTPS on 443 for the same path.
    create_host_rule(
        &env,
        "ocp1",
        "web",
        "plain-tls",
        json!({"fqdn": "plain.example.com",
               "tls": {"sslKeyCertificate": {"name": "plain-cert", "type": "secret"}}}),
    )
    .await;
    wait_until(
        "HTTPS monitor for plain.example.com",
        WAIT,
        || async {
            env.gslb_service("plain.example.com").is_some_and(|gs| {
                let monitors = monitors_of(&env, &gs);
                monitors.len() == 1
                    && monitors[0]["type"] == "HEALTH_MONITOR_HTTPS"
                    && monitors[0]["monitor_port"] == 443
                    && monitors[0]["https_monitor"]["http_request"] == "HEAD /app HTTP/1.0"
            })
        },
        || env.log(),
    )
    .await;
    wait_until(
        "the HTTP monitor of plain.example.com cleaned up",
        WAIT,
        || async {
            !env.health_monitors().iter().any(|m| {
                m["description"]
                    == "created by: amko, gsname: plain.example.com, path: /app, protocol: http"
            })
        },
        || env.log(),
    )
    .await;

    // A defaultDomain that is not the router's: AKO serves no such host, so the subdomain
    // route has no VIP under that name and its GslbService goes; restoring it brings it back.
    let mut spec = json!({
        "matchRules": {"appSelector": {"label": {"app": "gslb"}}},
        "matchClusters": [{"cluster": "ocp1"}],
        "defaultDomain": "apps.elsewhere.example.com"
    });
    env.apply_gdp(spec.clone()).await;
    wait_until(
        "subdomain GslbService removed",
        WAIT,
        || async { env.gslb_service("shop.apps.ocp1.sim.local").is_none() },
        || env.log(),
    )
    .await;
    assert!(
        env.gslb_service("shop.apps.elsewhere.example.com")
            .is_none(),
        "no VIP for a host AKO does not serve"
    );
    spec["defaultDomain"] = json!(".apps.ocp1.sim.local");
    env.apply_gdp(spec).await;
    wait_until(
        "subdomain GslbService back",
        WAIT,
        || async { gs_with_members(&env, "shop.apps.ocp1.sim.local", 1) },
        || env.log(),
    )
    .await;

    // Removing one passthrough GslbService keeps the monitor the other still uses.
    let routes = Api::<Route>::namespaced(env.client("ocp1").await, "web");
    routes
        .delete("pass-a", &Default::default())
        .await
        .expect("delete");
    wait_until(
        "pass-a GslbService gone",
        WAIT,
        || async { env.gslb_service("pass-a.example.com").is_none() },
        || env.log(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pass_b = env
        .gslb_service("pass-b.example.com")
        .expect("pass-b GS stays");
    assert_eq!(
        monitors_of(&env, &pass_b)
            .first()
            .map(|m| m["name"].clone()),
        Some(json!(shared)),
        "the shared monitor survives while pass-b uses it"
    );
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// IPv6 VIPs, from a cluster whose AKO assigns IPv6 and from a Service asking for IPv6 in an
/// IPv4 cluster, become members of IP type V6 next to IPv4 ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_vips_become_v6_members() {
    let mut env = Env::start_with(
        "ipv6",
        2,
        0,
        EnvOptions {
            vip_families: vec![("cluster2".into(), VipFamily::V6)],
            ..EnvOptions::default()
        },
    )
    .await;
    env.install(gdp(&["cluster1", "cluster2"])).await;
    env.start_operator(&[]);
    env.wait_ready().await;

    for cluster in ["cluster1", "cluster2"] {
        env.create_ingress(
            cluster,
            "shop",
            "web",
            "dual.example.com",
            json!({"app": "gslb"}),
        )
        .await;
    }
    create::<Service>(
        &env.client("cluster1").await,
        "shop",
        json!({
            "metadata": {"name": "v6svc", "namespace": "shop", "labels": {"app": "gslb"},
                "annotations": {"external-dns.alpha.kubernetes.io/hostname": "v6svc.example.com"}},
            "spec": {"type": "LoadBalancer", "ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
                "ports": [{"port": 8080, "protocol": "TCP"}]}
        }),
    )
    .await;
    wait_until(
        "GslbServices with IPv6 members",
        WAIT,
        || async {
            gs_with_members(&env, "dual.example.com", 2)
                && gs_with_members(&env, "v6svc.example.com", 1)
        },
        || env.log(),
    )
    .await;

    let gs = env.gslb_service("dual.example.com").expect("GS");
    for (cluster, family) in [("cluster1", "V4"), ("cluster2", "V6")] {
        let placement = ingress_placement(&env, cluster, "shop", "web", "dual.example.com").await;
        let parsed: std::net::IpAddr = placement.vip.parse().expect("AKO wrote an IP");
        assert_eq!(parsed.is_ipv6(), family == "V6", "{cluster} VIP {parsed}");
        assert_member_placed(&gs, &placement);
        assert_eq!(member_with_ip(&gs, &placement.vip)["ip"]["type"], family);
    }
    let svc = env.gslb_service("v6svc.example.com").expect("GS");
    let placement = service_placement(&env, "cluster1", "shop", "v6svc").await;
    assert!(
        placement.vip.parse::<std::net::Ipv6Addr>().is_ok(),
        "{}",
        placement.vip
    );
    assert_member_placed(&svc, &placement);
    assert_eq!(member_with_ip(&svc, &placement.vip)["ip"]["type"], "V6");
    assert_eq!(monitors_of(&env, &svc)[0]["monitor_port"], 8080);
    wait_policy_accepted(&env).await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// App and namespace selectors with several labels each (all must match), namespace and
/// object label changes selecting and unselecting objects at runtime, a cluster leaving and
/// rejoining matchClusters, and a namespace deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_and_match_clusters_follow_runtime_changes() {
    let mut env = Env::start("selectors", 2, 0).await;
    env.install(json!({
        "matchRules": {
            "appSelector": {"label": {"app": "gslb", "tier": "web"}},
            "namespaceSelector": {"label": {"env": "prod", "team": "a"}}
        },
        "matchClusters": [{"cluster": "cluster1"}, {"cluster": "cluster2"}]
    }))
    .await;
    env.start_operator(&[]);
    env.wait_ready().await;

    let full = json!({"app": "gslb", "tier": "web"});
    for cluster in ["cluster1", "cluster2"] {
        let client = env.client(cluster).await;
        apply_namespace(
            &client,
            "prod-a",
            json!({"env": "prod", "team": "a", "extra": "x"}),
            json!({}),
        )
        .await;
        apply_namespace(
            &client,
            "prod-b",
            json!({"env": "prod", "team": "b"}),
            json!({}),
        )
        .await;
        env.create_ingress(cluster, "prod-a", "web", "shop.example.com", full.clone())
            .await;
        // Only one of the two app labels: not selected.
        env.create_ingress(
            cluster,
            "prod-a",
            "half",
            "half.example.com",
            json!({"app": "gslb"}),
        )
        .await;
        // Both app labels, but the namespace has only one of the two namespace labels.
        env.create_ingress(cluster, "prod-b", "web", "team-b.example.com", full.clone())
            .await;
    }
    wait_until(
        "shop selected in both clusters",
        WAIT,
        || async { gs_with_members(&env, "shop.example.com", 2) },
        || env.log(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        env.gslb_service("half.example.com").is_none(),
        "app labels are ANDed"
    );
    assert!(
        env.gslb_service("team-b.example.com").is_none(),
        "namespace labels are ANDed"
    );
    let gs = env.gslb_service("shop.example.com").expect("GS");
    for cluster in ["cluster1", "cluster2"] {
        assert_member_placed(
            &gs,
            &ingress_placement(&env, cluster, "prod-a", "web", "shop.example.com").await,
        );
    }
    wait_policy_accepted(&env).await;

    // prod-b in cluster1 gains team=a: its Ingress is selected.
    patch_namespace_labels(&env, "cluster1", "prod-b", json!({"team": "a"})).await;
    wait_until(
        "team-b.example.com selected after the namespace label change",
        WAIT,
        || async { gs_with_members(&env, "team-b.example.com", 1) },
        || env.log(),
    )
    .await;
    let gs = env.gslb_service("team-b.example.com").expect("GS");
    assert_member_placed(
        &gs,
        &ingress_placement(&env, "cluster1", "prod-b", "web", "team-b.example.com").await,
    );

    // prod-a in cluster1 loses env=prod: its member leaves, cluster2's stays.
    patch_namespace_labels(&env, "cluster1", "prod-a", json!({"env": null})).await;
    let cluster2_vip = ingress_placement(&env, "cluster2", "prod-a", "web", "shop.example.com")
        .await
        .vip;
    wait_until(
        "cluster1's member unselected",
        WAIT,
        || async {
            env.gslb_service("shop.example.com").is_some_and(|gs| {
                members_of(&gs).len() == 1
                    && members_of(&gs)[0]["ip"]["addr"] == cluster2_vip.as_str()
            })
        },
        || env.log(),
    )
    .await;

    // An object label change: cluster2's Ingress loses tier=web, so shop has no member left.
    Api::<Ingress>::namespaced(env.client("cluster2").await, "prod-a")
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": null}}})),
        )
        .await
        .expect("label removed");
    wait_until(
        "shop GslbService removed",
        WAIT,
        || async { env.gslb_service("shop.example.com").is_none() },
        || env.log(),
    )
    .await;

    // cluster2's prod-b is selected too; then cluster2 leaves matchClusters and its member goes.
    patch_namespace_labels(&env, "cluster2", "prod-b", json!({"team": "a"})).await;
    wait_until(
        "team-b.example.com in both clusters",
        WAIT,
        || async { gs_with_members(&env, "team-b.example.com", 2) },
        || env.log(),
    )
    .await;
    env.apply_gdp(json!({
        "matchRules": {
            "appSelector": {"label": {"app": "gslb", "tier": "web"}},
            "namespaceSelector": {"label": {"env": "prod", "team": "a"}}
        },
        "matchClusters": [{"cluster": "cluster1"}]
    }))
    .await;
    let cluster1_vip = ingress_placement(&env, "cluster1", "prod-b", "web", "team-b.example.com")
        .await
        .vip;
    wait_until(
        "cluster2's member gone after matchClusters changed",
        WAIT,
        || async {
            env.gslb_service("team-b.example.com").is_some_and(|gs| {
                members_of(&gs).len() == 1
                    && members_of(&gs)[0]["ip"]["addr"] == cluster1_vip.as_str()
            })
        },
        || env.log(),
    )
    .await;
    wait_policy_accepted(&env).await;

    // cluster2 back in matchClusters: its member rejoins.
    env.apply_gdp(json!({
        "matchRules": {
            "appSelector": {"label": {"app": "gslb", "tier": "web"}},
            "namespaceSelector": {"label": {"env": "prod", "team": "a"}}
        },
        "matchClusters": [{"cluster": "cluster1"}, {"cluster": "cluster2"}]
    }))
    .await;
    wait_until(
        "cluster2's member back",
        WAIT,
        || async { gs_with_members(&env, "team-b.example.com", 2) },
        || env.log(),
    )
    .await;

    // Deleting the namespace in cluster1 takes its member away.
    Api::<Namespace>::all(env.client("cluster1").await)
        .delete("prod-b", &Default::default())
        .await
        .expect("namespace deleted");
    let cluster2_vip = ingress_placement(&env, "cluster2", "prod-b", "web", "team-b.example.com")
        .await
        .vip;
    wait_until(
        "cluster1's member gone with its namespace",
        WAIT,
        || async {
            env.gslb_service("team-b.example.com").is_some_and(|gs| {
                members_of(&gs).len() == 1
                    && members_of(&gs)[0]["ip"]["addr"] == cluster2_vip.as_str()
            })
        },
        || env.log(),
    )
    .await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// useCustomGlobalFqdn: AKO HostRules in two clusters map different local hosts to one global
/// FQDN; aliases become domain names only with includeAliases; unmapped hosts and rules AKO
/// rejected are not used; renaming the global FQDN replaces the GslbService.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_global_fqdn_maps_local_hosts_through_host_rules() {
    let mut env = Env::start("custom-fqdn", 2, 0).await;
    env.install_with(
        gdp(&["cluster1", "cluster2"]),
        json!({"useCustomGlobalFqdn": true}),
    )
    .await;
    env.start_operator(&[]);
    env.wait_ready().await;

    env.create_ingress(
        "cluster1",
        "shop",
        "web",
        "shop.east.internal",
        json!({"app": "gslb"}),
    )
    .await;
    env.create_ingress(
        "cluster2",
        "shop",
        "web",
        "shop.west.internal",
        json!({"app": "gslb"}),
    )
    .await;
    env.create_ingress(
        "cluster1",
        "shop",
        "unmapped",
        "unmapped.east.internal",
        json!({"app": "gslb"}),
    )
    .await;
    // Without HostRules nothing is selected in this mode.
    wait_until(
        "the Ingresses refused for want of a HostRule",
        WAIT,
        || async {
            let Some((200, body)) = env.get("/debug/members").await else {
                return false;
            };
            // The reason names the missing mapping of each local host.
            body.contains("cluster1 maps shop.east.internal")
                && body.contains("cluster2 maps shop.west.internal")
        },
        || env.log(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        env.gslb_services().is_empty(),
        "no HostRule maps anything yet"
    );

    create_host_rule(
        &env,
        "cluster1",
        "shop",
        "east",
        json!({"fqdn": "shop.east.internal", "aliases": ["shop-alt.example.com"],
               "gslb": {"fqdn": "shop.example.com", "includeAliases": true}}),
    )
    .await;
    create_host_rule(
        &env,
        "cluster2",
        "shop",
        "west",
        json!({"fqdn": "shop.west.internal", "aliases": ["west-only.example.com"],
               "gslb": {"fqdn": "shop.example.com", "includeAliases": false}}),
    )
    .await;
    wait_until(
        "one GslbService for the global FQDN with both members",
        WAIT,
        || async { gs_with_members(&env, "shop.example.com", 2) },
        || env.log(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A second HostRule for the same local host is Rejected by AKO: its mapping is ignored.
    create_host_rule_expecting(
        &env,
        "cluster1",
        // AKO emulation orders rules by creation time (seconds), then namespace: a namespace
        // after "shop" keeps this the later rule even within the same second.
        "zz-duplicates",
        "duplicate",
        json!({"fqdn": "shop.east.internal", "gslb": {"fqdn": "wrong.example.com"}}),
        "Rejected",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(env.gslb_service("wrong.example.com").is_none());
    let gs = env.gslb_service("shop.example.com").expect("GS");
    assert_eq!(members_of(&gs).len(), 2);
    assert_eq!(
        domain_names(&gs),
        ["shop-alt.example.com", "shop.example.com"],
        "cluster1's alias (includeAliases) but not cluster2's"
    );
    assert_member_placed(
        &gs,
        &ingress_placement(&env, "cluster1", "shop", "web", "shop.east.internal").await,
    );
    assert_member_placed(
        &gs,
        &ingress_placement(&env, "cluster2", "shop", "web", "shop.west.internal").await,
    );
    let names: Vec<String> = env
        .gslb_services()
        .iter()
        .filter_map(|g| g["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        ["shop.example.com"],
        "local hosts never become GslbServices"
    );
    // Monitors are named after the global FQDN.
    let monitors = monitors_of(&env, &gs);
    assert_eq!(monitors.len(), 1);
    assert_eq!(
        monitors[0]["description"],
        "created by: amko, gsname: shop.example.com, path: /, protocol: http"
    );
    wait_policy_accepted(&env).await;

    // Deleting cluster2's HostRule takes its member out of the global GslbService.
    Api::<HostRule>::namespaced(env.client("cluster2").await, "shop")
        .delete("west", &Default::default())
        .await
        .expect("delete");
    wait_until(
        "cluster2's member unmapped",
        WAIT,
        || async { gs_with_members(&env, "shop.example.com", 1) },
        || env.log(),
    )
    .await;

    // Renaming the global FQDN of cluster1's HostRule: the old GslbService goes, the new one
    // carries the member and the alias.
    let east = Api::<HostRule>::namespaced(env.client("cluster1").await, "shop");
    east.patch(
        "east",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"virtualhost": {"gslb": {"fqdn": "store.example.com"}}}})),
    )
    .await
    .expect("global FQDN renamed");
    wait_until(
        "store.example.com replaces shop.example.com",
        WAIT,
        || async {
            env.gslb_service("shop.example.com").is_none()
                && env.gslb_service("store.example.com").is_some_and(|gs| {
                    members_of(&gs).len() == 1
                        && domain_names(&gs) == ["shop-alt.example.com", "store.example.com"]
                })
        },
        || env.log(),
    )
    .await;
    assert_member_placed(
        &env.gslb_service("store.example.com").expect("GS"),
        &ingress_placement(&env, "cluster1", "shop", "web", "shop.east.internal").await,
    );

    // includeAliases off: the alias is no longer a domain name.
    east.patch(
        "east",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"virtualhost": {"gslb": {"includeAliases": false}}}})),
    )
    .await
    .expect("includeAliases off");
    wait_until(
        "alias dropped",
        WAIT,
        || async {
            env.gslb_service("store.example.com")
                .is_some_and(|gs| domain_names(&gs) == ["store.example.com"])
        },
        || env.log(),
    )
    .await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// Default naming mode: a HostRule's aliases add domain names to the GslbService named by its
/// local FQDN, except an alias that is another GslbService's own FQDN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_rule_aliases_add_domain_names_in_default_mode() {
    let mut env = Env::start("aliases", 1, 0).await;
    env.install(gdp(&["cluster1"])).await;
    env.start_operator(&[]);
    env.wait_ready().await;
    env.create_ingress(
        "cluster1",
        "shop",
        "web",
        "app.example.com",
        json!({"app": "gslb"}),
    )
    .await;
    wait_until(
        "the GslbService",
        WAIT,
        || async { gs_with_members(&env, "app.example.com", 1) },
        || env.log(),
    )
    .await;
    assert_eq!(
        domain_names(&env.gslb_service("app.example.com").expect("GS")),
        ["app.example.com"]
    );

    create_host_rule(
        &env,
        "cluster1",
        "shop",
        "app",
        json!({"fqdn": "app.example.com", "aliases": ["www.example.com", "app.example.org"],
               "gslb": {"fqdn": "ignored-in-default-mode.example.com"}}),
    )
    .await;
    wait_until(
        "aliases as domain names",
        WAIT,
        || async {
            env.gslb_service("app.example.com").is_some_and(|gs| {
                domain_names(&gs) == ["app.example.com", "app.example.org", "www.example.com"]
            })
        },
        || env.log(),
    )
    .await;
    assert!(
        env.gslb_service("ignored-in-default-mode.example.com")
            .is_none()
    );
    let gs = env.gslb_service("app.example.com").expect("GS");
    assert_member_placed(
        &gs,
        &ingress_placement(&env, "cluster1", "shop", "web", "app.example.com").await,
    );

    // Removing an alias removes the domain name.
    Api::<HostRule>::namespaced(env.client("cluster1").await, "shop")
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"virtualhost": {"aliases": ["www.example.com"]}}})),
        )
        .await
        .expect("aliases edited");
    wait_until(
        "one alias left",
        WAIT,
        || async {
            env.gslb_service("app.example.com")
                .is_some_and(|gs| domain_names(&gs) == ["app.example.com", "www.example.com"])
        },
        || env.log(),
    )
    .await;

    // An alias that is another GslbService's own FQDN: the controller allows a domain name on
    // one GslbService only, so the alias must give way and both GslbServices stay writable.
    env.create_ingress(
        "cluster1",
        "shop",
        "blog",
        "blog.example.com",
        json!({"app": "gslb"}),
    )
    .await;
    wait_until(
        "blog GslbService",
        WAIT,
        || async { gs_with_members(&env, "blog.example.com", 1) },
        || env.log(),
    )
    .await;
    Api::<HostRule>::namespaced(env.client("cluster1").await, "shop")
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"virtualhost": {"aliases": ["www.example.com", "blog.example.com"]}}})),
        )
        .await
        .expect("aliases edited");
    // A later change to both GslbServices must still reach the controller.
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.apply_gdp(json!({
        "matchRules": {"appSelector": {"label": {"app": "gslb"}}},
        "matchClusters": [{"cluster": "cluster1"}],
        "ttl": 77
    }))
    .await;
    wait_until(
        "both GslbServices take the new TTL",
        WAIT,
        || async {
            ["app.example.com", "blog.example.com"]
                .iter()
                .all(|n| env.gslb_service(n).is_some_and(|gs| gs["ttl"] == 77))
        },
        || env.log(),
    )
    .await;
    assert_eq!(
        domain_names(&env.gslb_service("blog.example.com").expect("GS")),
        ["blog.example.com"]
    );
    assert_eq!(
        domain_names(&env.gslb_service("app.example.com").expect("GS")),
        ["app.example.com", "www.example.com"],
        "the alias that is blog's own FQDN is not claimed"
    );
    // Once blog.example.com has no member left, the alias is free and app takes it.
    Api::<Ingress>::namespaced(env.client("cluster1").await, "shop")
        .delete("blog", &Default::default())
        .await
        .expect("delete");
    wait_until(
        "app takes the freed alias",
        WAIT,
        || async {
            env.gslb_service("blog.example.com").is_none()
                && env.gslb_service("app.example.com").is_some_and(|gs| {
                    domain_names(&gs) == ["app.example.com", "blog.example.com", "www.example.com"]
                })
        },
        || env.log(),
    )
    .await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// An Ingress in a namespace annotated with an Avi tenant: AKO annotates the object with the
/// tenant and the GslbService and its monitor live in that tenant on the controller; a tenant
/// change moves them; a tenant the controller lacks is refused visibly without blocking others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_tenant_places_the_gslb_service_in_that_tenant() {
    let mut env = Env::start("tenants", 1, 0).await;
    env.install(gdp(&["cluster1"])).await;
    avi_client(&env)
        .create(
            "tenant",
            &json!({"name": "team-a", "local": true}),
            Some("admin"),
        )
        .await
        .expect("tenant team-a created through the Avi API");
    env.start_operator(&[]);
    env.wait_ready().await;

    let client = env.client("cluster1").await;
    apply_namespace(
        &client,
        "team-a-apps",
        json!({}),
        json!({"ako.vmware.com/tenant-name": "team-a"}),
    )
    .await;
    env.create_ingress(
        "cluster1",
        "team-a-apps",
        "web",
        "tenant.example.com",
        json!({"app": "gslb"}),
    )
    .await;
    env.create_ingress(
        "cluster1",
        "plain",
        "web",
        "admin.example.com",
        json!({"app": "gslb"}),
    )
    .await;
    wait_until(
        "both GslbServices",
        WAIT,
        || async {
            gs_with_members(&env, "tenant.example.com", 1)
                && gs_with_members(&env, "admin.example.com", 1)
        },
        || env.log(),
    )
    .await;
    let ing = Api::<Ingress>::namespaced(client.clone(), "team-a-apps")
        .get("web")
        .await
        .expect("ingress");
    assert_eq!(
        ing.metadata
            .annotations
            .unwrap_or_default()
            .get("ako.vmware.com/tenant-name")
            .map(String::as_str),
        Some("team-a"),
        "AKO annotated the tenant"
    );
    let gs = env.gslb_service("tenant.example.com").expect("GS");
    assert_eq!(ref_name(&gs["tenant_ref"]), "team-a");
    assert_member_placed(
        &gs,
        &ingress_placement(&env, "cluster1", "team-a-apps", "web", "tenant.example.com").await,
    );
    let monitors = monitors_of(&env, &gs);
    assert_eq!(monitors.len(), 1);
    assert_eq!(
        ref_name(&monitors[0]["tenant_ref"]),
        "team-a",
        "the monitor lives with its GslbService"
    );
    let admin = env.gslb_service("admin.example.com").expect("GS");
    assert_eq!(ref_name(&admin["tenant_ref"]), "admin");
    assert!(
        env.avi
            .control()
            .audit_log()
            .iter()
            .filter(|e| e.name == "tenant.example.com")
            .all(|e| e.tenant == "team-a"),
        "every write of the GslbService went to tenant team-a"
    );

    // A restart finds the GslbService in its tenant again and writes nothing.
    env.assert_restart_writes_nothing().await;
    wait_policy_accepted(&env).await;

    // The namespace of admin.example.com is moved to tenant team-a: AKO re-annotates the
    // Ingress, and the GslbService moves: created in team-a, deleted from admin.
    apply_namespace(
        &client,
        "plain",
        json!({}),
        json!({"ako.vmware.com/tenant-name": "team-a"}),
    )
    .await;
    wait_until(
        "admin.example.com moved to tenant team-a",
        WAIT,
        || async {
            env.gslb_service("admin.example.com").is_some_and(|gs| {
                ref_name(&gs["tenant_ref"]) == "team-a" && members_of(&gs).len() == 1
            }) && env
                .gslb_services()
                .iter()
                .filter(|g| g["name"] == "admin.example.com")
                .count()
                == 1
        },
        || env.log(),
    )
    .await;
    let moved = env.gslb_service("admin.example.com").expect("GS");
    assert_member_placed(
        &moved,
        &ingress_placement(&env, "cluster1", "plain", "web", "admin.example.com").await,
    );
    assert!(
        monitors_of(&env, &moved)
            .iter()
            .all(|m| ref_name(&m["tenant_ref"]) == "team-a"),
        "its monitor moved too"
    );
    wait_until(
        "no managed monitor left in tenant admin",
        WAIT,
        || async {
            !env.health_monitors().iter().any(|m| {
                m["name"].as_str().is_some_and(|n| n.starts_with("amko--"))
                    && ref_name(&m["tenant_ref"]) == "admin"
            })
        },
        || env.log(),
    )
    .await;

    // A namespace naming a tenant the controller does not have: its GslbService cannot be
    // written, and the other GslbServices are not held up by it.
    apply_namespace(
        &client,
        "ghost-apps",
        json!({}),
        json!({"ako.vmware.com/tenant-name": "ghost"}),
    )
    .await;
    env.create_ingress(
        "cluster1",
        "ghost-apps",
        "web",
        "ghost.example.com",
        json!({"app": "gslb"}),
    )
    .await;
    env.create_ingress(
        "cluster1",
        "team-a-apps",
        "second",
        "second.example.com",
        json!({"app": "gslb"}),
    )
    .await;
    wait_until(
        "second.example.com written despite the missing tenant",
        WAIT,
        || async { gs_with_members(&env, "second.example.com", 1) },
        || env.log(),
    )
    .await;
    assert!(env.gslb_service("ghost.example.com").is_none());
    // The refusal is visible: logged with the controller's message, and counted.
    wait_until(
        "the refused write counted in /metrics",
        WAIT,
        || async {
            env.get("/metrics").await.is_some_and(|(_, text)| {
                text.lines().any(|l| {
                    l.starts_with("amko_avi_write_errors_total{kind=\"rejected\"}")
                        && !l.ends_with(" 0")
                })
            })
        },
        || env.log(),
    )
    .await;
    assert!(
        env.log().contains("Tenant 'ghost' does not exist"),
        "the controller's reason is logged"
    );
    harness::remove_dir(&env.dir);
}

/// The GSLBConfig's tenant (`gslbLeader.tenant`) is where GslbServices of objects in namespaces
/// without a tenant annotation go, whatever tenant AKO reports on the object (AKO always writes
/// its own, `admin` here); an annotated namespace still picks its tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gslb_config_tenant_is_the_default_for_unannotated_namespaces() {
    let mut env = Env::start("default-tenant", 1, 0).await;
    for tenant in ["team-g", "team-a"] {
        avi_client(&env)
            .create(
                "tenant",
                &json!({"name": tenant, "local": true}),
                Some("admin"),
            )
            .await
            .expect("tenant created through the Avi API");
    }
    env.install_with(
        gdp(&["cluster1"]),
        json!({"gslbLeader": {"tenant": "team-g"}}),
    )
    .await;
    env.start_operator(&[]);
    env.wait_ready().await;

    let client = env.client("cluster1").await;
    apply_namespace(
        &client,
        "team-a-apps",
        json!({}),
        json!({"ako.vmware.com/tenant-name": "team-a"}),
    )
    .await;
    env.create_ingress(
        "cluster1",
        "team-a-apps",
        "web",
        "a.example.com",
        json!({"app": "gslb"}),
    )
    .await;
    env.create_ingress(
        "cluster1",
        "plain",
        "web",
        "g.example.com",
        json!({"app": "gslb"}),
    )
    .await;
    wait_until(
        "both GslbServices",
        WAIT,
        || async {
            gs_with_members(&env, "a.example.com", 1) && gs_with_members(&env, "g.example.com", 1)
        },
        || env.log(),
    )
    .await;
    let plain = Api::<Ingress>::namespaced(client.clone(), "plain")
        .get("web")
        .await
        .expect("ingress");
    assert_eq!(
        plain
            .metadata
            .annotations
            .unwrap_or_default()
            .get("ako.vmware.com/tenant-name")
            .map(String::as_str),
        Some("admin"),
        "AKO reports its own tenant on objects of unannotated namespaces"
    );
    let g = env.gslb_service("g.example.com").expect("GS");
    assert_eq!(
        ref_name(&g["tenant_ref"]),
        "team-g",
        "the GSLBConfig's tenant"
    );
    assert!(
        monitors_of(&env, &g)
            .iter()
            .all(|m| ref_name(&m["tenant_ref"]) == "team-g")
    );
    let a = env.gslb_service("a.example.com").expect("GS");
    assert_eq!(
        ref_name(&a["tenant_ref"]),
        "team-a",
        "the namespace's tenant"
    );
    wait_policy_accepted(&env).await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// useCustomGlobalFqdn with OpenShift Routes: a HostRule maps a route's host to the global
/// FQDN; a passthrough route is refused in this mode even when a HostRule maps its host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_global_fqdn_with_routes_refuses_passthrough() {
    let mut env = Env::start("custom-routes", 1, 1).await;
    env.install_with(gdp(&["ocp1"]), json!({"useCustomGlobalFqdn": true}))
        .await;
    env.start_operator(&[]);
    env.wait_ready().await;
    create_route(
        &env,
        "ocp1",
        "web",
        "edge",
        json!({"host": "edge.ocp.internal", "tls": {"termination": "edge"}}),
    )
    .await;
    create_route(
        &env,
        "ocp1",
        "web",
        "pass",
        json!({"host": "pass.ocp.internal", "tls": {"termination": "passthrough"}}),
    )
    .await;
    create_host_rule(
        &env,
        "ocp1",
        "web",
        "edge",
        json!({"fqdn": "edge.ocp.internal", "gslb": {"fqdn": "edge.example.com"}}),
    )
    .await;
    create_host_rule(
        &env,
        "ocp1",
        "web",
        "pass",
        json!({"fqdn": "pass.ocp.internal", "gslb": {"fqdn": "pass.example.com"}}),
    )
    .await;
    wait_until(
        "edge.example.com, and the passthrough route refused with a reason",
        WAIT,
        || async {
            let refused = env.get("/debug/members").await.is_some_and(|(_, body)| {
                body.contains("passthrough objects cannot be used with useCustomGlobalFqdn")
            });
            refused && gs_with_members(&env, "edge.example.com", 1)
        },
        || env.log(),
    )
    .await;
    let (_, placement) = route_placement(&env, "ocp1", "web", "edge").await;
    let gs = env.gslb_service("edge.example.com").expect("GS");
    assert_member_placed(&gs, &placement);
    assert_eq!(monitors_of(&env, &gs)[0]["type"], "HEALTH_MONITOR_HTTPS");
    assert!(env.gslb_service("pass.example.com").is_none());
    assert!(env.gslb_service("edge.ocp.internal").is_none());
    wait_policy_accepted(&env).await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}
