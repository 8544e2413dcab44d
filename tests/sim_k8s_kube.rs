//! kube-rs against the simulated API server: CRUD with Status errors, pagination, selectors,
//! patches, status subresource, and watchers that see adds/updates/deletes/bookmarks and survive
//! dropped watches and 410 Gone by relisting.

mod sim_k8s_common;

use std::time::Duration;

use amko_sim::k8s::{SimClusters, SimConfig};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Client;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher::{self, Event};
use serde_json::json;
use sim_k8s_common::{create_namespace, kube_client};
use tokio::sync::mpsc;
use tokio::time::timeout;

async fn start() -> (SimClusters, Client) {
    // AKO emulation owns Ingress status; it is tested in sim_k8s_ako.rs.
    let mut config = SimConfig::with_clusters(1);
    config.clusters[0].ako.enabled = false;
    config.watch.bookmark_interval = Duration::from_millis(200);
    let sim = SimClusters::start(config).await.expect("simulator starts");
    let client = kube_client(&sim, "cluster1");
    (sim, client)
}

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .expect("configmap")
}

#[tokio::test]
async fn crud_pagination_selectors_and_errors() {
    let (sim, client) = start().await;
    assert_eq!(
        client.apiserver_version().await.expect("version").minor,
        "33"
    );
    create_namespace(&client, "kr").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kr");
    for i in 0..5 {
        let tier = if i % 2 == 0 { "web" } else { "db" };
        cms.create(
            &PostParams::default(),
            &cm(&format!("c{i}"), json!({"tier": tier})),
        )
        .await
        .expect("create");
    }
    // Duplicate create → 409 AlreadyExists; missing → 404 NotFound.
    let dup = cms
        .create(&PostParams::default(), &cm("c0", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(dup, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{dup:?}"
    );
    let missing = cms.get("nope").await.unwrap_err();
    assert!(
        matches!(missing, kube::Error::Api(ref s) if s.code == 404 && s.reason == "NotFound"),
        "{missing:?}"
    );
    assert!(cms.get_opt("nope").await.expect("get_opt").is_none());

    // Pagination: 2 + 2 + 1.
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(2);
    loop {
        let page = cms.list(&params).await.expect("page");
        assert!(page.items.len() <= 2);
        names.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = ListParams::default().limit(2).continue_token(&token),
            None => break,
        }
    }
    assert_eq!(names, vec!["c0", "c1", "c2", "c3", "c4"]);
    let web = cms
        .list(&ListParams::default().labels("tier=web"))
        .await
        .expect("labels");
    assert_eq!(web.items.len(), 3);
    let one = cms
        .list(&ListParams::default().fields("metadata.name=c3"))
        .await
        .expect("fields");
    assert_eq!(one.items.len(), 1);
    let all: Api<ConfigMap> = Api::all(client.clone());
    assert_eq!(
        all.list(&ListParams::default().labels("tier in (db)"))
            .await
            .expect("all")
            .items
            .len(),
        2
    );

    // Update with a stale resourceVersion → 409 Conflict; without one → unconditional.
    let current = cms.get("c0").await.expect("get");
    let mut stale = current.clone();
    stale.metadata.resource_version = Some("1".into());
    let conflict = cms
        .replace("c0", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(conflict, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{conflict:?}"
    );
    let mut fresh = current.clone();
    fresh.data = Some([("k".to_string(), "v2".to_string())].into());
    let replaced = cms
        .replace("c0", &PostParams::default(), &fresh)
        .await
        .expect("replace");
    assert_ne!(
        replaced.metadata.resource_version,
        current.metadata.resource_version
    );
    assert_eq!(replaced.metadata.uid, current.metadata.uid);

    // Patches: merge, JSON, apply (creating when absent → object exists afterwards).
    cms.patch(
        "c1",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"m": "1"}})),
    )
    .await
    .expect("merge");
    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/data/j", "value": "2"}]))
            .expect("json patch");
    let patched = cms
        .patch("c1", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .expect("json");
    assert_eq!(
        patched
            .data
            .as_ref()
            .and_then(|d| d.get("j"))
            .map(String::as_str),
        Some("2")
    );
    assert_eq!(
        patched
            .data
            .as_ref()
            .and_then(|d| d.get("m"))
            .map(String::as_str),
        Some("1")
    );
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "1"}});
    cms.patch(
        "applied",
        &PatchParams::apply("kr").force(),
        &Patch::Apply(&applied),
    )
    .await
    .expect("apply create");
    assert!(cms.get_opt("applied").await.expect("get").is_some());

    // Status subresource on Ingress: main writes keep status, status writes only change status.
    let ings: Api<Ingress> = Api::namespaced(client.clone(), "kr");
    let ing: Ingress = serde_json::from_value(json!({"metadata": {"name": "i1"}, "spec": {"defaultBackend": {"service": {"name": "s", "port": {"number": 80}}}}}))
        .expect("ingress");
    let created = ings
        .create(&PostParams::default(), &ing)
        .await
        .expect("ingress create");
    assert_eq!(created.metadata.generation, Some(1));
    let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}});
    ings.patch_status("i1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
    let labelled = ings
        .patch(
            "i1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}, "status": null})),
        )
        .await
        .expect("label");
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata changes do not bump generation"
    );
    let lb = labelled
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|l| l.ingress)
        .unwrap_or_default();
    assert_eq!(lb[0].ip.as_deref(), Some("1.2.3.4"));
    let respec = ings
        .patch(
            "i1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"ingressClassName": "avi"}})),
        )
        .await
        .expect("spec");
    assert_eq!(respec.metadata.generation, Some(2));

    // delete and delete_collection.
    cms.delete("c4", &DeleteParams::background())
        .await
        .expect("delete");
    assert!(cms.get_opt("c4").await.expect("get").is_none());
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=db"),
    )
    .await
    .expect("deletecollection");
    assert_eq!(
        cms.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len(),
        3
    );

    // Finalizers: delete only marks the object; removing the last finalizer removes it.
    let mut held = cm("held", json!({}));
    held.metadata.finalizers = Some(vec!["example.io/hold".into()]);
    cms.create(&PostParams::default(), &held)
        .await
        .expect("create held");
    cms.delete("held", &DeleteParams::default())
        .await
        .expect("delete held");
    let marked = cms.get("held").await.expect("still there");
    assert!(marked.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release");
    assert!(cms.get_opt("held").await.expect("get").is_none());

    // Garbage collection through ownerReferences.
    let owner = cms
        .create(&PostParams::default(), &cm("owner", json!({})))
        .await
        .expect("owner");
    let mut child = cm("child", json!({}));
    child.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "owner".into(),
            uid: owner.metadata.uid.clone().expect("uid"),
            ..Default::default()
        },
    ]);
    cms.create(&PostParams::default(), &child)
        .await
        .expect("child");
    cms.delete("owner", &DeleteParams::background())
        .await
        .expect("delete owner");
    assert!(
        cms.get_opt("child").await.expect("get").is_none(),
        "dependents are collected"
    );

    // Deleting a namespace deletes what is in it.
    Api::<Namespace>::all(client.clone())
        .delete("kr", &DeleteParams::default())
        .await
        .expect("ns delete");
    assert!(
        all.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .iter()
            .all(|c| c.metadata.namespace.as_deref() != Some("kr"))
    );
    sim.shutdown().await;
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<Event<ConfigMap>>) -> Event<ConfigMap> {
    timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("event in time")
        .expect("stream open")
}

