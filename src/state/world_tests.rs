//! Tests of incremental selection in `World`: which keys change on each kind of event.

use std::collections::{BTreeMap, BTreeSet};

use super::world::{ObjectId, World};
use crate::ingest::{
    HostRuleInfo, Ingested, Labels, NamespaceInfo, ObjectKind, Observation, ObservationId,
};
use crate::vocab::{
    ClusterMatch, GsKey, HostRuleOverrides, InstanceSettings, LabelSelector, Policy, Split,
};

fn settings() -> InstanceSettings {
    InstanceSettings {
        created_by: "amko-test".into(),
        default_tenant: "admin".into(),
        use_custom_global_fqdn: false,
        member_clusters: BTreeSet::new(),
    }
}

fn policy(ns_selector: bool) -> Policy {
    Policy {
        name: "gdp".into(),
        app_selector: (!ns_selector)
            .then(|| LabelSelector(BTreeMap::from([("app".into(), "gslb".into())]))),
        namespace_selector: ns_selector
            .then(|| LabelSelector(BTreeMap::from([("gslb".into(), "yes".into())]))),
        match_clusters: ["east", "west"]
            .iter()
            .map(|c| (c.to_string(), ClusterMatch::default()))
            .collect(),
        ..Policy::default()
    }
}

fn obs(cluster: &str, ns: &str, name: &str, host: &str, vip: &str) -> Observation {
    Observation {
        id: ObservationId {
            kind: ObjectKind::Ingress,
            cluster: cluster.into(),
            namespace: ns.into(),
            name: name.into(),
            host: host.into(),
        },
        hostname: host.into(),
        vip: vip.parse().expect("ip"),
        labels: Labels::from_iter([("app", "gslb")]),
        paths: vec!["/".into()],
        tls: false,
        passthrough: false,
        port: None,
        vs_uuid: Some("virtualservice-1".into()),
        controller_uuid: Some("cluster-1".into()),
        tenant: None,
    }
}

fn object(o: &Observation) -> ObjectId {
    ObjectId::of(&o.id)
}

fn ingested(observations: Vec<Observation>) -> Ingested {
    Ingested {
        observations,
        skipped: vec![],
    }
}

fn key(fqdn: &str) -> GsKey {
    GsKey {
        tenant: "admin".into(),
        fqdn: fqdn.into(),
    }
}

fn keys(names: &[&str]) -> BTreeSet<GsKey> {
    names.iter().map(|n| key(n)).collect()
}

#[test]
fn objects_join_and_leave_gslb_services() {
    let mut world = World::new(settings());
    let east = obs("east", "shop", "web", "a.example.com", "10.0.0.1");
    let west = obs("west", "shop", "web", "a.example.com", "10.0.0.2");
    assert!(
        world
            .upsert_object(object(&east), ingested(vec![east.clone()]))
            .is_empty(),
        "no policy yet"
    );
    assert_eq!(
        world.set_policy(Some(policy(false))),
        keys(&["a.example.com"])
    );
    assert_eq!(
        world.upsert_object(object(&west), ingested(vec![west.clone()])),
        keys(&["a.example.com"])
    );
    assert_eq!(world.members_of(&key("a.example.com")).len(), 2);
    // The same object again changes nothing.
    assert!(
        world
            .upsert_object(object(&west), ingested(vec![west.clone()]))
            .is_empty()
    );
    // A host renamed moves the member to another GslbService.
    let renamed = obs("west", "shop", "web", "b.example.com", "10.0.0.2");
    assert_eq!(
        world.upsert_object(object(&west), ingested(vec![renamed])),
        keys(&["a.example.com", "b.example.com"])
    );
    assert_eq!(
        world.delete_object(&object(&east)),
        keys(&["a.example.com"])
    );
    assert!(world.members_of(&key("a.example.com")).is_empty());
    assert!(world.desired(&key("a.example.com"), None).is_none());
    assert!(world.desired(&key("b.example.com"), None).is_some());
}

#[test]
fn namespace_label_change_reselects_its_objects() {
    let mut world = World::new(settings());
    world.set_policy(Some(policy(true)));
    let o = obs("east", "shop", "web", "a.example.com", "10.0.0.1");
    assert!(
        world
            .upsert_object(object(&o), ingested(vec![o.clone()]))
            .is_empty()
    );
    let mut ns = NamespaceInfo {
        cluster: "east".into(),
        name: "shop".into(),
        ..Default::default()
    };
    assert!(
        world.upsert_namespace(ns.clone()).is_empty(),
        "labels do not match yet"
    );
    ns.labels = ns.labels.with("gslb", "yes");
    assert_eq!(world.upsert_namespace(ns.clone()), keys(&["a.example.com"]));
    assert!(world.upsert_namespace(ns).is_empty(), "unchanged namespace");
    assert_eq!(
        world.delete_namespace("east", "shop"),
        keys(&["a.example.com"])
    );
    let report = world.report();
    assert!(
        report[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("has not been observed")),
        "{report:?}"
    );
}

