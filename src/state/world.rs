//! The operator's in-memory view of every member cluster and of the accepted policy, with
//! incremental re-selection: each change returns the GslbService keys whose inputs changed, so
//! only those are rebuilt. Pure and synchronous; the SelectionActor is a thin shell around it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::ingest::{
    HostRuleInfo, Ingested, NamespaceInfo, ObjectKind, Observation, ObservationId, Skipped,
};
use crate::model::GsInputs;
use crate::model::build::{DesiredGs, build_gslb_service, uses_fallback_pki};
use crate::policy::hostrule_index::HostRuleIndex;
use crate::policy::select::{Explanation, Selection, SelectionContext};
use crate::vocab::{GsKey, HostRuleOverrides, InstanceSettings, Member, Policy};

/// Identity of a member-cluster object (an Ingress yields several observations, one per host).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    pub kind: ObjectKind,
    pub cluster: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectId {
    pub fn of(id: &ObservationId) -> Self {
        ObjectId {
            kind: id.kind,
            cluster: id.cluster.clone(),
            namespace: id.namespace.clone(),
            name: id.name.clone(),
        }
    }
}

/// Why an observation is or is not a member, for `/debug/members`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberReport {
    pub id: ObservationId,
    pub hostname: String,
    pub vip: String,
    pub selected_into: Option<GsKey>,
    pub reason: Option<String>,
}

/// The stored outcome of selecting one observation. The key is shared with `members`, so a
/// verdict costs a pointer, not another copy of the GslbService's name.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    Selected(Arc<GsKey>),
    NotSelected(String),
}

/// What one object yields, and selection's verdict on each observation (same order): the
/// verdict lives next to its observation, so no second copy of every observation's id is kept.
/// Observations are shared with the members selected from them.
#[derive(Debug, Default)]
struct Held {
    observations: Vec<Arc<Observation>>,
    verdicts: Vec<Verdict>,
}

impl Held {
    fn verdict_of(&self, id: &ObservationId) -> Option<&Verdict> {
        let at = self.observations.iter().position(|o| o.id == *id)?;
        self.verdicts.get(at)
    }
}

/// All inputs of model building, and the selection derived from them.
#[derive(Debug)]
pub struct World {
    settings: InstanceSettings,
    policy: Option<Arc<Policy>>,
    overrides: BTreeMap<(String, String), Arc<HostRuleOverrides>>,
    /// Observations per object, so a changed Ingress replaces all its hosts at once, with
    /// their verdicts (derived: each member once, the verdict names its GslbService, the
    /// member lives in `members`).
    objects: BTreeMap<ObjectId, Held>,
    skipped: BTreeMap<ObjectId, Vec<Skipped>>,
    namespaces: BTreeMap<(String, String), NamespaceInfo>,
    hostrules: BTreeMap<(String, String, String), HostRuleInfo>,
    hostrule_index: HostRuleIndex,
    /// Derived: members per GslbService.
    members: BTreeMap<Arc<GsKey>, Members>,
    /// Derived: the tenants in which each FQDN has a GslbService with members, so that alias
    /// checks need not scan every GslbService.
    tenants_of_fqdn: BTreeMap<String, BTreeSet<String>>,
}

/// The members of one GslbService, sorted by observation id, each id once. A GslbService has a
/// few members (one per cluster serving its FQDN): a sorted vector costs their size, where a
/// map per GslbService cost a whole B-tree node (~3.9 KB) and a second copy of every id.
#[derive(Debug, Default)]
struct Members(Vec<Member>);

impl Members {
    fn position(&self, id: &ObservationId) -> Result<usize, usize> {
        self.0.binary_search_by(|m| m.id().cmp(id))
    }

    /// Adds or replaces the member with `member.id()`.
    fn insert(&mut self, member: Member) {
        match self.position(member.id()) {
            Ok(at) => self.0[at] = member,
            Err(at) => {
                // Exactly one more slot: doubling would leave ~40% of a typical vector unused.
                self.0.reserve_exact(1);
                self.0.insert(at, member);
            }
        }
    }

    fn get(&self, id: &ObservationId) -> Option<&Member> {
        self.position(id).ok().map(|at| &self.0[at])
    }

    fn remove(&mut self, id: &ObservationId) -> Option<Member> {
        let removed = self.position(id).ok().map(|at| self.0.remove(at));
        if self.0.len() * 2 < self.0.capacity() {
            self.0.shrink_to_fit();
        }
        removed
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn iter(&self) -> std::slice::Iter<'_, Member> {
        self.0.iter()
    }
}

