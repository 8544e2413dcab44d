//! Which GlobalDeploymentPolicy and which GSLBHostRules are in force, and what each of them is
//! told. The PolicyActor feeds [`InForce`] the watched objects and the verdicts of validation
//! (validation reads the controller, so the actor runs it); [`InForce`] answers with decisions:
//! the policy and overrides to hand to selection, the status of every object, the Events to
//! record and the accepted specs to record on the objects. A (re)list of either kind that did not
//! return an object means it is gone (deleted while the watch was down), exactly as if its
//! deletion had been seen. Nothing here does I/O.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::Problem;
use crate::crd::gdp::STATUS_SUCCESS;
use crate::crd::gslbhostrule::{STATUS_ACCEPTED, STATUS_REJECTED};
use crate::crd::{GlobalDeploymentPolicy, GslbHostRule};
use crate::vocab::{GsKey, HostRuleOverrides, Policy};

/// Annotation holding the spec of a GDP's or GSLBHostRule's last accepted version (JSON), so that
/// after a restart an invalid edit still leaves that version in force, as the status promised.
pub const ACCEPTED_SPEC_ANNOTATION: &str = "amko.vmware.com/last-accepted-spec";

/// Appended to the rejection of an object whose previously accepted version is still in force.
const STILL_IN_FORCE: &str = "(the previously accepted version stays in force)";

/// `(namespace, name)` of a GSLBHostRule.
pub type RuleKey = (String, String);

/// `(tenant, FQDN)`: what a GSLBHostRule's overrides apply to; one rule per pair is in force.
pub type Claim = (String, String);

/// The version a verdict belongs to: uid and generation. Status and metadata writes (ours
/// included) keep the generation, so they do not call for another validation.
pub type Version = String;

pub fn version<K: ResourceExt>(object: &K) -> Version {
    format!(
        "{}/{}",
        object.uid().unwrap_or_default(),
        object.meta().generation.unwrap_or_default()
    )
}

pub fn rule_key(rule: &GslbHostRule) -> RuleKey {
    (rule.namespace().unwrap_or_default(), rule.name_any())
}

/// The object as it was when last accepted, from [`ACCEPTED_SPEC_ANNOTATION`]; `None` when
/// nothing (readable) was recorded. Validating it again tells whether it can stay in force.
pub fn last_accepted<K>(object: &K) -> Option<K>
where
    K: ResourceExt + HasSpec + Clone,
    K::Spec: DeserializeOwned,
{
    let recorded = object.annotations().get(ACCEPTED_SPEC_ANNOTATION)?;
    let mut previous = object.clone();
    *previous.spec_mut() = serde_json::from_str(recorded).ok()?;
    Some(previous)
}

/// Access to the spec of our custom resources, so that recording and recovering accepted
/// specs is written once for both kinds.
pub trait HasSpec {
    type Spec;
    fn spec(&self) -> &Self::Spec;
    fn spec_mut(&mut self) -> &mut Self::Spec;
}

impl HasSpec for GlobalDeploymentPolicy {
    type Spec = crate::crd::GlobalDeploymentPolicySpec;
    fn spec(&self) -> &Self::Spec {
        &self.spec
    }
    fn spec_mut(&mut self) -> &mut Self::Spec {
        &mut self.spec
    }
}

impl HasSpec for GslbHostRule {
    type Spec = crate::crd::GslbHostRuleSpec;
    fn spec(&self) -> &Self::Spec {
        &self.spec
    }
    fn spec_mut(&mut self) -> &mut Self::Spec {
        &mut self.spec
    }
}

/// One of the objects this module arbitrates.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyObject {
    /// A GDP, by name (GDPs live in the operator's own namespace).
    Gdp(String),
    HostRule(RuleKey),
}

/// The outcome of validating one version of an object.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked<T> {
    pub version: Version,
    pub verdict: Result<T, Problem>,
    /// When the verdict is a rejection: the version accepted before (recorded on the object),
    /// compiled, if it is still valid. Only consulted when nothing is in force for the object
    /// yet, which is the case after a restart.
    pub recovered: Option<T>,
}