/// Waits for an Apply/InitApply of `name`, skipping others.
async fn wait_applied(rx: &mut mpsc::UnboundedReceiver<Event<ConfigMap>>, name: &str) -> ConfigMap {
    loop {
        match next_event(rx).await {
            Event::Apply(o) | Event::InitApply(o) if o.metadata.name.as_deref() == Some(name) => {
                return o;
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn watcher_sees_changes_and_survives_dropped_watches_and_410() {
    let (sim, client) = start().await;
    create_namespace(&client, "w").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "w");
    cms.create(&PostParams::default(), &cm("pre", json!({})))
        .await
        .expect("create");

    let (tx, mut rx) = mpsc::unbounded_channel();
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
    assert!(matches!(next_event(&mut rx).await, Event::Init));
    wait_applied(&mut rx, "pre").await;
    assert!(matches!(next_event(&mut rx).await, Event::InitDone));

    cms.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .expect("create a");
    wait_applied(&mut rx, "a").await;
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "changed"}})),
    )
    .await
    .expect("update");
    let updated = wait_applied(&mut rx, "a").await;
    assert_eq!(
        updated.data.and_then(|d| d.get("k").cloned()).as_deref(),
        Some("changed")
    );
    cms.delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    loop {
        if let Event::Delete(o) = next_event(&mut rx).await {
            assert_eq!(o.metadata.name.as_deref(), Some("a"));
            break;
        }
    }

    // Dropped watches: the watcher re-watches and keeps receiving.
    let faults = sim.faults("cluster1").expect("faults");
    faults.drop_watches();
    tokio::time::sleep(Duration::from_millis(300)).await;
    cms.create(&PostParams::default(), &cm("after-drop", json!({})))
        .await
        .expect("create");
    wait_applied(&mut rx, "after-drop").await;

    // 410 Gone: the event history is forgotten and watches dropped; the watcher relists.
    faults.expire_history();
    cms.create(&PostParams::default(), &cm("after-gone", json!({})))
        .await
        .expect("create");
    loop {
        if let Event::Init = next_event(&mut rx).await {
            break;
        }
    }
    wait_applied(&mut rx, "after-gone").await;
    // And the one-shot "410 on the next watch".
    faults.gone_next_watch();
    faults.drop_watches();
    loop {
        if let Event::Init = next_event(&mut rx).await {
            break;
        }
    }
    task.abort();
    sim.shutdown().await;
}

