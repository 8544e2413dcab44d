//! What the writer converges, and when, apart from any I/O: its boot phases, when writes may
//! start, which GslbServices a full pass looks at, which must wait for a member cluster that has not
//! listed its objects yet, whether a managed health monitor is still used by another GslbService,
//! and the plan for one GslbService. The AviActor keeps the queue, the timers and the requests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::model::DesiredGs;
use crate::model::identity::clusters_in_description;
use crate::model::plan::{ControllerState, Plan, Write, plan_gslb_service};
use crate::vocab::GsKey;

/// Desired GslbServices by key, each shared with the GslbService actor that built it, with
/// which of them use each health monitor and how many members they have in all, kept in step so
/// that neither question costs a scan over every GslbService.
#[derive(Clone, Debug, Default)]
pub struct DesiredMap {
    by_key: BTreeMap<GsKey, Arc<DesiredGs>>,
    /// (tenant, monitor name) -> FQDNs of the desired GslbServices using it.
    monitor_users: BTreeMap<(String, String), BTreeSet<String>>,
    members: usize,
}

impl DesiredMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the desired state of `key`; returns the one it replaces.
    pub fn insert(&mut self, key: GsKey, desired: Arc<DesiredGs>) -> Option<Arc<DesiredGs>> {
        let old = self.remove(&key);
        for hm in &desired.health_monitors {
            self.monitor_users
                .entry((key.tenant.clone(), hm.name.clone()))
                .or_default()
                .insert(key.fqdn.clone());
        }
        self.members += members_of(&desired);
        self.by_key.insert(key, desired);
        old
    }

    pub fn remove(&mut self, key: &GsKey) -> Option<Arc<DesiredGs>> {
        let old = self.by_key.remove(key)?;
        for hm in &old.health_monitors {
            let index = (key.tenant.clone(), hm.name.clone());
            if let Some(users) = self.monitor_users.get_mut(&index) {
                users.remove(&key.fqdn);
                if users.is_empty() {
                    self.monitor_users.remove(&index);
                }
            }
        }
        self.members -= members_of(&old);
        Some(old)
    }

    pub fn get(&self, key: &GsKey) -> Option<&Arc<DesiredGs>> {
        self.by_key.get(key)
    }

    pub fn contains_key(&self, key: &GsKey) -> bool {
        self.by_key.contains_key(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &GsKey> {
        self.by_key.keys()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&GsKey, &Arc<DesiredGs>)> {
        self.by_key.iter()
    }

    pub fn values(&self) -> impl Iterator<Item = &Arc<DesiredGs>> {
        self.by_key.values()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The desired GslbServices named `fqdn`, in every tenant: one look-up per tenant, not a
    /// scan of every key (the debug endpoint asks this of a busy writer).
    pub fn keys_named(&self, fqdn: &str) -> Vec<GsKey> {
        let mut found = Vec::new();
        let mut next = self.by_key.keys().next();
        while let Some(first) = next {
            let tenant = first.tenant.clone();
            let key = GsKey {
                tenant: tenant.clone(),
                fqdn: fqdn.to_owned(),
            };
            if self.by_key.contains_key(&key) {
                found.push(key);
            }
            // The smallest tenant after this one: `tenant` followed by NUL.
            let after = GsKey {
                tenant: format!("{tenant}\0"),
                fqdn: String::new(),
            };
            next = self.by_key.range(after..).next().map(|(k, _)| k);
        }
        found
    }

    /// FQDNs of the desired GslbServices of `tenant` that use the monitor `name`.
    pub fn monitor_users(&self, tenant: &str, name: &str) -> impl Iterator<Item = &str> {
        self.monitor_users
            .get(&(tenant.to_owned(), name.to_owned()))
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
}

/// The desired map after boot: the snapshot (complete and newest), holding the copy already
/// held for a key when it is equal. The GslbService actors handed over their desired states
/// before the snapshot came, each keeps its own; without this the writer held a second copy of
/// every desired GslbService from boot on (~120 MB at 40,000 GslbServices).
pub fn adopt_snapshot(held: &DesiredMap, snapshot: DesiredMap) -> DesiredMap {
    snapshot
        .by_key
        .into_iter()
        .map(|(key, desired)| {
            let shared = match held.get(&key) {
                Some(same) if Arc::ptr_eq(same, &desired) || **same == *desired => same.clone(),
                _ => desired,
            };
            (key, shared)
        })
        .collect()
}

impl FromIterator<(GsKey, Arc<DesiredGs>)> for DesiredMap {
    fn from_iter<I: IntoIterator<Item = (GsKey, Arc<DesiredGs>)>>(iter: I) -> Self {
        let mut map = DesiredMap::new();
        for (key, desired) in iter {
            map.insert(key, desired);
        }
        map
    }
}

impl<const N: usize> From<[(GsKey, Arc<DesiredGs>); N]> for DesiredMap {
    fn from(items: [(GsKey, Arc<DesiredGs>); N]) -> Self {
        items.into_iter().collect()
    }
}

fn members_of(desired: &DesiredGs) -> usize {
    desired
        .gslb_service
        .groups
        .iter()
        .map(|g| g.members.len())
        .sum()
}

/// Boot progress of the writer. Nothing is written before `Ready`: the writer needs both what
/// the controller holds (the cache) and the complete desired state (the boot snapshot), or it
/// would delete GslbServices whose members it has not heard of yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    LoadingCache,
    WaitingForSnapshot,
    Ready,
}

/// What to do after a read of the controller succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterLoad {
    /// The cache is there: boot as soon as the snapshot is too.
    TryBoot,
    /// A periodic refresh while running: look at everything (drift, orphans).
    ConvergeAll,
    Nothing,
}

impl Phase {
    /// The next phase after a successful read of the controller (`refresh`: a periodic one).
    pub fn after_load(self, refresh: bool) -> (Phase, AfterLoad) {
        match self {
            Phase::LoadingCache => (Phase::WaitingForSnapshot, AfterLoad::TryBoot),
            Phase::Ready if refresh => (Phase::Ready, AfterLoad::ConvergeAll),
            other => (other, AfterLoad::Nothing),
        }
    }

    /// Whether the writer boots now, with the cache loaded and the snapshot `arrived`.
    pub fn boots(self, arrived: bool) -> bool {
        self == Phase::WaitingForSnapshot && arrived
    }

    /// Booted: `/readyz` answers ready.
    pub fn is_ready(self) -> bool {
        self == Phase::Ready
    }
}

/// What a periodic refresh tick does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshTick {
    /// Read the controller now.
    Start,
    /// Not now: read once the write queue has drained.
    Postpone,
    /// Nothing to refresh yet: boot has not finished (its own read is the first one).
    Skip,
}

