//! Tests of `InForce`: which GDP and which GSLBHostRules are in force after a sequence of watch
//! events and validation rounds, and what every object's status says.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::error::Problem;
use super::in_force::*;
use crate::crd::{
    GlobalDeploymentPolicy, GlobalDeploymentPolicySpec, GslbHostRule, GslbHostRuleSpec,
};
use crate::vocab::{GsKey, GsProperties, HostRuleOverrides, Policy};

// ---------------------------------------------------------------- fixtures

const HOME: &str = "avi-system";

fn at(second: i64) -> Option<Time> {
    Some(Time(
        Timestamp::from_second(second).expect("a valid test time"),
    ))
}

/// A GDP created at second `created`; its ttl is its generation, so versions are told apart.
fn gdp(name: &str, created: i64, generation: i64) -> GlobalDeploymentPolicy {
    let mut gdp = GlobalDeploymentPolicy::new(
        name,
        GlobalDeploymentPolicySpec {
            ttl: Some(generation),
            ..GlobalDeploymentPolicySpec::default()
        },
    );
    gdp.metadata.namespace = Some(HOME.into());
    gdp.metadata.uid = Some(format!("uid-{name}"));
    gdp.metadata.generation = Some(generation);
    gdp.metadata.creation_timestamp = at(created);
    gdp
}

/// The compiled form of generation `generation` of GDP `name`.
fn policy(name: &str, generation: u32) -> Policy {
    Policy {
        name: name.into(),
        properties: GsProperties {
            ttl: Some(generation),
            ..GsProperties::default()
        },
        ..Policy::default()
    }
}

fn split(key: &str) -> (String, String) {
    let (namespace, name) = key.split_once('/').expect("namespace/name");
    (namespace.into(), name.into())
}

/// A GSLBHostRule `namespace/name` created at second `created`, for `fqdn`.
fn rule(key: &str, created: i64, generation: i64, fqdn: &str) -> GslbHostRule {
    let (namespace, name) = split(key);
    let mut rule = GslbHostRule::new(
        &name,
        GslbHostRuleSpec {
            fqdn: fqdn.into(),
            ttl: Some(generation),
            ..GslbHostRuleSpec::default()
        },
    );
    rule.metadata.namespace = Some(namespace);
    rule.metadata.uid = Some(format!("uid-{key}"));
    rule.metadata.generation = Some(generation);
    rule.metadata.creation_timestamp = at(created);
    rule
}

/// The compiled form of a GSLBHostRule `namespace/name` for `tenant/fqdn`.
fn overrides(key: &str, tenant: &str, fqdn: &str, ttl: u32) -> HostRuleOverrides {
    HostRuleOverrides {
        source: key.into(),
        fqdn: fqdn.into(),
        tenant: tenant.into(),
        properties: GsProperties {
            ttl: Some(ttl),
            ..GsProperties::default()
        },
        ..HostRuleOverrides::default()
    }
}

fn unknown_cluster() -> Problem {
    Problem::MatchClusterUnknown {
        cluster: "nowhere".into(),
    }
}

fn bad_vip() -> Problem {
    Problem::ThirdPartyVipInvalid {
        site: "dc3".into(),
        vip: "not-an-ip".into(),
    }
}

/// What validation says about the version of an object up for validation.
#[derive(Clone)]
enum Outcome<T> {
    Valid(T),
    Invalid(Problem),
    /// Invalid, but the version recorded on the object as last accepted is still valid.
    Recovers(Problem, T),
    /// The controller could not be read: no verdict.
    Unreachable,
}
use Outcome::*;

impl<T> Outcome<T> {
    fn checked(self, version: Version) -> Option<Checked<T>> {
        let (verdict, recovered) = match self {
            Valid(value) => (Ok(value), None),
            Invalid(problem) => (Err(problem), None),
            Recovers(problem, previous) => (Err(problem), Some(previous)),
            Unreachable => return None,
        };
        Some(Checked {
            version,
            verdict,
            recovered,
        })
    }
}