/// Which observations a change may have re-decided.
#[derive(Clone, Copy)]
enum Scope<'a> {
    All,
    Cluster(&'a str),
    Namespace(&'a str, &'a str),
}

const KINDS: [ObjectKind; 3] = [
    ObjectKind::Ingress,
    ObjectKind::Route,
    ObjectKind::LbService,
];

/// The objects of `map` (keyed by [`ObjectId`]) in `cluster` (and `namespace`, when given), by
/// range: the keys order by kind, cluster, namespace, name, so this costs what it returns, not
/// the number of objects held.
fn objects_in<'a, V>(
    map: &'a BTreeMap<ObjectId, V>,
    cluster: &'a str,
    namespace: Option<&'a str>,
) -> impl Iterator<Item = (&'a ObjectId, &'a V)> + 'a {
    KINDS.into_iter().flat_map(move |kind| {
        let start = ObjectId {
            kind,
            cluster: cluster.to_owned(),
            namespace: namespace.unwrap_or_default().to_owned(),
            name: String::new(),
        };
        map.range(start..).take_while(move |(o, _)| {
            o.kind == kind && o.cluster == cluster && namespace.is_none_or(|n| o.namespace == n)
        })
    })
}

impl World {
    pub fn new(settings: InstanceSettings) -> Self {
        World {
            settings,
            policy: None,
            overrides: BTreeMap::new(),
            objects: BTreeMap::new(),
            skipped: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            hostrules: BTreeMap::new(),
            hostrule_index: HostRuleIndex::default(),
            members: BTreeMap::new(),
            tenants_of_fqdn: BTreeMap::new(),
        }
    }

    pub fn settings(&self) -> &InstanceSettings {
        &self.settings
    }

    pub fn policy(&self) -> Option<&Arc<Policy>> {
        self.policy.as_ref()
    }

    /// Replaces what `object` yields (an empty `Ingested` removes it). Returns changed keys.
    pub fn upsert_object(&mut self, object: ObjectId, ingested: Ingested) -> BTreeSet<GsKey> {
        let mut changed = BTreeSet::new();
        if ingested.skipped.is_empty() {
            self.skipped.remove(&object);
        } else {
            self.skipped.insert(object.clone(), ingested.skipped);
        }
        let old = self.objects.remove(&object).unwrap_or_default();
        for (gone, verdict) in old.observations.iter().zip(&old.verdicts) {
            if !ingested.observations.iter().any(|n| n.id == gone.id) {
                changed.extend(self.forget(&gone.id, verdict));
            }
        }
        // Exactly as many slots as observations: ingest grows its vector by pushing (capacity 4
        // for one host); kept for every object, the spare capacity was ~16 MB at 20,000 objects.
        let mut observations = Vec::with_capacity(ingested.observations.len());
        let mut verdicts = Vec::with_capacity(ingested.observations.len());
        for obs in ingested.observations {
            let previous = old
                .observations
                .iter()
                .zip(&old.verdicts)
                .find(|(o, _)| o.id == obs.id);
            let (obs, verdict) = match previous {
                // The unchanged observation keeps its verdict and stays the one its member
                // shares, so it is not held twice.
                Some((unchanged, verdict)) if **unchanged == obs => {
                    (Arc::clone(unchanged), verdict.clone())
                }
                _ => {
                    let obs = Arc::new(obs);
                    let verdict = self.evaluate(&obs, previous.map(|(_, v)| v), &mut changed);
                    (obs, verdict)
                }
            };
            observations.push(obs);
            verdicts.push(verdict);
        }
        if !observations.is_empty() {
            self.objects.insert(
                object,
                Held {
                    observations,
                    verdicts,
                },
            );
        }
        changed
    }

    /// Forgets `object`. Returns changed keys.
    pub fn delete_object(&mut self, object: &ObjectId) -> BTreeSet<GsKey> {
        self.skipped.remove(object);
        let mut changed = BTreeSet::new();
        let held = self.objects.remove(object).unwrap_or_default();
        for (obs, verdict) in held.observations.iter().zip(&held.verdicts) {
            changed.extend(self.forget(&obs.id, verdict));
        }
        changed
    }