#[test]
fn policy_property_changes_touch_every_gslb_service() {
    let mut world = World::new(settings());
    world.set_policy(Some(policy(false)));
    for (i, host) in ["a.example.com", "b.example.com"].iter().enumerate() {
        let o = obs(
            "east",
            "shop",
            &format!("w{i}"),
            host,
            &format!("10.0.0.{}", i + 1),
        );
        world.upsert_object(object(&o), ingested(vec![o]));
    }
    let mut p = policy(false);
    p.traffic_split.insert(
        "east".into(),
        Split {
            weight: 3,
            priority: 10,
        },
    );
    assert_eq!(
        world.set_policy(Some(p.clone())),
        keys(&["a.example.com", "b.example.com"])
    );
    assert!(world.set_policy(Some(p)).is_empty(), "same policy again");
    assert_eq!(
        world.set_policy(None),
        keys(&["a.example.com", "b.example.com"])
    );
    assert_eq!(world.keys().count(), 0);
}

#[test]
fn overrides_and_hostrule_aliases() {
    let mut world = World::new(settings());
    world.set_policy(Some(policy(false)));
    let o = obs("east", "shop", "web", "a.example.com", "10.0.0.1");
    world.upsert_object(object(&o), ingested(vec![o]));
    let ghr = HostRuleOverrides {
        fqdn: "a.example.com".into(),
        tenant: "admin".into(),
        ..Default::default()
    };
    assert_eq!(
        world.set_overrides(vec![ghr.clone()]),
        keys(&["a.example.com"])
    );
    assert!(world.set_overrides(vec![ghr.clone()]).is_empty());
    assert_eq!(world.set_overrides(vec![]), keys(&["a.example.com"]));
    // The same through differences.
    let pair = ("admin".to_owned(), "a.example.com".to_owned());
    let other_source = HostRuleOverrides {
        source: "avi-system/other".into(),
        ..ghr.clone()
    };
    assert_eq!(
        world.change_overrides(vec![ghr.clone()], &[]),
        keys(&["a.example.com"])
    );
    assert!(world.change_overrides(vec![ghr.clone()], &[]).is_empty());
    assert_eq!(
        world.change_overrides(vec![other_source], &[]),
        keys(&["a.example.com"])
    );
    assert_eq!(
        world.change_overrides(vec![], std::slice::from_ref(&pair)),
        keys(&["a.example.com"])
    );
    assert!(world.change_overrides(vec![], &[pair]).is_empty());
    assert!(world.set_overrides(vec![]).is_empty());

    let rule = HostRuleInfo {
        cluster: "west".into(),
        namespace: "shop".into(),
        name: "hr".into(),
        local_fqdn: "a.example.com".into(),
        aliases: vec!["alias.example.com".into()],
        accepted: true,
        ..Default::default()
    };
    assert_eq!(
        world.set_hostrule("west", "shop", "hr", Some(rule.clone())),
        keys(&["a.example.com"])
    );
    assert_eq!(
        world.inputs_for(&key("a.example.com")).domain_names,
        vec!["a.example.com", "alias.example.com"]
    );
    assert!(
        world
            .set_hostrule("west", "shop", "hr", Some(rule))
            .is_empty()
    );
    assert_eq!(
        world.set_hostrule("west", "shop", "hr", None),
        keys(&["a.example.com"])
    );
}

#[test]
fn an_alias_that_is_another_gslb_services_fqdn_gives_way() {
    let mut world = World::new(settings());
    world.set_policy(Some(policy(false)));
    let app = obs("east", "shop", "app", "app.example.com", "10.0.0.1");
    world.upsert_object(object(&app), ingested(vec![app]));
    let rule = HostRuleInfo {
        cluster: "east".into(),
        namespace: "shop".into(),
        name: "hr".into(),
        local_fqdn: "app.example.com".into(),
        aliases: vec!["blog.example.com".into(), "www.example.com".into()],
        accepted: true,
        ..Default::default()
    };
    world.set_hostrule("east", "shop", "hr", Some(rule));
    let names = |world: &World| world.inputs_for(&key("app.example.com")).domain_names;
    assert_eq!(
        names(&world),
        ["app.example.com", "blog.example.com", "www.example.com"]
    );
    // blog.example.com becomes a GslbService of its own: app's alias must go, so both change.
    let blog = obs("west", "shop", "blog", "blog.example.com", "10.0.0.2");
    assert_eq!(
        world.upsert_object(object(&blog), ingested(vec![blog.clone()])),
        keys(&["app.example.com", "blog.example.com"])
    );
    assert_eq!(names(&world), ["app.example.com", "www.example.com"]);
    assert_eq!(
        world.inputs_for(&key("blog.example.com")).domain_names,
        ["blog.example.com"]
    );
    // blog's last member leaves: the alias comes back to app.
    assert_eq!(
        world.delete_object(&object(&blog)),
        keys(&["app.example.com", "blog.example.com"])
    );
    assert_eq!(
        names(&world),
        ["app.example.com", "blog.example.com", "www.example.com"]
    );
}

