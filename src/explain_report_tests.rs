//! Tests of `amko explain`'s pure part on a plain `World`: subjects, the chain of checks per host
//! (and that its verdict is the one selection stored), the GslbService half and the rendering.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::*;
use crate::ingest::{Ingested, Labels, ObservationId, Skipped};
use crate::vocab::{ClusterMatch, HostRuleOverrides, InstanceSettings, LabelSelector, Policy};

const FQDN: &str = "shop.example.com";

fn obs(cluster: &str, name: &str, app: &str) -> Observation {
    Observation {
        id: ObservationId {
            kind: ObjectKind::Ingress,
            cluster: cluster.into(),
            namespace: "shop".into(),
            name: name.into(),
            host: FQDN.into(),
        },
        hostname: FQDN.into(),
        vip: "10.0.0.1".parse().expect("ip"),
        labels: Labels::from_iter([("app", app)]),
        paths: vec!["/".into()],
        tls: false,
        passthrough: false,
        port: None,
        vs_uuid: Some("virtualservice-1".into()),
        controller_uuid: Some("cluster-1".into()),
        tenant: None,
    }
}

fn ingress(cluster: &str, name: &str) -> ObjectId {
    ObjectId {
        kind: ObjectKind::Ingress,
        cluster: cluster.into(),
        namespace: "shop".into(),
        name: name.into(),
    }
}

/// `east/web` selected, `east/other` with other labels, `north/far` outside matchClusters,
/// `east/novip` without a VIP; a GSLBHostRule in force for the FQDN.
fn world() -> World {
    let mut world = World::new(InstanceSettings {
        created_by: "amko-test".into(),
        default_tenant: "admin".into(),
        use_custom_global_fqdn: false,
        member_clusters: ["east", "north"].iter().map(|c| c.to_string()).collect(),
    });
    world.set_policy(Some(Policy {
        name: "gdp".into(),
        app_selector: Some(LabelSelector(BTreeMap::from([(
            "app".into(),
            "gslb".into(),
        )]))),
        match_clusters: [("east".to_string(), ClusterMatch::default())]
            .into_iter()
            .collect(),
        ..Policy::default()
    }));
    for (cluster, name, app) in [
        ("east", "web", "gslb"),
        ("east", "other", "shop"),
        ("north", "far", "gslb"),
    ] {
        world.upsert_object(
            ingress(cluster, name),
            Ingested {
                observations: vec![obs(cluster, name, app)],
                skipped: vec![],
            },
        );
    }
    world.upsert_object(
        ingress("east", "novip"),
        Ingested {
            observations: vec![],
            skipped: vec![Skipped {
                host: Some(FQDN.into()),
                reason: "no VIP in status.loadBalancer.ingress for this host yet".into(),
            }],
        },
    );
    world.set_overrides(vec![HostRuleOverrides {
        source: "avi-system/rule-1".into(),
        fqdn: FQDN.into(),
        tenant: "admin".into(),
        ..HostRuleOverrides::default()
    }]);
    world
}

fn object_subject(name: &str, cluster: &str) -> Subject {
    Subject::parse(&format!("ingress/shop/{name}"), Some(cluster)).expect("subject")
}

#[test]
fn subjects_are_an_fqdn_or_kind_namespace_name_with_a_cluster() {
    assert_eq!(
        Subject::parse("Shop.Example.com.", None),
        Ok(Subject::Fqdn(FQDN.into()))
    );
    assert_eq!(
        Subject::parse("svc/ns/web", Some("east")),
        Ok(Subject::Object {
            kind: "service".into(),
            cluster: "east".into(),
            namespace: "ns".into(),
            name: "web".into()
        })
    );
    assert_eq!(
        Subject::parse("route/ns/web", Some("c"))
            .expect("route")
            .object_id()
            .map(|o| o.kind),
        Some(ObjectKind::Route)
    );
    assert_eq!(
        Subject::parse("ingress/ns/web", None),
        Err(SubjectError::NoCluster("ingress/ns/web".into()))
    );
    assert_eq!(
        Subject::parse("pod/ns/web", Some("c")),
        Err(SubjectError::Kind("pod".into()))
    );
    for bad in ["ingress/web", "ingress//web", "a/b/c/d", "", "two words"] {
        assert!(Subject::parse(bad, Some("c")).is_err(), "{bad:?}");
    }
}