    /// Forgets every object of `kind` in `cluster` that is not in `keep` (after a relist).
    pub fn retain_objects(
        &mut self,
        cluster: &str,
        kind: ObjectKind,
        keep: &BTreeSet<ObjectId>,
    ) -> BTreeSet<GsKey> {
        let gone: Vec<ObjectId> = objects_in(&self.objects, cluster, None)
            .map(|(o, _)| o)
            .chain(objects_in(&self.skipped, cluster, None).map(|(o, _)| o))
            .filter(|o| o.kind == kind && !keep.contains(*o))
            .cloned()
            .collect();
        let mut changed = BTreeSet::new();
        for object in gone {
            changed.extend(self.delete_object(&object));
        }
        changed
    }

    pub fn upsert_namespace(&mut self, info: NamespaceInfo) -> BTreeSet<GsKey> {
        let key = (info.cluster.clone(), info.name.clone());
        if self.namespaces.get(&key) == Some(&info) {
            return BTreeSet::new();
        }
        self.namespaces.insert(key, info.clone());
        self.reevaluate(Scope::Namespace(&info.cluster, &info.name))
    }

    pub fn delete_namespace(&mut self, cluster: &str, name: &str) -> BTreeSet<GsKey> {
        if self
            .namespaces
            .remove(&(cluster.to_owned(), name.to_owned()))
            .is_none()
        {
            return BTreeSet::new();
        }
        self.reevaluate(Scope::Namespace(cluster, name))
    }

    /// Records an AKO HostRule (`None` info removes it). HostRules change names, TLS and aliases,
    /// so every observation of the cluster is re-selected and every GS with aliases refreshed.
    pub fn set_hostrule(
        &mut self,
        cluster: &str,
        namespace: &str,
        name: &str,
        info: Option<HostRuleInfo>,
    ) -> BTreeSet<GsKey> {
        let key = (cluster.to_owned(), namespace.to_owned(), name.to_owned());
        let previous = match &info {
            Some(info) => self.hostrules.insert(key, info.clone()),
            None => self.hostrules.remove(&key),
        };
        if previous == info {
            return BTreeSet::new();
        }
        self.hostrule_index = HostRuleIndex::new(self.hostrules.values());
        let mut changed = self.reevaluate(Scope::Cluster(cluster));
        // Aliases can move between GslbServices (first claimant wins), so any alias change
        // refreshes every GslbService's domain names; the rebuild writes nothing where equal.
        let aliases = |r: &Option<HostRuleInfo>| {
            r.as_ref()
                .filter(|r| r.accepted)
                .map(|r| (r.aliases.clone(), r.include_aliases, r.global_fqdn.clone()))
        };
        if aliases(&previous) != aliases(&info) {
            changed.extend(self.members.keys().map(|k| GsKey::clone(k)));
        }
        changed
    }

    /// Installs a new accepted policy (or none). Every observation is re-selected.
    pub fn set_policy(&mut self, policy: Option<Policy>) -> BTreeSet<GsKey> {
        let policy = policy.map(Arc::new);
        if self.policy.as_deref() == policy.as_deref() {
            return BTreeSet::new();
        }
        let properties_changed = self
            .policy
            .as_ref()
            .map(|p| (&p.properties, &p.traffic_split))
            != policy.as_ref().map(|p| (&p.properties, &p.traffic_split));
        self.policy = policy;
        let mut changed = self.reevaluate(Scope::All);
        if properties_changed {
            changed.extend(self.members.keys().map(|k| GsKey::clone(k)));
        }
        changed
    }

    /// Replaces the accepted GSLBHostRule overrides. Returns the keys whose overrides changed.
    pub fn set_overrides(&mut self, overrides: Vec<HostRuleOverrides>) -> BTreeSet<GsKey> {
        let next: BTreeMap<(String, String), Arc<HostRuleOverrides>> = overrides
            .into_iter()
            .map(|o| ((o.tenant.clone(), o.fqdn.clone()), Arc::new(o)))
            .collect();
        let mut changed = BTreeSet::new();
        for (key, value) in &next {
            if self.overrides.get(key) != Some(value) {
                changed.insert(GsKey {
                    tenant: key.0.clone(),
                    fqdn: key.1.clone(),
                });
            }
        }
        for key in self.overrides.keys() {
            if !next.contains_key(key) {
                changed.insert(GsKey {
                    tenant: key.0.clone(),
                    fqdn: key.1.clone(),
                });
            }
        }
        self.overrides = next;
        changed
    }

