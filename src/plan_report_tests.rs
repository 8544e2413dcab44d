//! Tests of `amko plan`'s pure part: proposed objects from YAML, and the report of what the
//! writer's plan would write, with the fields that differ.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::*;
use crate::ingest::{Ingested, Labels, ObjectKind, Observation, ObservationId};
use crate::model::plan::ControllerObject;
use crate::state::ObjectId;
use crate::vocab::{ClusterMatch, GsKey, InstanceSettings, LabelSelector, Policy, Split};

const HOME: &str = "avi-system";
const CREATED_BY: &str = "amko-test";

const GDP_AND_RULE: &str = r#"
apiVersion: amko.vmware.com/v1alpha2
kind: GlobalDeploymentPolicy
metadata:
  name: global-gdp
spec:
  matchClusters:
    - cluster: east
---
apiVersion: amko.vmware.com/v1alpha1
kind: GSLBHostRule
metadata:
  name: shop
  namespace: avi-system
spec:
  fqdn: shop.example.com
  ttl: 30
---
"#;

fn read(text: &str) -> Result<Proposed, ProposedError> {
    let mut proposed = Proposed::default();
    proposed.read("new.yaml", text, HOME)?;
    Ok(proposed)
}

#[test]
fn reads_gdps_and_host_rules_from_a_multi_document_file() {
    let proposed = read(GDP_AND_RULE).expect("valid file");
    assert_eq!(proposed.gdps.len(), 1);
    assert_eq!(proposed.gdps[0].namespace().as_deref(), Some(HOME));
    assert_eq!(proposed.rules.len(), 1);
    assert_eq!(proposed.rules[0].spec.fqdn, "shop.example.com");
}

#[test]
fn a_kubectl_list_is_read_item_by_item() {
    let list = "apiVersion: v1\nkind: List\nitems:\n- kind: GlobalDeploymentPolicy\n  metadata: {name: g}\n  spec: {}\n- kind: GSLBHostRule\n  metadata: {name: r, namespace: shop}\n  spec: {fqdn: a.b}\n";
    let proposed = read(list).expect("valid list");
    assert_eq!((proposed.gdps.len(), proposed.rules.len()), (1, 1));
    let err = read("kind: List\nitems:\n- kind: Secret\n").expect_err("a Secret");
    assert!(err.to_string().contains("\"Secret\""), "{err}");
}

#[test]
fn a_later_object_of_the_same_name_replaces_an_earlier_one() {
    let mut proposed = read(GDP_AND_RULE).expect("valid file");
    proposed
        .read(
            "second.yaml",
            "kind: GlobalDeploymentPolicy\nmetadata: {name: global-gdp}\nspec: {matchClusters: [{cluster: west}]}\n",
            HOME,
        )
        .expect("valid file");
    assert_eq!(proposed.gdps.len(), 1);
    assert_eq!(
        serde_json::to_value(&proposed.gdps[0].spec).expect("json")["matchClusters"][0]["cluster"],
        "west"
    );
}

#[test]
fn unusable_documents_are_errors_naming_file_and_document() {
    let cases = [
        (
            "kind: Ingress\nmetadata: {name: x}\n",
            "new.yaml, document 1: kind \"Ingress\" is not a GlobalDeploymentPolicy or GSLBHostRule",
        ),
        (
            "kind: GlobalDeploymentPolicy\nmetadata: {name: g, namespace: other}\nspec: {}\n",
            "new.yaml, document 1: GlobalDeploymentPolicy g is in namespace other; amko-rs reads GDPs only from avi-system",
        ),
        (
            "---\nkind: GlobalDeploymentPolicy\nmetadata: {name: g}\nspec: {}\n---\nkind: GSLBHostRule\nmetadata: {name: r}\nspec: {fqdn: a.b}\n",
            "new.yaml, document 2: GSLBHostRule r has no metadata.namespace",
        ),
    ];
    for (text, message) in cases {
        let err = read(text).expect_err(text);
        assert_eq!(err.to_string(), message, "{text}");
    }
    assert!(matches!(
        read("kind: [unclosed"),
        Err(ProposedError::Yaml { .. })
    ));
    assert!(matches!(
        read("kind: GSLBHostRule\nmetadata: {name: r, namespace: n}\nspec: {ttl: many}\n"),
        Err(ProposedError::Object {
            kind: "GSLBHostRule",
            document: 1,
            ..
        })
    ));
}

