//! Property tests of the GslbService model: deterministic and order-independent (shuffled inputs
//! give byte-equal payloads), and in sync with its own echo from a controller that fills in
//! defaults, ids and name-bearing references; a changed echo is never in sync.

mod common;

use common::fixtures;
use proptest::prelude::*;
use serde_json::{Value, json};

use amko::model::compare::{differences, in_sync};
use std::sync::Arc;

use amko::model::{GsInputs, build_gslb_service};
use amko::vocab::{GsKey, HostRuleOverrides, Member, Policy, Split, ThirdPartyMember};

fn build_json(
    key: &GsKey,
    members: &[Member],
    policy: &Policy,
    ghr: Option<&HostRuleOverrides>,
) -> (String, Vec<String>) {
    let settings = fixtures::settings();
    let input = GsInputs {
        key: key.clone(),
        domain_names: vec![key.fqdn.clone(), format!("alias.{}", key.fqdn)],
        members: members.to_vec(),
        policy: Arc::new(policy.clone()),
        overrides: ghr.cloned().map(Arc::new),
    };
    let desired = build_gslb_service(&input, &settings, None).expect("members present");
    (
        serde_json::to_string(&desired.gslb_service).expect("json"),
        desired
            .health_monitors
            .iter()
            .map(|h| serde_json::to_string(h).expect("json"))
            .collect(),
    )
}

/// What a controller sends back for a payload it accepted: ids, timestamps, defaults it fills in,
/// and references as URLs carrying the object's uuid and (with include_name) its name.
fn controller_echo(payload: &Value, uuid: &str) -> Value {
    fn refs_to_urls(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if key.ends_with("_ref") || key.ends_with("_refs") {
                        to_url(v);
                    } else {
                        refs_to_urls(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(refs_to_urls),
            _ => {}
        }
    }
    fn to_url(v: &mut Value) {
        match v {
            Value::String(s) => {
                let (kind, name) = amko::model::compare::ref_identity(s);
                *s = format!("https://127.0.0.1/api/{kind}/{kind}-{}#{name}", name.len());
            }
            Value::Array(items) => items.iter_mut().for_each(to_url),
            _ => {}
        }
    }
    let mut echo = payload.clone();
    refs_to_urls(&mut echo);
    let map = echo.as_object_mut().expect("payload is an object");
    map.insert("uuid".into(), json!(uuid));
    map.insert(
        "url".into(),
        json!(format!("https://127.0.0.1/api/gslbservice/{uuid}")),
    );
    map.insert("_last_modified".into(), json!("1732600000000000"));
    map.entry("down_response")
        .or_insert(json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_NONE"}));
    map.insert("topology_policy_enabled".into(), json!(false));
    if let Some(groups) = map.get_mut("groups").and_then(Value::as_array_mut) {
        for group in groups {
            group["manual_resume"] = json!(false);
            for member in group["members"].as_array_mut().into_iter().flatten() {
                member["preference_order"] = json!(1);
                member["resolve_fqdn_to_v6"] = json!(false);
            }
        }
    }
    echo
}

fn overrides_strategy() -> impl Strategy<Value = Option<HostRuleOverrides>> {
    proptest::option::of(
        (1u32..=20, 0u32..=100, 0u32..=86400, any::<bool>()).prop_map(
            |(weight, priority, ttl, third_party)| {
                let mut o = HostRuleOverrides {
                    source: "avi-system/ghr".into(),
                    fqdn: fixtures::fqdn(0),
                    tenant: "admin".into(),
                    ..Default::default()
                };
                o.traffic_split
                    .insert(fixtures::cluster_name(1), Split { weight, priority });
                o.properties.ttl = Some(ttl);
                if third_party {
                    o.third_party_members.insert(ThirdPartyMember {
                        site: "legacy".into(),
                        vip: "203.0.113.9".parse().expect("ip"),
                        public_ip: None,
                    });
                }
                o
            },
        ),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn shuffled_members_give_byte_equal_payloads(
        clusters in 1usize..12,
        seed in any::<u64>(),
        ghr in overrides_strategy(),
    ) {
        let members: Vec<Member> = fixtures::members(clusters, 3).into_iter().filter(|m| m.key.fqdn == fixtures::fqdn(0)).collect();
        let key = members[0].key.clone();
        let policy = fixtures::policy(clusters);
        let mut shuffled = members.clone();
        // Fisher-Yates with a tiny LCG: proptest drives the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (state >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(build_json(&key, &members, &policy, ghr.as_ref()), build_json(&key, &shuffled, &policy, ghr.as_ref()));
    }

    #[test]
    fn desired_equals_its_controller_echo_and_drift_is_detected(
        clusters in 1usize..12,
        ghr in overrides_strategy(),
        bump in 0usize..1000,
    ) {
        let members: Vec<Member> = fixtures::members(clusters, 3).into_iter().filter(|m| m.key.fqdn == fixtures::fqdn(0)).collect();
        let key = members[0].key.clone();
        let policy = fixtures::policy(clusters);
        let (gs, hms) = build_json(&key, &members, &policy, ghr.as_ref());
        let desired: Value = serde_json::from_str(&gs).expect("json");
        let echo = controller_echo(&desired, "gslbservice-1");
        prop_assert!(in_sync(&desired, &echo), "{:?}", differences(&desired, &echo));
        for hm in &hms {
            let desired_hm: Value = serde_json::from_str(hm).expect("json");
            let echo_hm = controller_echo(&desired_hm, "healthmonitor-1");
            prop_assert!(in_sync(&desired_hm, &echo_hm), "{:?}", differences(&desired_hm, &echo_hm));
        }

        // Change one member's ratio out of band: always drift.
        let mut drifted = echo.clone();
        let groups = drifted["groups"].as_array_mut().expect("groups");
        let g = bump % groups.len();
        let members_json = groups[g]["members"].as_array_mut().expect("members");
        let m = bump % members_json.len();
        let ratio = members_json[m]["ratio"].as_u64().expect("ratio");
        members_json[m]["ratio"] = json!(ratio % 20 + 1);
        prop_assert!(!in_sync(&desired, &drifted));

        // A TTL set out of band is drift when we do not manage one.
        let mut with_ttl = echo.clone();
        with_ttl["ttl"] = json!(ghr.as_ref().and_then(|o| o.properties.ttl).map_or(5, |t| t + 1));
        prop_assert!(!in_sync(&desired, &with_ttl));
    }
}