    /// Applies a difference of the accepted GSLBHostRule overrides: `upserts` replace the
    /// overrides of their (tenant, FQDN), `removed` lists (tenant, FQDN) pairs that have none any
    /// more. Costs what changed, not the number of overrides. Returns the keys that changed.
    pub fn change_overrides(
        &mut self,
        upserts: Vec<HostRuleOverrides>,
        removed: &[(String, String)],
    ) -> BTreeSet<GsKey> {
        let mut changed = BTreeSet::new();
        for o in upserts {
            let key = (o.tenant.clone(), o.fqdn.clone());
            if self.overrides.get(&key).map(|a| a.as_ref()) != Some(&o) {
                changed.insert(GsKey {
                    tenant: key.0.clone(),
                    fqdn: key.1.clone(),
                });
                self.overrides.insert(key, Arc::new(o));
            }
        }
        for key in removed {
            if self.overrides.remove(key).is_some() {
                changed.insert(GsKey {
                    tenant: key.0.clone(),
                    fqdn: key.1.clone(),
                });
            }
        }
        changed
    }

    /// Every key that currently has members.
    pub fn keys(&self) -> impl Iterator<Item = &GsKey> {
        self.members.keys().map(Arc::as_ref)
    }

    /// Members selected for `key`.
    pub fn members_of(&self, key: &GsKey) -> Vec<Member> {
        self.members
            .get(key)
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Everything the GslbService actor for `key` needs to build its desired state.
    pub fn inputs_for(&self, key: &GsKey) -> GsInputs {
        GsInputs {
            key: key.clone(),
            members: self.members_of(key),
            domain_names: self.domain_names_of(key),
            policy: self.policy.clone().unwrap_or_default(),
            overrides: self
                .overrides
                .get(&(key.tenant.clone(), key.fqdn.clone()))
                .cloned(),
        }
    }

    /// The GslbService's FQDN and its HostRule aliases, minus aliases that are the FQDN of
    /// another GslbService with members: the controller allows a domain name on one GslbService
    /// only, and claiming another's own name would make every write of this one fail.
    fn domain_names_of(&self, key: &GsKey) -> Vec<String> {
        let mut names = self
            .hostrule_index
            .domain_names(&key.fqdn, self.settings.use_custom_global_fqdn);
        names.retain(|name| *name == key.fqdn || !self.tenants_of_fqdn.contains_key(name));
        names
    }

    /// When the GslbService named `fqdn` starts or stops existing, the GslbService whose
    /// HostRule alias is that name gains or loses it (see `domain_names_of`).
    fn alias_dependents(&self, fqdn: &str, changed: &mut BTreeSet<GsKey>) {
        if let Some(owner) = self
            .hostrule_index
            .alias_owner(fqdn, self.settings.use_custom_global_fqdn)
        {
            let tenants = self.tenants_of_fqdn.get(owner).into_iter().flatten();
            changed.extend(tenants.map(|tenant| GsKey {
                tenant: tenant.clone(),
                fqdn: owner.to_owned(),
            }));
        }
    }

    /// The desired GslbService for `key` right now (`None`: it must not exist).
    pub fn desired(&self, key: &GsKey, fallback_pki_profile: Option<&str>) -> Option<DesiredGs> {
        build_gslb_service(&self.inputs_for(key), &self.settings, fallback_pki_profile)
    }

    /// The GslbServices whose desired state takes the fallback PKI profile: rebuilt when the
    /// controller's federated PKI profiles change.
    pub fn keys_using_fallback_pki(&self) -> BTreeSet<GsKey> {
        let policy = self.policy.clone().unwrap_or_default();
        self.members
            .iter()
            .filter(|(key, members)| {
                let overrides = self.overrides.get(&(key.tenant.clone(), key.fqdn.clone()));
                let any_tls = members.iter().any(|m| m.tls);
                uses_fallback_pki(key, &policy, overrides.map(|o| &**o), any_tls)
            })
            .map(|(key, _)| GsKey::clone(key))
            .collect()
    }

    /// Why each observation is or is not a member.
    pub fn report(&self) -> Vec<MemberReport> {
        self.reports().collect()
    }

    /// [`World::report`], one observation at a time (in a stable order), so a page of it costs
    /// only what the page holds.
    pub fn reports(&self) -> impl Iterator<Item = MemberReport> + '_ {
        let held = self.objects.values();
        held.flat_map(|h| h.observations.iter().zip(&h.verdicts))
            .map(|(obs, verdict)| {
                let (selected_into, reason) = match verdict {
                    Verdict::Selected(key) => (Some(GsKey::clone(key)), None),
                    Verdict::NotSelected(r) => (None, Some(r.clone())),
                };
                MemberReport {
                    id: obs.id.clone(),
                    hostname: obs.hostname.clone(),
                    vip: obs.vip.to_string(),
                    selected_into,
                    reason,
                }
            })
    }