/// Verdicts for one round of validation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checks {
    pub gdps: BTreeMap<String, Checked<Policy>>,
    pub rules: BTreeMap<RuleKey, Checked<HostRuleOverrides>>,
}

/// Objects whose current version has no verdict yet, to be validated.
#[derive(Clone, Debug, Default)]
pub struct ToCheck {
    pub gdps: Vec<GlobalDeploymentPolicy>,
    pub rules: Vec<GslbHostRule>,
}

/// What the policy consumer is told about the GDP.
#[derive(Clone, Debug, PartialEq)]
pub enum GdpInForce {
    /// There is no GDP: nothing is selected, so deleting the GDP removes its GslbServices.
    NoGdp,
    Policy(Box<Policy>),
    /// GDPs exist but none was ever accepted (all invalid on a fresh start): the consumer is not
    /// told anything, so that a typo deletes nothing.
    Withheld,
}

impl GdpInForce {
    /// The value to hand on, if any: `Some(None)` says "no policy".
    pub fn to_send(&self) -> Option<Option<Policy>> {
        match self {
            GdpInForce::NoGdp => Some(None),
            GdpInForce::Policy(policy) => Some(Some((**policy).clone())),
            GdpInForce::Withheld => None,
        }
    }
}

/// The status of a GSLBHostRule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleStatus {
    /// [`STATUS_ACCEPTED`] or [`STATUS_REJECTED`].
    pub status: &'static str,
    /// Why it was rejected, or for an accepted rule what the controller refused; empty if all is
    /// well.
    pub error: String,
}

/// How the overrides in force changed since they were last handed on.
#[derive(Clone, Debug, PartialEq)]
pub enum OverridesChange {
    /// The first time: the whole set, ordered by (tenant, FQDN).
    Whole(Vec<HostRuleOverrides>),
    /// Afterwards only differences, because the consumer is on the data path and comparing
    /// thousands of overrides on every edit delayed every other change.
    Differences {
        upserts: Vec<HostRuleOverrides>,
        removed: Vec<Claim>,
    },
}

/// What is in force, decided afresh.
#[derive(Clone, Debug, PartialEq)]
pub struct Publication {
    /// `status.errorStatus` of every GDP that has one to show, by name.
    pub gdp_statuses: Vec<(String, String)>,
    pub policy: GdpInForce,
    /// The GSLBHostRule statuses that changed since they were last decided.
    pub rule_statuses: Vec<(RuleKey, RuleStatus)>,
    /// `None`: the overrides in force did not change.
    pub overrides: Option<OverridesChange>,
}

/// A warning Event about one of the objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub object: PolicyObject,
    pub reason: &'static str,
    pub message: String,
}

/// An accepted spec to record in [`ACCEPTED_SPEC_ANNOTATION`] of its object (a metadata write,
/// so the generation does not change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSpec {
    pub object: PolicyObject,
    /// The spec as JSON: the annotation's value.
    pub spec: String,
}

/// Objects whose status shows them rejected, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rejections {
    pub gdps: usize,
    pub rules: usize,
}

/// Everything one input led to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// Objects whose current version was rejected, with why (for the log).
    pub rejected: Vec<(PolicyObject, Problem)>,
    pub warnings: Vec<Warning>,
    pub record_specs: Vec<RecordSpec>,
    pub publication: Option<Publication>,
    /// Objects changed while they were being validated: validate again.
    pub check_again: bool,
}