#[tokio::test]
async fn raw_watch_bookmarks_and_streaming_lists() {
    let (sim, client) = start().await;
    create_namespace(&client, "b").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "b");
    cms.create(&PostParams::default(), &cm("x", json!({"app": "kr"})))
        .await
        .expect("create");
    let list = cms.list(&ListParams::default()).await.expect("list");
    let rv = list.metadata.resource_version.expect("list rv");

    let mut stream = cms
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .expect("watch")
        .boxed();
    cms.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .expect("update");
    let mut saw_modified = false;
    let mut saw_bookmark = false;
    while !(saw_modified && saw_bookmark) {
        match timeout(Duration::from_secs(10), stream.try_next())
            .await
            .expect("in time")
            .expect("ok")
        {
            Some(WatchEvent::Modified(o)) => saw_modified = o.metadata.name.as_deref() == Some("x"),
            Some(WatchEvent::Bookmark(b)) => saw_bookmark = !b.metadata.resource_version.is_empty(),
            Some(other) => panic!("unexpected {other:?}"),
            None => panic!("stream ended"),
        }
    }

    // Streaming lists: ADDED for everything, then the initial-events-end bookmark → InitDone.
    let events: Vec<_> =
        watcher::watcher(cms.clone(), watcher::Config::default().streaming_lists())
            .take(3)
            .try_collect()
            .await
            .expect("streaming list");
    assert!(matches!(events[0], Event::Init));
    assert!(matches!(&events[1], Event::InitApply(o) if o.metadata.name.as_deref() == Some("x")));
    assert!(matches!(events[2], Event::InitDone));

    // A label-selected watch turns "stops matching" into DELETED.
    let mut selected = cms
        .watch(&WatchParams::default().labels("app=kr").timeout(10), "0")
        .await
        .expect("watch")
        .boxed();
    assert!(matches!(
        selected.try_next().await.expect("ok"),
        Some(WatchEvent::Added(_))
    ));
    cms.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "other"}}})),
    )
    .await
    .expect("relabel");
    assert!(matches!(
        selected.try_next().await.expect("ok"),
        Some(WatchEvent::Deleted(_))
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn custom_resources_in_two_versions_and_crd_removal() {
    use kube::api::DynamicObject;
    use kube::core::{ApiResource, GroupVersionKind};

    let (sim, client) = start().await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    let schema = json!({"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object",
        "properties": {"size": {"type": "integer", "minimum": 1}}}}}});
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.io"},
        "spec": {"group": "example.io", "scope": "Cluster", "names": {"kind": "Gadget", "plural": "gadgets"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "schema": schema},
                              {"name": "v2", "served": true, "storage": false, "schema": schema}]}});
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crd).expect("crd"),
    )
    .await
    .expect("crd created");
    let established = crds.get("gadgets.example.io").await.expect("crd");
    let conditions = established
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );

    let resource = |version: &str| {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("example.io", version, "Gadget"),
            "gadgets",
        )
    };
    let v1: Api<DynamicObject> = Api::all_with(client.clone(), &resource("v1"));
    let v2: Api<DynamicObject> = Api::all_with(client.clone(), &resource("v2"));
    let gadget: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "example.io/v1", "kind": "Gadget", "metadata": {"name": "g1"}, "spec": {"size": 2}}))
            .expect("gadget");
    v1.create(&PostParams::default(), &gadget)
        .await
        .expect("create in v1");
    let read = v2.get("g1").await.expect("read in v2");
    assert_eq!(
        read.types.map(|t| t.api_version),
        Some("example.io/v2".to_string())
    );
    let bad: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "example.io/v2", "kind": "Gadget", "metadata": {"name": "g2"}, "spec": {"size": 0}}))
            .expect("gadget");
    let err = v2.create(&PostParams::default(), &bad).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 422 && s.message.contains("spec.size")),
        "{err:?}"
    );

    crds.delete("gadgets.example.io", &DeleteParams::default())
        .await
        .expect("crd delete");
    let gone = v1.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(gone, kube::Error::Api(ref s) if s.code == 404),
        "{gone:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_status_errors() {
    let (sim, client) = start().await;
    let base = sim.server_url("cluster1").expect("url").to_string();
    let http = reqwest::Client::new();
    let post = |path: &str, body: &str| {
        http.post(format!("{base}{path}"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
    };
    let cases = [
        (
            "/api/v1/namespaces/default/services",
            r#"{"metadata":{"name":"s"},"spec":{"ports":[5]}}"#,
            400,
        ),
        (
            "/api/v1/namespaces/default/services",
            r#"{"metadata":{"name":"s"},"spec":{"type":"Bogus"}}"#,
            422,
        ),
        (
            "/api/v1/namespaces/default/configmaps",
            r#"{"metadata":{"name":"Not_Valid"}}"#,
            422,
        ),
        (
            "/api/v1/namespaces/default/configmaps",
            r#"{"metadata":{"name":"c","labels":{"a":1}}}"#,
            400,
        ),
        ("/api/v1/namespaces/default/configmaps", r#"[1,2]"#, 400),
        ("/api/v1/namespaces/default/configmaps", r#"{"#, 400),
        (
            "/api/v1/namespaces/nowhere/configmaps",
            r#"{"metadata":{"name":"c"}}"#,
            404,
        ),
        (
            "/apis/apps/v1/namespaces/default/deployments",
            r#"{"metadata":{"name":"d"},"spec":{"template":"x"}}"#,
            422,
        ),
        ("/apis/nosuch.io/v1/things", r#"{}"#, 404),
    ];
    for (path, body, code) in cases {
        let response = post(path, body).await.expect("send");
        assert_eq!(response.status().as_u16(), code, "{path} {body}");
        let status: serde_json::Value = response.json().await.expect("Status body");
        assert_eq!(
            (status["kind"].as_str(), status["code"].as_u64()),
            (Some("Status"), Some(code as u64)),
            "{status}"
        );
    }
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &cm("target", json!({})))
        .await
        .expect("create");
    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "", "value": 5}])).expect("patch");
    let err = cms
        .patch("target", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 400),
        "{err:?}"
    );
    let wrong_type = http
        .patch(format!(
            "{base}/api/v1/namespaces/default/configmaps/target"
        ))
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong_type.status().as_u16(), 415);
    assert!(
        cms.get_opt("target")
            .await
            .expect("server still answers")
            .is_some()
    );
    sim.shutdown().await;
}

