//! Fuzzing entry points: one function per fuzz target (`fuzz/fuzz_targets/<target>.rs`), taking the
//! raw input and driving the operator's own functions with it, so the fuzz targets and the corpus
//! replay test (`tests/fuzz_corpus.rs`) run the same code and cannot drift. Untrusted input (member
//! cluster objects, CRs, the members kubeconfig, controller answers) must never panic the process:
//! every function here returns for every input, and a panic is a finding. Where the operator relies
//! on an invariant (a member identity reads back as written), it is asserted here.
//!
//! Inputs are what the operator receives: JSON for Kubernetes objects and controller answers (the
//! API server and the controller speak JSON), YAML for the kubeconfig. After the entry point, each
//! function feeds the result further down the pipeline (selection, model building, the writer's
//! plan), so that the fuzzer reaches the code that consumes what ingest or validation let through.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::ResourceExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::avi::converge::{self, DesiredMap};
use crate::avi::error::{AviError, AviErrorKind, parse_retry_after};
use crate::avi::lookup::{health_monitor_facts, site_persistence_problem};
use crate::avi::paging::{PageStep, Paging, collection_page};
use crate::avi::retry;
use crate::avi::sync::tenant_of;
use crate::crd::ako_hostrule::HostRule;
use crate::crd::route::Route;
use crate::crd::{AmkoCluster, GlobalDeploymentPolicy, GslbConfig, GslbHostRule};
use crate::federation;
use crate::gate::{self, LeaseView, Role};
use crate::ingest::{self, Ingested, ObjectKind, annotations};
use crate::lease::{Decision, decide, spec_to_write};
use crate::members::MembersKubeconfig;
use crate::model::compare::differences;
use crate::model::identity::{describe_members, parse_description, parse_identity};
use crate::model::plan::{
    ControllerObject, ControllerState, gs_is_owned, hm_is_owned, monitor_gs_name,
    referenced_monitors,
};
use crate::policy::config::{choose_gslb_config, others_than_running};
use crate::policy::in_force::{last_accepted, rule_key, version};
use crate::policy::{
    ControllerSnapshot, HealthMonitorFacts, ProfileDefect, accept_gdp, accept_gslb_config,
    accept_host_rule,
};
use crate::state::world::{ObjectId, World};
use crate::vocab::{GsKey, InstanceSettings, Policy};

/// How far one input got; the replay test checks that each target's corpus reaches the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Depth {
    /// Not even the input format (not JSON, not an object of the kind).
    Unparsed,
    /// Parsed, and the entry point refused it or took nothing from it (a reason, not a panic).
    Refused,
    /// Parsed, accepted, and handed to the code downstream.
    Accepted,
}

/// A fuzz target: its name (= `fuzz/fuzz_targets/<name>.rs` = `fuzz/corpus/<name>/`) and function.
pub type Target = (&'static str, fn(&[u8]) -> Depth);

/// Every target, for the replay test.
pub const TARGETS: &[Target] = &[
    ("ingest_ingress", ingest_ingress),
    ("ingest_route", ingest_route),
    ("ingest_service", ingest_service),
    ("ingest_annotations", ingest_annotations),
    ("validate_gdp", validate_gdp),
    ("validate_gslbhostrule", validate_gslbhostrule),
    ("validate_gslbconfig", validate_gslbconfig),
    ("validate_amkocluster", validate_amkocluster),
    ("kubeconfig", kubeconfig),
    ("avi_collection", avi_collection),
    ("avi_error", avi_error),
    ("lease", lease),
];

/// The member cluster every fuzzed object comes from.
pub const CLUSTER: &str = "east-admin";
/// This instance's owner marker (`created_by`) in the fuzzed pipeline.
pub const CREATED_BY: &str = "amko-9b1f3c2e-1d2a-11ef-9c44-0a580a800001";
/// The tenant of the fuzzed pipeline (the GSLBConfig's default).
pub const TENANT: &str = "admin";

fn json<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    serde_json::from_slice(data).ok()
}

fn settings() -> InstanceSettings {
    InstanceSettings {
        created_by: CREATED_BY.to_owned(),
        default_tenant: TENANT.to_owned(),
        use_custom_global_fqdn: false,
        member_clusters: ["east-admin", "west-admin"].map(String::from).into(),
    }
}