    /// Hosts of objects that produced no observation, with reasons.
    pub fn skipped(&self) -> impl Iterator<Item = (&ObjectId, &Vec<Skipped>)> {
        self.skipped.iter()
    }

    /// Number of observations held.
    pub fn observation_count(&self) -> usize {
        self.objects.values().map(|h| h.observations.len()).sum()
    }

    /// Number of observations from one cluster.
    pub fn observation_count_of(&self, cluster: &str) -> usize {
        objects_in(&self.objects, cluster, None)
            .map(|(_, h)| h.observations.len())
            .sum()
    }

    /// Forgets every namespace of `cluster` not in `keep` (after a relist).
    pub fn retain_namespaces(&mut self, cluster: &str, keep: &BTreeSet<String>) -> BTreeSet<GsKey> {
        let gone: Vec<String> = self
            .namespaces
            .keys()
            .filter(|(c, n)| c == cluster && !keep.contains(n))
            .map(|(_, n)| n.clone())
            .collect();
        let mut changed = BTreeSet::new();
        for name in gone {
            changed.extend(self.delete_namespace(cluster, &name));
        }
        changed
    }

    /// Forgets every AKO HostRule (namespace, name) of `cluster` not in `keep` (after a relist).
    pub fn retain_hostrules(
        &mut self,
        cluster: &str,
        keep: &BTreeSet<(String, String)>,
    ) -> BTreeSet<GsKey> {
        let gone: Vec<(String, String)> = self
            .hostrules
            .keys()
            .filter(|(c, ns, n)| c == cluster && !keep.contains(&(ns.clone(), n.clone())))
            .map(|(_, ns, n)| (ns.clone(), n.clone()))
            .collect();
        let mut changed = BTreeSet::new();
        for (namespace, name) in gone {
            changed.extend(self.set_hostrule(cluster, &namespace, &name, None));
        }
        changed
    }

