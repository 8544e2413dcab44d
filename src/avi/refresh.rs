//! Taking a refresh of the writer's cache without forgetting the writes made while it was in
//! flight. A refresh lists the controller's collections, which takes a while; a write that
//! completes after the listing started may or may not be in the answer. Replacing the cache with
//! the answer would bring back what such a write changed: the writer would update an object again
//! to what it already holds, or delete again (or worse, take as existing) an object it deleted.
//! So every completed write is numbered, a refresh remembers the number when it started, and for
//! every object a later write touched the cache keeps its own copy (or its absence) over the
//! listing's. Nothing here does I/O.

use std::collections::BTreeMap;

use super::sync::{CacheChange, ObjectType};
use crate::model::plan::ControllerState;

/// `(object type, tenant, name)` of an object the writer changed.
type Touched = (ObjectType, String, String);

/// Where the completed writes stood when a refresh started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshMark(u64);

/// The writes completed since the oldest refresh that may still land, by object.
#[derive(Debug, Default)]
pub struct WriteLedger {
    /// Number of the last completed write (cache change).
    completed: u64,
    /// The number of the last write that touched each object, kept until a refresh that started
    /// after it lands.
    touched: BTreeMap<Touched, u64>,
    /// A refresh started and has not landed: only then can a write be missed by a listing. A
    /// write while none is in flight precedes the next refresh's mark, so it is not remembered
    /// (a cold start's 80,000 writes used to be, until the first periodic refresh).
    refreshing: bool,
}