/// The controller as validation sees it: the objects the seed CRs name, some of them unusable.
fn controller() -> &'static ControllerSnapshot {
    static SNAPSHOT: OnceLock<ControllerSnapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let monitor = |kind: &str, federated: bool, request: Option<&str>| HealthMonitorFacts {
            monitor_type: kind.to_owned(),
            is_federated: Some(federated),
            http_request: request.map(str::to_owned),
            response_codes: vec!["HTTP_2XX".to_owned()],
        };
        let key = |name: &str| (TENANT.to_owned(), name.to_owned());
        let mut snapshot = ControllerSnapshot::default();
        for (name, facts) in [
            (
                "fed-https-check",
                monitor("HEALTH_MONITOR_HTTPS", true, Some("GET / HTTP/1.1")),
            ),
            (
                "http-template",
                monitor("HEALTH_MONITOR_HTTP", true, Some("HEAD /health HTTP/1.0")),
            ),
            ("fed-tcp-check", monitor("HEALTH_MONITOR_TCP", true, None)),
            (
                "local-check",
                monitor("HEALTH_MONITOR_HTTP", false, Some("GET / HTTP/1.1")),
            ),
            (
                "broken-template",
                monitor("HEALTH_MONITOR_HTTP", true, Some("GET /")),
            ),
        ] {
            snapshot.health_monitors.insert(key(name), facts);
        }
        for name in ["my-federated-cookie-profile", "local-profile"] {
            snapshot.persistence_profiles.insert(key(name));
        }
        snapshot
            .unusable_persistence_profiles
            .insert(key("local-profile"), ProfileDefect::NotFederated);
        snapshot.pki_profiles.insert(key("my-federated-pki"));
        snapshot.third_party_sites.insert("legacy-dc".to_owned());
        snapshot
    })
}

/// The policy member objects are selected with: the seed GDP, accepted as the operator does.
fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let gdp: Option<GlobalDeploymentPolicy> = serde_json::from_value(serde_json::json!({
            "apiVersion": "amko.vmware.com/v1alpha2", "kind": "GlobalDeploymentPolicy",
            "metadata": {"name": "global-gdp", "namespace": "avi-system"},
            "spec": {
                "matchRules": {"appSelector": {"label": {"app": "gslb"}}},
                "matchClusters": [{"cluster": "east-admin"}, {"cluster": "west-admin", "syncVipOnly": true}],
                "trafficSplit": [{"cluster": "east-admin", "weight": 3, "priority": 10}],
                "sitePersistenceRef": "my-federated-cookie-profile",
                "defaultDomain": "apps.example.com"
            }
        }))
        .ok();
        gdp.and_then(|gdp| accept_gdp(&gdp, &settings(), controller()).ok())
            .unwrap_or_default()
    })
}

/// A world holding one selected Ingress host, `shop.example.com`, so that policies, overrides
/// and controller answers have a GslbService to act on.
fn world_with_a_member() -> World {
    let mut world = World::new(settings());
    world.set_policy(Some(policy().clone()));
    let ingress: Option<Ingress> = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "shop", "namespace": "web", "labels": {"app": "gslb"}},
        "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": [{"path": "/cart", "pathType": "Prefix",
            "backend": {"service": {"name": "cart", "port": {"number": 80}}}}]}}]},
        "status": {"loadBalancer": {"ingress": [{"hostname": "shop.example.com", "ip": "10.0.0.7"}]}}
    }))
    .ok();
    if let Some(ingress) = ingress {
        let object = ObjectId {
            kind: ObjectKind::Ingress,
            cluster: CLUSTER.to_owned(),
            namespace: "web".to_owned(),
            name: "shop".to_owned(),
        };
        world.upsert_object(object, ingest::ingest_ingress(CLUSTER, &ingress));
    }
    world
}

/// The GslbService key of the world's member.
fn shop_key() -> GsKey {
    GsKey {
        tenant: TENANT.to_owned(),
        fqdn: "shop.example.com".to_owned(),
    }
}

/// Every desired GslbService of `world` for `keys`, as the builders hand them to the writer.
fn desired_of(world: &World, keys: impl IntoIterator<Item = GsKey>) -> DesiredMap {
    keys.into_iter()
        .filter_map(|key| {
            let desired = world.desired(&key, Some("my-federated-pki"))?;
            Some((key, Arc::new(desired)))
        })
        .collect()
}