/// The simulator records every resource request in RBAC's terms (verb, group, resource with
/// subresource, namespace, name), which the chart's RBAC test compares with the granted rules.
#[tokio::test]
async fn requests_are_recorded_as_rbac_sees_them() {
    use amko_sim::k8s::RbacRequest;

    let (sim, client) = start().await;
    sim.clear_requests("cluster1");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("logged", json!({})))
        .await
        .expect("create");
    api.get("logged").await.expect("get");
    api.list(&ListParams::default()).await.expect("list");
    api.patch(
        "logged",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "w"}})),
    )
    .await
    .expect("patch");
    let mut stream = api
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .expect("watch")
        .boxed();
    let _ = timeout(Duration::from_secs(3), stream.next()).await;
    api.delete("logged", &DeleteParams::default())
        .await
        .expect("delete");
    let _ = Api::<Namespace>::all(client).get("default").await;

    let seen: Vec<RbacRequest> = sim
        .requests("cluster1")
        .expect("cluster1")
        .into_keys()
        .collect();
    let request =
        |verb: &str, resource: &str, namespace: Option<&str>, name: Option<&str>| RbacRequest {
            user: None,
            verb: verb.to_owned(),
            group: String::new(),
            resource: resource.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
        };
    let cm_request =
        |verb: &str, name: Option<&str>| request(verb, "configmaps", Some("default"), name);
    let mut expected = vec![
        cm_request("create", None),
        cm_request("get", Some("logged")),
        cm_request("list", None),
        cm_request("patch", Some("logged")),
        cm_request("watch", None),
        cm_request("delete", Some("logged")),
        request("get", "namespaces", None, Some("default")),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    sim.shutdown().await;
}