#[test]
fn relist_forgets_objects_that_are_gone() {
    let mut world = World::new(settings());
    world.set_policy(Some(policy(false)));
    let a = obs("east", "shop", "a", "a.example.com", "10.0.0.1");
    let b = obs("east", "shop", "b", "b.example.com", "10.0.0.2");
    let c = obs("west", "shop", "c", "c.example.com", "10.0.0.3");
    for o in [&a, &b, &c] {
        world.upsert_object(object(o), ingested(vec![o.clone()]));
    }
    let keep = BTreeSet::from([object(&a)]);
    assert_eq!(
        world.retain_objects("east", ObjectKind::Ingress, &keep),
        keys(&["b.example.com"])
    );
    assert_eq!(
        world.observation_count(),
        2,
        "the other cluster is untouched"
    );
}

#[test]
fn gslb_services_taking_the_fallback_pki_profile() {
    use crate::vocab::SitePersistence;
    let mut world = World::new(settings());
    let mut tls = obs("east", "shop", "secure", "secure.example.com", "10.0.0.1");
    tls.tls = true;
    let plain = obs("east", "shop", "plain", "plain.example.com", "10.0.0.2");
    let pinned = {
        let mut o = obs("west", "shop", "pinned", "pinned.example.com", "10.0.0.3");
        o.tls = true;
        o
    };
    for o in [&tls, &plain, &pinned] {
        world.upsert_object(object(o), ingested(vec![o.clone()]));
    }
    let mut gdp = policy(false);
    world.set_policy(Some(gdp.clone()));
    assert!(world.keys_using_fallback_pki().is_empty(), "no persistence");

    gdp.properties.site_persistence = Some(Some(SitePersistence {
        profile_ref: "gslb-site".into(),
        pki_profile_ref: None,
    }));
    world.set_policy(Some(gdp));
    assert_eq!(
        world.keys_using_fallback_pki(),
        keys(&["secure.example.com", "pinned.example.com"]),
        "TLS members, persistence on, no PKI profile"
    );
    let mut rule = HostRuleOverrides {
        source: "avi-system/pinned".into(),
        fqdn: "pinned.example.com".into(),
        tenant: "admin".into(),
        ..Default::default()
    };
    rule.properties.site_persistence = Some(Some(SitePersistence {
        profile_ref: "gslb-site".into(),
        pki_profile_ref: Some("own-pki".into()),
    }));
    world.set_overrides(vec![rule]);
    assert_eq!(
        world.keys_using_fallback_pki(),
        keys(&["secure.example.com"]),
        "a GSLBHostRule with its own PKI profile"
    );
    let fallback = world
        .desired(&key("secure.example.com"), Some("fed-pki"))
        .and_then(|d| d.gslb_service.pki_profile_ref);
    assert_eq!(fallback.as_deref(), Some("/api/pkiprofile?name=fed-pki"));
}

#[test]
fn relists_forget_namespaces_and_hostrules_that_are_gone() {
    let mut world = World::new(settings());
    world.set_policy(Some(policy(true)));
    let a = obs("east", "shop", "web", "a.example.com", "10.0.0.1");
    let b = obs("east", "blog", "web", "b.example.com", "10.0.0.2");
    let c = obs("west", "shop", "web", "c.example.com", "10.0.0.3");
    for o in [&a, &b, &c] {
        world.upsert_object(object(o), ingested(vec![o.clone()]));
    }
    for (cluster, name) in [("east", "shop"), ("east", "blog"), ("west", "shop")] {
        world.upsert_namespace(NamespaceInfo {
            cluster: cluster.into(),
            name: name.into(),
            labels: Labels::from_iter([("gslb", "yes")]),
            tenant: None,
        });
    }
    assert_eq!(world.keys().count(), 3);
    let keep = BTreeSet::from(["shop".to_owned()]);
    assert_eq!(
        world.retain_namespaces("east", &keep),
        keys(&["b.example.com"]),
        "only east's blog is gone"
    );
    assert!(
        world.retain_namespaces("east", &keep).is_empty(),
        "idempotent"
    );
    assert_eq!(world.keys().count(), 2);

    let rule = |name: &str, aliases: &[&str]| HostRuleInfo {
        cluster: "east".into(),
        namespace: "shop".into(),
        name: name.into(),
        local_fqdn: "a.example.com".into(),
        global_fqdn: None,
        include_aliases: true,
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        tls: false,
        accepted: true,
    };
    world.set_hostrule("east", "shop", "keep", Some(rule("keep", &[])));
    world.set_hostrule(
        "east",
        "shop",
        "alias",
        Some(rule("alias", &["www.example.com"])),
    );
    let keep = BTreeSet::from([("shop".to_owned(), "keep".to_owned())]);
    let changed = world.retain_hostrules("east", &keep);
    assert!(changed.contains(&key("a.example.com")), "{changed:?}");
    assert!(
        world.retain_hostrules("east", &keep).is_empty(),
        "idempotent"
    );
    assert!(world.retain_hostrules("west", &BTreeSet::new()).is_empty());
}