    /// What selection reads besides the observation; `None` without an accepted policy.
    fn selection_context(&self) -> Option<SelectionContext<'_>> {
        self.policy.as_deref().map(|policy| SelectionContext {
            policy,
            settings: &self.settings,
            namespaces: &self.namespaces,
            hostrules: &self.hostrule_index,
        })
    }

    /// Selection's chain of checks for `obs` under what the world holds now (`None`: no accepted
    /// GlobalDeploymentPolicy). The same `SelectionContext` as the verdict `evaluate` stores.
    pub fn explain(&self, obs: &Arc<Observation>) -> Option<Explanation> {
        self.selection_context().map(|context| context.explain(obs))
    }

    /// The GslbService `id` is a member of now, as selection stored it.
    pub fn selected_into(&self, id: &ObservationId) -> Option<&GsKey> {
        let held = self.objects.get(&ObjectId::of(id))?;
        match held.verdict_of(id) {
            Some(Verdict::Selected(key)) => Some(key),
            _ => None,
        }
    }

    /// The observations `object` yields now (one per host that has a VIP).
    pub fn observations_of(&self, object: &ObjectId) -> &[Arc<Observation>] {
        self.objects
            .get(object)
            .map(|h| h.observations.as_slice())
            .unwrap_or_default()
    }

    /// The hosts of `object` that yield no observation, with ingest's reasons.
    pub fn skipped_of(&self, object: &ObjectId) -> &[Skipped] {
        self.skipped
            .get(object)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Every object known, with what it yields and what it skipped.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectId> {
        let only_skipped = self
            .skipped
            .keys()
            .filter(|id| !self.objects.contains_key(*id));
        self.objects.keys().chain(only_skipped)
    }

    /// The GSLBHostRule overrides in force for `key`.
    pub fn overrides_of(&self, key: &GsKey) -> Option<&HostRuleOverrides> {
        self.overrides
            .get(&(key.tenant.clone(), key.fqdn.clone()))
            .map(Arc::as_ref)
    }

    /// Selects `obs` (whose verdict was `previous`), moves its membership accordingly and
    /// returns its new verdict; adds the keys that changed to `changed`.
    fn evaluate(
        &mut self,
        obs: &Arc<Observation>,
        previous: Option<&Verdict>,
        changed: &mut BTreeSet<GsKey>,
    ) -> Verdict {
        let selection = match self.selection_context() {
            None => Selection::NotSelected("no accepted GlobalDeploymentPolicy".to_owned()),
            Some(context) => context.select(obs),
        };
        if let Some(Verdict::Selected(old_key)) = previous
            && let Some(members) = self.members.get_mut(&**old_key)
        {
            // An unchanged member stays where it is: re-selecting every object after a GDP
            // edit must not remove, copy and re-insert the ones the edit did not touch. It
            // takes the observation it was selected from now, so that one is held once (it may
            // differ in what makes no pool member, such as labels).
            if let Selection::Selected(new) = &selection
                && *new.key == **old_key
                && members.get(&obs.id) == Some(new.as_ref())
            {
                members.insert(Member {
                    key: old_key.clone(),
                    ..Member::clone(new)
                });
                return Verdict::Selected(old_key.clone());
            }
            members.remove(&obs.id);
            changed.insert(GsKey::clone(old_key));
            if members.is_empty() {
                self.drop_gslb_service(old_key);
                self.alias_dependents(&old_key.fqdn, changed);
            }
        }
        match selection {
            Selection::Selected(member) => {
                let key = match self.members.get_key_value(&*member.key) {
                    Some((key, _)) => key.clone(),
                    None => {
                        let key = member.key.clone();
                        self.tenants_of_fqdn
                            .entry(key.fqdn.clone())
                            .or_default()
                            .insert(key.tenant.clone());
                        self.members.insert(key.clone(), Members::default());
                        self.alias_dependents(&key.fqdn, changed);
                        key
                    }
                };
                changed.insert(GsKey::clone(&key));
                if let Some(members) = self.members.get_mut(&*key) {
                    // The member names its GslbService by the map's key, not a copy of it.
                    members.insert(Member {
                        key: key.clone(),
                        ..*member
                    });
                }
                Verdict::Selected(key)
            }
            Selection::NotSelected(reason) => Verdict::NotSelected(reason),
        }
    }

    /// Drops the membership of observation `id`, whose verdict was `verdict` (it is gone).
    fn forget(&mut self, id: &ObservationId, verdict: &Verdict) -> BTreeSet<GsKey> {
        let mut changed = BTreeSet::new();
        if let Verdict::Selected(key) = verdict
            && let Some(members) = self.members.get_mut(&**key)
        {
            members.remove(id);
            if members.is_empty() {
                self.drop_gslb_service(key);
                self.alias_dependents(&key.fqdn, &mut changed);
            }
            changed.insert(GsKey::clone(key));
        }
        changed
    }

    /// Forgets the GslbService `key`, which has no members left.
    fn drop_gslb_service(&mut self, key: &GsKey) {
        self.members.remove(key);
        if let Some(tenants) = self.tenants_of_fqdn.get_mut(&key.fqdn) {
            tenants.remove(&key.tenant);
            if tenants.is_empty() {
                self.tenants_of_fqdn.remove(&key.fqdn);
            }
        }
    }

    /// Re-selects every observation in `scope`, one object at a time (its verdicts are taken
    /// out while selection moves memberships, and put back).
    fn reevaluate(&mut self, scope: Scope) -> BTreeSet<GsKey> {
        let affected: Vec<ObjectId> = match scope {
            Scope::All => self.objects.keys().cloned().collect(),
            Scope::Cluster(cluster) => objects_in(&self.objects, cluster, None)
                .map(|(o, _)| o.clone())
                .collect(),
            Scope::Namespace(cluster, namespace) => {
                objects_in(&self.objects, cluster, Some(namespace))
                    .map(|(o, _)| o.clone())
                    .collect()
            }
        };
        let mut changed = BTreeSet::new();
        for object in &affected {
            let Some(slot) = self.objects.get_mut(object) else {
                continue;
            };
            let mut held = std::mem::take(slot);
            for (obs, verdict) in held.observations.iter().zip(held.verdicts.iter_mut()) {
                *verdict = self.evaluate(obs, Some(verdict), &mut changed);
            }
            if let Some(slot) = self.objects.get_mut(object) {
                *slot = held;
            }
        }
        changed
    }
}