/// Whether a read of the controller starts now; `refresh`: a refresh (periodic, postponed, or the
/// retry of one that failed), not the boot read, which always starts (the writer waits for it);
/// `backlog`: queued GslbServices that can be written now (those waiting for a member cluster's
/// first list do not count). A refresh re-reads everything this instance owns (one request per
/// page of 200 objects); while writes are queued, every queued GslbService is planned against the
/// cache anyway and the read would spend request budget the backlog needs: at the controller's
/// limit, a cold start of 40,000 GslbServices would spend 401 requests (13 s at 30/s) on every
/// refresh interval; and it would list a collection the writer is still filling, a listing that
/// fails the paging guard when the collection grows under it. So it waits for the queue to drain
/// (the writer starts the postponed read once the last write has landed). Before boot is done
/// there is nothing to refresh: the boot read is in flight or done, and the first full pass
/// follows it.
pub fn periodic_refresh(phase: Phase, refresh: bool, backlog: usize) -> RefreshTick {
    match (refresh, phase.is_ready(), backlog) {
        (false, _, _) => RefreshTick::Start,
        (true, false, _) => RefreshTick::Skip,
        (true, true, 0) => RefreshTick::Start,
        (true, true, _) => RefreshTick::Postpone,
    }
}

/// Whether a periodic refresh is due: `interval` after the previous one ended (`None`: none
/// yet, so one interval after start, `started`). Counting from its end, not its start: listing
/// 80,000 objects on a loaded machine took longer than the 20 s interval, and refreshes ran back
/// to back, keeping the writer's thread busy for good.
pub fn refresh_due(
    now: Instant,
    started: Instant,
    last_ended: Option<Instant>,
    interval: std::time::Duration,
) -> bool {
    now.saturating_duration_since(last_ended.unwrap_or(started)) >= interval
}

/// How often the writer looks whether a refresh is due.
pub fn refresh_check_every(interval: std::time::Duration) -> std::time::Duration {
    (interval / 4).max(std::time::Duration::from_millis(250))
}