#[test]
fn scoped_changes_reach_exactly_their_cluster_and_namespace() {
    // Names that sort next to each other ("shop" and "shop2", "east" and "east2") and objects of
    // every kind: a namespace or relist touches its own objects only, whatever the kind.
    let mut settings = settings();
    settings.member_clusters = ["east", "east2"].iter().map(|c| c.to_string()).collect();
    let mut world = World::new(settings);
    let mut gdp = policy(true);
    gdp.match_clusters = ["east", "east2"]
        .iter()
        .map(|c| (c.to_string(), ClusterMatch::default()))
        .collect();
    world.set_policy(Some(gdp));
    let mut route = obs("east", "shop", "r", "r.example.com", "10.0.0.4");
    route.id.kind = ObjectKind::Route;
    route.id.host = String::new();
    let all = [
        obs("east", "shop", "a", "a.example.com", "10.0.0.1"),
        obs("east", "shop2", "b", "b.example.com", "10.0.0.2"),
        obs("east2", "shop", "c", "c.example.com", "10.0.0.3"),
        route,
    ];
    for o in &all {
        world.upsert_object(object(o), ingested(vec![o.clone()]));
    }
    let labelled = |cluster: &str, name: &str| {
        let mut ns = NamespaceInfo {
            cluster: cluster.into(),
            name: name.into(),
            ..Default::default()
        };
        ns.labels = ns.labels.with("gslb", "yes");
        ns
    };
    assert_eq!(
        world.upsert_namespace(labelled("east", "shop")),
        keys(&["a.example.com", "r.example.com"])
    );
    assert_eq!(
        world.upsert_namespace(labelled("east2", "shop")),
        keys(&["c.example.com"])
    );
    assert_eq!(world.observation_count_of("east"), 3);
    assert_eq!(world.observation_count_of("east2"), 1);
    assert_eq!(
        world.retain_objects("east", ObjectKind::Route, &BTreeSet::new()),
        keys(&["r.example.com"])
    );
    assert_eq!(
        world.retain_objects(
            "east",
            ObjectKind::Ingress,
            &BTreeSet::from([object(&all[0])])
        ),
        BTreeSet::new(),
        "b was never selected (its namespace is not labelled) and a is kept"
    );
    assert_eq!(world.observation_count_of("east"), 1);
    assert_eq!(world.observation_count(), 2);
}

/// A member shares the observation it was selected from (the world holds each once), and an
/// observation that changes only in what makes no pool member (its labels here) changes no
/// GslbService, while the member takes the new observation so the old one is freed.
#[test]
fn members_share_their_observation() {
    let mut world = World::new(settings());
    world.set_policy(Some(policy(false)));
    let east = obs("east", "shop", "web", "a.example.com", "10.0.0.1");
    world.upsert_object(object(&east), ingested(vec![east.clone()]));
    let shared = |world: &World| {
        let members = world.members_of(&key("a.example.com"));
        let held = world.observations_of(&object(&east));
        assert_eq!((members.len(), held.len()), (1, 1));
        std::sync::Arc::ptr_eq(&members[0].observation, &held[0])
    };
    assert!(shared(&world), "selected member");

    assert!(
        world
            .upsert_object(object(&east), ingested(vec![east.clone()]))
            .is_empty()
    );
    assert!(shared(&world), "the same object again");

    let mut relabelled = east.clone();
    relabelled.labels = Labels::from_iter([("app", "gslb"), ("team", "shop")]);
    assert!(
        world
            .upsert_object(object(&east), ingested(vec![relabelled.clone()]))
            .is_empty(),
        "labels that keep the selection change no GslbService"
    );
    assert!(shared(&world), "after a label change");
    assert_eq!(
        world.observations_of(&object(&east))[0].labels,
        relabelled.labels
    );

    let moved = obs("east", "shop", "web", "a.example.com", "10.0.0.9");
    assert_eq!(
        world.upsert_object(object(&east), ingested(vec![moved])),
        keys(&["a.example.com"])
    );
    assert!(shared(&world), "after a VIP change");
    assert_eq!(
        world.members_of(&key("a.example.com"))[0].vip().to_string(),
        "10.0.0.9"
    );
}