/// The watched policy objects, their verdicts, and what was last decided from them.
#[derive(Debug, Default)]
pub struct InForce {
    gdps: BTreeMap<String, GlobalDeploymentPolicy>,
    rules: BTreeMap<RuleKey, GslbHostRule>,
    gdp_verdicts: BTreeMap<String, (Version, Result<Policy, Problem>)>,
    rule_verdicts: BTreeMap<RuleKey, (Version, Result<HostRuleOverrides, Problem>)>,
    /// The last accepted version of each object stays in force while an edit is invalid.
    last_good_gdps: BTreeMap<String, Policy>,
    last_good_rules: BTreeMap<RuleKey, HostRuleOverrides>,
    active_gdp: Option<String>,
    /// What the controller refused for a GslbService, reported in the status of the GSLBHostRule
    /// that overrides it.
    write_problems: BTreeMap<GsKey, String>,
    /// The last status decided per GSLBHostRule.
    rule_statuses: BTreeMap<RuleKey, RuleStatus>,
    /// The GDPs whose last published status is not a success. Kept apart from the verdicts,
    /// which the periodic re-validation forgets for a moment, so that the count does not dip.
    gdps_shown_rejected: BTreeSet<String>,
    /// The overrides last handed on, by claim.
    overrides_sent: Option<BTreeMap<Claim, HostRuleOverrides>>,
    /// Who claims what, kept in step with `last_good_rules`: the claimants of each (tenant,
    /// FQDN), oldest first (creation time, then namespace and name), and each rule's claim. A
    /// publication re-decides only what an input touched (below); re-sorting every rule on
    /// every edit was quadratic in the number of rules.
    claimants: BTreeMap<Claim, BTreeSet<(Option<Timestamp>, RuleKey)>>,
    claim_of: BTreeMap<RuleKey, (Claim, Option<Timestamp>)>,
    /// Claims whose winner may have changed since the last publication.
    dirty_claims: BTreeSet<Claim>,
    /// Rules whose status may have changed since the last publication.
    dirty_rules: BTreeSet<RuleKey>,
    /// Rules whose current version may have no verdict: the candidates of the next round, so
    /// that starting one does not look at every rule.
    unverified_rules: BTreeSet<RuleKey>,
    gdps_listed: bool,
    rules_listed: bool,
    /// The GDPs the (re)list in progress returned so far; `None` when none is in progress.
    gdps_listing: Option<BTreeSet<String>>,
    /// The GSLBHostRules the (re)list in progress returned so far.
    rules_listing: Option<BTreeSet<RuleKey>>,
    checking: bool,
    check_again: bool,
}

impl InForce {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn gdp_applied(&mut self, gdp: GlobalDeploymentPolicy) {
        if let Some(listing) = &mut self.gdps_listing {
            listing.insert(gdp.name_any());
        }
        self.gdps.insert(gdp.name_any(), gdp);
    }

    pub fn gdp_deleted(&mut self, name: &str) {
        self.gdps.remove(name);
        self.gdps_shown_rejected.remove(name);
        self.gdp_verdicts.remove(name);
        self.last_good_gdps.remove(name);
    }

    /// Whether the rule is a new version, which calls for validation. Our own status writes come
    /// back as events of the same version.
    pub fn rule_applied(&mut self, rule: GslbHostRule) -> bool {
        let key = rule_key(&rule);
        if let Some(listing) = &mut self.rules_listing {
            listing.insert(key.clone());
        }
        let unchanged = self
            .rules
            .get(&key)
            .is_some_and(|old| version(old) == version(&rule));
        let created_changed = self
            .claim_of
            .get(&key)
            .is_some_and(|(_, created_at)| *created_at != created(&rule));
        if !unchanged {
            self.unverified_rules.insert(key.clone());
        }
        self.rules.insert(key.clone(), rule);
        if created_changed && let Some(overrides) = self.last_good_rules.get(&key).cloned() {
            self.set_last_good_rule(key, overrides);
        }
        !unchanged
    }

    pub fn rule_deleted(&mut self, key: &RuleKey) {
        self.rules.remove(key);
        self.rule_verdicts.remove(key);
        self.remove_last_good_rule(key);
        self.rule_statuses.remove(key);
        self.dirty_rules.remove(key);
        self.unverified_rules.remove(key);
    }