/// Whether queued writes may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Closed,
    /// Open; `resumed`: a hold (429, maintenance) just ended and can be forgotten.
    Open {
        resumed: bool,
    },
}

/// Writes start only once booted, while the controller leads, and after any hold has ended.
pub fn gate(phase: Phase, not_leader: bool, held_until: Option<Instant>, now: Instant) -> Gate {
    if !phase.is_ready() || not_leader {
        return Gate::Closed;
    }
    match held_until {
        Some(until) if now < until => Gate::Closed,
        Some(_) => Gate::Open { resumed: true },
        None => Gate::Open { resumed: false },
    }
}

/// Every GslbService a full pass looks at: the desired ones, every owned one on the controller
/// (those nothing wants are orphans to delete), and every one a managed monitor was made for
/// (monitors left behind by a GslbService that is gone).
pub fn keys_to_converge<'a>(
    desired: impl Iterator<Item = &'a GsKey>,
    cache: &ControllerState,
) -> BTreeSet<GsKey> {
    let cached = cache.gslb_services().keys().map(|(tenant, name)| GsKey {
        tenant: tenant.clone(),
        fqdn: name.clone(),
    });
    let monitored = cache
        .health_monitors()
        .iter()
        .filter_map(|((tenant, _), hm)| {
            hm.made_for().map(|gs| GsKey {
                tenant: tenant.clone(),
                fqdn: gs.to_owned(),
            })
        });
    desired.cloned().chain(cached).chain(monitored).collect()
}

/// True when the controller's copy of `key` lists members from a cluster in `unsynced` (one that
/// has not listed its objects yet): writing now could drop those members, so the GslbService waits.
pub fn waits_for_unsynced(
    key: &GsKey,
    cache: &ControllerState,
    unsynced: &BTreeSet<String>,
) -> bool {
    if unsynced.is_empty() {
        return false;
    }
    let Some(gs) = cache
        .gslb_services()
        .get(&(key.tenant.clone(), key.fqdn.clone()))
    else {
        return false;
    };
    let body = gs.body();
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    clusters_in_description(description)
        .iter()
        .any(|cluster| unsynced.contains(cluster))
}

/// True when a GslbService other than `key` uses the monitor `tenant/name`: one desired, or one on
/// the controller. A shared monitor is deleted only after its last user.
pub fn monitor_used_elsewhere(
    key: &GsKey,
    tenant: &str,
    name: &str,
    desired: &DesiredMap,
    cache: &ControllerState,
) -> bool {
    desired
        .monitor_users(tenant, name)
        .any(|fqdn| !(tenant == key.tenant && fqdn == key.fqdn))
        || cache.monitor_users(tenant, name).any(|gs| gs != key.fqdn)
}

/// True when nothing is left of `key`: nothing desires it, the controller holds no GslbService
/// of that name and no managed monitor made for it. The writer then forgets what it remembers of
/// it (its write history for `amko explain`), or that memory would grow with every FQDN ever
/// written.
pub fn forgotten(key: &GsKey, desired: &DesiredMap, cache: &ControllerState) -> bool {
    !desired.contains_key(key)
        && !cache
            .gslb_services()
            .contains_key(&(key.tenant.clone(), key.fqdn.clone()))
        && cache
            .monitors_made_for(&key.tenant, &key.fqdn)
            .next()
            .is_none()
}

/// What the writer does with a GslbService it takes from the queue.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Its writes are in flight, or a member cluster of it has not listed yet: look again later.
    Defer,
    /// Nothing to write: in sync, or blocked by objects in the way (`conflict`, for its status).
    Idle { conflict: Option<String> },
    /// Write these, in order; `conflict`: objects in the way of other writes of it.
    Write {
        writes: Vec<Write>,
        conflict: Option<String>,
    },
}

/// The step for `key`: `in_flight` when its writes are running, `unsynced` the member clusters
/// that have not listed their objects yet.
pub fn step(
    key: &GsKey,
    in_flight: bool,
    unsynced: &BTreeSet<String>,
    desired: &DesiredMap,
    cache: &ControllerState,
    created_by: &str,
) -> Step {
    if in_flight || waits_for_unsynced(key, cache, unsynced) {
        return Step::Defer;
    }
    let plan = plan(key, desired, cache, created_by);
    let conflict = plan.conflict_problem();
    if plan.writes.is_empty() {
        Step::Idle { conflict }
    } else {
        Step::Write {
            writes: plan.writes,
            conflict,
        }
    }
}

