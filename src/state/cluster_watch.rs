//! Bookkeeping of one member cluster's watches, apart from any I/O: which kinds are still in their
//! first list and what each (re)list has seen (so objects that vanished while the watch was down
//! are reported gone), whether the connection changed and which Event that raises, and how long to
//! wait before trying to reach an unreachable cluster again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::vocab::Notice;

/// (namespace, name) of a listed object.
pub type Listed = (String, String);

/// The listing progress of one cluster's watches, per watched kind `K`.
#[derive(Clone, Debug)]
pub struct ListProgress<K> {
    not_listed: BTreeSet<K>,
    listing: BTreeMap<K, BTreeSet<Listed>>,
    synced: bool,
}

impl<K> Default for ListProgress<K> {
    fn default() -> Self {
        ListProgress {
            not_listed: BTreeSet::new(),
            listing: BTreeMap::new(),
            synced: false,
        }
    }
}

impl<K: Ord + Copy> ListProgress<K> {
    /// A watch of `kind` starts: the cluster is synced only once it has listed too.
    pub fn watching(&mut self, kind: K) {
        self.not_listed.insert(kind);
    }

    /// A (re)list of `kind` starts.
    pub fn list_started(&mut self, kind: K) {
        self.listing.insert(kind, BTreeSet::new());
    }

    /// The (re)list of `kind` returned this object.
    pub fn listed(&mut self, kind: K, object: Listed) {
        self.listing.entry(kind).or_default().insert(object);
    }

    /// The (re)list of `kind` is complete: every object it returned (the others are gone), and
    /// whether the cluster has now listed every watched kind for the first time.
    pub fn list_done(&mut self, kind: K) -> (BTreeSet<Listed>, bool) {
        let seen = self.listing.remove(&kind).unwrap_or_default();
        let first_sync =
            self.not_listed.remove(&kind) && self.not_listed.is_empty() && !self.synced;
        if first_sync {
            self.synced = true;
        }
        (seen, first_sync)
    }
}

/// Whether a cluster's watches work, as last reported (`None`: nothing reported yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Connection(Option<bool>);

impl Connection {
    /// Records that the watches work (`up`) or fail; true when that is news worth reporting.
    pub fn report(&mut self, up: bool) -> bool {
        let changed = self.0 != Some(up);
        self.0 = Some(up);
        changed
    }

    /// True when the last report said the watches fail.
    pub fn is_down(&self) -> bool {
        self.0 == Some(false)
    }
}

/// The Event for a connection report of `cluster`: `was_up` is the previous report (`None`: the
/// first). Failing watches always warn (a cluster only reports changes); working ones raise an
/// Event only when they failed before, not at start.
pub fn connection_notice(
    cluster: &str,
    was_up: Option<bool>,
    up: bool,
    reason: &str,
) -> Option<Notice> {
    match (up, was_up) {
        (false, _) => Some(Notice {
            warning: true,
            reason: "MemberClusterUnreachable",
            message: format!(
                "member cluster {cluster} cannot be watched ({reason}); its last known members are kept"
            ),
        }),
        (true, Some(false)) => Some(Notice {
            warning: false,
            reason: "MemberClusterReachable",
            message: format!("member cluster {cluster} is reachable again"),
        }),
        (true, _) => None,
    }
}

/// The Event when `cluster` has listed every watched kind for the first time.
pub fn synced_notice(cluster: &str) -> Notice {
    Notice {
        warning: false,
        reason: "MemberClusterSynced",
        message: format!("Event handlers active for cluster {cluster}"),
    }
}

/// How long to wait before discovering an unreachable cluster again, after `attempts` failures:
/// doubling from one second, at most 32 s.
pub fn rediscovery_delay(attempts: u32) -> Duration {
    Duration::from_millis(500 * 2u64.pow(attempts.min(6)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Kind {
        Ingress,
        Service,
    }

    fn obj(ns: &str, name: &str) -> Listed {
        (ns.to_owned(), name.to_owned())
    }

    #[test]
    fn synced_once_every_kind_listed_and_relists_report_what_they_saw() {
        let mut progress = ListProgress::default();
        progress.watching(Kind::Ingress);
        progress.watching(Kind::Service);
        progress.list_started(Kind::Ingress);
        progress.listed(Kind::Ingress, obj("shop", "web"));
        progress.listed(Kind::Ingress, obj("shop", "api"));
        assert_eq!(
            progress.list_done(Kind::Ingress),
            (
                BTreeSet::from([obj("shop", "api"), obj("shop", "web")]),
                false
            ),
            "services not listed yet"
        );
        progress.list_started(Kind::Service);
        assert_eq!(
            progress.list_done(Kind::Service),
            (BTreeSet::new(), true),
            "an empty list counts"
        );
        // A relist after a watch outage: what it saw, never a second first sync.
        progress.list_started(Kind::Ingress);
        progress.listed(Kind::Ingress, obj("shop", "web"));
        assert_eq!(
            progress.list_done(Kind::Ingress),
            (BTreeSet::from([obj("shop", "web")]), false)
        );
        // A list done without a start (the watcher's own bookkeeping) saw nothing.
        assert_eq!(progress.list_done(Kind::Service), (BTreeSet::new(), false));
    }

    #[test]
    fn connection_reports_only_changes() {
        let mut connection = Connection::default();
        let steps = [
            (true, true),
            (true, false),
            (false, true),
            (false, false),
            (true, true),
        ];
        for (i, (up, news)) in steps.into_iter().enumerate() {
            assert_eq!(connection.report(up), news, "step {i}: up={up}");
        }
    }

    #[test]
    fn connection_notices() {
        let cases = [
            (None, true, None),
            (Some(true), true, None),
            (Some(false), true, Some((false, "MemberClusterReachable"))),
            (None, false, Some((true, "MemberClusterUnreachable"))),
            (Some(true), false, Some((true, "MemberClusterUnreachable"))),
            (Some(false), false, Some((true, "MemberClusterUnreachable"))),
        ];
        for (was_up, up, expected) in cases {
            let notice = connection_notice("east", was_up, up, "connection refused");
            assert_eq!(
                notice.as_ref().map(|n| (n.warning, n.reason)),
                expected,
                "was {was_up:?} now {up}"
            );
        }
        let down = connection_notice("east", None, false, "connection refused").map(|n| n.message);
        assert_eq!(
            down.as_deref(),
            Some(
                "member cluster east cannot be watched (connection refused); its last known members are kept"
            )
        );
        assert_eq!(
            synced_notice("east").message,
            "Event handlers active for cluster east"
        );
    }

    #[test]
    fn rediscovery_backs_off_to_half_a_minute() {
        let delays: Vec<u64> = (1..=9)
            .map(|a| rediscovery_delay(a).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000, 32000]
        );
    }
}
