//! AKO emulation seen through kube-rs: VIPs in Ingress/Service/Route status (IPv4 and IPv6), the
//! annotations AMKO reads, removal when hosts go away, and HostRule acceptance.

use std::collections::BTreeMap;
use std::net::IpAddr;

use amko_sim::k8s::ako::{self, IpFamily};
use amko_sim::k8s::{ClusterSpec, SimClusters, SimConfig, VipFamily};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::{Value, json};

async fn start() -> SimClusters {
    let config = SimConfig {
        clusters: vec![
            ClusterSpec::new("east"),
            ClusterSpec::new("west").vip_family(VipFamily::V6),
            ClusterSpec::new("ocp")
                .openshift()
                .vip_family(VipFamily::Dual),
        ],
        ..Default::default()
    };
    SimClusters::start(config).await.expect("simulator starts")
}

fn client(sim: &SimClusters, name: &str) -> Client {
    let url = sim.server_url(name).expect("cluster").parse().expect("url");
    Client::try_from(Config::new(url)).expect("client")
}

fn api(
    client: &Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

async fn apply(api: &Api<DynamicObject>, body: Value) -> Value {
    let name = body["metadata"]["name"].as_str().expect("name").to_string();
    let object = api
        .patch(
            &name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&body),
        )
        .await
        .expect("apply");
    serde_json::to_value(object).expect("json")
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Value {
    serde_json::to_value(api.get(name).await.expect("get")).expect("json")
}

fn annotation_map(object: &Value) -> BTreeMap<String, String> {
    let text = object["metadata"]["annotations"][ako::HOST_VS_MAP_ANNOTATION]
        .as_str()
        .expect("vs map annotation");
    serde_json::from_str(text).expect("vs map is JSON")
}

fn ingress(hosts: &[&str]) -> Value {
    let rules: Vec<Value> = hosts
        .iter()
        .map(|h| json!({"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}))
        .collect();
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"rules": rules}})
}

#[tokio::test]
async fn ingress_and_service_vips_status_and_annotations() {
    let sim = start().await;
    for (cluster, family) in [("east", IpFamily::V4), ("west", IpFamily::V6)] {
        let c = client(&sim, cluster);
        let nss = api(&c, "", "v1", "Namespace", "namespaces", None);
        apply(&nss, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "annotations": {"ako.vmware.com/tenant-name": "team-a"}}})).await;
        let ings = api(
            &c,
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            Some("shop"),
        );
        apply(&ings, ingress(&["a.example.com", "b.example.com"])).await;
        let ing = get(&ings, "web").await;
        let lb = ing["status"]["loadBalancer"]["ingress"]
            .as_array()
            .expect("status entries")
            .clone();
        assert_eq!(lb.len(), 2, "{ing}");
        for (entry, host) in lb.iter().zip(["a.example.com", "b.example.com"]) {
            assert_eq!(entry["hostname"], host);
            let expected = ako::vip_for(cluster, "shop", "web", host, family);
            assert_eq!(entry["ip"], expected.to_string());
            let ip: IpAddr = entry["ip"].as_str().expect("ip").parse().expect("an IP");
            assert_eq!(ip.is_ipv6(), family == IpFamily::V6);
        }
        let map = annotation_map(&ing);
        assert_eq!(
            map.get("a.example.com"),
            Some(&ako::vs_uuid(cluster, "shop", "web", "a.example.com"))
        );
        assert_eq!(map.len(), 2);
        let annotations = &ing["metadata"]["annotations"];
        assert_eq!(
            annotations[ako::CONTROLLER_UUID_ANNOTATION],
            ako::controller_cluster_uuid(cluster)
        );
        assert_eq!(annotations[ako::TENANT_ANNOTATION], "team-a");

        // A host goes away: its VIP and VS entry go with it.
        apply(&ings, ingress(&["a.example.com"])).await;
        let ing = get(&ings, "web").await;
        assert_eq!(
            ing["status"]["loadBalancer"]["ingress"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(annotation_map(&ing).len(), 1);
        // No hosts at all: no status, no AKO annotations.
        ings.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"rules": null, "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}})))
            .await
            .expect("remove rules");
        let ing = get(&ings, "web").await;
        assert!(
            ing["status"]["loadBalancer"].get("ingress").is_none(),
            "{ing}"
        );
        assert!(
            ing["metadata"]["annotations"]
                .get(ako::HOST_VS_MAP_ANNOTATION)
                .is_none()
        );

        // Tenant defaults to admin without the namespace annotation.
        apply(
            &nss,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "plain"}}),
        )
        .await;
        let svcs = api(&c, "", "v1", "Service", "services", Some("plain"));
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb", "namespace": "plain",
            "annotations": {ako::SERVICE_HOSTNAME_ANNOTATION: "lb.example.com"}},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}});
        apply(&svcs, svc).await;
        let s = get(&svcs, "lb").await;
        let entry = &s["status"]["loadBalancer"]["ingress"][0];
        assert_eq!(entry["hostname"], "lb.example.com");
        assert_eq!(
            entry["ip"],
            ako::vip_for(cluster, "plain", "lb", "lb.example.com", family).to_string()
        );
        assert_eq!(
            s["metadata"]["annotations"][ako::TENANT_ANNOTATION],
            "admin"
        );
        assert_eq!(
            annotation_map(&s).get("lb.example.com"),
            Some(&ako::vs_uuid(cluster, "plain", "lb", "lb.example.com"))
        );
        // Without a hostname annotation AKO uses its auto-FQDN.
        apply(&svcs, json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "auto", "namespace": "plain"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})).await;
        let auto = get(&svcs, "auto").await;
        assert_eq!(
            auto["status"]["loadBalancer"]["ingress"][0]["hostname"],
            ako::service_auto_fqdn(cluster, "plain", "auto")
        );
        // IPv6 on request: a Service asking for IPv6 only, or any object with the annotation.
        apply(&svcs, json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "v6", "namespace": "plain"},
            "spec": {"type": "LoadBalancer", "ipFamilies": ["IPv6"], "ports": [{"port": 80}]}})).await;
        let v6 = get(&svcs, "v6").await;
        assert_eq!(
            v6["status"]["loadBalancer"]["ingress"][0]["ip"],
            ako::vip_for(
                cluster,
                "plain",
                "v6",
                &ako::service_auto_fqdn(cluster, "plain", "v6"),
                IpFamily::V6
            )
            .to_string()
        );
        apply(&svcs, json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "v4", "namespace": "plain",
            "annotations": {ako::VIP_FAMILY_ANNOTATION: "v4"}}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})).await;
        let v4 = get(&svcs, "v4").await;
        let ip: IpAddr = v4["status"]["loadBalancer"]["ingress"][0]["ip"]
            .as_str()
            .expect("ip")
            .parse()
            .expect("ip");
        assert!(ip.is_ipv4());
        // No longer a LoadBalancer: the status goes.
        svcs.patch(
            "lb",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"type": "ClusterIP"}})),
        )
        .await
        .expect("patch");
        let s = get(&svcs, "lb").await;
        assert!(s["status"]["loadBalancer"].get("ingress").is_none(), "{s}");
        assert!(
            s["metadata"]["annotations"]
                .get(ako::HOST_VS_MAP_ANNOTATION)
                .is_none()
        );

        // A tenant change on the namespace re-annotates its objects.
        nss.patch(
            "plain",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"ako.vmware.com/tenant-name": "team-b"}}}),
            ),
        )
        .await
        .expect("tenant");
        assert_eq!(
            get(&svcs, "auto").await["metadata"]["annotations"][ako::TENANT_ANNOTATION],
            "team-b"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn routes_and_host_rules() {
    let sim = start().await;
    let c = client(&sim, "ocp");
    let routes = api(
        &c,
        "route.openshift.io",
        "v1",
        "Route",
        "routes",
        Some("default"),
    );
    apply(&routes, json!({"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "shop", "namespace": "default"},
        "spec": {"host": "shop.example.com", "to": {"kind": "Service", "name": "shop"}}})).await;
    let route = get(&routes, "shop").await;
    let entry = &route["status"]["ingress"][0];
    assert_eq!(entry["routerName"], "ako-ocp");
    assert_eq!(entry["host"], "shop.example.com");
    assert_eq!(
        entry["conditions"][0]["message"],
        ako::vip_for("ocp", "default", "shop", "shop.example.com", IpFamily::V4).to_string()
    );
    assert_eq!(
        annotation_map(&route).get("shop.example.com"),
        Some(&ako::vs_uuid("ocp", "default", "shop", "shop.example.com"))
    );
    // Dual stack: an IPv4 and an IPv6 VIP for Ingress-style status.
    let ings = api(
        &c,
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        Some("default"),
    );
    let mut dual = ingress(&["d.example.com"]);
    dual["metadata"]["namespace"] = json!("default");
    apply(&ings, dual).await;
    let ing = get(&ings, "web").await;
    let ips: Vec<&str> = ing["status"]["loadBalancer"]["ingress"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["ip"].as_str())
        .collect();
    assert_eq!(ips.len(), 2);
    assert!(ips[0].contains('.') && ips[1].contains(':'), "{ips:?}");

    let rules = api(
        &c,
        "ako.vmware.com",
        "v1beta1",
        "HostRule",
        "hostrules",
        Some("default"),
    );
    let rule = |name: &str| {
        json!({"apiVersion": "ako.vmware.com/v1beta1", "kind": "HostRule", "metadata": {"name": name, "namespace": "default"},
        "spec": {"virtualhost": {"fqdn": "shop.example.com", "gslb": {"fqdn": "shop.global.example.com"}}}})
    };
    for name in ["first", "second"] {
        rules
            .create(
                &PostParams::default(),
                &serde_json::from_value(rule(name)).expect("hostrule"),
            )
            .await
            .expect("create");
    }
    assert_eq!(get(&rules, "first").await["status"]["status"], "Accepted");
    let second = get(&rules, "second").await;
    assert_eq!(second["status"]["status"], "Rejected");
    assert!(
        second["status"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("shop.example.com"))
    );
    rules
        .delete("first", &Default::default())
        .await
        .expect("delete");
    assert_eq!(get(&rules, "second").await["status"]["status"], "Accepted");
    sim.shutdown().await;
}