    /// The accepted version of a rule that stays in force; indexes its claim.
    fn set_last_good_rule(&mut self, key: RuleKey, overrides: HostRuleOverrides) {
        self.remove_last_good_rule(&key);
        let claim = (overrides.tenant.clone(), overrides.fqdn.clone());
        let created_at = self.rules.get(&key).and_then(created);
        self.claimants
            .entry(claim.clone())
            .or_default()
            .insert((created_at, key.clone()));
        self.claim_of
            .insert(key.clone(), (claim.clone(), created_at));
        self.touch_claim(claim);
        self.last_good_rules.insert(key, overrides);
    }

    fn remove_last_good_rule(&mut self, key: &RuleKey) {
        self.last_good_rules.remove(key);
        let Some((claim, created_at)) = self.claim_of.remove(key) else {
            return;
        };
        if let Some(claimants) = self.claimants.get_mut(&claim) {
            claimants.remove(&(created_at, key.clone()));
            if claimants.is_empty() {
                self.claimants.remove(&claim);
            }
        }
        self.dirty_rules.insert(key.clone());
        self.touch_claim(claim);
    }

    /// The winner of `claim` may change: re-decide it and the status of its claimants.
    fn touch_claim(&mut self, claim: Claim) {
        if let Some(claimants) = self.claimants.get(&claim) {
            self.dirty_rules
                .extend(claimants.iter().map(|(_, key)| key.clone()));
        }
        self.dirty_claims.insert(claim);
    }

    /// The rule in force for `claim`: its oldest claimant.
    fn owner(&self, claim: &Claim) -> Option<&RuleKey> {
        self.claimants.get(claim)?.first().map(|(_, key)| key)
    }

    /// A (re)list of the GDPs starts: the GDPs it does not return are gone.
    pub fn gdps_list_started(&mut self) {
        self.gdps_listing = Some(BTreeSet::new());
    }

    /// The (re)list of the GDPs is complete. Every GDP it did not return was deleted while the
    /// watch was down and is dropped here as if its deletion had been seen (so a relist of zero
    /// GDPs is the deletion of the last one: no policy, its GslbServices go); returns their
    /// names, whose statuses are to be forgotten.
    pub fn gdps_listed(&mut self) -> Vec<String> {
        self.gdps_listed = true;
        let Some(listed) = self.gdps_listing.take() else {
            return Vec::new();
        };
        let gone: Vec<String> = self
            .gdps
            .keys()
            .filter(|name| !listed.contains(*name))
            .cloned()
            .collect();
        for name in &gone {
            self.gdp_deleted(name);
        }
        gone
    }

    /// A (re)list of the GSLBHostRules starts: the rules it does not return are gone.
    pub fn rules_list_started(&mut self) {
        self.rules_listing = Some(BTreeSet::new());
    }

    /// The (re)list of the GSLBHostRules is complete. Every rule it did not return was deleted
    /// while the watch was down and is dropped as if its deletion had been seen (its overrides
    /// stop being in force); returns their keys, whose statuses are to be forgotten.
    pub fn rules_listed(&mut self) -> Vec<RuleKey> {
        self.rules_listed = true;
        let Some(listed) = self.rules_listing.take() else {
            return Vec::new();
        };
        let gone: Vec<RuleKey> = self
            .rules
            .keys()
            .filter(|key| !listed.contains(*key))
            .cloned()
            .collect();
        for key in &gone {
            self.rule_deleted(key);
        }
        gone
    }