#[test]
fn a_selected_object_has_every_check_passed_and_its_gslbservice() {
    let world = world();
    let report = ExplainReport::from_world(&world, object_subject("web", "east"), "standalone");
    assert!(report.found);
    assert_eq!(report.exit_code(), EXIT_EXPLAINED);
    let [host] = &report.hosts[..] else {
        panic!("{:?}", report.hosts)
    };
    assert!(host.selected);
    assert_eq!(host.gslb_service.as_deref(), Some("admin/shop.example.com"));
    assert_eq!(host.vip.as_deref(), Some("10.0.0.1"));
    assert!(host.reasons.iter().all(|r| r.passed), "{:?}", host.reasons);
    assert_eq!(host.reasons[0].check, Check::Vip);
    let [gs] = &report.gslb_services[..] else {
        panic!("{:?}", report.gslb_services)
    };
    assert_eq!(gs.members, ["INGRESS/east/shop/web/shop.example.com"]);
    assert_eq!(gs.host_rule.as_deref(), Some("avi-system/rule-1"));
}

#[test]
fn a_rejected_object_ends_with_the_reason_selection_stored() {
    let world = world();
    let stored: BTreeMap<String, Option<String>> = world
        .report()
        .into_iter()
        .map(|r| (r.id.name.clone(), r.reason))
        .collect();
    for (name, cluster, check) in [
        ("other", "east", Check::AppLabels),
        ("far", "north", Check::MatchClusters),
    ] {
        let report = ExplainReport::from_world(&world, object_subject(name, cluster), "standalone");
        let [host] = &report.hosts[..] else {
            panic!("{:?}", report.hosts)
        };
        assert!(!host.selected);
        let last = host.reasons.last().expect("reasons");
        assert_eq!((last.check, last.passed), (check, false));
        assert_eq!(Some(&last.detail), stored[name].as_ref(), "{name}");
        assert!(report.gslb_services.is_empty(), "{name}");
    }
    let novip = ExplainReport::from_world(&world, object_subject("novip", "east"), "standalone");
    let [host] = &novip.hosts[..] else {
        panic!("{:?}", novip.hosts)
    };
    assert_eq!(host.reasons.len(), 1);
    assert_eq!(host.reasons[0].check, Check::Vip);
    assert!(!host.reasons[0].passed);
}

#[test]
fn an_fqdn_lists_every_contributing_and_rejected_object() {
    let world = world();
    let report = ExplainReport::from_world(&world, Subject::Fqdn(FQDN.into()), "standalone");
    let verdicts: BTreeSet<(String, String, bool)> = report
        .hosts
        .iter()
        .map(|h| (h.cluster.clone(), h.object.clone(), h.selected))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("east", "ingress/shop/novip", false),
            ("east", "ingress/shop/other", false),
            ("east", "ingress/shop/web", true),
            ("north", "ingress/shop/far", false),
        ]
        .iter()
        .map(|(c, o, s)| (c.to_string(), o.to_string(), *s))
        .collect()
    );
    assert_eq!(report.gslb_services.len(), 1);
    let other = ExplainReport::from_world(
        &world,
        Subject::Fqdn("nothing.example.com".into()),
        "standalone",
    );
    assert!(!other.found);
    assert_eq!(other.exit_code(), EXIT_ERROR);
    assert!(other.render_text().contains("not found"));
}

