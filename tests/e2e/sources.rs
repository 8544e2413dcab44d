//! End-to-end scenarios of `amko run` about where members come from and where they go: object
//! sources (LoadBalancer Services, OpenShift Routes, IPv6 VIPs), syncVipOnly, app and namespace
//! selection at runtime, custom global FQDNs from AKO HostRules, and Avi tenants. Each asserts
//! the controller's GslbServices and monitors against what AKO emulation wrote on the objects.

mod harness;

use std::time::Duration;

use amko::crd::ako_hostrule::HostRule;
use amko::crd::route::Route;
use amko_sim::k8s::VipFamily;
use harness::{
    AkoPlacement, CREATED_BY, Env, EnvOptions, UUID, assert_member_placed, domain_names,
    member_with_ip, members_of, ref_name,
};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers: reading the clusters.
// ---------------------------------------------------------------------------------------------

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
    AkoPlacement::from(
        &svc.metadata.annotations.unwrap_or_default(),
        &host,
        entry.ip.expect("ip"),
    )
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
    let placement = AkoPlacement::from(
        &route.metadata.annotations.unwrap_or_default(),
        &entry.host,
        vip,
    );
    (entry.host, placement)
}

/// The VIP of the only member of the GslbService `name` is `vip`.
fn only_member_is(env: &Env, name: &str, vip: &str) -> bool {
    env.gslb_service(name).is_some_and(|gs| {
        let members = members_of(&gs);
        members.len() == 1 && members[0]["ip"]["addr"] == vip
    })
}

/// Waits until the only member of the GslbService `fqdn` is the VIP of the Ingress `ns/web` in
/// `cluster`.
async fn wait_only_ingress_member(env: &Env, what: &str, fqdn: &str, (cluster, ns): (&str, &str)) {
    let vip = env.ingress_vip(cluster, ns, "web", fqdn).await;
    env.eventually(what, || async { only_member_is(env, fqdn, &vip) })
        .await;
}

// ---------------------------------------------------------------------------------------------
// Helpers: writing to the clusters and the controller.
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

/// A namespace annotated with the Avi tenant `tenant`.
async fn tenant_namespace(client: &Client, name: &str, tenant: &str) {
    let annotations = json!({"ako.vmware.com/tenant-name": tenant});
    apply_namespace(client, name, json!({}), annotations).await;
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

/// A LoadBalancer Service `ns/name` for `host` with `ports`, selecting pods `app: <name>`.
async fn create_lb_service(
    env: &Env,
    cluster: &str,
    ns: &str,
    name: &str,
    host: &str,
    ports: Value,
    labels: Value,
) {
    let spec = json!({"selector": {"app": name}, "ports": ports});
    let service = harness::lb_service(ns, name, host, labels, spec);
    env.create::<Service>(cluster, ns, service).await;
}

/// Routes `web/<name>` with these specs in the OpenShift cluster `ocp1`.
async fn create_routes(env: &Env, routes: &[(&str, Value)]) {
    for (name, spec) in routes {
        let route = harness::route("web", name, spec.clone());
        env.create::<Route>("ocp1", "web", route).await;
    }
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
    let rule = json!({
        "apiVersion": "ako.vmware.com/v1beta1", "kind": "HostRule",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"virtualhost": virtualhost}
    });
    env.create::<HostRule>(cluster, ns, rule).await;
    let api = Api::<HostRule>::namespaced(env.client(cluster).await, ns);
    env.eventually("AKO's verdict on the HostRule", || async {
        api.get(name)
            .await
            .ok()
            .and_then(|r| serde_json::to_value(r).ok())
            .is_some_and(|r| r["status"]["status"] == expected)
    })
    .await;
}

/// The tenant AKO annotated on the Ingress `ns/web` in cluster1.
async fn ako_tenant(env: &Env, ns: &str) -> Option<String> {
    Api::<Ingress>::namespaced(env.client("cluster1").await, ns)
        .get("web")
        .await
        .expect("ingress")
        .metadata
        .annotations
        .unwrap_or_default()
        .remove("ako.vmware.com/tenant-name")
}

/// Creates the tenant `name` on the controller through the Avi API.
async fn create_tenant(env: &Env, name: &str) {
    env.avi_client()
        .create(
            "tenant",
            &json!({"name": name, "local": true}),
            Some("admin"),
        )
        .await
        .expect("tenant created through the Avi API");
}