    /// The objects to validate now, or `None` when validation must wait: one round at a time (a
    /// request during a round is remembered as [`Decision::check_again`]), and nothing before
    /// both kinds are listed, so that boot does not flap.
    pub fn begin_check(&mut self) -> Option<ToCheck> {
        if self.checking {
            self.check_again = true;
            return None;
        }
        if !(self.gdps_listed && self.rules_listed) {
            return None;
        }
        self.checking = true;
        self.check_again = false;
        let gdps = self
            .gdps
            .iter()
            .filter(|(name, gdp)| {
                self.gdp_verdicts.get(*name).map(|v| &v.0) != Some(&version(*gdp))
            })
            .map(|(_, gdp)| gdp.clone())
            .collect();
        let rules = self
            .unverified_rules
            .iter()
            .filter_map(|key| Some((key, self.rules.get(key)?)))
            .filter(|(key, rule)| {
                self.rule_verdicts.get(*key).map(|v| &v.0) != Some(&version(*rule))
            })
            .map(|(_, rule)| rule.clone())
            .collect();
        Some(ToCheck { gdps, rules })
    }

    /// Takes the verdicts of a round of validation.
    pub fn checked(&mut self, checks: Checks) -> Decision {
        self.checking = false;
        let mut decision = Decision::default();
        for (name, checked) in checks.gdps {
            let Some(gdp) = self.gdps.get(&name) else {
                continue;
            };
            match &checked.verdict {
                Ok(policy) => {
                    self.last_good_gdps.insert(name.clone(), policy.clone());
                    if version(gdp) == checked.version {
                        decision
                            .record_specs
                            .extend(record_spec(gdp, PolicyObject::Gdp(name.clone())));
                    }
                }
                Err(problem) => {
                    decision
                        .rejected
                        .push((PolicyObject::Gdp(name.clone()), problem.clone()));
                    decision.warnings.push(Warning {
                        object: PolicyObject::Gdp(name.clone()),
                        reason: "Rejected",
                        message: problem.to_string(),
                    });
                    if let Some(previous) = checked.recovered {
                        self.last_good_gdps.entry(name.clone()).or_insert(previous);
                    }
                }
            }
            self.gdp_verdicts
                .insert(name, (checked.version, checked.verdict));
        }
        for (key, checked) in checks.rules {
            let Some(rule) = self.rules.get(&key) else {
                continue;
            };
            let current = version(rule) == checked.version;
            match &checked.verdict {
                Ok(overrides) => {
                    let record = current
                        .then(|| record_spec(rule, PolicyObject::HostRule(key.clone())))
                        .flatten();
                    decision.record_specs.extend(record);
                    self.set_last_good_rule(key.clone(), overrides.clone());
                }
                Err(problem) => {
                    decision
                        .rejected
                        .push((PolicyObject::HostRule(key.clone()), problem.clone()));
                    if let Some(previous) = checked.recovered
                        && !self.last_good_rules.contains_key(&key)
                    {
                        self.set_last_good_rule(key.clone(), previous);
                    }
                }
            }
            self.dirty_rules.insert(key.clone());
            if current {
                self.unverified_rules.remove(&key);
            }
            self.rule_verdicts
                .insert(key, (checked.version, checked.verdict));
        }
        // Only once every GDP has a verdict, so that boot never acts on a partial view.
        if self
            .gdps
            .keys()
            .all(|name| self.gdp_verdicts.contains_key(name))
        {
            decision.publication = Some(self.publish());
        }
        decision.check_again = self.check_again;
        decision
    }

    /// Forgets the rejections, so that the next round validates those objects again: controller
    /// objects they reference may have appeared since.
    pub fn forget_rejections(&mut self) {
        self.gdp_verdicts.retain(|_, (_, v)| v.is_ok());
        let unverified = &mut self.unverified_rules;
        self.rule_verdicts.retain(|key, (_, v)| {
            if v.is_err() {
                unverified.insert(key.clone());
            }
            v.is_ok()
        });
    }