#[test]
fn a_gslbservice_only_on_the_controller_is_found_by_its_fqdn() {
    let world = world();
    let mut report = ExplainReport::from_world(
        &world,
        Subject::Fqdn("gone.example.com".into()),
        "standalone",
    );
    report.add_controller_only([("admin", "gone.example.com"), ("admin", FQDN)]);
    assert!(report.found);
    assert_eq!(report.gslb_services.len(), 1);
    report.gslb_services[0].set_copies(None, Some(json!({"name": "gone.example.com"})));
    assert!(!report.gslb_services[0].in_sync);
    assert!(report.render_text().contains("not desired"));
}

#[test]
fn copies_differ_field_by_field_and_render_with_the_write_history() {
    let world = world();
    let mut report = ExplainReport::from_world(&world, Subject::Fqdn(FQDN.into()), "operator x");
    let gs = &mut report.gslb_services[0];
    gs.set_copies(
        Some(json!({"name": FQDN, "ttl": 30})),
        Some(json!({"name": FQDN, "ttl": 999, "uuid": "gs-1"})),
    );
    assert!(!gs.in_sync);
    assert_eq!(gs.differences.len(), 1);
    assert_eq!(gs.differences[0].path, "/ttl");
    gs.last_write = Some(WriteRecord {
        at: "2026-12-03T12:00:00Z".into(),
        writes: vec!["update gslbservice".into()],
        error: None,
    });
    let text = report.render_text();
    assert!(text.contains("    /ttl: 999 -> 30\n"), "{text}");
    assert!(
        text.contains("  last write: 2026-12-03T12:00:00Z update gslbservice\n"),
        "{text}"
    );
    assert!(text.contains("  last error: none\n"), "{text}");
    assert!(
        text.contains("  GSLBHostRule in force: avi-system/rule-1\n"),
        "{text}"
    );
    assert!(
        text.contains("ingress/shop/far in cluster north, host shop.example.com: NOT SELECTED"),
        "{text}"
    );
    assert!(
        text.contains("  [NO ] matchClusters: cluster north is not in the GDP's matchClusters"),
        "{text}"
    );
    // The operator serves the report as JSON; the command reads it back unchanged.
    let back: ExplainReport =
        serde_json::from_value(report.to_json()).expect("the JSON reads back");
    assert_eq!(back, report);
    let same = serde_json::to_value(&report).expect("JSON");
    assert_eq!(same["exit_code"], serde_json::Value::Null);
    assert_eq!(report.to_json()["exit_code"], 0);
}

#[test]
fn in_sync_copies_say_so() {
    let world = world();
    let mut report = ExplainReport::from_world(&world, Subject::Fqdn(FQDN.into()), "standalone");
    report.gslb_services[0].set_copies(
        Some(json!({"name": FQDN})),
        Some(json!({"name": FQDN, "uuid": "gs-1"})),
    );
    assert!(report.gslb_services[0].in_sync);
    assert!(
        report
            .render_text()
            .contains("the controller's copy is in sync")
    );
}

#[test]
fn an_object_of_a_cluster_outside_the_gslbconfig_is_not_found_and_says_why() {
    let world = world();
    let report = ExplainReport::from_world(&world, object_subject("web", "south"), "standalone");
    assert!(!report.found);
    assert_eq!(report.exit_code(), EXIT_ERROR);
    assert_eq!(
        report.warnings,
        ["cluster south is not a member cluster of the GSLBConfig (memberClusters: east, north)"]
    );
}

#[test]
fn without_an_accepted_gdp_every_host_says_so() {
    let mut world = world();
    world.set_policy(None);
    let report = ExplainReport::from_world(&world, object_subject("web", "east"), "standalone");
    let [host] = &report.hosts[..] else {
        panic!("{:?}", report.hosts)
    };
    let last = host.reasons.last().expect("reasons");
    assert_eq!((last.check, last.passed), (Check::Policy, false));
    assert!(report.warnings[0].contains("no GlobalDeploymentPolicy is accepted"));
}