#[derive(Clone)]
enum Step {
    Gdp(GlobalDeploymentPolicy),
    DeleteGdp(&'static str),
    Rule(GslbHostRule),
    DeleteRule(&'static str),
    /// The GDP watch relists (after a gap) and returns exactly these.
    RelistGdps(Vec<GlobalDeploymentPolicy>),
    /// The GSLBHostRule watch relists and returns exactly these.
    RelistRules(Vec<GslbHostRule>),
    /// A validation round: exactly these objects are up for validation, with these outcomes.
    Check {
        gdps: Vec<(&'static str, Outcome<Policy>)>,
        rules: Vec<(&'static str, Outcome<HostRuleOverrides>)>,
    },
    WriteProblem(&'static str, &'static str, Option<&'static str>),
}

fn check_gdps(gdps: Vec<(&'static str, Outcome<Policy>)>) -> Step {
    Step::Check {
        gdps,
        rules: vec![],
    }
}

fn check_rules(rules: Vec<(&'static str, Outcome<HostRuleOverrides>)>) -> Step {
    Step::Check {
        gdps: vec![],
        rules,
    }
}

/// Runs the steps on a fresh `InForce` with both kinds listed; returns it and the decision of
/// the last step.
fn run(steps: Vec<Step>) -> (InForce, Decision) {
    let mut book = InForce::new();
    book.gdps_listed();
    book.rules_listed();
    let mut last = Decision::default();
    for step in steps {
        last = match step {
            Step::Gdp(gdp) => {
                book.gdp_applied(gdp);
                Decision::default()
            }
            Step::DeleteGdp(name) => {
                book.gdp_deleted(name);
                Decision::default()
            }
            Step::Rule(rule) => {
                book.rule_applied(rule);
                Decision::default()
            }
            Step::DeleteRule(key) => {
                book.rule_deleted(&split(key));
                Decision::default()
            }
            Step::RelistGdps(gdps) => {
                book.gdps_list_started();
                for gdp in gdps {
                    book.gdp_applied(gdp);
                }
                book.gdps_listed();
                Decision::default()
            }
            Step::RelistRules(rules) => {
                book.rules_list_started();
                for rule in rules {
                    book.rule_applied(rule);
                }
                book.rules_listed();
                Decision::default()
            }
            Step::Check { gdps, rules } => round(&mut book, gdps, rules),
            Step::WriteProblem(tenant, fqdn, message) => book.write_problem(
                GsKey {
                    tenant: tenant.into(),
                    fqdn: fqdn.into(),
                },
                message.map(Into::into),
            ),
        };
    }
    (book, last)
}

fn round(
    book: &mut InForce,
    gdps: Vec<(&'static str, Outcome<Policy>)>,
    rules: Vec<(&'static str, Outcome<HostRuleOverrides>)>,
) -> Decision {
    let to_check = book.begin_check().expect("a validation round may start");
    let up: BTreeSet<String> = to_check.gdps.iter().map(|g| g.name_any()).collect();
    let given: BTreeSet<String> = gdps.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(up, given, "GDPs up for validation");
    let up: BTreeSet<String> = to_check
        .rules
        .iter()
        .map(|r| format!("{}/{}", r.namespace().unwrap_or_default(), r.name_any()))
        .collect();
    let given: BTreeSet<String> = rules.iter().map(|(k, _)| k.to_string()).collect();
    assert_eq!(up, given, "GSLBHostRules up for validation");
    let mut gdps: BTreeMap<&str, Outcome<Policy>> = gdps.into_iter().collect();
    let mut rules: BTreeMap<&str, Outcome<HostRuleOverrides>> = rules.into_iter().collect();
    let mut checks = Checks::default();
    for object in &to_check.gdps {
        let outcome = gdps.remove(object.name_any().as_str()).expect("an outcome");
        if let Some(checked) = outcome.checked(version(object)) {
            checks.gdps.insert(object.name_any(), checked);
        }
    }
    for object in &to_check.rules {
        let (namespace, name) = rule_key(object);
        let outcome = rules
            .remove(format!("{namespace}/{name}").as_str())
            .expect("an outcome");
        if let Some(checked) = outcome.checked(version(object)) {
            checks.rules.insert(rule_key(object), checked);
        }
    }
    book.checked(checks)
}

fn publication(decision: &Decision) -> &Publication {
    decision
        .publication
        .as_ref()
        .expect("the decision publishes")
}

fn statuses(p: &Publication) -> Vec<(&str, &str)> {
    p.gdp_statuses
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_str()))
        .collect()
}

fn rule_statuses(p: &Publication) -> Vec<(String, &'static str, &str)> {
    p.rule_statuses
        .iter()
        .map(|((ns, n), s)| (format!("{ns}/{n}"), s.status, s.error.as_str()))
        .collect()
}

// ---------------------------------------------------------------- GDPs

struct GdpCase {
    name: &'static str,
    steps: Vec<Step>,
    /// `None`: nothing is published (not every GDP has a verdict).
    policy: Option<GdpInForce>,
    statuses: &'static [(&'static str, &'static str)],
    /// (GDP, reason, message) of the warning Events.
    warnings: &'static [(&'static str, &'static str, &'static str)],
}

const GLOBAL: &str = "global-gdp";
const UNKNOWN_CLUSTER: &str = "cluster context nowhere in matchClusters not present in GSLBConfig";
const IN_FORCE_STAYS: &str = "cluster context nowhere in matchClusters not present in GSLBConfig (the previously accepted version stays in force)";
const GLOBAL_SUCCESS: &[(&str, &str)] = &[(GLOBAL, "success")];
const GLOBAL_STAYS: &[(&str, &str)] = &[(GLOBAL, IN_FORCE_STAYS)];
const GLOBAL_UNKNOWN_CLUSTER: &[(&str, &str)] = &[(GLOBAL, UNKNOWN_CLUSTER)];
const GLOBAL_REJECTED: &[(&str, &str, &str)] = &[(GLOBAL, "Rejected", UNKNOWN_CLUSTER)];

/// The verdict `Valid` with the compiled form of generation `generation` of GDP `name`.
fn valid_gdp(name: &'static str, generation: u32) -> (&'static str, Outcome<Policy>) {
    (name, Valid(policy(name, generation)))
}

/// Generation `generation` of GDP `name` (created at second `created`) applied, then a
/// validation round that finds it `outcome`.
fn gdp_checked(
    name: &'static str,
    created: i64,
    generation: i64,
    outcome: Outcome<Policy>,
) -> Vec<Step> {
    vec![
        Step::Gdp(gdp(name, created, generation)),
        check_gdps(vec![(name, outcome)]),
    ]
}

/// Generation `generation` of GDP `name` (created at second 100) applied and found valid.
fn gdp_accepted(name: &'static str, generation: u32) -> Vec<Step> {
    gdp_checked(
        name,
        100,
        i64::from(generation),
        Valid(policy(name, generation)),
    )
}

/// Generation `generation` of `global-gdp` applied and found to name an unknown cluster.
fn global_rejected(created: i64, generation: i64) -> Vec<Step> {
    gdp_checked(GLOBAL, created, generation, Invalid(unknown_cluster()))
}

/// Generation `generation` of GDP `name` is the policy in force.
fn in_force(name: &str, generation: u32) -> Option<GdpInForce> {
    Some(GdpInForce::Policy(Box::new(policy(name, generation))))
}

#[test]
fn which_gdp_is_in_force_and_what_each_gdp_is_told() {
    let cases = vec![
        GdpCase {
            name: "one valid GDP is in force",
            steps: gdp_accepted(GLOBAL, 1),
            policy: in_force(GLOBAL, 1),
            statuses: GLOBAL_SUCCESS,
            warnings: &[],
        },
        GdpCase {
            name: "two GDPs: the older one is in force, the other is told which exists",
            steps: vec![
                Step::Gdp(gdp("newer", 200, 1)),
                Step::Gdp(gdp("older", 100, 1)),
                check_gdps(vec![valid_gdp("newer", 1), valid_gdp("older", 1)]),
            ],
            policy: in_force("older", 1),
            statuses: &[
                (
                    "newer",
                    "a GlobalDeploymentPolicy (older) already exists, can't add another",
                ),
                ("older", "success"),
            ],
            warnings: &[],
        },
        GdpCase {
            name: "two GDPs created at once: the first by name is in force",
            steps: vec![
                Step::Gdp(gdp("b-gdp", 100, 1)),
                Step::Gdp(gdp("a-gdp", 100, 1)),
                check_gdps(vec![valid_gdp("a-gdp", 1), valid_gdp("b-gdp", 1)]),
            ],
            policy: in_force("a-gdp", 1),
            statuses: &[
                ("a-gdp", "success"),
                (
                    "b-gdp",
                    "a GlobalDeploymentPolicy (a-gdp) already exists, can't add another",
                ),
            ],
            warnings: &[],
        },
        GdpCase {
            name: "the GDP in force stays so when an older one appears",
            steps: [
                gdp_checked("first", 200, 1, Valid(policy("first", 1))),
                gdp_accepted("restored", 1),
            ]
            .concat(),
            policy: in_force("first", 1),
            statuses: &[
                ("first", "success"),
                (
                    "restored",
                    "a GlobalDeploymentPolicy (first) already exists, can't add another",
                ),
            ],
            warnings: &[],
        },
        GdpCase {
            name: "an invalid older GDP does not take over from a valid newer one",
            steps: vec![
                Step::Gdp(gdp("broken", 100, 1)),
                Step::Gdp(gdp("good", 200, 1)),
                check_gdps(vec![
                    ("broken", Invalid(unknown_cluster())),
                    valid_gdp("good", 1),
                ]),
            ],
            policy: in_force("good", 1),
            statuses: &[
                (
                    "broken",
                    "a GlobalDeploymentPolicy (good) already exists, can't add another",
                ),
                ("good", "success"),
            ],
            warnings: &[("broken", "Rejected", UNKNOWN_CLUSTER)],
        },
        GdpCase {
            name: "a valid GDP edited to an invalid one: the last good version stays in force",
            steps: [gdp_accepted(GLOBAL, 1), global_rejected(100, 2)].concat(),
            policy: in_force(GLOBAL, 1),
            statuses: GLOBAL_STAYS,
            warnings: GLOBAL_REJECTED,
        },
        GdpCase {
            name: "an invalid edit fixed again: the new version is in force",
            steps: [
                gdp_accepted(GLOBAL, 1),
                global_rejected(100, 2),
                gdp_accepted(GLOBAL, 3),
            ]
            .concat(),
            policy: in_force(GLOBAL, 3),
            statuses: GLOBAL_SUCCESS,
            warnings: &[],
        },
        GdpCase {
            name: "only invalid GDPs on a fresh start: nothing is handed on",
            steps: global_rejected(100, 1),
            policy: Some(GdpInForce::Withheld),
            statuses: GLOBAL_UNKNOWN_CLUSTER,
            warnings: GLOBAL_REJECTED,
        },
        GdpCase {
            name: "after a restart an invalid GDP is recovered from its last accepted spec",
            steps: gdp_checked(
                GLOBAL,
                100,
                2,
                Recovers(unknown_cluster(), policy(GLOBAL, 1)),
            ),
            policy: in_force(GLOBAL, 1),
            statuses: GLOBAL_STAYS,
            warnings: GLOBAL_REJECTED,
        },
        GdpCase {
            name: "a recovered version does not replace the last good one of this run",
            steps: [
                gdp_accepted(GLOBAL, 1),
                gdp_checked(
                    GLOBAL,
                    100,
                    2,
                    Recovers(unknown_cluster(), policy(GLOBAL, 0)),
                ),
            ]
            .concat(),
            policy: in_force(GLOBAL, 1),
            statuses: GLOBAL_STAYS,
            warnings: GLOBAL_REJECTED,
        },
        GdpCase {
            name: "the only GDP deleted: no policy",
            steps: [
                gdp_accepted(GLOBAL, 1),
                vec![Step::DeleteGdp(GLOBAL), check_gdps(vec![])],
            ]
            .concat(),
            policy: Some(GdpInForce::NoGdp),
            statuses: &[],
            warnings: &[],
        },
        GdpCase {
            name: "the GDP in force deleted: the other valid one takes over",
            steps: vec![
                Step::Gdp(gdp("older", 100, 1)),
                Step::Gdp(gdp("newer", 200, 1)),
                check_gdps(vec![valid_gdp("older", 1), valid_gdp("newer", 1)]),
                Step::DeleteGdp("older"),
                check_gdps(vec![]),
            ],
            policy: in_force("newer", 1),
            statuses: &[("newer", "success")],
            warnings: &[],
        },
        GdpCase {
            name: "deleted and created again under the same name: its old version is gone",
            steps: [
                gdp_accepted(GLOBAL, 1),
                vec![Step::DeleteGdp(GLOBAL)],
                global_rejected(300, 1),
            ]
            .concat(),
            policy: Some(GdpInForce::Withheld),
            statuses: GLOBAL_UNKNOWN_CLUSTER,
            warnings: GLOBAL_REJECTED,
        },
        GdpCase {
            name: "a relist without the only GDP: it was deleted, no policy (as a deletion)",
            steps: [
                gdp_accepted(GLOBAL, 1),
                vec![Step::RelistGdps(vec![]), check_gdps(vec![])],
            ]
            .concat(),
            policy: Some(GdpInForce::NoGdp),
            statuses: &[],
            warnings: &[],
        },
        GdpCase {
            name: "a relist without the GDP in force: the other valid one takes over",
            steps: vec![
                Step::Gdp(gdp("older", 100, 1)),
                Step::Gdp(gdp("newer", 200, 1)),
                check_gdps(vec![valid_gdp("older", 1), valid_gdp("newer", 1)]),
                Step::RelistGdps(vec![gdp("newer", 200, 1)]),
                check_gdps(vec![]),
            ],
            policy: in_force("newer", 1),
            statuses: &[("newer", "success")],
            warnings: &[],
        },
        GdpCase {
            name: "a relist returning the same GDP changes nothing and validates nothing",
            steps: [
                gdp_accepted(GLOBAL, 1),
                vec![
                    Step::RelistGdps(vec![gdp(GLOBAL, 100, 1)]),
                    check_gdps(vec![]),
                ],
            ]
            .concat(),
            policy: in_force(GLOBAL, 1),
            statuses: GLOBAL_SUCCESS,
            warnings: &[],
        },
        GdpCase {
            name: "a relist returning an invalid edit: the last good version stays in force",
            steps: [
                gdp_accepted(GLOBAL, 1),
                vec![
                    Step::RelistGdps(vec![gdp(GLOBAL, 100, 2)]),
                    check_gdps(vec![(GLOBAL, Invalid(unknown_cluster()))]),
                ],
            ]
            .concat(),
            policy: in_force(GLOBAL, 1),
            statuses: GLOBAL_STAYS,
            warnings: GLOBAL_REJECTED,
        },
        GdpCase {
            name: "a GDP deleted and recreated during the gap: the new object, validated afresh",
            steps: [
                gdp_accepted(GLOBAL, 1),
                vec![
                    Step::RelistGdps(vec![{
                        let mut again = gdp(GLOBAL, 300, 1);
                        again.metadata.uid = Some("uid-recreated".into());
                        again
                    }]),
                    check_gdps(vec![(GLOBAL, Invalid(unknown_cluster()))]),
                ],
            ]
            .concat(),
            // Same name, so the old accepted version is not forgotten: a recreated object is an
            // edit as far as a watch can tell.
            policy: in_force(GLOBAL, 1),
            statuses: GLOBAL_STAYS,
            warnings: GLOBAL_REJECTED,
        },
        GdpCase {
            name: "no GDP at all: no policy",
            steps: vec![check_gdps(vec![])],
            policy: Some(GdpInForce::NoGdp),
            statuses: &[],
            warnings: &[],
        },
        GdpCase {
            name: "a GDP that could not be checked holds back publishing",
            steps: vec![
                Step::Gdp(gdp("checked", 100, 1)),
                Step::Gdp(gdp("unchecked", 200, 1)),
                check_gdps(vec![valid_gdp("checked", 1), ("unchecked", Unreachable)]),
            ],
            policy: None,
            statuses: &[],
            warnings: &[],
        },
    ];
    for case in cases {
        let (book, decision) = run(case.steps);
        match (&case.policy, &decision.publication) {
            (None, None) => {}
            (Some(policy), Some(p)) => {
                assert_eq!(&p.policy, policy, "{}: policy", case.name);
                assert_eq!(statuses(p), case.statuses, "{}: statuses", case.name);
            }
            (expected, got) => panic!("{}: expected {expected:?}, got {got:?}", case.name),
        }
        let warnings: Vec<(&str, &str, &str)> = decision
            .warnings
            .iter()
            .map(|w| match &w.object {
                PolicyObject::Gdp(name) => (name.as_str(), w.reason, w.message.as_str()),
                other => panic!("{}: warning about {other:?}", case.name),
            })
            .collect();
        assert_eq!(warnings, case.warnings, "{}: warnings", case.name);
        if let Some(GdpInForce::Policy(p)) = &case.policy {
            assert_eq!(book.active_gdp(), Some(p.name.as_str()), "{}", case.name);
        }
    }
}

#[test]
fn policy_in_force_is_handed_on_as_the_selection_expects() {
    assert_eq!(GdpInForce::NoGdp.to_send(), Some(None));
    assert_eq!(
        GdpInForce::Policy(Box::new(policy("g", 1))).to_send(),
        Some(Some(policy("g", 1)))
    );
    assert_eq!(GdpInForce::Withheld.to_send(), None);
}

// ---------------------------------------------------------------- GSLBHostRules

struct RuleCase {
    name: &'static str,
    steps: Vec<Step>,
    /// (namespace/name, status, error) of the statuses the last step changed.
    statuses: &'static [(&'static str, &'static str, &'static str)],
    overrides: Option<OverridesChange>,
}

const SHOP: &str = "shop.example.com";
const HR: &str = "shop/hr";
const BAD_VIP: &str = "invalid vip not-an-ip for thirdPartyMembers site dc3 (expecting IP address)";
const VIP_STAYS: &str = "invalid vip not-an-ip for thirdPartyMembers site dc3 (expecting IP address) (the previously accepted version stays in force)";
const HR_ACCEPTED: &[(&str, &str, &str)] = &[(HR, "Accepted", "")];
const HR_STAYS: &[(&str, &str, &str)] = &[(HR, "Rejected", VIP_STAYS)];
const BAD_POOL: &str = "controller rejected: bad pool";

/// The compiled form of rule `key` for `admin/shop.example.com`.
fn shop_overrides(key: &str, ttl: u32) -> HostRuleOverrides {
    overrides(key, "admin", SHOP, ttl)
}

/// The verdict `Valid` with the compiled form of rule `key` for `admin/shop.example.com`.
fn valid_rule(key: &'static str, ttl: u32) -> (&'static str, Outcome<HostRuleOverrides>) {
    (key, Valid(shop_overrides(key, ttl)))
}

/// Generation `generation` of rule `key` for `shop.example.com` (created at second 100) applied,
/// then a validation round that finds it `outcome`.
fn rule_checked(
    key: &'static str,
    generation: i64,
    outcome: Outcome<HostRuleOverrides>,
) -> Vec<Step> {
    vec![
        Step::Rule(rule(key, 100, generation, SHOP)),
        check_rules(vec![(key, outcome)]),
    ]
}

/// Rule `shop/hr` applied and found valid, its overrides with ttl 1.
fn hr_accepted() -> Vec<Step> {
    rule_checked(HR, 1, Valid(shop_overrides(HR, 1)))
}

/// `shop/newer` and the older `team/older` claim `shop.example.com`, both valid.
fn two_claims() -> Vec<Step> {
    vec![
        Step::Rule(rule("shop/newer", 200, 1, SHOP)),
        Step::Rule(rule("team/older", 100, 1, SHOP)),
        check_rules(vec![
            valid_rule("shop/newer", 2),
            valid_rule("team/older", 1),
        ]),
    ]
}

/// The GslbService `admin/shop.example.com`.
fn shop_key() -> GsKey {
    GsKey {
        tenant: "admin".into(),
        fqdn: SHOP.into(),
    }
}

fn whole(overrides: Vec<HostRuleOverrides>) -> Option<OverridesChange> {
    Some(OverridesChange::Whole(overrides))
}

fn upserted(overrides: HostRuleOverrides) -> Option<OverridesChange> {
    Some(OverridesChange::Differences {
        upserts: vec![overrides],
        removed: vec![],
    })
}

#[test]
fn which_gslbhostrule_is_in_force_and_what_each_rule_is_told() {
    let cases = vec![
        RuleCase {
            name: "one valid rule: accepted, its overrides handed on",
            steps: hr_accepted(),
            statuses: HR_ACCEPTED,
            overrides: whole(vec![shop_overrides(HR, 1)]),
        },
        RuleCase {
            name: "two rules claim one FQDN: the older wins, the other is told which",
            steps: two_claims(),
            statuses: &[
                (
                    "shop/newer",
                    "Rejected",
                    "there's an existing GSLBHostRule (team/older) for the same fqdn shop.example.com",
                ),
                ("team/older", "Accepted", ""),
            ],
            overrides: whole(vec![shop_overrides("team/older", 1)]),
        },
        RuleCase {
            name: "two claims created at once: the first by namespace and name wins",
            steps: vec![
                Step::Rule(rule("b/hr", 100, 1, SHOP)),
                Step::Rule(rule("a/hr", 100, 1, SHOP)),
                check_rules(vec![valid_rule("a/hr", 1), valid_rule("b/hr", 2)]),
            ],
            statuses: &[
                ("a/hr", "Accepted", ""),
                (
                    "b/hr",
                    "Rejected",
                    "there's an existing GSLBHostRule (a/hr) for the same fqdn shop.example.com",
                ),
            ],
            overrides: whole(vec![shop_overrides("a/hr", 1)]),
        },
        RuleCase {
            name: "one FQDN in two tenants: both in force",
            steps: vec![
                Step::Rule(rule("t1/hr", 100, 1, SHOP)),
                Step::Rule(rule("t2/hr", 200, 1, SHOP)),
                check_rules(vec![
                    ("t1/hr", Valid(overrides("t1/hr", "tenant1", SHOP, 1))),
                    ("t2/hr", Valid(overrides("t2/hr", "tenant2", SHOP, 1))),
                ]),
            ],
            statuses: &[("t1/hr", "Accepted", ""), ("t2/hr", "Accepted", "")],
            overrides: whole(vec![
                overrides("t1/hr", "tenant1", SHOP, 1),
                overrides("t2/hr", "tenant2", SHOP, 1),
            ]),
        },
        RuleCase {
            name: "a rejected rule: its reason, no overrides",
            steps: rule_checked(HR, 1, Invalid(bad_vip())),
            statuses: &[(HR, "Rejected", BAD_VIP)],
            overrides: whole(vec![]),
        },
        RuleCase {
            name: "a valid rule edited to an invalid one: the last good version stays in force",
            steps: [hr_accepted(), rule_checked(HR, 2, Invalid(bad_vip()))].concat(),
            statuses: HR_STAYS,
            overrides: None,
        },
        RuleCase {
            name: "after a restart an invalid rule is recovered from its last accepted spec",
            steps: rule_checked(HR, 2, Recovers(bad_vip(), shop_overrides(HR, 1))),
            statuses: HR_STAYS,
            overrides: whole(vec![shop_overrides(HR, 1)]),
        },
        RuleCase {
            name: "a rule kept in force by its last good version still loses to an older claim",
            steps: vec![
                Step::Rule(rule("shop/newer", 200, 1, SHOP)),
                check_rules(vec![valid_rule("shop/newer", 1)]),
                Step::Rule(rule("shop/newer", 200, 2, SHOP)),
                Step::Rule(rule("team/older", 100, 1, SHOP)),
                check_rules(vec![
                    ("shop/newer", Invalid(bad_vip())),
                    valid_rule("team/older", 5),
                ]),
            ],
            statuses: &[
                (
                    "shop/newer",
                    "Rejected",
                    "there's an existing GSLBHostRule (team/older) for the same fqdn shop.example.com",
                ),
                ("team/older", "Accepted", ""),
            ],
            overrides: upserted(shop_overrides("team/older", 5)),
        },
        RuleCase {
            name: "the winner deleted: the other claimant takes over",
            steps: [
                two_claims(),
                vec![Step::DeleteRule("team/older"), check_rules(vec![])],
            ]
            .concat(),
            statuses: &[("shop/newer", "Accepted", "")],
            overrides: upserted(shop_overrides("shop/newer", 2)),
        },
        RuleCase {
            name: "the only rule deleted: its overrides are removed",
            steps: [
                hr_accepted(),
                vec![Step::DeleteRule(HR), check_rules(vec![])],
            ]
            .concat(),
            statuses: &[],
            overrides: Some(OverridesChange::Differences {
                upserts: vec![],
                removed: vec![("admin".into(), SHOP.into())],
            }),
        },
        RuleCase {
            name: "a relist without the only rule: it was deleted, its overrides are removed",
            steps: [
                hr_accepted(),
                vec![Step::RelistRules(vec![]), check_rules(vec![])],
            ]
            .concat(),
            statuses: &[],
            overrides: Some(OverridesChange::Differences {
                upserts: vec![],
                removed: vec![("admin".into(), SHOP.into())],
            }),
        },
        RuleCase {
            name: "a relist without the winning claimant: the other takes over",
            steps: [
                two_claims(),
                vec![
                    Step::RelistRules(vec![rule("shop/newer", 200, 1, SHOP)]),
                    check_rules(vec![]),
                ],
            ]
            .concat(),
            statuses: &[("shop/newer", "Accepted", "")],
            overrides: upserted(shop_overrides("shop/newer", 2)),
        },
        RuleCase {
            name: "a relist returning an invalid edit: the last good version stays in force",
            steps: [
                hr_accepted(),
                vec![
                    Step::RelistRules(vec![rule(HR, 100, 2, SHOP)]),
                    check_rules(vec![(HR, Invalid(bad_vip()))]),
                ],
            ]
            .concat(),
            statuses: HR_STAYS,
            overrides: None,
        },
        RuleCase {
            name: "the controller refuses a GslbService: the rule overriding it says so",
            steps: [
                hr_accepted(),
                vec![Step::WriteProblem("admin", SHOP, Some(BAD_POOL))],
            ]
            .concat(),
            statuses: &[(HR, "Accepted", BAD_POOL)],
            overrides: None,
        },
        RuleCase {
            name: "the controller accepts the GslbService again: the rule's error is cleared",
            steps: [
                hr_accepted(),
                vec![
                    Step::WriteProblem("admin", SHOP, Some(BAD_POOL)),
                    Step::WriteProblem("admin", SHOP, None),
                ],
            ]
            .concat(),
            statuses: HR_ACCEPTED,
            overrides: None,
        },
    ];
    for case in cases {
        let (_, decision) = run(case.steps);
        let p = publication(&decision);
        let got = rule_statuses(p);
        let expected: Vec<(String, &str, &str)> = case
            .statuses
            .iter()
            .map(|(k, s, e)| (k.to_string(), *s, *e))
            .collect();
        assert_eq!(got, expected, "{}: statuses", case.name);
        assert_eq!(p.overrides, case.overrides, "{}: overrides", case.name);
        assert!(
            decision.warnings.is_empty(),
            "{}: {:?}",
            case.name,
            decision.warnings
        );
    }
}

#[test]
fn overrides_are_handed_on_whole_once_then_as_differences() {
    let valid_for =
        |key: &'static str, fqdn: &str, ttl: u32| (key, Valid(overrides(key, "admin", fqdn, ttl)));
    let mut book = InForce::new();
    book.gdps_listed();
    book.rules_listed();
    book.rule_applied(rule("shop/a", 100, 1, "a.example.com"));
    book.rule_applied(rule("shop/b", 100, 1, "b.example.com"));
    let first = round(
        &mut book,
        vec![],
        vec![
            valid_for("shop/a", "a.example.com", 1),
            valid_for("shop/b", "b.example.com", 1),
        ],
    );
    assert_eq!(
        publication(&first).overrides,
        Some(OverridesChange::Whole(vec![
            overrides("shop/a", "admin", "a.example.com", 1),
            overrides("shop/b", "admin", "b.example.com", 1),
        ]))
    );

    // Nothing changed: nothing to hand on, and no status is decided again.
    let same = round(&mut book, vec![], vec![]);
    assert_eq!(publication(&same).overrides, None);
    assert!(publication(&same).rule_statuses.is_empty());

    // One edited, one deleted, one added: only those.
    book.rule_applied(rule("shop/a", 100, 2, "a.example.com"));
    book.rule_deleted(&split("shop/b"));
    book.rule_applied(rule("shop/c", 100, 1, "c.example.com"));
    let changed = round(
        &mut book,
        vec![],
        vec![
            valid_for("shop/a", "a.example.com", 2),
            valid_for("shop/c", "c.example.com", 1),
        ],
    );
    assert_eq!(
        publication(&changed).overrides,
        Some(OverridesChange::Differences {
            upserts: vec![
                overrides("shop/a", "admin", "a.example.com", 2),
                overrides("shop/c", "admin", "c.example.com", 1),
            ],
            removed: vec![("admin".into(), "b.example.com".into())],
        })
    );
}

#[test]
fn a_write_problem_without_a_rule_is_an_event_on_the_gdp_in_force() {
    let (mut book, _) = run(gdp_accepted(GLOBAL, 1));
    let refused = book.write_problem(shop_key(), Some("object in the way".into()));
    assert_eq!(
        refused,
        Decision {
            warnings: vec![Warning {
                object: PolicyObject::Gdp("global-gdp".into()),
                reason: "ControllerRejected",
                message: "object in the way".into(),
            }],
            ..Decision::default()
        }
    );
    // The same problem again, or its clearing, is no news for the GDP.
    assert_eq!(
        book.write_problem(shop_key(), Some("object in the way".into())),
        Decision::default()
    );
    assert_eq!(book.write_problem(shop_key(), None), Decision::default());
}

#[test]
fn a_write_problem_with_no_gdp_in_force_is_dropped() {
    let (mut book, _) = run(vec![check_gdps(vec![])]);
    let decision = book.write_problem(shop_key(), Some("object in the way".into()));
    assert_eq!(decision, Decision::default());
}

// ---------------------------------------------------------------- validation rounds

#[test]
fn validation_waits_for_both_listings_and_runs_one_round_at_a_time() {
    let mut book = InForce::new();
    book.gdp_applied(gdp("global-gdp", 100, 1));
    assert!(book.begin_check().is_none(), "nothing listed");
    book.gdps_listed();
    assert!(book.begin_check().is_none(), "GSLBHostRules not listed");
    book.rules_listed();
    let to_check = book.begin_check().expect("both listed");
    assert_eq!(to_check.gdps.len(), 1);

    // An edit during the round waits for it, and is validated after it.
    book.gdp_applied(gdp("global-gdp", 100, 2));
    assert!(book.begin_check().is_none(), "a round is running");
    let mut checks = Checks::default();
    checks.gdps.insert(
        "global-gdp".into(),
        Checked {
            version: version(&to_check.gdps[0]),
            verdict: Ok(policy("global-gdp", 1)),
            recovered: None,
        },
    );
    let decision = book.checked(checks);
    assert!(decision.check_again);
    // The verdict was for generation 1: the object is generation 2 now, so the spec recorded
    // as accepted would be the wrong one.
    assert!(decision.record_specs.is_empty());
    let next = book.begin_check().expect("the round is over");
    assert_eq!(
        next.gdps.iter().map(version).collect::<Vec<_>>(),
        vec![version(&gdp("global-gdp", 100, 2))]
    );
    assert!(!round_over(&mut book).check_again);
}

fn round_over(book: &mut InForce) -> Decision {
    book.checked(Checks::default())
}

#[test]
fn only_new_versions_are_validated_and_rejections_are_retried() {
    let (mut book, _) = run(vec![
        Step::Gdp(gdp("global-gdp", 100, 1)),
        Step::Rule(rule("shop/good", 100, 1, SHOP)),
        Step::Rule(rule("shop/bad", 100, 1, "bad.example.com")),
        Step::Check {
            gdps: vec![valid_gdp(GLOBAL, 1)],
            rules: vec![("shop/bad", Invalid(bad_vip())), valid_rule("shop/good", 1)],
        },
    ]);
    // Our own status write comes back with the same generation: no new version.
    let mut echoed = rule("shop/good", 100, 1, SHOP);
    echoed.metadata.resource_version = Some("2".into());
    assert!(!book.rule_applied(echoed));
    assert!(book.rule_applied(rule("shop/good", 100, 2, SHOP)));
    let to_check = book.begin_check().expect("a round");
    assert!(to_check.gdps.is_empty());
    assert_eq!(
        to_check.rules.iter().map(rule_key).collect::<Vec<_>>(),
        vec![split("shop/good")]
    );
    round_over(&mut book);

    // Referenced controller objects may have appeared: rejections are validated again.
    book.forget_rejections();
    let to_check = book.begin_check().expect("a round");
    assert_eq!(
        to_check.rules.iter().map(rule_key).collect::<Vec<_>>(),
        vec![split("shop/bad"), split("shop/good")],
        "the rejected rule and the one whose new version has no verdict yet"
    );
}

// ---------------------------------------------------------------- accepted specs

#[test]
fn an_accepted_spec_is_recorded_once_and_read_back() {
    let (mut book, decision) = run(vec![
        Step::Gdp(gdp("global-gdp", 100, 1)),
        Step::Rule(rule("shop/hr", 100, 1, SHOP)),
        Step::Check {
            gdps: vec![valid_gdp(GLOBAL, 1)],
            rules: vec![valid_rule("shop/hr", 1)],
        },
    ]);
    assert_eq!(
        decision.record_specs,
        vec![
            RecordSpec {
                object: PolicyObject::Gdp("global-gdp".into()),
                spec: r#"{"ttl":1}"#.into(),
            },
            RecordSpec {
                object: PolicyObject::HostRule(split("shop/hr")),
                spec: r#"{"fqdn":"shop.example.com","ttl":1}"#.into(),
            },
        ]
    );

    // The annotation write comes back; validated again (say after a restart), nothing to write.
    let mut annotated = rule("shop/hr", 100, 1, SHOP);
    annotated.annotations_mut().insert(
        ACCEPTED_SPEC_ANNOTATION.into(),
        r#"{"fqdn":"shop.example.com","ttl":1}"#.into(),
    );
    book.rule_deleted(&split("shop/hr"));
    book.rule_applied(annotated.clone());
    let again = round(&mut book, vec![], vec![valid_rule("shop/hr", 1)]);
    assert!(again.record_specs.is_empty());

    // Rejected versions are never recorded.
    book.rule_applied(rule("shop/hr", 100, 2, SHOP));
    let rejected = round(&mut book, vec![], vec![("shop/hr", Invalid(bad_vip()))]);
    assert!(rejected.record_specs.is_empty());

    // Reading it back: the object as it was accepted.
    let mut edited = annotated.clone();
    edited.spec.ttl = Some(7);
    let previous = last_accepted(&edited).expect("recorded");
    assert_eq!(previous.spec, annotated.spec);
    assert_eq!(previous.name_any(), "hr");
}

#[test]
fn nothing_readable_recorded_means_nothing_to_recover() {
    assert!(last_accepted(&gdp("global-gdp", 100, 1)).is_none());
    let mut garbled = gdp("global-gdp", 100, 1);
    garbled
        .annotations_mut()
        .insert(ACCEPTED_SPEC_ANNOTATION.into(), "{not json".into());
    assert!(last_accepted(&garbled).is_none());
}

// ---------------------------------------------------------------- rejection counts (metrics)

#[test]
fn rejections_count_what_the_statuses_show_and_survive_revalidation() {
    let two = |gdps, rules| Rejections { gdps, rules };
    let (mut book, _) = run(vec![
        Step::Gdp(gdp(GLOBAL, 100, 1)),
        Step::Gdp(gdp("second-gdp", 200, 1)),
        Step::Rule(rule("shop/good", 100, 1, SHOP)),
        Step::Rule(rule("shop/bad", 100, 1, "bad.example.com")),
    ]);
    assert_eq!(
        book.rejections(),
        two(0, 0),
        "no verdict yet, nothing shown"
    );
    round(
        &mut book,
        vec![valid_gdp(GLOBAL, 1), valid_gdp("second-gdp", 1)],
        vec![("shop/bad", Invalid(bad_vip())), valid_rule("shop/good", 1)],
    );
    // The second GDP is valid but told that one exists already: that is a rejection too.
    assert_eq!(book.rejections(), two(1, 1));

    // The periodic re-validation forgets the rejections for a moment: the counts stay.
    book.forget_rejections();
    assert_eq!(book.rejections(), two(1, 1));
    round(&mut book, vec![], vec![("shop/bad", Invalid(bad_vip()))]);
    assert_eq!(book.rejections(), two(1, 1));

    // Fixed or deleted objects stop counting.
    book.rule_applied(rule("shop/bad", 100, 2, "bad.example.com"));
    round(
        &mut book,
        vec![],
        vec![(
            "shop/bad",
            Valid(overrides("shop/bad", "admin", "bad.example.com", 30)),
        )],
    );
    assert_eq!(book.rejections(), two(1, 0));
    book.gdp_deleted("second-gdp");
    assert_eq!(book.rejections(), two(0, 0));

    // An invalid edit of the GDP in force is rejected although the old version stays in force.
    book.gdp_applied(gdp(GLOBAL, 100, 2));
    round(
        &mut book,
        vec![(GLOBAL, Invalid(unknown_cluster()))],
        vec![],
    );
    assert_eq!(book.rejections(), two(1, 0));
}

/// Publications only re-decide what an input touched; what they hand on, added up, must be what
/// deciding everything afresh gives. A seeded sequence of rule edits (valid, invalid, moving to
/// another FQDN), deletions, recreations and write problems, against a fresh `InForce` fed the
/// end state in one round.
#[test]
fn publications_of_the_touched_rules_add_up_to_deciding_everything_afresh() {
    const KEYS: [&str; 6] = ["a/r1", "a/r2", "b/r1", "b/r2", "c/r1", "c/r2"];
    const FQDNS: [&str; 3] = ["x.example.com", "y.example.com", "z.example.com"];
    let mut seed: u64 = 0x5eed;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let mut book = InForce::new();
    book.gdps_listed();
    book.rules_listed();
    let mut generation: BTreeMap<&str, i64> = BTreeMap::new();
    let mut statuses: BTreeMap<RuleKey, RuleStatus> = BTreeMap::new();
    let mut handed_on: BTreeMap<Claim, HostRuleOverrides> = BTreeMap::new();
    let mut problems: BTreeMap<String, String> = BTreeMap::new();
    // What the book holds, tracked here: objects, last verdicts, versions in force.
    let mut objects: BTreeMap<RuleKey, GslbHostRule> = BTreeMap::new();
    let mut verdicts: BTreeMap<RuleKey, Checked<HostRuleOverrides>> = BTreeMap::new();
    let mut last_good: BTreeMap<RuleKey, HostRuleOverrides> = BTreeMap::new();
    let mut exercised = 0;
    for step in 0..400 {
        let key = KEYS[next(KEYS.len() as u64) as usize];
        let decision = match next(10) {
            0 => {
                book.rule_deleted(&split(key));
                statuses.remove(&split(key));
                objects.remove(&split(key));
                verdicts.remove(&split(key));
                last_good.remove(&split(key));
                generation.remove(key);
                // The actor starts a round after every watch event; nothing is up for it.
                let to_check = book.begin_check().expect("a round");
                assert!(to_check.rules.is_empty());
                book.checked(Checks::default())
            }
            1 => {
                let fqdn = FQDNS[next(3) as usize];
                let message = (next(2) == 0).then(|| format!("refused {}", next(100)));
                match &message {
                    Some(m) => problems.insert(fqdn.to_owned(), m.clone()),
                    None => problems.remove(fqdn),
                };
                book.write_problem(
                    GsKey {
                        tenant: "admin".into(),
                        fqdn: fqdn.into(),
                    },
                    message,
                )
            }
            _ => {
                let g = generation.entry(key).or_insert(0);
                *g += 1;
                let fqdn = FQDNS[next(3) as usize];
                // Recreated rules get a new creation time, so the winner of a claim moves.
                let created = 100 + (*g % 3) * 50 + next(3) as i64;
                let mut object = rule(key, created, *g, fqdn);
                object.metadata.uid = Some(format!("uid-{key}-{created}"));
                objects.insert(split(key), object.clone());
                book.rule_applied(object);
                let outcome = match next(4) {
                    0 => Invalid(bad_vip()),
                    _ => Valid(overrides(key, "admin", fqdn, *g as u32)),
                };
                let to_check = book.begin_check().expect("a round");
                let mut checks = Checks::default();
                for object in &to_check.rules {
                    if let Some(checked) = outcome.clone().checked(version(object)) {
                        if let Ok(o) = &checked.verdict {
                            last_good.insert(rule_key(object), o.clone());
                        }
                        verdicts.insert(rule_key(object), checked.clone());
                        checks.rules.insert(rule_key(object), checked);
                    }
                }
                book.checked(checks)
            }
        };
        if let Some(publication) = decision.publication {
            for (key, status) in publication.rule_statuses {
                statuses.insert(key, status);
            }
            match publication.overrides {
                Some(OverridesChange::Whole(all)) => {
                    handed_on = all
                        .into_iter()
                        .map(|o| ((o.tenant.clone(), o.fqdn.clone()), o))
                        .collect();
                }
                Some(OverridesChange::Differences { upserts, removed }) => {
                    for o in upserts {
                        handed_on.insert((o.tenant.clone(), o.fqdn.clone()), o);
                    }
                    for claim in removed {
                        handed_on.remove(&claim);
                    }
                }
                None => {}
            }
        }
        let (fresh_statuses, fresh_overrides) =
            decided_afresh(&objects, &verdicts, &last_good, &problems);
        assert_eq!(statuses, fresh_statuses, "step {step}");
        assert_eq!(handed_on, fresh_overrides, "step {step}");
        exercised = exercised.max(handed_on.len());
    }

    assert!(exercised >= 2, "the sequence exercised claims");
}

/// The statuses and overrides a fresh `InForce` decides for these objects, verdicts (with the
/// version that stayed in force as recovered) and write problems, in one round.
fn decided_afresh(
    objects: &BTreeMap<RuleKey, GslbHostRule>,
    verdicts: &BTreeMap<RuleKey, Checked<HostRuleOverrides>>,
    last_good: &BTreeMap<RuleKey, HostRuleOverrides>,
    problems: &BTreeMap<String, String>,
) -> (
    BTreeMap<RuleKey, RuleStatus>,
    BTreeMap<Claim, HostRuleOverrides>,
) {
    let mut fresh = InForce::new();
    fresh.gdps_listed();
    fresh.rules_listed();
    for object in objects.values() {
        fresh.rule_applied(object.clone());
    }
    for (fqdn, message) in problems {
        let key = GsKey {
            tenant: "admin".into(),
            fqdn: fqdn.clone(),
        };
        fresh.write_problem(key, Some(message.clone()));
    }
    let to_check = fresh.begin_check().expect("a round");
    let mut checks = Checks::default();
    for object in &to_check.rules {
        let key = rule_key(object);
        if let Some(checked) = verdicts.get(&key) {
            let recovered = checked
                .verdict
                .is_err()
                .then(|| last_good.get(&key).cloned())
                .flatten();
            checks.rules.insert(
                key.clone(),
                Checked {
                    recovered,
                    ..checked.clone()
                },
            );
        }
    }
    let afresh = fresh.checked(checks).publication.expect("published");
    let fresh_statuses: BTreeMap<RuleKey, RuleStatus> = afresh.rule_statuses.into_iter().collect();
    let Some(OverridesChange::Whole(all)) = afresh.overrides else {
        panic!("the first publication hands on the whole set");
    };
    let fresh_overrides: BTreeMap<Claim, HostRuleOverrides> = all
        .into_iter()
        .map(|o| ((o.tenant.clone(), o.fqdn.clone()), o))
        .collect();
    (fresh_statuses, fresh_overrides)
}