/// The writer's step for every key, against `cache`, and the payloads as they would be sent.
fn write_steps(desired: &DesiredMap, cache: &ControllerState) {
    let keys = converge::keys_to_converge(desired.keys(), cache);
    for key in &keys {
        let step = converge::step(key, false, &BTreeSet::new(), desired, cache, CREATED_BY);
        if let converge::Step::Write { writes, .. } = step {
            for write in writes {
                let _ = write.describe();
            }
        }
    }
    for d in desired.values() {
        let body = serde_json::to_value(&d.gslb_service).unwrap_or(Value::Null);
        // What the writer compares with the controller's copy must equal itself.
        assert!(
            differences(&body, &body).is_empty(),
            "a payload differs from itself: {body}"
        );
    }
}

/// Ingest `ingested` (the observations of `object`) into the world and build what changed: the
/// path a member-cluster object takes in the operator, up to the writer's plan.
fn through_the_pipeline(object: ObjectId, ingested: Ingested) -> Depth {
    let depth = if ingested.observations.is_empty() {
        Depth::Refused
    } else {
        Depth::Accepted
    };
    for obs in &ingested.observations {
        // The GslbService description names its members; the writer reads them back.
        let written = obs.id.to_string();
        assert_eq!(
            parse_identity(&written).as_ref(),
            Some(&obs.id),
            "identity {written:?} does not read back"
        );
    }
    let ids: Vec<_> = ingested.observations.iter().map(|o| o.id.clone()).collect();
    let description = describe_members(&ids);
    let read: Vec<_> = parse_description(&description).collect();
    assert_eq!(
        read,
        ids.iter().cloned().map(Some).collect::<Vec<_>>(),
        "description {description:?} does not read back"
    );
    let mut world = world_with_a_member();
    let mut changed = world.upsert_object(object, ingested);
    changed.insert(shop_key());
    let desired = desired_of(&world, changed);
    let _ = world.report();
    write_steps(&desired, &ControllerState::default());
    depth
}

fn object_id(kind: ObjectKind, namespace: Option<String>, name: String) -> ObjectId {
    ObjectId {
        kind,
        cluster: CLUSTER.to_owned(),
        namespace: namespace.unwrap_or_default(),
        name,
    }
}

/// An Ingress (JSON, as a watch delivers it) through ingest, selection, model and plan.
pub fn ingest_ingress(data: &[u8]) -> Depth {
    let Some(ingress) = json::<Ingress>(data) else {
        return Depth::Unparsed;
    };
    let id = object_id(ObjectKind::Ingress, ingress.namespace(), ingress.name_any());
    through_the_pipeline(id, ingest::ingest_ingress(CLUSTER, &ingress))
}

/// An OpenShift Route (JSON), with each kind of GDP `defaultDomain`, through the pipeline.
pub fn ingest_route(data: &[u8]) -> Depth {
    let Some(route) = json::<Route>(data) else {
        return Depth::Unparsed;
    };
    let mut depth = Depth::Refused;
    for domain in [
        None,
        Some(""),
        Some(".apps.example.com"),
        Some("apps.example.com"),
    ] {
        let id = object_id(ObjectKind::Route, route.namespace(), route.name_any());
        depth = depth.max(through_the_pipeline(
            id,
            ingest::ingest_route(CLUSTER, &route, domain),
        ));
    }
    depth
}

/// A Service (JSON): only LoadBalancer Services are ingested, as in the cluster actor.
pub fn ingest_service(data: &[u8]) -> Depth {
    let Some(service) = json::<Service>(data) else {
        return Depth::Unparsed;
    };
    if !ingest::is_load_balancer(&service) {
        return Depth::Refused;
    }
    let id = object_id(
        ObjectKind::LbService,
        service.namespace(),
        service.name_any(),
    );
    through_the_pipeline(id, ingest::ingest_service(CLUSTER, &service))
}

