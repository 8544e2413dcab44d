//! Taking a refresh of the writer's cache, page by page, without forgetting the writes made while
//! it was in flight. A refresh lists the controller's collections, which takes a while; a write
//! that completes after the listing started may or may not be in the answer. Taking the answer
//! as it is would bring back what such a write changed: the writer would update an object again
//! to what it already holds, or delete again (or worse, take as existing) an object it deleted.
//! So while a refresh is in flight every completed write's object is remembered, and each listed
//! page is merged into the cache as it arrives: an object a write touched since the refresh
//! started keeps the cache's copy (or its absence), every other object takes the listing's.
//! Only the (type, tenant, name) of what was listed is remembered, so that a complete listing
//! can remove the cached objects it lacks; the cache is never held twice (at 80,000 controller
//! objects a second copy was ~270 MB). Nothing here does I/O.

use std::collections::HashSet;

use super::sync::{CacheChange, ObjectType};
use crate::model::plan::{ControllerObject, ControllerState};

/// `(object type, tenant, name)` of a cached object.
type Identity = (ObjectType, String, String);

/// Names one refresh: pages and the end of an earlier one are not taken for this one's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshMark(u64);

/// The refresh in flight.
#[derive(Debug)]
struct Listing {
    mark: RefreshMark,
    /// Objects a write changed since the refresh started: the listing may predate the write.
    touched: HashSet<Identity>,
    /// Objects the listing returned so far: the others are gone once it completes.
    seen: HashSet<Identity>,
}

/// What the writer needs to merge a refresh into its cache while it keeps writing.
#[derive(Debug, Default)]
pub struct WriteLedger {
    /// Refreshes started so far (the last one's mark).
    started: u64,
    /// A refresh started and has not ended: only then can a write be missed by a listing. A
    /// write while none is in flight precedes the next refresh's start, so it is not remembered
    /// (a cold start's 80,000 writes used to be, until the first periodic refresh).
    listing: Option<Listing>,
}

/// How a refresh ended for the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RefreshEnd {
    /// Cached objects the complete listing lacked (and no write made since it started).
    pub removed: usize,
}