    /// The controller refused (`Some`) or accepted again (`None`) the writes of a GslbService. A
    /// GSLBHostRule overriding it says so in its status; otherwise the GDP in force gets an Event.
    pub fn write_problem(&mut self, key: GsKey, message: Option<String>) -> Decision {
        let changed = match &message {
            Some(m) => self.write_problems.insert(key.clone(), m.clone()).as_ref() != Some(m),
            None => self.write_problems.remove(&key).is_some(),
        };
        let mut decision = Decision::default();
        if !changed {
            return decision;
        }
        let claim = (key.tenant.clone(), key.fqdn.clone());
        if self.claimants.contains_key(&claim) {
            self.touch_claim(claim);
            decision.publication = Some(self.publish());
        } else if let (Some(active), Some(message)) = (&self.active_gdp, message) {
            decision.warnings.push(Warning {
                object: PolicyObject::Gdp(active.clone()),
                reason: "ControllerRejected",
                message,
            });
        }
        decision
    }

    /// The GDP whose policy is in force (or would be, once it has an accepted version).
    pub fn active_gdp(&self) -> Option<&str> {
        self.active_gdp.as_deref()
    }

    /// How many objects their last published status shows as rejected (for the metrics and
    /// alerts): an object being validated again counts as it was until its new verdict.
    pub fn rejections(&self) -> Rejections {
        Rejections {
            gdps: self.gdps_shown_rejected.len(),
            rules: self
                .rule_statuses
                .values()
                .filter(|s| s.status == STATUS_REJECTED)
                .count(),
        }
    }

    /// Decides what is in force and the status of every object.
    fn publish(&mut self) -> Publication {
        self.choose_active_gdp();
        let gdp_statuses = self.gdp_statuses();
        for (name, status) in &gdp_statuses {
            if status == STATUS_SUCCESS {
                self.gdps_shown_rejected.remove(name);
            } else {
                self.gdps_shown_rejected.insert(name.clone());
            }
        }
        let policy = if self.gdps.is_empty() {
            GdpInForce::NoGdp
        } else {
            self.active_gdp
                .as_ref()
                .and_then(|a| self.last_good_gdps.get(a))
                .cloned()
                .map_or(GdpInForce::Withheld, |p| GdpInForce::Policy(Box::new(p)))
        };
        let rule_statuses = self.changed_rule_statuses();
        let overrides = self.overrides_change();
        Publication {
            gdp_statuses,
            policy,
            rule_statuses,
            overrides,
        }
    }

    /// The GDP in force stays so while it exists; otherwise the oldest GDP with an accepted
    /// version takes over (creation time, then name, so that the choice is deterministic).
    fn choose_active_gdp(&mut self) {
        if self
            .active_gdp
            .as_ref()
            .is_some_and(|a| !self.gdps.contains_key(a))
        {
            self.active_gdp = None;
        }
        if self.active_gdp.is_none() {
            self.active_gdp = self
                .gdps
                .iter()
                .filter(|(name, _)| {
                    matches!(self.gdp_verdicts.get(*name), Some((_, Ok(_))))
                        || self.last_good_gdps.contains_key(*name)
                })
                .min_by_key(|(name, gdp)| (created(*gdp), (*name).clone()))
                .map(|(name, _)| name.clone());
        }
    }

    fn gdp_statuses(&self) -> Vec<(String, String)> {
        let mut statuses = Vec::new();
        for name in self.gdps.keys() {
            let status = match (&self.active_gdp, self.gdp_verdicts.get(name)) {
                (Some(active), _) if active != name => Problem::GdpAlreadyExists {
                    existing: active.clone(),
                }
                .to_string(),
                (_, Some((_, Ok(_)))) => STATUS_SUCCESS.to_owned(),
                (_, Some((_, Err(problem)))) if self.last_good_gdps.contains_key(name) => {
                    format!("{problem} {STILL_IN_FORCE}")
                }
                (_, Some((_, Err(problem)))) => problem.to_string(),
                (_, None) => continue,
            };
            statuses.push((name.clone(), status));
        }
        statuses
    }