/// A GDP selecting `app: gslb` objects in `clusters`, with TTL 30.
fn gdp(clusters: &[&str]) -> Value {
    harness::gdp(clusters, json!({"ttl": 30}))
}

/// `gdp` for both clusters, with syncVipOnly for cluster2.
fn sync_vip_only_in_cluster2() -> Value {
    let mut spec = gdp(&["cluster1", "cluster2"]);
    spec["matchClusters"] =
        json!([{"cluster": "cluster1"}, {"cluster": "cluster2", "syncVipOnly": true}]);
    spec
}

/// The selectors scenario's GDP: two app labels and two namespace labels, in `clusters`.
fn selective(clusters: &[&str]) -> Value {
    let mut spec = harness::gdp(clusters, json!({}));
    spec["matchRules"] = json!({
        "appSelector": {"label": {"app": "gslb", "tier": "web"}},
        "namespaceSelector": {"label": {"env": "prod", "team": "a"}}
    });
    spec
}

/// `clusters` Kubernetes clusters, the GDP (`gdp`) selecting `gdp_clusters`, and `amko run`.
fn running(clusters: usize, gdp_clusters: &[&str]) -> EnvOptions {
    EnvOptions::clusters(clusters)
        .install(gdp(gdp_clusters))
        .run(&[])
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
    let mut env = Env::start("lbsvc", running(2, &["cluster1", "cluster2"])).await;

    let tcp_ports = json!([
        {"name": "alt", "port": 8443, "protocol": "TCP"},
        {"name": "https", "port": 443, "protocol": "TCP"},
        {"name": "admin", "port": 9443, "protocol": "TCP"}
    ]);
    let udp_ports = json!([{"name": "dns-tcp", "port": 5353, "protocol": "TCP"},
                           {"name": "dns", "port": 53, "protocol": "UDP"}]);
    // api in both clusters; a UDP service in one cluster, and a LoadBalancer Service the
    // selector does not pick.
    for (cluster, ns, name, ports, app) in [
        ("cluster1", "pay", "api", &tcp_ports, "gslb"),
        ("cluster2", "pay", "api", &tcp_ports, "gslb"),
        ("cluster1", "infra", "dns", &udp_ports, "gslb"),
        ("cluster2", "pay", "internal", &tcp_ports, "other"),
    ] {
        let host = format!("{name}.example.com");
        let labels = json!({"app": app});
        create_lb_service(&env, cluster, ns, name, &host, ports.clone(), labels).await;
    }

    env.eventually("api and dns GslbServices", || async {
        env.has_gs_with_members("api.example.com", 2)
            && env.has_gs_with_members("dns.example.com", 1)
    })
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
    let monitors = env.monitors_of(&gs);
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
    let dns_monitors = env.monitors_of(&dns);
    assert_eq!(dns_monitors.len(), 1);
    assert_eq!(dns_monitors[0]["type"], "HEALTH_MONITOR_UDP");
    assert_eq!(dns_monitors[0]["monitor_port"], 53);
    assert!(
        env.gslb_service("internal.example.com").is_none(),
        "not selected"
    );
    env.wait_policy_accepted().await;

    // syncVipOnly for cluster2: its member keeps the VIP but loses the AKO UUIDs; cluster1's
    // member is unchanged.
    let spec = sync_vip_only_in_cluster2();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = env.writes();
    env.apply_gdp(spec).await;
    let vip2 = service_placement(&env, "cluster2", "pay", "api").await.vip;
    env.eventually("cluster2's member without UUIDs", || async {
        env.gslb_service("api.example.com").is_some_and(|gs| {
            let m = member_with_ip(&gs, &vip2);
            m.get("vs_uuid").is_none_or(Value::is_null)
                && m.get("cluster_uuid").is_none_or(Value::is_null)
        })
    })
    .await;
    let gs = env.gslb_service("api.example.com").expect("api GS");
    assert_eq!(members_of(&gs).len(), 2);
    assert_member_placed(
        &gs,
        &service_placement(&env, "cluster1", "pay", "api").await,
    );
    env.wait_policy_accepted().await;

    // The flip cost exactly one write: the GslbService of cluster2's member (not the UDP one).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let gs_writes = env.gs_writes_since(before);
    assert_eq!(gs_writes, ["PUT api.example.com"], "{}", env.log());
    assert_eq!(env.writes(), before + 1, "no other write");

    // syncVipOnly off again: the UUIDs come back.
    env.apply_gdp(gdp(&["cluster1", "cluster2"])).await;
    let placement2 = service_placement(&env, "cluster2", "pay", "api").await;
    env.eventually("cluster2's member with UUIDs again", || async {
        env.gslb_service("api.example.com").is_some_and(|gs| {
            member_with_ip(&gs, &placement2.vip)["vs_uuid"] == placement2.vs_uuid.as_str()
        })
    })
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
        let ports = json!({"spec": {"ports": [
            {"name": "alt", "port": 8443, "protocol": "TCP"},
            {"name": "low", "port": 80, "protocol": "TCP"}
        ]}});
        env.patch::<Service>(cluster, "pay", "api", ports).await;
    }
    env.eventually("monitor on port 80", || async {
        env.gslb_service("api.example.com").is_some_and(|gs| {
            env.monitors_of(&gs)
                .first()
                .is_some_and(|m| m["monitor_port"] == 80)
        })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes = env.writes_since(before);
    assert!(
        writes.iter().all(|w| w.ends_with("healthmonitor")) && !writes.is_empty(),
        "only the monitor is rewritten: {writes:?}"
    );

    // cluster1's Service stops being a LoadBalancer: its member leaves.
    let not_lb = json!({"spec": {"type": "ClusterIP"}});
    env.patch::<Service>("cluster1", "pay", "api", not_lb).await;
    env.eventually("only cluster2's member left", || async {
        only_member_is(&env, "api.example.com", &placement2.vip)
    })
    .await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// A cluster without AKO, whose LoadBalancer VIPs come from another load balancer: its objects
/// have no AKO UUIDs, so they wait for AKO until syncVipOnly sends their VIPs alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_vip_only_takes_vips_from_a_cluster_without_ako() {
    let mut env = Env::start(
        "no-ako",
        running(2, &["cluster1", "cluster2"]).without_ako("cluster2"),
    )
    .await;

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
    env.eventually(
        "cluster1's member, and cluster2's refused for want of AKO UUIDs",
        || async {
            let waiting = env.get("/debug/members").await.is_some_and(|(_, body)| {
                body.contains("waiting for AKO to annotate")
                    && body.contains("syncVipOnly for cluster cluster2")
            });
            waiting && env.has_gs_with_members("api.example.com", 1)
        },
    )
    .await;
    let placement1 = service_placement(&env, "cluster1", "pay", "api").await;
    assert_member_placed(
        &env.gslb_service("api.example.com").expect("GS"),
        &placement1,
    );

    let spec = sync_vip_only_in_cluster2();
    env.apply_gdp(spec).await;
    env.eventually("cluster2's VIP as a member", || async {
        env.has_gs_with_members("api.example.com", 2)
    })
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
    env.wait_policy_accepted().await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// Routes in an OpenShift cluster: by host and by subdomain + the GDP's defaultDomain (also
/// changed at runtime); an edge TLS route, or a HostRule certificate, gives HTTPS monitors;
/// passthrough routes share the instance's TCP/443 monitor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openshift_routes_become_gslb_services_with_the_right_monitors() {
    let gdp = harness::gdp(&["ocp1"], json!({"defaultDomain": "apps.ocp1.sim.local"}));
    let routes_options = EnvOptions::clusters(1).openshift(1).install(gdp).run(&[]);
    let mut env = Env::start("routes", routes_options).await;

    let passthrough = json!({"termination": "passthrough"});
    create_routes(
        &env,
        &[
            (
                "plain",
                json!({"host": "plain.example.com", "path": "/app"}),
            ),
            ("sub", json!({"subdomain": "shop"})),
            (
                "edge",
                json!({"host": "secure.example.com", "tls": {"termination": "edge"}}),
            ),
            (
                "pass-a",
                json!({"host": "pass-a.example.com", "tls": passthrough}),
            ),
            (
                "pass-b",
                json!({"host": "pass-b.example.com", "tls": passthrough}),
            ),
        ],
    )
    .await;
    let names = [
        "plain.example.com",
        "shop.apps.ocp1.sim.local",
        "secure.example.com",
        "pass-a.example.com",
        "pass-b.example.com",
    ];
    env.eventually("five GslbServices from routes", || async {
        names.iter().all(|n| env.has_gs_with_members(n, 1))
    })
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

    let plain = env.monitors_of(&env.gslb_service("plain.example.com").expect("GS"));
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0]["type"], "HEALTH_MONITOR_HTTP");
    assert_eq!(plain[0]["monitor_port"], 80);
    assert_eq!(
        plain[0]["http_monitor"]["http_request"],
        "HEAD /app HTTP/1.0"
    );

    let sub = env.monitors_of(&env.gslb_service("shop.apps.ocp1.sim.local").expect("GS"));
    assert_eq!(sub.len(), 1);
    assert_eq!(sub[0]["http_monitor"]["http_request"], "HEAD / HTTP/1.0");

    let edge = env.monitors_of(&env.gslb_service("secure.example.com").expect("GS"));
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
        let monitors = env.monitors_of(&env.gslb_service(gs_name).expect("GS"));
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
    env.wait_policy_accepted().await;

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
    env.eventually("HTTPS monitor for plain.example.com", || async {
        env.gslb_service("plain.example.com").is_some_and(|gs| {
            let monitors = env.monitors_of(&gs);
            monitors.len() == 1
                && monitors[0]["type"] == "HEALTH_MONITOR_HTTPS"
                && monitors[0]["monitor_port"] == 443
                && monitors[0]["https_monitor"]["http_request"] == "HEAD /app HTTP/1.0"
        })
    })
    .await;
    env.eventually(
        "the HTTP monitor of plain.example.com cleaned up",
        || async {
            !env.health_monitors().iter().any(|m| {
                m["description"]
                    == "created by: amko, gsname: plain.example.com, path: /app, protocol: http"
            })
        },
    )
    .await;

    // A defaultDomain that is not the router's: AKO serves no such host, so the subdomain
    // route has no VIP under that name and its GslbService goes; restoring it brings it back.
    let mut spec = harness::gdp(
        &["ocp1"],
        json!({"defaultDomain": "apps.elsewhere.example.com"}),
    );
    env.apply_gdp(spec.clone()).await;
    env.eventually("subdomain GslbService removed", || async {
        env.gslb_service("shop.apps.ocp1.sim.local").is_none()
    })
    .await;
    assert!(
        env.gslb_service("shop.apps.elsewhere.example.com")
            .is_none(),
        "no VIP for a host AKO does not serve"
    );
    spec["defaultDomain"] = json!(".apps.ocp1.sim.local");
    env.apply_gdp(spec).await;
    env.eventually("subdomain GslbService back", || async {
        env.has_gs_with_members("shop.apps.ocp1.sim.local", 1)
    })
    .await;

    // Removing one passthrough GslbService keeps the monitor the other still uses.
    env.delete::<Route>("ocp1", "web", "pass-a").await;
    env.eventually("pass-a GslbService gone", || async {
        env.gslb_service("pass-a.example.com").is_none()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pass_b = env
        .gslb_service("pass-b.example.com")
        .expect("pass-b GS stays");
    assert_eq!(
        env.monitors_of(&pass_b).first().map(|m| m["name"].clone()),
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
    let mut env = Env::start(
        "ipv6",
        running(2, &["cluster1", "cluster2"]).vip_family("cluster2", VipFamily::V6),
    )
    .await;

    for cluster in ["cluster1", "cluster2"] {
        env.create_gslb_ingress(cluster, "shop", "web", "dual.example.com")
            .await;
    }
    let v6 = json!({"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
                    "ports": [{"port": 8080, "protocol": "TCP"}]});
    let service = harness::lb_service(
        "shop",
        "v6svc",
        "v6svc.example.com",
        json!({"app": "gslb"}),
        v6,
    );
    env.create::<Service>("cluster1", "shop", service).await;
    env.eventually("GslbServices with IPv6 members", || async {
        env.has_gs_with_members("dual.example.com", 2)
            && env.has_gs_with_members("v6svc.example.com", 1)
    })
    .await;

    let gs = env.gslb_service("dual.example.com").expect("GS");
    for (cluster, family) in [("cluster1", "V4"), ("cluster2", "V6")] {
        let placement = env
            .ingress_placement(cluster, "shop", "web", "dual.example.com")
            .await;
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
    assert_eq!(env.monitors_of(&svc)[0]["monitor_port"], 8080);
    env.wait_policy_accepted().await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// App and namespace selectors with several labels each (all must match), namespace and
/// object label changes selecting and unselecting objects at runtime, a cluster leaving and
/// rejoining matchClusters, and a namespace deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_and_match_clusters_follow_runtime_changes() {
    let mut env = Env::start(
        "selectors",
        EnvOptions::clusters(2)
            .install(selective(&["cluster1", "cluster2"]))
            .run(&[]),
    )
    .await;

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
        env.create_gslb_ingress(cluster, "prod-a", "half", "half.example.com")
            .await;
        // Both app labels, but the namespace has only one of the two namespace labels.
        env.create_ingress(cluster, "prod-b", "web", "team-b.example.com", full.clone())
            .await;
    }
    env.eventually("shop selected in both clusters", || async {
        env.has_gs_with_members("shop.example.com", 2)
    })
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
            &env.ingress_placement(cluster, "prod-a", "web", "shop.example.com")
                .await,
        );
    }
    env.wait_policy_accepted().await;

    // prod-b in cluster1 gains team=a: its Ingress is selected.
    patch_namespace_labels(&env, "cluster1", "prod-b", json!({"team": "a"})).await;
    env.eventually(
        "team-b.example.com selected after the namespace label change",
        || async { env.has_gs_with_members("team-b.example.com", 1) },
    )
    .await;
    let gs = env.gslb_service("team-b.example.com").expect("GS");
    assert_member_placed(
        &gs,
        &env.ingress_placement("cluster1", "prod-b", "web", "team-b.example.com")
            .await,
    );

    // prod-a in cluster1 loses env=prod: its member leaves, cluster2's stays.
    patch_namespace_labels(&env, "cluster1", "prod-a", json!({"env": null})).await;
    wait_only_ingress_member(
        &env,
        "cluster1's member unselected",
        "shop.example.com",
        ("cluster2", "prod-a"),
    )
    .await;

    // An object label change: cluster2's Ingress loses tier=web, so shop has no member left.
    env.patch::<Ingress>(
        "cluster2",
        "prod-a",
        "web",
        json!({"metadata": {"labels": {"tier": null}}}),
    )
    .await;
    env.eventually("shop GslbService removed", || async {
        env.gslb_service("shop.example.com").is_none()
    })
    .await;

    // cluster2's prod-b is selected too; then cluster2 leaves matchClusters and its member goes.
    patch_namespace_labels(&env, "cluster2", "prod-b", json!({"team": "a"})).await;
    env.eventually("team-b.example.com in both clusters", || async {
        env.has_gs_with_members("team-b.example.com", 2)
    })
    .await;
    env.apply_gdp(selective(&["cluster1"])).await;
    wait_only_ingress_member(
        &env,
        "cluster2's member gone after matchClusters changed",
        "team-b.example.com",
        ("cluster1", "prod-b"),
    )
    .await;
    env.wait_policy_accepted().await;

    // cluster2 back in matchClusters: its member rejoins.
    env.apply_gdp(selective(&["cluster1", "cluster2"])).await;
    env.eventually("cluster2's member back", || async {
        env.has_gs_with_members("team-b.example.com", 2)
    })
    .await;

    // Deleting the namespace in cluster1 takes its member away.
    Api::<Namespace>::all(env.client("cluster1").await)
        .delete("prod-b", &Default::default())
        .await
        .expect("namespace deleted");
    wait_only_ingress_member(
        &env,
        "cluster1's member gone with its namespace",
        "team-b.example.com",
        ("cluster2", "prod-b"),
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
    let mut env = Env::start(
        "custom-fqdn",
        running(2, &["cluster1", "cluster2"]).gslb_config(json!({"useCustomGlobalFqdn": true})),
    )
    .await;

    env.create_gslb_ingress("cluster1", "shop", "web", "shop.east.internal")
        .await;
    env.create_gslb_ingress("cluster2", "shop", "web", "shop.west.internal")
        .await;
    env.create_gslb_ingress("cluster1", "shop", "unmapped", "unmapped.east.internal")
        .await;
    // Without HostRules nothing is selected in this mode.
    env.eventually("the Ingresses refused for want of a HostRule", || async {
        let Some((200, body)) = env.get("/debug/members").await else {
            return false;
        };
        // The reason names the missing mapping of each local host.
        body.contains("cluster1 maps shop.east.internal")
            && body.contains("cluster2 maps shop.west.internal")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        env.gslb_services().is_empty(),
        "no HostRule maps anything yet"
    );

    for (cluster, name, virtualhost) in [
        (
            "cluster1",
            "east",
            json!({"fqdn": "shop.east.internal", "aliases": ["shop-alt.example.com"],
                   "gslb": {"fqdn": "shop.example.com", "includeAliases": true}}),
        ),
        (
            "cluster2",
            "west",
            json!({"fqdn": "shop.west.internal", "aliases": ["west-only.example.com"],
                   "gslb": {"fqdn": "shop.example.com", "includeAliases": false}}),
        ),
    ] {
        create_host_rule(&env, cluster, "shop", name, virtualhost).await;
    }
    env.eventually(
        "one GslbService for the global FQDN with both members",
        || async { env.has_gs_with_members("shop.example.com", 2) },
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
        &env.ingress_placement("cluster1", "shop", "web", "shop.east.internal")
            .await,
    );
    assert_member_placed(
        &gs,
        &env.ingress_placement("cluster2", "shop", "web", "shop.west.internal")
            .await,
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
    let monitors = env.monitors_of(&gs);
    assert_eq!(monitors.len(), 1);
    assert_eq!(
        monitors[0]["description"],
        "created by: amko, gsname: shop.example.com, path: /, protocol: http"
    );
    env.wait_policy_accepted().await;

    // Deleting cluster2's HostRule takes its member out of the global GslbService.
    env.delete::<HostRule>("cluster2", "shop", "west").await;
    env.eventually("cluster2's member unmapped", || async {
        env.has_gs_with_members("shop.example.com", 1)
    })
    .await;

    // Renaming the global FQDN of cluster1's HostRule: the old GslbService goes, the new one
    // carries the member and the alias.
    let renamed = json!({"spec": {"virtualhost": {"gslb": {"fqdn": "store.example.com"}}}});
    env.patch::<HostRule>("cluster1", "shop", "east", renamed)
        .await;
    env.eventually("store.example.com replaces shop.example.com", || async {
        env.gslb_service("shop.example.com").is_none()
            && env.gslb_service("store.example.com").is_some_and(|gs| {
                members_of(&gs).len() == 1
                    && domain_names(&gs) == ["shop-alt.example.com", "store.example.com"]
            })
    })
    .await;
    assert_member_placed(
        &env.gslb_service("store.example.com").expect("GS"),
        &env.ingress_placement("cluster1", "shop", "web", "shop.east.internal")
            .await,
    );

    // includeAliases off: the alias is no longer a domain name.
    let no_aliases = json!({"spec": {"virtualhost": {"gslb": {"includeAliases": false}}}});
    env.patch::<HostRule>("cluster1", "shop", "east", no_aliases)
        .await;
    env.eventually("alias dropped", || async {
        env.gslb_service("store.example.com")
            .is_some_and(|gs| domain_names(&gs) == ["store.example.com"])
    })
    .await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// Default naming mode: a HostRule's aliases add domain names to the GslbService named by its
/// local FQDN, except an alias that is another GslbService's own FQDN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_rule_aliases_add_domain_names_in_default_mode() {
    let mut env = Env::start("aliases", running(1, &["cluster1"])).await;
    env.create_gslb_ingress("cluster1", "shop", "web", "app.example.com")
        .await;
    env.eventually("the GslbService", || async {
        env.has_gs_with_members("app.example.com", 1)
    })
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
    env.eventually("aliases as domain names", || async {
        env.gslb_service("app.example.com").is_some_and(|gs| {
            domain_names(&gs) == ["app.example.com", "app.example.org", "www.example.com"]
        })
    })
    .await;
    assert!(
        env.gslb_service("ignored-in-default-mode.example.com")
            .is_none()
    );
    let gs = env.gslb_service("app.example.com").expect("GS");
    assert_member_placed(
        &gs,
        &env.ingress_placement("cluster1", "shop", "web", "app.example.com")
            .await,
    );

    // Removing an alias removes the domain name.
    env.patch::<HostRule>(
        "cluster1",
        "shop",
        "app",
        json!({"spec": {"virtualhost": {"aliases": ["www.example.com"]}}}),
    )
    .await;
    env.eventually("one alias left", || async {
        env.gslb_service("app.example.com")
            .is_some_and(|gs| domain_names(&gs) == ["app.example.com", "www.example.com"])
    })
    .await;

    // An alias that is another GslbService's own FQDN: the controller allows a domain name on
    // one GslbService only, so the alias must give way and both GslbServices stay writable.
    env.create_gslb_ingress("cluster1", "shop", "blog", "blog.example.com")
        .await;
    env.eventually("blog GslbService", || async {
        env.has_gs_with_members("blog.example.com", 1)
    })
    .await;
    env.patch::<HostRule>(
        "cluster1",
        "shop",
        "app",
        json!({"spec": {"virtualhost": {"aliases": ["www.example.com", "blog.example.com"]}}}),
    )
    .await;
    // A later change to both GslbServices must still reach the controller.
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.apply_gdp(harness::gdp(&["cluster1"], json!({"ttl": 77})))
        .await;
    env.eventually("both GslbServices take the new TTL", || async {
        ["app.example.com", "blog.example.com"]
            .iter()
            .all(|n| env.gslb_service(n).is_some_and(|gs| gs["ttl"] == 77))
    })
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
    env.delete::<Ingress>("cluster1", "shop", "blog").await;
    env.eventually("app takes the freed alias", || async {
        env.gslb_service("blog.example.com").is_none()
            && env.gslb_service("app.example.com").is_some_and(|gs| {
                domain_names(&gs) == ["app.example.com", "blog.example.com", "www.example.com"]
            })
    })
    .await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// An Ingress in a namespace annotated with an Avi tenant: AKO annotates the object with the
/// tenant and the GslbService and its monitor live in that tenant on the controller; a tenant
/// change moves them; a tenant the controller lacks is refused visibly without blocking others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_tenant_places_the_gslb_service_in_that_tenant() {
    let mut env = Env::start(
        "tenants",
        EnvOptions::clusters(1).install(gdp(&["cluster1"])),
    )
    .await;
    create_tenant(&env, "team-a").await;
    env.start_operator(&[]);
    env.wait_ready().await;

    let client = env.client("cluster1").await;
    tenant_namespace(&client, "team-a-apps", "team-a").await;
    env.create_gslb_ingress("cluster1", "team-a-apps", "web", "tenant.example.com")
        .await;
    env.create_gslb_ingress("cluster1", "plain", "web", "admin.example.com")
        .await;
    env.eventually("both GslbServices", || async {
        env.has_gs_with_members("tenant.example.com", 1)
            && env.has_gs_with_members("admin.example.com", 1)
    })
    .await;
    assert_eq!(
        ako_tenant(&env, "team-a-apps").await.as_deref(),
        Some("team-a"),
        "AKO annotated the tenant"
    );
    let gs = env.gslb_service("tenant.example.com").expect("GS");
    assert_eq!(ref_name(&gs["tenant_ref"]), "team-a");
    assert_member_placed(
        &gs,
        &env.ingress_placement("cluster1", "team-a-apps", "web", "tenant.example.com")
            .await,
    );
    let monitors = env.monitors_of(&gs);
    assert_eq!(monitors.len(), 1);
    assert_eq!(
        ref_name(&monitors[0]["tenant_ref"]),
        "team-a",
        "the monitor lives with its GslbService"
    );
    let admin = env.gslb_service("admin.example.com").expect("GS");
    assert_eq!(ref_name(&admin["tenant_ref"]), "admin");
    assert!(
        env.audit_since(0)
            .iter()
            .filter(|e| e.name == "tenant.example.com")
            .all(|e| e.tenant == "team-a"),
        "every write of the GslbService went to tenant team-a"
    );

    // A restart finds the GslbService in its tenant again and writes nothing.
    env.assert_restart_writes_nothing().await;
    env.wait_policy_accepted().await;

    // The namespace of admin.example.com is moved to tenant team-a: AKO re-annotates the
    // Ingress, and the GslbService moves: created in team-a, deleted from admin.
    tenant_namespace(&client, "plain", "team-a").await;
    env.eventually("admin.example.com moved to tenant team-a", || async {
        env.gslb_service("admin.example.com")
            .is_some_and(|gs| ref_name(&gs["tenant_ref"]) == "team-a" && members_of(&gs).len() == 1)
            && env
                .gslb_services()
                .iter()
                .filter(|g| g["name"] == "admin.example.com")
                .count()
                == 1
    })
    .await;
    let moved = env.gslb_service("admin.example.com").expect("GS");
    assert_member_placed(
        &moved,
        &env.ingress_placement("cluster1", "plain", "web", "admin.example.com")
            .await,
    );
    assert!(
        env.monitors_of(&moved)
            .iter()
            .all(|m| ref_name(&m["tenant_ref"]) == "team-a"),
        "its monitor moved too"
    );
    env.eventually("no managed monitor left in tenant admin", || async {
        !env.health_monitors().iter().any(|m| {
            m["name"].as_str().is_some_and(|n| n.starts_with("amko--"))
                && ref_name(&m["tenant_ref"]) == "admin"
        })
    })
    .await;

    // A namespace naming a tenant the controller does not have: its GslbService cannot be
    // written, and the other GslbServices are not held up by it.
    tenant_namespace(&client, "ghost-apps", "ghost").await;
    env.create_gslb_ingress("cluster1", "ghost-apps", "web", "ghost.example.com")
        .await;
    env.create_gslb_ingress("cluster1", "team-a-apps", "second", "second.example.com")
        .await;
    env.eventually(
        "second.example.com written despite the missing tenant",
        || async { env.has_gs_with_members("second.example.com", 1) },
    )
    .await;
    assert!(env.gslb_service("ghost.example.com").is_none());
    // The refusal is visible: logged with the controller's message, and counted.
    env.eventually("the refused write counted in /metrics", || async {
        env.get("/metrics").await.is_some_and(|(_, text)| {
            text.lines().any(|l| {
                l.starts_with("amko_avi_write_errors_total{kind=\"rejected\"}")
                    && !l.ends_with(" 0")
            })
        })
    })
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
    let mut env = Env::start("default-tenant", EnvOptions::clusters(1)).await;
    for tenant in ["team-g", "team-a"] {
        create_tenant(&env, tenant).await;
    }
    env.install_with(
        gdp(&["cluster1"]),
        json!({"gslbLeader": {"tenant": "team-g"}}),
    )
    .await;
    env.start_operator(&[]);
    env.wait_ready().await;

    let client = env.client("cluster1").await;
    tenant_namespace(&client, "team-a-apps", "team-a").await;
    env.create_gslb_ingress("cluster1", "team-a-apps", "web", "a.example.com")
        .await;
    env.create_gslb_ingress("cluster1", "plain", "web", "g.example.com")
        .await;
    env.eventually("both GslbServices", || async {
        env.has_gs_with_members("a.example.com", 1) && env.has_gs_with_members("g.example.com", 1)
    })
    .await;
    assert_eq!(
        ako_tenant(&env, "plain").await.as_deref(),
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
        env.monitors_of(&g)
            .iter()
            .all(|m| ref_name(&m["tenant_ref"]) == "team-g")
    );
    let a = env.gslb_service("a.example.com").expect("GS");
    assert_eq!(
        ref_name(&a["tenant_ref"]),
        "team-a",
        "the namespace's tenant"
    );
    env.wait_policy_accepted().await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}

/// useCustomGlobalFqdn with OpenShift Routes: a HostRule maps a route's host to the global
/// FQDN; a passthrough route is refused in this mode even when a HostRule maps its host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_global_fqdn_with_routes_refuses_passthrough() {
    let mut env = Env::start(
        "custom-routes",
        running(1, &["ocp1"])
            .openshift(1)
            .gslb_config(json!({"useCustomGlobalFqdn": true})),
    )
    .await;
    create_routes(
        &env,
        &[
            (
                "edge",
                json!({"host": "edge.ocp.internal", "tls": {"termination": "edge"}}),
            ),
            (
                "pass",
                json!({"host": "pass.ocp.internal", "tls": {"termination": "passthrough"}}),
            ),
        ],
    )
    .await;
    for name in ["edge", "pass"] {
        let mapping = json!({"fqdn": format!("{name}.ocp.internal"),
                             "gslb": {"fqdn": format!("{name}.example.com")}});
        create_host_rule(&env, "ocp1", "web", name, mapping).await;
    }
    env.eventually(
        "edge.example.com, and the passthrough route refused with a reason",
        || async {
            let refused = env.get("/debug/members").await.is_some_and(|(_, body)| {
                body.contains("passthrough objects cannot be used with useCustomGlobalFqdn")
            });
            refused && env.has_gs_with_members("edge.example.com", 1)
        },
    )
    .await;
    let (_, placement) = route_placement(&env, "ocp1", "web", "edge").await;
    let gs = env.gslb_service("edge.example.com").expect("GS");
    assert_member_placed(&gs, &placement);
    assert_eq!(env.monitors_of(&gs)[0]["type"], "HEALTH_MONITOR_HTTPS");
    assert!(env.gslb_service("pass.example.com").is_none());
    assert!(env.gslb_service("edge.ocp.internal").is_none());
    env.wait_policy_accepted().await;
    env.assert_restart_writes_nothing().await;
    harness::remove_dir(&env.dir);
}