impl WriteLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// A completed write: applies it to `cache` and remembers it for the refresh in flight.
    pub fn apply(&mut self, change: CacheChange, cache: &mut ControllerState) {
        if let Some(listing) = &mut self.listing {
            let touched = match &change {
                CacheChange::Upsert(t, object) => (*t, object.tenant.clone(), object.name.clone()),
                CacheChange::Remove(t, tenant, name) => (*t, tenant.clone(), name.clone()),
            };
            listing.touched.insert(touched);
        }
        change.apply(cache);
    }

    /// A refresh starts listing now (call it before the first request of the refresh). Refreshes
    /// do not overlap: one still in flight is forgotten (its pages are ignored from now on).
    pub fn refresh_started(&mut self) -> RefreshMark {
        self.started += 1;
        let mark = RefreshMark(self.started);
        self.listing = Some(Listing {
            mark,
            touched: HashSet::new(),
            seen: HashSet::new(),
        });
        mark
    }

    /// One page of the listing of the refresh `mark`, objects of type `t`, merged into `cache`:
    /// each takes the listing's copy unless a write touched it since the refresh started. A page
    /// of a refresh no longer in flight changes nothing; returns whether the page was taken.
    pub fn listed(
        &mut self,
        mark: RefreshMark,
        t: ObjectType,
        objects: Vec<ControllerObject>,
        cache: &mut ControllerState,
    ) -> bool {
        let Some(listing) = self.listing.as_mut().filter(|l| l.mark == mark) else {
            return false;
        };
        for object in objects {
            let identity = (t, object.tenant.clone(), object.name.clone());
            if !listing.touched.contains(&identity) {
                CacheChange::Upsert(t, object).apply(cache);
            }
            listing.seen.insert(identity);
        }
        true
    }

    /// The refresh `mark` listed everything: removes from `cache` the objects it did not list,
    /// except those a write made since it started (present because of that write).
    pub fn refreshed(&mut self, mark: RefreshMark, cache: &mut ControllerState) -> RefreshEnd {
        let Some(listing) = self.take(mark) else {
            return RefreshEnd::default();
        };
        let keep = |t: ObjectType, (tenant, name): &(String, String)| {
            let identity = (t, tenant.clone(), name.clone());
            listing.seen.contains(&identity) || listing.touched.contains(&identity)
        };
        let gone: Vec<(ObjectType, String, String)> = cache
            .gslb_services()
            .keys()
            .filter(|key| !keep(ObjectType::GslbService, key))
            .map(|(tenant, name)| (ObjectType::GslbService, tenant.clone(), name.clone()))
            .chain(
                cache
                    .health_monitors()
                    .keys()
                    .filter(|key| !keep(ObjectType::HealthMonitor, key))
                    .map(|(tenant, name)| {
                        (ObjectType::HealthMonitor, tenant.clone(), name.clone())
                    }),
            )
            .collect();
        let removed = gone.len();
        for (t, tenant, name) in gone {
            CacheChange::Remove(t, tenant, name).apply(cache);
        }
        RefreshEnd { removed }
    }

    /// The refresh `mark` failed midway: the pages merged stay (they are newer than what they
    /// replaced), nothing is removed (what was not listed may still exist).
    pub fn refresh_failed(&mut self, mark: RefreshMark) {
        self.take(mark);
    }

    /// The refresh `mark`, if it is the one in flight, ended.
    fn take(&mut self, mark: RefreshMark) -> Option<Listing> {
        if self.listing.as_ref().is_some_and(|l| l.mark == mark) {
            self.listing.take()
        } else {
            None
        }
    }

    /// Objects whose writes the refresh in flight may not have seen.
    pub fn pending(&self) -> usize {
        self.listing.as_ref().map_or(0, |l| l.touched.len())
    }

    /// Objects the refresh in flight has listed so far.
    pub fn listed_so_far(&self) -> usize {
        self.listing.as_ref().map_or(0, |l| l.seen.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

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

    fn want(objects: &[(&str, u32)]) -> Vec<(String, u32)> {
        objects.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect()
    }

    fn upsert(t: ObjectType, name: &str, version: u32) -> CacheChange {
        CacheChange::Upsert(t, object(name, version))
    }

    fn remove(t: ObjectType, name: &str) -> CacheChange {
        CacheChange::Remove(t, "admin".into(), name.into())
    }

    /// What happens to the writer, in order.
    #[derive(Clone)]
    enum Event {
        /// A write completes.
        Write(CacheChange),
        /// A refresh starts listing.
        Start,
        /// A page of its listing arrives: objects of one type, `(name, version)`.
        Page(ObjectType, &'static [(&'static str, u32)]),
        /// The listing completed.
        End,
        /// The listing failed.
        Fail,
    }
    use Event::*;

    /// The cache after `events`, starting from `cache` (pages and ends belong to the last
    /// refresh started).
    fn run(mut cache: ControllerState, events: Vec<Event>) -> (ControllerState, WriteLedger) {
        let mut ledger = WriteLedger::new();
        let mut mark = None;
        for event in events {
            match event {
                Write(change) => ledger.apply(change, &mut cache),
                Start => mark = Some(ledger.refresh_started()),
                Page(t, objects) => {
                    let objects = objects.iter().map(|(n, v)| object(n, *v)).collect();
                    let mark = mark.expect("a page of a started refresh");
                    assert!(ledger.listed(mark, t, objects, &mut cache));
                }
                End => {
                    ledger.refreshed(mark.expect("a started refresh"), &mut cache);
                }
                Fail => ledger.refresh_failed(mark.expect("a started refresh")),
            }
        }
        (cache, ledger)
    }

    struct Case {
        name: &'static str,
        cache: ControllerState,
        events: Vec<Event>,
        /// GslbServices and health monitors in the cache afterwards.
        gslb_services: &'static [(&'static str, u32)],
        health_monitors: &'static [(&'static str, u32)],
    }

    #[test]
    fn a_refresh_merges_its_pages_and_keeps_the_writes_made_while_it_was_in_flight() {
        let cases = vec![
            Case {
                name: "no writes: the listing replaces the cache (drift and orphans show up)",
                cache: state(&[("a", 1), ("gone", 1)], &[("hm", 1), ("hm-gone", 1)]),
                events: vec![
                    Start,
                    Page(GS, &[("a", 9)]),
                    Page(GS, &[("orphan", 1)]),
                    Page(HM, &[("hm", 1)]),
                    End,
                ],
                gslb_services: &[("a", 9), ("orphan", 1)],
                health_monitors: &[("hm", 1)],
            },
            Case {
                name: "an update before the page is not undone by its stale copy",
                cache: state(&[("a", 1)], &[]),
                events: vec![Start, Write(upsert(GS, "a", 2)), Page(GS, &[("a", 1)]), End],
                gslb_services: &[("a", 2)],
                health_monitors: &[],
            },
            Case {
                name: "an update after the page replaces the listed copy",
                cache: state(&[("a", 1)], &[]),
                events: vec![Start, Page(GS, &[("a", 1)]), Write(upsert(GS, "a", 2)), End],
                gslb_services: &[("a", 2)],
                health_monitors: &[],
            },
            Case {
                name: "a create during the listing stays though the listing lacks it",
                cache: state(&[], &[]),
                events: vec![
                    Start,
                    Write(upsert(HM, "hm", 1)),
                    Page(GS, &[]),
                    Write(upsert(GS, "new", 1)),
                    Page(HM, &[]),
                    End,
                ],
                gslb_services: &[("new", 1)],
                health_monitors: &[("hm", 1)],
            },
            Case {
                name: "a delete during the listing stays deleted: the orphan is not revived",
                cache: state(&[("old", 1)], &[("old-hm", 1)]),
                events: vec![
                    Start,
                    Write(remove(GS, "old")),
                    Page(GS, &[("old", 1)]),
                    Page(HM, &[("old-hm", 1)]),
                    Write(remove(HM, "old-hm")),
                    End,
                ],
                gslb_services: &[],
                health_monitors: &[],
            },
            Case {
                name: "writes before the listing started are the listing's to tell",
                cache: state(&[("a", 1)], &[]),
                // Someone edited `a` since our write, and recreated `b`: the listing is newer.
                events: vec![
                    Write(upsert(GS, "a", 2)),
                    Write(remove(GS, "b")),
                    Start,
                    Page(GS, &[("a", 7), ("b", 1)]),
                    End,
                ],
                gslb_services: &[("a", 7), ("b", 1)],
                health_monitors: &[],
            },
            Case {
                name: "only the objects written meanwhile keep the cache's copy",
                cache: state(&[("a", 1), ("b", 1)], &[("hm", 1)]),
                events: vec![
                    Start,
                    Write(upsert(GS, "a", 2)),
                    Page(GS, &[("a", 1), ("b", 5)]),
                    Page(HM, &[("hm", 3)]),
                    End,
                ],
                gslb_services: &[("a", 2), ("b", 5)],
                health_monitors: &[("hm", 3)],
            },
            Case {
                name: "same name, other type: a monitor write does not pin the GslbService",
                cache: state(&[("x", 1)], &[("x", 1)]),
                events: vec![
                    Start,
                    Write(upsert(HM, "x", 2)),
                    Page(GS, &[("x", 4)]),
                    Page(HM, &[("x", 1)]),
                    End,
                ],
                gslb_services: &[("x", 4)],
                health_monitors: &[("x", 2)],
            },
            Case {
                name: "a failed listing keeps the pages it merged and removes nothing",
                cache: state(&[("a", 1), ("b", 1), ("c", 1)], &[("hm", 1)]),
                events: vec![Start, Page(GS, &[("a", 9)]), Fail],
                gslb_services: &[("a", 9), ("b", 1), ("c", 1)],
                health_monitors: &[("hm", 1)],
            },
            Case {
                name: "the retry after a failed listing removes what it lacks",
                cache: state(&[("a", 1), ("b", 1)], &[]),
                events: vec![
                    Start,
                    Page(GS, &[("a", 9)]),
                    Fail,
                    // Between the two: not remembered, the retry's listing has it.
                    Write(upsert(GS, "c", 1)),
                    Start,
                    Page(GS, &[("a", 9), ("c", 1)]),
                    End,
                ],
                gslb_services: &[("a", 9), ("c", 1)],
                health_monitors: &[],
            },
            Case {
                name: "an object listed on two pages (the collection shifted) is kept",
                cache: state(&[("a", 1)], &[]),
                events: vec![Start, Page(GS, &[("a", 2)]), Page(GS, &[("a", 3)]), End],
                gslb_services: &[("a", 3)],
                health_monitors: &[],
            },
        ];
        for case in cases {
            let (cache, ledger) = run(case.cache, case.events);
            assert_eq!(
                seen(cache.gslb_services()),
                want(case.gslb_services),
                "{}: GslbServices",
                case.name
            );
            assert_eq!(
                seen(cache.health_monitors()),
                want(case.health_monitors),
                "{}: health monitors",
                case.name
            );
            assert_eq!(
                ledger.pending(),
                0,
                "{}: nothing left to remember",
                case.name
            );
        }
    }

    /// `(name, version)` of objects of one type.
    type Objects = &'static [(&'static str, u32)];

    /// One write, at every place among the pages of a refresh: before it started the listing
    /// tells (its copy of `a`, its lack of `b`); from its start to its end the write stays.
    #[test]
    fn a_write_keeps_its_effect_wherever_it_lands_among_the_pages() {
        let pages = [
            Page(GS, &[("a", 1), ("b", 1)]),
            Page(GS, &[("c", 1)]),
            Page(HM, &[("hm", 1)]),
        ];
        let writes: [(CacheChange, Objects, Objects); 3] = [
            // (the write, GslbServices if it preceded the refresh, if it did not)
            (
                upsert(GS, "a", 2),
                &[("a", 1), ("b", 1), ("c", 1)],
                &[("a", 2), ("b", 1), ("c", 1)],
            ),
            (
                remove(GS, "b"),
                &[("a", 1), ("b", 1), ("c", 1)],
                &[("a", 1), ("c", 1)],
            ),
            (
                upsert(GS, "new", 1),
                &[("a", 1), ("b", 1), ("c", 1)],
                &[("a", 1), ("b", 1), ("c", 1), ("new", 1)],
            ),
        ];
        for (write, before, during) in writes {
            // Position 0: before the start; 1..=3: before each page; 4: after the last page.
            for position in 0..=pages.len() + 1 {
                let mut events = vec![Start];
                events.extend(pages.iter().cloned());
                events.insert(position, Write(write.clone()));
                events.push(End);
                let cache = state(&[("a", 0), ("b", 0), ("old", 0)], &[("hm", 0)]);
                let (cache, _) = run(cache, events);
                let expected = if position == 0 { before } else { during };
                assert_eq!(
                    seen(cache.gslb_services()),
                    want(expected),
                    "{write:?} at position {position}"
                );
                assert_eq!(seen(cache.health_monitors()), want(&[("hm", 1)]));
            }
        }
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
        assert!(ledger.listed(mark, GS, vec![object("gs0", 1)], &mut cache));
        assert_eq!(ledger.listed_so_far(), 1);
        let end = ledger.refreshed(mark, &mut cache);
        assert_eq!(end.removed, 99, "gs1..gs99 were not listed");
        assert_eq!(
            seen(cache.gslb_services()),
            [("gs0".to_owned(), 1), ("late".to_owned(), 2)]
        );
        assert_eq!((ledger.pending(), ledger.listed_so_far()), (0, 0));
    }

    #[test]
    fn pages_and_ends_of_a_refresh_no_longer_in_flight_change_nothing() {
        let mut ledger = WriteLedger::new();
        let mut cache = state(&[("a", 1)], &[]);
        let first = ledger.refresh_started();
        ledger.refresh_failed(first);
        assert!(!ledger.listed(first, GS, vec![object("a", 5)], &mut cache));
        let second = ledger.refresh_started();
        assert!(!ledger.listed(first, GS, vec![object("a", 6)], &mut cache));
        assert_eq!(ledger.refreshed(first, &mut cache).removed, 0);
        assert_eq!(seen(cache.gslb_services()), [("a".to_owned(), 1)]);
        // The refresh in flight is still the second one: it lands.
        assert!(ledger.listed(second, GS, vec![object("a", 7)], &mut cache));
        assert_eq!(ledger.refreshed(second, &mut cache).removed, 0);
        assert_eq!(seen(cache.gslb_services()), [("a".to_owned(), 7)]);
    }
}