impl WriteLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// A completed write: applies it to `cache` and remembers it for the refreshes in flight.
    pub fn apply(&mut self, change: CacheChange, cache: &mut ControllerState) {
        self.completed += 1;
        if !self.refreshing {
            change.apply(cache);
            return;
        }
        let touched = match &change {
            CacheChange::Upsert(t, object) => (*t, object.tenant.clone(), object.name.clone()),
            CacheChange::Remove(t, tenant, name) => (*t, tenant.clone(), name.clone()),
        };
        self.touched.insert(touched, self.completed);
        change.apply(cache);
    }

    /// A refresh starts listing now (call it before the first request of the refresh).
    pub fn refresh_started(&mut self) -> RefreshMark {
        self.refreshing = true;
        RefreshMark(self.completed)
    }

    /// The cache after the refresh that started at `mark` returned `listed`: the listing, except
    /// for the objects written since `mark`, which stay as `cache` has them (present or absent).
    /// Refreshes do not overlap, so what this refresh saw needs no remembering for later ones.
    pub fn refreshed(
        &mut self,
        mark: RefreshMark,
        mut listed: ControllerState,
        cache: &ControllerState,
    ) -> ControllerState {
        self.refreshing = false;
        self.touched.retain(|_, written| *written > mark.0);
        for (t, tenant, name) in self.touched.keys() {
            let key = (tenant.clone(), name.clone());
            match t {
                ObjectType::GslbService => match cache.gslb_services().get(&key) {
                    Some(object) => listed.insert_gslb_service(object.clone()),
                    None => {
                        listed.remove_gslb_service(tenant, name);
                    }
                },
                ObjectType::HealthMonitor => match cache.health_monitors().get(&key) {
                    Some(object) => listed.insert_health_monitor(object.clone()),
                    None => {
                        listed.remove_health_monitor(tenant, name);
                    }
                },
            }
        }
        listed
    }

    /// Objects whose writes a refresh in flight may not have seen.
    pub fn pending(&self) -> usize {
        self.touched.len()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::plan::ControllerObject;

    const GS: ObjectType = ObjectType::GslbService;
    const HM: ObjectType = ObjectType::HealthMonitor;

    /// `name` in tenant `admin` as the controller returns it; `version` tells copies apart.
    fn object(name: &str, version: u32) -> ControllerObject {
        ControllerObject::from_body(
            "admin",
            json!({"uuid": format!("uuid-{name}"), "name": name, "ttl": version}),
        )
        .expect("uuid and name")
    }

    fn state(gslb_services: &[(&str, u32)], health_monitors: &[(&str, u32)]) -> ControllerState {
        let mut state = ControllerState::default();
        for (n, v) in gslb_services {
            state.insert_gslb_service(object(n, *v));
        }
        for (n, v) in health_monitors {
            state.insert_health_monitor(object(n, *v));
        }
        state
    }

    /// `(name, version)` of every object of one type.
    fn seen(objects: &BTreeMap<(String, String), ControllerObject>) -> Vec<(String, u32)> {
        objects
            .values()
            .map(|o| {
                let version = o.body()["ttl"].as_u64().unwrap_or_default();
                (o.name.clone(), u32::try_from(version).unwrap_or_default())
            })
            .collect()
    }

    fn upsert(t: ObjectType, name: &str, version: u32) -> CacheChange {
        CacheChange::Upsert(t, object(name, version))
    }

    fn remove(t: ObjectType, name: &str) -> CacheChange {
        CacheChange::Remove(t, "admin".into(), name.into())
    }

    enum At {
        /// A write completes before the refresh starts listing.
        Before(CacheChange),
        /// A write completes while the listing is in flight.
        During(CacheChange),
    }
    use At::*;

    struct Case {
        name: &'static str,
        cache: ControllerState,
        writes: Vec<At>,
        /// What the listing returned.
        listed: ControllerState,
        /// GslbServices and health monitors in the cache afterwards.
        gslb_services: &'static [(&'static str, u32)],
        health_monitors: &'static [(&'static str, u32)],
    }

    #[test]
    fn a_refresh_keeps_the_writes_made_while_it_was_in_flight() {
        let cases = vec![
            Case {
                name: "no writes: the listing replaces the cache (drift and orphans show up)",
                cache: state(&[("a", 1), ("gone", 1)], &[("hm", 1)]),
                writes: vec![],
                listed: state(&[("a", 9), ("orphan", 1)], &[("hm", 1)]),
                gslb_services: &[("a", 9), ("orphan", 1)],
                health_monitors: &[("hm", 1)],
            },
            Case {
                name: "an update during the listing is not undone by its stale copy",
                cache: state(&[("a", 1)], &[]),
                writes: vec![During(upsert(GS, "a", 2))],
                listed: state(&[("a", 1)], &[]),
                gslb_services: &[("a", 2)],
                health_monitors: &[],
            },
            Case {
                name: "a create during the listing stays though the listing lacks it",
                cache: state(&[], &[]),
                writes: vec![During(upsert(HM, "hm", 1)), During(upsert(GS, "new", 1))],
                listed: state(&[], &[]),
                gslb_services: &[("new", 1)],
                health_monitors: &[("hm", 1)],
            },
            Case {
                name: "a delete during the listing stays deleted: the orphan is not revived",
                cache: state(&[("old", 1)], &[("old-hm", 1)]),
                writes: vec![During(remove(GS, "old")), During(remove(HM, "old-hm"))],
                listed: state(&[("old", 1)], &[("old-hm", 1)]),
                gslb_services: &[],
                health_monitors: &[],
            },
            Case {
                name: "writes before the listing started are the listing's to tell",
                cache: state(&[("a", 1)], &[]),
                writes: vec![Before(upsert(GS, "a", 2)), Before(remove(GS, "b"))],
                // Someone edited `a` since our write, and recreated `b`: the listing is newer.
                listed: state(&[("a", 7), ("b", 1)], &[]),
                gslb_services: &[("a", 7), ("b", 1)],
                health_monitors: &[],
            },
            Case {
                name: "only the objects written meanwhile keep the cache's copy",
                cache: state(&[("a", 1), ("b", 1)], &[("hm", 1)]),
                writes: vec![During(upsert(GS, "a", 2))],
                listed: state(&[("a", 1), ("b", 5)], &[("hm", 3)]),
                gslb_services: &[("a", 2), ("b", 5)],
                health_monitors: &[("hm", 3)],
            },
            Case {
                name: "same name, other type: a monitor write does not pin the GslbService",
                cache: state(&[("x", 1)], &[("x", 1)]),
                writes: vec![During(upsert(HM, "x", 2))],
                listed: state(&[("x", 4)], &[("x", 1)]),
                gslb_services: &[("x", 4)],
                health_monitors: &[("x", 2)],
            },
        ];
        for case in cases {
            let mut ledger = WriteLedger::new();
            let mut cache = case.cache;
            let mut mark = ledger.refresh_started();
            for write in case.writes {
                match write {
                    Before(change) => {
                        ledger.apply(change, &mut cache);
                        mark = ledger.refresh_started();
                    }
                    During(change) => ledger.apply(change, &mut cache),
                }
            }
            let merged = ledger.refreshed(mark, case.listed, &cache);
            let want = |objects: &[(&str, u32)]| -> Vec<(String, u32)> {
                objects.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect()
            };
            assert_eq!(
                seen(merged.gslb_services()),
                want(case.gslb_services),
                "{}: GslbServices",
                case.name
            );
            assert_eq!(
                seen(merged.health_monitors()),
                want(case.health_monitors),
                "{}: health monitors",
                case.name
            );
        }
    }

    #[test]
    fn a_write_is_remembered_until_a_refresh_started_after_it_lands() {
        let mut ledger = WriteLedger::new();
        let mut cache = state(&[("a", 1)], &[]);
        let first = ledger.refresh_started();
        ledger.apply(upsert(GS, "a", 2), &mut cache);
        cache = ledger.refreshed(first, state(&[("a", 1)], &[]), &cache);
        assert_eq!(seen(cache.gslb_services()), [("a".to_owned(), 2)]);
        assert_eq!(
            ledger.pending(),
            1,
            "the next refresh may have listed before it too"
        );

        // A refresh that started after the write sees it: the listing is the truth again, an
        // out-of-band edit since included.
        let second = ledger.refresh_started();
        cache = ledger.refreshed(second, state(&[("a", 8)], &[]), &cache);
        assert_eq!(seen(cache.gslb_services()), [("a".to_owned(), 8)]);
        assert_eq!(ledger.pending(), 0, "nothing left to remember");
    }

    #[test]
    fn writes_while_no_refresh_is_in_flight_are_not_remembered() {
        let mut ledger = WriteLedger::new();
        let mut cache = state(&[], &[]);
        for n in 0..100 {
            ledger.apply(upsert(GS, &format!("gs{n}"), 1), &mut cache);
        }
        assert_eq!(cache.gslb_services().len(), 100, "applied to the cache");
        assert_eq!(ledger.pending(), 0, "a cold start's writes are not kept");
        // The next refresh started after them: its listing has them.
        let mark = ledger.refresh_started();
        ledger.apply(upsert(GS, "late", 2), &mut cache);
        assert_eq!(ledger.pending(), 1, "written while the refresh lists");
        let listed = state(&[("gs0", 1)], &[]);
        let cache = ledger.refreshed(mark, listed, &cache);
        assert_eq!(
            seen(cache.gslb_services()),
            [("gs0".to_owned(), 1), ("late".to_owned(), 2)]
        );
    }
}