    /// The status of a rule with a verdict: a later claimant of a (tenant, FQDN) than the rule
    /// in force (the oldest claim wins: creation time, then namespace and name) is told which
    /// rule has it; an accepted one, what the controller refused for its GslbService.
    fn rule_status(
        &self,
        key: &RuleKey,
        verdict: &Result<HostRuleOverrides, Problem>,
    ) -> RuleStatus {
        if let Some((claim, _)) = self.claim_of.get(key)
            && let Some(owner) = self.owner(claim)
            && owner != key
        {
            let problem = Problem::FqdnAlreadyClaimed {
                fqdn: claim.1.clone(),
                existing: format!("{}/{}", owner.0, owner.1),
            };
            return rejected(problem.to_string());
        }
        match verdict {
            Ok(overrides) => RuleStatus {
                status: STATUS_ACCEPTED,
                error: self
                    .write_problems
                    .get(&GsKey {
                        tenant: overrides.tenant.clone(),
                        fqdn: overrides.fqdn.clone(),
                    })
                    .cloned()
                    .unwrap_or_default(),
            },
            Err(problem) if self.last_good_rules.contains_key(key) => {
                rejected(format!("{problem} {STILL_IN_FORCE}"))
            }
            Err(problem) => rejected(problem.to_string()),
        }
    }

    /// The statuses of the touched GSLBHostRules that have a verdict, where they changed.
    fn changed_rule_statuses(&mut self) -> Vec<(RuleKey, RuleStatus)> {
        let mut changed = Vec::new();
        for key in std::mem::take(&mut self.dirty_rules) {
            let Some((_, verdict)) = self.rule_verdicts.get(&key) else {
                continue;
            };
            let status = self.rule_status(&key, verdict);
            if self.rule_statuses.get(&key) == Some(&status) {
                continue;
            }
            self.rule_statuses.insert(key.clone(), status.clone());
            changed.push((key, status));
        }
        changed
    }

    /// How the overrides in force changed: the whole set the first time, then the touched
    /// claims whose winner or its overrides differ from what was handed on.
    fn overrides_change(&mut self) -> Option<OverridesChange> {
        let dirty = std::mem::take(&mut self.dirty_claims);
        let Some(sent) = &mut self.overrides_sent else {
            let in_force: BTreeMap<Claim, HostRuleOverrides> = self
                .claimants
                .keys()
                .filter_map(|claim| {
                    let owner = self.owner(claim)?;
                    Some((claim.clone(), self.last_good_rules.get(owner)?.clone()))
                })
                .collect();
            let all = in_force.values().cloned().collect();
            self.overrides_sent = Some(in_force);
            return Some(OverridesChange::Whole(all));
        };
        let mut upserts = Vec::new();
        let mut removed = Vec::new();
        for claim in dirty {
            let now = self
                .claimants
                .get(&claim)
                .and_then(|c| c.first())
                .and_then(|(_, owner)| self.last_good_rules.get(owner));
            match now {
                Some(overrides) if sent.get(&claim) != Some(overrides) => {
                    upserts.push(overrides.clone());
                    sent.insert(claim, overrides.clone());
                }
                Some(_) => {}
                None => {
                    if sent.remove(&claim).is_some() {
                        removed.push(claim);
                    }
                }
            }
        }
        (!upserts.is_empty() || !removed.is_empty())
            .then_some(OverridesChange::Differences { upserts, removed })
    }
}

fn rejected(error: String) -> RuleStatus {
    RuleStatus {
        status: STATUS_REJECTED,
        error,
    }
}

fn created<K: ResourceExt>(object: &K) -> Option<Timestamp> {
    object.meta().creation_timestamp.as_ref().map(|t| t.0)
}

/// The annotation write recording `object`'s spec as accepted; `None` when it is recorded
/// already.
fn record_spec<K>(object: &K, target: PolicyObject) -> Option<RecordSpec>
where
    K: ResourceExt + HasSpec,
    K::Spec: Serialize,
{
    let spec = serde_json::to_string(object.spec()).ok()?;
    if object.annotations().get(ACCEPTED_SPEC_ANNOTATION) == Some(&spec) {
        return None;
    }
    Some(RecordSpec {
        object: target,
        spec,
    })
}