#[test]
fn a_proposed_object_is_an_edit_of_the_live_one_or_a_new_object() {
    let now: Timestamp = "2026-12-03T10:00:00Z".parse().expect("time");
    let mut live = read(GDP_AND_RULE).expect("valid file");
    live.gdps[0].metadata.uid = Some("uid-gdp".into());
    live.gdps[0].metadata.generation = Some(4);
    let created: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
    live.gdps[0].metadata.creation_timestamp = Some(Time(created));

    // Same spec: same version, so it is not validated again.
    let same = read(GDP_AND_RULE)
        .expect("valid file")
        .as_applied_to(&live.gdps, &[], now);
    assert_eq!(same.gdps[0].metadata.uid.as_deref(), Some("uid-gdp"));
    assert_eq!(same.gdps[0].metadata.generation, Some(4));
    assert_eq!(
        same.gdps[0].metadata.creation_timestamp,
        Some(Time(created))
    );

    // Changed spec: the next generation of the same object.
    let edited = read(&GDP_AND_RULE.replace("cluster: east", "cluster: west"))
        .expect("valid file")
        .as_applied_to(&live.gdps, &[], now);
    assert_eq!(edited.gdps[0].metadata.uid.as_deref(), Some("uid-gdp"));
    assert_eq!(edited.gdps[0].metadata.generation, Some(5));

    // No live rule of that name: a new object, created now (the newest claimant).
    assert_eq!(
        edited.rules[0].metadata.uid.as_deref(),
        Some("proposed:avi-system/shop")
    );
    assert_eq!(edited.rules[0].metadata.creation_timestamp, Some(Time(now)));
}

fn settings() -> InstanceSettings {
    InstanceSettings {
        created_by: CREATED_BY.into(),
        default_tenant: "admin".into(),
        use_custom_global_fqdn: false,
        member_clusters: ["east", "west"].iter().map(|c| c.to_string()).collect(),
    }
}

fn policy(east_weight: u32) -> Policy {
    Policy {
        name: "gdp".into(),
        app_selector: Some(LabelSelector(BTreeMap::from([(
            "app".into(),
            "gslb".into(),
        )]))),
        match_clusters: ["east", "west"]
            .iter()
            .map(|c| (c.to_string(), ClusterMatch::default()))
            .collect(),
        traffic_split: BTreeMap::from([
            (
                "east".to_owned(),
                Split {
                    weight: east_weight,
                    priority: 10,
                },
            ),
            (
                "west".to_owned(),
                Split {
                    weight: 1,
                    priority: 10,
                },
            ),
        ]),
        ..Policy::default()
    }
}

fn observation(cluster: &str, vip: &str) -> Observation {
    Observation {
        id: ObservationId {
            kind: ObjectKind::Ingress,
            cluster: cluster.into(),
            namespace: "shop".into(),
            name: "web".into(),
            host: "shop.example.com".into(),
        },
        hostname: "shop.example.com".into(),
        vip: vip.parse().expect("ip"),
        labels: Labels::from_iter([("app", "gslb")]),
        paths: vec!["/".into()],
        tls: false,
        passthrough: false,
        port: None,
        vs_uuid: Some(format!("virtualservice-{cluster}")),
        controller_uuid: Some("cluster-1".into()),
        tenant: None,
    }
}

fn world(east_weight: u32) -> World {
    let mut world = World::new(settings());
    world.set_policy(Some(policy(east_weight)));
    for (cluster, vip) in [("east", "10.0.0.1"), ("west", "10.0.0.2")] {
        let o = observation(cluster, vip);
        world.upsert_object(
            ObjectId::of(&o.id),
            Ingested {
                observations: vec![o],
                skipped: vec![],
            },
        );
    }
    world
}

fn key() -> GsKey {
    GsKey {
        tenant: "admin".into(),
        fqdn: "shop.example.com".into(),
    }
}

/// The controller after `amko run` wrote `world`'s desired state (plus the fields the
/// controller adds).
fn controller_holding(world: &World) -> ControllerState {
    let desired = world.desired(&key(), None).expect("desired");
    let mut state = ControllerState::default();
    for (i, hm) in desired.health_monitors.iter().enumerate() {
        let mut body = serde_json::to_value(hm).expect("json");
        body["uuid"] = json!(format!("healthmonitor-{i}"));
        body["_last_modified"] = json!("1");
        state.insert_health_monitor(ControllerObject::from_body("admin", body).expect("object"));
    }
    let mut body = serde_json::to_value(&desired.gslb_service).expect("json");
    body["uuid"] = json!("gslbservice-1");
    body["url"] = json!("https://controller/api/gslbservice/gslbservice-1");
    state.insert_gslb_service(ControllerObject::from_body("admin", body).expect("object"));
    state
}

#[test]
fn an_empty_controller_gets_the_gslb_service_created() {
    let report = plan_all(
        &world(1),
        None,
        &ControllerState::default(),
        &BTreeSet::new(),
        CREATED_BY,
    );
    let gs: Vec<&Change> = report
        .changes
        .iter()
        .filter(|c| c.object_type == "gslbservice")
        .collect();
    assert_eq!(gs.len(), 1, "{report:?}");
    assert_eq!(gs[0].action, Action::Create);
    assert_eq!(gs[0].name, "shop.example.com");
    assert_eq!(report.exit_code(), EXIT_CHANGES);
}

#[test]
fn an_in_sync_controller_means_no_changes_and_exit_code_zero() {
    let world = world(1);
    let report = plan_all(
        &world,
        None,
        &controller_holding(&world),
        &BTreeSet::new(),
        CREATED_BY,
    );
    assert_eq!(report, PlanReport::default());
    assert_eq!(report.exit_code(), EXIT_NO_CHANGES);
    assert!(report.render_table().contains("no changes"));
}