/// AKO's placement annotations (a JSON object of annotation to value), the same JSON as a Route
/// status condition reason, and as a member-cluster Namespace or AKO HostRule (the objects that
/// carry annotations and names into selection).
pub fn ingest_annotations(data: &[u8]) -> Depth {
    let mut depth = Depth::Unparsed;
    if let Ok(text) = std::str::from_utf8(data) {
        depth = Depth::Refused;
        if let Some(placement) = annotations::from_route_condition_reason(text) {
            let _ = placement.vs_uuid("shop.example.com");
            depth = Depth::Accepted;
        }
    }
    if let Some(map) = json::<BTreeMap<String, String>>(data) {
        depth = depth.max(Depth::Refused);
        if let Ok(placement) = annotations::from_annotations(&map) {
            let _ = placement.vs_uuid("shop.example.com");
            depth = Depth::Accepted;
        }
    }
    if let Some(namespace) = json::<Namespace>(data) {
        let info = ingest::ingest_namespace(CLUSTER, &namespace);
        let mut world = world_with_a_member();
        world.upsert_namespace(info);
        let desired = desired_of(&world, [shop_key()]);
        write_steps(&desired, &ControllerState::default());
        depth = Depth::Accepted;
    }
    if let Some(rule) = json::<HostRule>(data) {
        depth = depth.max(Depth::Refused);
        if let Ok(info) = ingest::ingest_hostrule(CLUSTER, &rule) {
            let mut world = world_with_a_member();
            let namespace = rule.namespace().unwrap_or_default();
            let changed = world.set_hostrule(CLUSTER, &namespace, &rule.name_any(), Some(info));
            let desired = desired_of(&world, changed.into_iter().chain([shop_key()]));
            write_steps(&desired, &ControllerState::default());
            depth = Depth::Accepted;
        }
    }
    depth
}

/// A GlobalDeploymentPolicy (JSON) through validation; an accepted one selects and builds.
pub fn validate_gdp(data: &[u8]) -> Depth {
    let Some(gdp) = json::<GlobalDeploymentPolicy>(data) else {
        return Depth::Unparsed;
    };
    let _ = crate::avi::lookup::References::of_gdp(&gdp);
    // The last accepted spec recorded on the object is read back and validated again.
    if let Some(previous) = last_accepted(&gdp) {
        let _ = accept_gdp(&previous, &settings(), controller());
    }
    match accept_gdp(&gdp, &settings(), controller()) {
        Err(error) => {
            let _ = error.to_string();
            Depth::Refused
        }
        Ok(policy) => {
            let mut world = world_with_a_member();
            let changed = world.set_policy(Some(policy));
            let desired = desired_of(&world, changed.into_iter().chain([shop_key()]));
            write_steps(&desired, &ControllerState::default());
            Depth::Accepted
        }
    }
}

/// A GSLBHostRule (JSON) through validation; accepted overrides apply to the world's member.
pub fn validate_gslbhostrule(data: &[u8]) -> Depth {
    let Some(rule) = json::<GslbHostRule>(data) else {
        return Depth::Unparsed;
    };
    let _ = crate::avi::lookup::References::of_host_rule(&rule);
    let _ = (version(&rule), rule_key(&rule));
    if let Some(previous) = last_accepted(&rule) {
        let _ = accept_host_rule(&previous, TENANT, &settings(), controller());
    }
    match accept_host_rule(&rule, TENANT, &settings(), controller()) {
        Err(error) => {
            let _ = error.to_string();
            Depth::Refused
        }
        Ok(overrides) => {
            let mut world = world_with_a_member();
            let changed = world.set_overrides(vec![overrides]);
            let desired = desired_of(&world, changed.into_iter().chain([shop_key()]));
            write_steps(&desired, &ControllerState::default());
            Depth::Accepted
        }
    }
}

/// A GSLBConfig (JSON) through validation and the choice of the one in force.
pub fn validate_gslbconfig(data: &[u8]) -> Depth {
    let Some(config) = json::<GslbConfig>(data) else {
        return Depth::Unparsed;
    };
    let depth = match accept_gslb_config(&config, "00000000-0000-4000-8000-000000000000") {
        Err(error) => {
            let _ = error.to_string();
            Depth::Refused
        }
        Ok(settings) => {
            let _ = settings.log_level.as_filter();
            Depth::Accepted
        }
    };
    let mut older = config.clone();
    older.metadata.name = Some("gc-0".to_owned());
    if let Some((_, others)) = choose_gslb_config(vec![config.clone(), older]) {
        for (_, problem) in others {
            let _ = problem.to_string();
        }
    }
    let _ = others_than_running(&config.name_any(), vec![config]);
    depth
}