/// The writes that converge `key` now.
pub fn plan(key: &GsKey, desired: &DesiredMap, cache: &ControllerState, created_by: &str) -> Plan {
    plan_gslb_service(
        key,
        desired.get(key).map(|d| &**d),
        cache,
        created_by,
        &|tenant, name| monitor_used_elsewhere(key, tenant, name, desired, cache),
    )
}

/// The fallback PKI profile to announce to the builders after a read of the controller, when it
/// changed. The fallback is the first federated PKI profile by name (`federated` is sorted; `None`
/// when listing them failed); `known` is the one announced last (`None`: nothing yet). A failed
/// listing keeps the last known fallback rather than rebuilding GslbServices without it and back
/// on the next read; before anything is known it announces "none", so boot does not wait for it.
pub fn fallback_pki_update(
    known: Option<Option<&str>>,
    federated: Option<&[String]>,
) -> Option<Option<String>> {
    let fallback = match federated {
        Some(names) => names.first().map(String::as_str),
        None if known.is_some() => return None,
        None => None,
    };
    (known != Some(fallback)).then(|| fallback.map(str::to_owned))
}

/// Members over every desired GslbService (a gauge).
pub fn member_count(desired: &DesiredMap) -> usize {
    desired.members
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::model::payload::ref_by_name;
    use crate::model::plan::ControllerObject;

    const ME: &str = "amko-me";

    fn key(tenant: &str, fqdn: &str) -> GsKey {
        GsKey {
            tenant: tenant.into(),
            fqdn: fqdn.into(),
        }
    }

    /// A desired GslbService with `members` pool members, referencing managed `monitors`.
    fn desired(key: &GsKey, monitors: &[&str], members: usize) -> Arc<DesiredGs> {
        let member = |i: usize| json!({"enabled": true, "ratio": 1, "ip": {"addr": format!("10.0.0.{i}"), "type": "V4"}});
        let gslb_service = serde_json::from_value(json!({
            "name": key.fqdn, "tenant_ref": ref_by_name("tenant", &key.tenant), "created_by": ME,
            "description": "", "domain_names": [key.fqdn], "enabled": true, "is_federated": true,
            "controller_health_status_enabled": true, "health_monitor_scope": "GSLB_SERVICE_HEALTH_MONITOR_ALL_MEMBERS",
            "min_members": 0, "pool_algorithm": "GSLB_SERVICE_ALGORITHM_PRIORITY", "resolve_cname": false,
            "use_edns_client_subnet": true, "wildcard_match": false, "site_persistence_enabled": false,
            "health_monitor_refs": monitors.iter().map(|m| ref_by_name("healthmonitor", m)).collect::<Vec<_>>(),
            "groups": [{"name": "amko-gs-group-10", "priority": 10, "enabled": true,
                        "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN", "min_health_monitors_up": 2,
                        "members": (0..members).map(member).collect::<Vec<_>>()}]
        }))
        .expect("payload");
        let health_monitors = monitors
            .iter()
            .map(|m| {
                serde_json::from_value(json!({
                    "name": m, "type": "HEALTH_MONITOR_TCP", "tenant_ref": ref_by_name("tenant", &key.tenant),
                    "description": format!("created by: amko, gsname: {}", key.fqdn), "is_federated": true,
                    "allow_duplicate_monitors": true, "send_interval": 10, "receive_timeout": 4,
                    "successful_checks": 3, "failed_checks": 3, "monitor_port": 80,
                    "markers": [{"key": "created-by", "values": [ME]}], "tcp_monitor": {"tcp_half_open": false}
                }))
                .expect("monitor")
            })
            .collect();
        Arc::new(DesiredGs {
            key: key.clone(),
            gslb_service,
            health_monitors,
        })
    }

    fn cache_gs(cache: &mut ControllerState, key: &GsKey, description: &str, monitors: &[&str]) {
        let body = json!({
            "uuid": format!("gslbservice-{}", key.fqdn), "name": key.fqdn, "created_by": ME,
            "description": description,
            "health_monitor_refs": monitors.iter().map(|m| format!("/api/healthmonitor/hm-{m}#{m}")).collect::<Vec<_>>(),
        });
        let object = ControllerObject::from_body(&key.tenant, body).expect("uuid and name");
        cache.insert_gslb_service(object);
    }

    fn cache_hm(cache: &mut ControllerState, tenant: &str, name: &str, made_for: Option<&str>) {
        let description = match made_for {
            Some(gs) => format!("created by: amko, gsname: {gs}"),
            None => "created by: amko".to_owned(),
        };
        let body = json!({"uuid": format!("hm-{name}"), "name": name, "description": description,
                          "markers": [{"key": "created-by", "values": [ME]}]});
        let object = ControllerObject::from_body(tenant, body).expect("uuid and name");
        cache.insert_health_monitor(object);
    }

    #[test]
    fn the_snapshot_shares_the_copies_already_held_where_equal() {
        let (a, b, c) = (
            key("admin", "a.example.com"),
            key("admin", "b.example.com"),
            key("admin", "c.example.com"),
        );
        let held = DesiredMap::from([
            (a.clone(), desired(&a, &["amko--a"], 2)),
            (b.clone(), desired(&b, &[], 1)),
        ]);
        let snapshot = DesiredMap::from([
            (a.clone(), desired(&a, &["amko--a"], 2)),
            (b.clone(), desired(&b, &[], 3)),
            (c.clone(), desired(&c, &[], 1)),
        ]);
        let fresh_b = snapshot.get(&b).cloned().expect("b");
        let adopted = adopt_snapshot(&held, snapshot);
        assert_eq!(adopted.keys().collect::<Vec<_>>(), [&a, &b, &c]);
        let same = |k: &GsKey, m: &DesiredMap| {
            Arc::ptr_eq(&adopted.get(k).expect("k").clone(), m.get(k).expect("k"))
        };
        assert!(same(&a, &held), "equal: the held copy");
        assert!(!same(&b, &held), "changed: the snapshot's");
        assert!(Arc::ptr_eq(adopted.get(&b).expect("b"), &fresh_b));
        assert_eq!(member_count(&adopted), 2 + 3 + 1);
        assert_eq!(adopted.monitor_users("admin", "amko--a").count(), 1);
    }

    #[test]
    fn a_refresh_is_due_an_interval_after_the_previous_one_ended() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let every = s(20);
        assert!(!refresh_due(t0 + s(19), t0, None, every));
        assert!(refresh_due(t0 + s(20), t0, None, every));
        // The previous refresh took 22 s (started at 20, ended at 42): not at 45, at 62.
        assert!(!refresh_due(t0 + s(45), t0, Some(t0 + s(42)), every));
        assert!(refresh_due(t0 + s(62), t0, Some(t0 + s(42)), every));
        assert_eq!(refresh_check_every(every), s(5));
        assert_eq!(refresh_check_every(s(0)), Duration::from_millis(250));
    }

    #[test]
    fn periodic_refresh_waits_for_boot_and_for_the_backlog() {
        use Phase::*;
        let cases = [
            (LoadingCache, 0, RefreshTick::Skip),
            (WaitingForSnapshot, 0, RefreshTick::Skip),
            (WaitingForSnapshot, 40_000, RefreshTick::Skip),
            // A cold start at the controller's limit: 40,000 writes queued, no read spent on them.
            (Ready, 40_000, RefreshTick::Postpone),
            (Ready, 1, RefreshTick::Postpone),
            // Only GslbServices waiting for a member cluster are queued: they need no budget.
            (Ready, 0, RefreshTick::Start),
        ];
        for (phase, queued, expected) in cases {
            assert_eq!(
                periodic_refresh(phase, true, queued),
                expected,
                "{phase:?} with {queued} queued"
            );
        }
    }

    /// The boot read, also when retried after a failure, never waits; a failed refresh retried
    /// while writes are queued waits for them like a periodic one (it once waited only for 1,000
    /// queued GslbServices or more, a second guard folded into this one).
    #[test]
    fn only_refreshes_wait_for_the_backlog_retried_or_not() {
        use Phase::*;
        for phase in [LoadingCache, WaitingForSnapshot, Ready] {
            for backlog in [0, 1, 40_000] {
                assert_eq!(
                    periodic_refresh(phase, false, backlog),
                    RefreshTick::Start,
                    "boot read in {phase:?} with {backlog} queued"
                );
            }
        }
        assert_eq!(periodic_refresh(Ready, true, 999), RefreshTick::Postpone);
        assert_eq!(periodic_refresh(Ready, true, 1_000), RefreshTick::Postpone);
    }

    #[test]
    fn phases_of_boot() {
        use Phase::*;
        let cases = [
            (LoadingCache, false, WaitingForSnapshot, AfterLoad::TryBoot),
            // A failed boot read retried as a "refresh" still boots.
            (LoadingCache, true, WaitingForSnapshot, AfterLoad::TryBoot),
            (
                WaitingForSnapshot,
                false,
                WaitingForSnapshot,
                AfterLoad::Nothing,
            ),
            (
                WaitingForSnapshot,
                true,
                WaitingForSnapshot,
                AfterLoad::Nothing,
            ),
            (Ready, false, Ready, AfterLoad::Nothing),
            (Ready, true, Ready, AfterLoad::ConvergeAll),
        ];
        for (phase, refresh, next, then) in cases {
            assert_eq!(
                phase.after_load(refresh),
                (next, then),
                "{phase:?} refresh={refresh}"
            );
        }
        let boots = [
            (LoadingCache, true, false),
            (LoadingCache, false, false),
            (WaitingForSnapshot, false, false),
            (WaitingForSnapshot, true, true),
            (Ready, true, false),
        ];
        for (phase, arrived, expected) in boots {
            assert_eq!(
                phase.boots(arrived),
                expected,
                "{phase:?} arrived={arrived}"
            );
        }
        assert!(Ready.is_ready() && !WaitingForSnapshot.is_ready() && !LoadingCache.is_ready());
    }

    #[test]
    fn writes_start_once_ready_leading_and_not_held() {
        use Phase::*;
        let now = Instant::now();
        let later = now + Duration::from_millis(300);
        let cases = [
            (LoadingCache, false, None, Gate::Closed),
            (WaitingForSnapshot, false, None, Gate::Closed),
            (Ready, false, None, Gate::Open { resumed: false }),
            (Ready, true, None, Gate::Closed),
            (Ready, false, Some(later), Gate::Closed),
            (Ready, false, Some(now), Gate::Open { resumed: true }),
            (Ready, true, Some(now), Gate::Closed),
            (WaitingForSnapshot, false, Some(now), Gate::Closed),
        ];
        for (phase, not_leader, held_until, expected) in cases {
            assert_eq!(
                gate(phase, not_leader, held_until, now),
                expected,
                "{phase:?} not_leader={not_leader} held_until={held_until:?}"
            );
        }
    }

    #[test]
    fn a_full_pass_sees_desired_cached_and_monitored_services() {
        let a = key("admin", "a.example.com");
        let mut cache = ControllerState::default();
        cache_gs(&mut cache, &key("admin", "orphan.example.com"), "", &[]);
        cache_hm(&mut cache, "t1", "amko--1", Some("gone.example.com"));
        cache_hm(&mut cache, "admin", "amko--shared", None);
        let desired = DesiredMap::from([(a.clone(), desired(&a, &[], 1))]);
        assert_eq!(
            keys_to_converge(desired.keys(), &cache),
            BTreeSet::from([
                a,
                key("admin", "orphan.example.com"),
                key("t1", "gone.example.com")
            ])
        );
        assert!(keys_to_converge([].iter(), &ControllerState::default()).is_empty());
    }

    #[test]
    fn a_gslbservice_is_forgotten_once_nothing_desires_or_holds_it() {
        let a = key("admin", "a.example.com");
        let other = key("t1", "a.example.com");
        let other_desired = desired(&other, &[], 1);
        let mut desired = DesiredMap::from([(a.clone(), desired(&a, &[], 1))]);
        let mut cache = ControllerState::default();
        cache_gs(&mut cache, &a, "", &[]);
        cache_hm(&mut cache, "admin", "amko--a", Some("a.example.com"));
        assert!(
            !forgotten(&a, &desired, &cache),
            "desired and on the controller"
        );
        desired.remove(&a);
        assert!(
            !forgotten(&a, &desired, &cache),
            "an orphan still to delete"
        );
        cache.remove_gslb_service("admin", "a.example.com");
        assert!(!forgotten(&a, &desired, &cache), "its monitor is left");
        cache.remove_health_monitor("admin", "amko--a");
        assert!(forgotten(&a, &desired, &cache), "nothing left");
        desired.insert(other.clone(), other_desired);
        assert!(forgotten(&a, &desired, &cache), "same name, other tenant");
        assert!(
            !forgotten(&other, &desired, &cache),
            "desired, not written yet"
        );
    }

    #[test]
    fn services_with_members_of_unlisted_clusters_wait() {
        let a = key("admin", "a.example.com");
        let arn = "arn:aws:eks:eu-west-1:1:cluster/prod";
        let mut cache = ControllerState::default();
        cache_gs(
            &mut cache,
            &a,
            "INGRESS/east/shop/web/a.example.com,LBSVC/arn:aws:eks:eu-west-1:1:cluster%2Fprod/shop/web",
            &[],
        );
        let set = |names: &[&str]| {
            names
                .iter()
                .map(|n| (*n).to_owned())
                .collect::<BTreeSet<_>>()
        };
        let cases = [
            (a.clone(), set(&[]), false),
            (a.clone(), set(&["east"]), true),
            (a.clone(), set(&[arn]), true),
            (a.clone(), set(&["arn:aws:eks:eu-west-1:1:cluster"]), false),
            (a.clone(), set(&["west"]), false),
            (a.clone(), set(&["shop"]), false),
            // Not on the controller: nothing of it can be lost.
            (key("admin", "new.example.com"), set(&["east"]), false),
            (key("other", "a.example.com"), set(&["east"]), false),
        ];
        for (k, unsynced, waits) in cases {
            assert_eq!(
                waits_for_unsynced(&k, &cache, &unsynced),
                waits,
                "{k} {unsynced:?}"
            );
        }
    }

    #[test]
    fn monitors_shared_with_other_services_are_kept() {
        let a = key("admin", "a.example.com");
        let b = key("admin", "b.example.com");
        let c = key("t1", "c.example.com");
        let mut cache = ControllerState::default();
        cache_gs(&mut cache, &a, "", &["amko--a"]);
        cache_gs(&mut cache, &key("admin", "d.example.com"), "", &["amko--d"]);
        let desired = DesiredMap::from([
            (a.clone(), desired(&a, &["amko--a", "amko--ab"], 1)),
            (b.clone(), desired(&b, &["amko--ab"], 1)),
            (c.clone(), desired(&c, &["amko--c"], 1)),
        ]);
        let cases = [
            // (asking, monitor's tenant, monitor, used elsewhere)
            (&a, "admin", "amko--ab", true),
            (&b, "admin", "amko--ab", true),
            (&a, "admin", "amko--a", false),
            (&b, "admin", "amko--a", true),
            (&a, "admin", "amko--d", true),
            (&a, "admin", "amko--none", false),
            // Monitors are per tenant.
            (&a, "admin", "amko--c", false),
            (&a, "t1", "amko--c", true),
            (&c, "t1", "amko--c", false),
        ];
        for (asking, tenant, monitor, used) in cases {
            assert_eq!(
                monitor_used_elsewhere(asking, tenant, monitor, &desired, &cache),
                used,
                "{asking} {tenant}/{monitor}"
            );
        }
    }

    #[test]
    fn fallback_pki_is_announced_when_it_changes() {
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let (none, fed, other) = (names(&[]), names(&["fed-a", "fed-b"]), names(&["other"]));
        // (announced last, listed now, to announce)
        type Case<'a> = (
            Option<Option<&'a str>>,
            Option<&'a [String]>,
            Option<Option<&'a str>>,
        );
        let cases: [Case; 10] = [
            // First read: always announced, "none" included, a failed listing too.
            (None, Some(&fed), Some(Some("fed-a"))),
            (None, Some(&none), Some(None)),
            (None, None, Some(None)),
            // Later reads: only changes.
            (Some(Some("fed-a")), Some(&fed), None),
            (Some(Some("fed-a")), Some(&other), Some(Some("other"))),
            (Some(Some("fed-a")), Some(&none), Some(None)),
            (Some(None), Some(&none), None),
            (Some(None), Some(&fed), Some(Some("fed-a"))),
            // A failed listing keeps what is known.
            (Some(Some("fed-a")), None, None),
            (Some(None), None, None),
        ];
        for (known, federated, announced) in cases {
            assert_eq!(
                fallback_pki_update(known, federated),
                announced.map(|a| a.map(str::to_owned)),
                "known {known:?}, listed {federated:?}"
            );
        }
    }

    #[test]
    fn steps_for_queued_services() {
        let (a, b, c) = (
            key("admin", "a.example.com"),
            key("admin", "b.example.com"),
            key("admin", "c.example.com"),
        );
        let mut cache = ControllerState::default();
        cache_gs(&mut cache, &a, "INGRESS/east/shop/web/a.example.com", &[]);
        // `b` on the controller belongs to someone else.
        let foreign = json!({"uuid": "gs-b", "name": b.fqdn, "created_by": "someone-else"});
        let foreign = ControllerObject::from_body("admin", foreign).expect("uuid and name");
        cache.insert_gslb_service(foreign);
        let desired = DesiredMap::from([
            (b.clone(), desired(&b, &[], 1)),
            (c.clone(), desired(&c, &[], 1)),
        ]);
        let none = BTreeSet::new();
        let east = BTreeSet::from(["east".to_owned()]);
        let kinds = |step: Step| match step {
            Step::Defer => "defer".to_owned(),
            Step::Idle { conflict: None } => "in sync".to_owned(),
            Step::Idle { conflict: Some(c) } => {
                format!("blocked: {}", c.split(" exists").next().unwrap_or_default())
            }
            Step::Write { writes, conflict } => format!(
                "write {:?} conflict={}",
                writes.iter().map(Write::kind).collect::<Vec<_>>(),
                conflict.is_some()
            ),
        };
        let cases = [
            (&a, true, &none, "defer"),
            (&a, false, &east, "defer"),
            (&a, false, &none, "write [DeleteGslbService] conflict=false"),
            (&b, false, &none, "blocked: gslbservice admin/b.example.com"),
            (&c, false, &east, "write [CreateGslbService] conflict=false"),
            (&key("admin", "d.example.com"), false, &none, "in sync"),
        ];
        for (k, in_flight, unsynced, expected) in cases {
            let step = step(k, in_flight, unsynced, &desired, &cache, ME);
            assert_eq!(
                kinds(step),
                expected,
                "{k} in_flight={in_flight} {unsynced:?}"
            );
        }
    }

    #[test]
    fn plans_keep_shared_monitors_and_count_members() {
        let a = key("admin", "a.example.com");
        let b = key("admin", "b.example.com");
        let mut cache = ControllerState::default();
        cache_gs(&mut cache, &a, "", &["amko--ab"]);
        cache_hm(&mut cache, "admin", "amko--ab", Some("a.example.com"));
        let mut desired = DesiredMap::from([(b.clone(), desired(&b, &["amko--ab"], 3))]);
        // `a` goes; its monitor stays for `b`.
        let deletes = |p: &Plan| {
            p.writes
                .iter()
                .map(|w| match w {
                    Write::DeleteGslbService { name, .. } => format!("gs {name}"),
                    Write::DeleteHealthMonitor { name, .. } => format!("hm {name}"),
                    other => other.describe(),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            deletes(&plan(&a, &desired, &cache, ME)),
            ["gs a.example.com"]
        );
        desired.remove(&b);
        assert_eq!(
            deletes(&plan(&a, &desired, &cache, ME)),
            ["gs a.example.com", "hm amko--ab"]
        );
        assert_eq!(member_count(&desired), 0);
        desired.insert(a.clone(), super::tests::desired(&a, &[], 2));
        desired.insert(b.clone(), super::tests::desired(&b, &["amko--ab"], 3));
        assert_eq!(member_count(&desired), 5);
        // Replacing and removing keep the count and the monitor index in step.
        desired.insert(b.clone(), super::tests::desired(&b, &["amko--b"], 1));
        assert_eq!(member_count(&desired), 3);
        assert_eq!(desired.monitor_users("admin", "amko--ab").count(), 0);
        assert_eq!(
            desired
                .monitor_users("admin", "amko--b")
                .collect::<Vec<_>>(),
            [b.fqdn.as_str()]
        );
        desired.insert(key("other", &b.fqdn), super::tests::desired(&b, &[], 1));
        desired.insert(
            key("other0", "c.example.com"),
            super::tests::desired(&b, &[], 1),
        );
        assert_eq!(
            desired.keys_named(&b.fqdn),
            [b.clone(), key("other", &b.fqdn)]
        );
        assert!(desired.keys_named("nothing.example.com").is_empty());
        desired.remove(&key("other", &b.fqdn));
        desired.remove(&key("other0", "c.example.com"));
        desired.remove(&b);
        assert_eq!(member_count(&desired), 2);
        assert_eq!(desired.monitor_users("admin", "amko--b").count(), 0);
    }
}