#[test]
fn a_weight_change_is_an_update_listing_the_ratio_of_the_member() {
    let cache = controller_holding(&world(1));
    let report = plan_all(&world(5), None, &cache, &BTreeSet::new(), CREATED_BY);
    assert_eq!(report.changes.len(), 1, "{report:?}");
    let change = &report.changes[0];
    assert_eq!(
        (change.action, change.object_type, change.name.as_str()),
        (Action::Update, "gslbservice", "shop.example.com")
    );
    assert_eq!(change.gslb_service, "admin/shop.example.com");
    let ratio: Vec<(&Value, &Value)> = change
        .fields
        .iter()
        .filter(|f| f.path.ends_with("/ratio"))
        .map(|f| (&f.before, &f.after))
        .collect();
    assert_eq!(ratio, vec![(&json!(1), &json!(5))], "{:?}", change.fields);
    assert_eq!(report.exit_code(), EXIT_CHANGES);
    let table = report.render_table();
    assert!(
        table.contains("update  gslbservice  admin/shop.example.com"),
        "{table}"
    );
    assert!(
        table.contains("/ratio (member 10.0.0.1): 1 -> 5"),
        "{table}"
    );
    let member: Vec<Option<&str>> = change.fields.iter().map(|f| f.member.as_deref()).collect();
    assert_eq!(member, vec![Some("10.0.0.1")], "the east member's ratio");
    assert!(
        table.contains("0 to create, 1 to update, 0 to delete"),
        "{table}"
    );
    let json = report.to_json();
    assert_eq!(json["exit_code"], 2);
    assert_eq!(json["summary"]["update"], 1);
    assert_eq!(json["changes"][0]["action"], "update");
}

#[test]
fn an_owned_gslb_service_nothing_wants_is_deleted_and_a_foreign_one_left_alone() {
    let mut cache = controller_holding(&world(1));
    let mut orphan =
        json!({"uuid": "gslbservice-2", "name": "old.example.com", "created_by": CREATED_BY});
    cache.insert_gslb_service(ControllerObject::from_body("admin", orphan.take()).expect("object"));
    let report = plan_all(&world(1), None, &cache, &BTreeSet::new(), CREATED_BY);
    assert_eq!(report.changes.len(), 1, "{report:?}");
    assert_eq!(report.changes[0].action, Action::Delete);
    assert_eq!(report.changes[0].name, "old.example.com");

    let mut foreign = controller_holding(&world(1));
    let mut body =
        foreign.gslb_services()[&("admin".to_owned(), "shop.example.com".to_owned())].body();
    body["created_by"] = json!("someone-else");
    foreign.insert_gslb_service(ControllerObject::from_body("admin", body).expect("object"));
    let report = plan_all(&world(5), None, &foreign, &BTreeSet::new(), CREATED_BY);
    assert!(report.changes.is_empty(), "{report:?}");
    assert_eq!(report.conflicts.len(), 1, "{report:?}");
    assert_eq!(report.exit_code(), EXIT_NO_CHANGES);
}

#[test]
fn a_gslb_service_with_members_of_an_unlisted_cluster_is_deferred() {
    let cache = controller_holding(&world(1));
    let unsynced = BTreeSet::from(["west".to_owned()]);
    let report = plan_all(&world(5), None, &cache, &unsynced, CREATED_BY);
    assert!(report.changes.is_empty(), "{report:?}");
    assert_eq!(
        report.deferred,
        vec![Deferred {
            gslb_service: "admin/shop.example.com".into(),
            clusters: vec!["west".into()],
        }]
    );
}

#[test]
fn a_proposed_object_problem_makes_the_exit_code_one() {
    let report = PlanReport {
        problems: vec!["GlobalDeploymentPolicy global-gdp: bad".into()],
        ..PlanReport::default()
    };
    assert_eq!(report.exit_code(), EXIT_ERROR);
    assert!(
        report
            .render_table()
            .starts_with("invalid: GlobalDeploymentPolicy")
    );
}

#[test]
fn a_member_field_names_the_member_by_its_ip_address() {
    let desired = json!({"groups": [{"members": [{"ip": {"addr": "10.0.0.9"}, "ratio": 5}]}]});
    let current = json!({"groups": [{"members": [{"ip": {"addr": "10.0.0.9"}, "ratio": 1}]}]});
    let fields = field_changes(&desired, Some(&current));
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].path, "/groups/0/members/0/ratio");
    assert_eq!(fields[0].member.as_deref(), Some("10.0.0.9"));
}

#[test]
fn field_changes_name_each_differing_field_once_with_both_values() {
    let desired = json!({"name": "a", "ttl": 30, "groups": [{"members": [1, 2]}]});
    let current = json!({"name": "a", "uuid": "u", "groups": [{"members": [1]}]});
    let fields = field_changes(&desired, Some(&current));
    assert_eq!(
        fields,
        vec![
            FieldChange {
                path: "/groups/0/members".into(),
                before: json!([1]),
                after: json!([1, 2]),
                member: None,
            },
            FieldChange {
                path: "/ttl".into(),
                before: Value::Null,
                after: json!(30),
                member: None,
            },
        ]
    );
}