/// An AMKOCluster (JSON) through the federator's checks and the role gate.
pub fn validate_amkocluster(data: &[u8]) -> Depth {
    let Some(cluster) = json::<AmkoCluster>(data) else {
        return Depth::Unparsed;
    };
    let mut depth = Depth::Refused;
    if federation::check_amko_cluster(&cluster, "avi-system").is_ok()
        && let Ok(followers) = federation::followers_of(&cluster)
    {
        let _ = followers.len();
        depth = Depth::Accepted;
    }
    let version = cluster.spec.version.clone();
    let _ = federation::judge_member(&version, "west-admin", std::slice::from_ref(&cluster));
    let _ = federation::judge_member("2.2.1", "west-admin", &[cluster.clone(), cluster.clone()]);
    let role = Role::of(vec![cluster], "avi-system");
    for lease in [
        LeaseView::NotElecting,
        LeaseView::Held,
        LeaseView::Standby {
            holder: String::new(),
        },
    ] {
        let _ = gate::verdict(&role, &lease, None);
    }
    depth
}

/// The members kubeconfig (YAML text, as in `GSLB_CONFIG`) parsed, and a client configuration
/// built for each of its contexts. A context whose cluster names a CA *file* is not built: that
/// reads an arbitrary path of this machine (e.g. `/dev/zero`), which is the operator's own
/// configuration to get right, not input this process can defend against.
pub fn kubeconfig(data: &[u8]) -> Depth {
    let Ok(text) = std::str::from_utf8(data) else {
        return Depth::Unparsed;
    };
    let secrets = kubeconfig_secrets(text);
    let members = match MembersKubeconfig::parse(text) {
        Ok(members) => members,
        Err(error) => {
            assert_no_secret(&format!("{error} {error:?}"), &secrets);
            return Depth::Refused;
        }
    };
    assert_no_secret(&format!("{members:?}"), &secrets);
    let names_a_file = kube::config::Kubeconfig::from_yaml(text).map_or(true, |k| {
        k.clusters.iter().any(|c| {
            c.cluster
                .as_ref()
                .is_some_and(|c| c.certificate_authority.is_some())
        })
    });
    if names_a_file {
        return Depth::Refused;
    }
    let mut depth = Depth::Refused;
    for context in members.contexts().iter().take(8) {
        match block_on(members.config_for(context)) {
            Some(Ok(_)) => depth = Depth::Accepted,
            Some(Err(error)) => assert_no_secret(&format!("{error} {error:?}"), &secrets),
            None => {}
        }
    }
    depth
}

/// The credentials of a kubeconfig's users (token, password, client key), read as plain YAML;
/// none when the text is not YAML. Short values are left out: they occur in any text by chance.
fn kubeconfig_secrets(text: &str) -> Vec<String> {
    let Ok(value) = serde_saphyr::from_str::<Value>(text) else {
        return Vec::new();
    };
    let users = value.get("users").and_then(Value::as_array);
    users
        .into_iter()
        .flatten()
        .filter_map(|u| u.get("user"))
        .flat_map(|user| {
            ["token", "password", "client-key-data"]
                .into_iter()
                .filter_map(|key| user.get(key).and_then(Value::as_str))
        })
        .filter(|secret| secret.len() >= 8)
        .map(str::to_owned)
        .collect()
}

/// Secrets never reach logs, statuses or Debug output: `shown` must not contain any of them.
fn assert_no_secret(shown: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !shown.contains(secret.as_str()),
            "a kubeconfig credential is shown: {shown}"
        );
    }
}

/// Runs a future on a runtime kept for the thread (`config_for` is async but does no I/O here);
/// `None` when no runtime could be built.
fn block_on<F: std::future::Future>(future: F) -> Option<F::Output> {
    thread_local! {
        static RUNTIME: Option<tokio::runtime::Runtime> =
            tokio::runtime::Builder::new_current_thread().build().ok();
    }
    RUNTIME.with(|runtime| runtime.as_ref().map(|r| r.block_on(future)))
}

/// Controller collection answers (JSON: one page, or an array of pages as `for_each_page` reads
/// them one after the other): paging, the objects as the cache and validation read them, and the
/// writer's plan against that cache.
pub fn avi_collection(data: &[u8]) -> Depth {
    let Some(input) = json::<Value>(data) else {
        return Depth::Unparsed;
    };
    let pages = match input {
        Value::Array(pages) => pages,
        page => vec![page],
    };
    let mut depth = Depth::Refused;
    let mut paging = Paging::new(2);
    let mut cache = ControllerState::default();
    for body in pages {
        let page = match collection_page(Some(body)) {
            Ok(page) => page,
            Err(message) => {
                let _ = message.len();
                break;
            }
        };
        let step = paging.after_page(page.count, page.results.len(), page.has_next);
        for object in page.results {
            read_object(object, &mut cache);
        }
        match step {
            PageStep::Next => {}
            PageStep::Done => {
                depth = Depth::Accepted;
                break;
            }
            PageStep::Inconsistent(_) => break,
        }
    }
    let world = world_with_a_member();
    let desired = desired_of(&world, [shop_key()]);
    let unsynced: BTreeSet<String> = ["west-admin".to_owned()].into();
    for key in converge::keys_to_converge(desired.keys(), &cache) {
        let _ = converge::waits_for_unsynced(&key, &cache, &unsynced);
    }
    write_steps(&desired, &cache);
    depth
}

/// One object of a controller answer, read every way the operator reads one; kept in `cache` as
/// both a GslbService and a health monitor, as `load_state` keeps them.
fn read_object(object: Value, cache: &mut ControllerState) {
    let tenant = tenant_of(&object, TENANT);
    let _ = crate::avi::client::is_the_named(&object, "shop.example.com", Some(TENANT));
    let _ = health_monitor_facts(&object);
    let _ = site_persistence_problem(&object);
    let _ = gs_is_owned(&object, CREATED_BY);
    let _ = hm_is_owned(&object, CREATED_BY);
    let _ = referenced_monitors(&object);
    let _ = monitor_gs_name(&object);
    if let Some(cached) = ControllerObject::from_body(&tenant, object) {
        let _ = cached.body();
        cache.insert_gslb_service(cached.clone());
        cache.insert_health_monitor(cached);
    }
}

/// A controller error answer. First line: the HTTP status and, after a blank, the `Retry-After`
/// header's value; the rest is the body. Classified, then decided on as the writer does.
pub fn avi_error(data: &[u8]) -> Depth {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once('\n').unwrap_or((&text, ""));
    let (status, retry_after) = head.split_once(' ').unwrap_or((head, ""));
    let Ok(status) = status.trim().parse::<u16>() else {
        return Depth::Unparsed;
    };
    let wait = parse_retry_after(retry_after);
    let error = AviError::from_status("PUT", "/api/gslbservice/x", status, body, wait);
    let _ = (
        error.to_string(),
        error.kind.class(),
        error.kind.is_unreachable(),
    );
    let _ = (error.is_retryable(), error.is_domain_conflict());
    let caps = [
        retry::MAX_RATE_LIMIT_HOLD,
        std::time::Duration::from_secs(5),
    ];
    for (attempts, cap) in [(1, caps[0]), (2, caps[1]), (7, caps[0])] {
        let verdict = retry::decide(&shop_key(), Some(&error), attempts, u64::from(status), cap);
        // Whatever Retry-After said, a 429 holds writes no longer than the configured cap.
        let rate_limited = matches!(error.kind, AviErrorKind::RateLimited { .. });
        if let (true, retry::Hold::For(hold)) = (rate_limited, verdict.hold) {
            assert!(
                hold <= cap,
                "a 429 held writes {hold:?}, over the cap {cap:?}"
            );
        }
    }
    let _ = retry::reachability(error.kind.is_unreachable(), Some(&error));
    Depth::Accepted
}

/// A leader-election Lease (JSON, as read from the API server): the decision of a replica that has
/// seen it unchanged for no time, a while and very long, and the spec it would write back. A write
/// names the writer as holder and never counts the transitions back.
pub fn lease(data: &[u8]) -> Depth {
    let Some(lease) = json::<Lease>(data) else {
        return Depth::Unparsed;
    };
    let spec = lease.spec.unwrap_or_default();
    let mut depth = Depth::Refused;
    for identity in ["replica-a", "replica-b"] {
        for unchanged_for in [0, 15, u64::MAX].map(Duration::from_secs) {
            let decision = decide(&spec, identity, unchanged_for, Duration::from_secs(15));
            if let Decision::Wait { .. } = decision {
                continue;
            }
            let now = k8s_openapi::jiff::Timestamp::UNIX_EPOCH;
            let written = spec_to_write(spec.clone(), &decision, identity, now, 15);
            assert_eq!(written.holder_identity.as_deref(), Some(identity));
            assert!(
                written.lease_transitions.unwrap_or(0) >= spec.lease_transitions.unwrap_or(0),
                "transitions counted back: {:?} -> {:?}",
                spec.lease_transitions,
                written.lease_transitions
            );
            depth = Depth::Accepted;
        }
    }
    depth
}
