//! Which custom-resource statuses still need writing: statuses are coalesced per object (only the
//! newest is written, and nothing when it equals what was last written), one write per object is
//! in flight at a time, and a write that fails is tried again unless a newer status was set since
//! (so a retry never puts back a stale status over a newer one).
//! Pure bookkeeping; the StatusActor does the writing and the waiting.

use std::collections::{BTreeMap, BTreeSet};

/// How a status write ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusWriteOutcome {
    /// The object has this status now.
    Written,
    /// The object is gone: nothing to report on, and nothing to remember.
    ObjectGone,
    /// The write failed; it is worth trying again.
    Failed,
}

/// One status write: which object, which status, and which `set` of that object it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusWrite<K, V> {
    pub target: K,
    pub status: V,
    generation: u64,
}

/// The statuses of every object `K`, as values `V`: written, waiting, in flight.
#[derive(Debug)]
pub struct StatusBook<K, V> {
    written: BTreeMap<K, V>,
    pending: BTreeMap<K, (V, u64)>,
    /// How many statuses were set for each object, so a retry can tell whether it is stale.
    generations: BTreeMap<K, u64>,
    in_flight: BTreeSet<K>,
    /// Objects forgotten while a write was in flight: that write must not count as written.
    forgotten: BTreeSet<K>,
}

impl<K: Ord + Clone, V: PartialEq> Default for StatusBook<K, V> {
    fn default() -> Self {
        StatusBook {
            written: BTreeMap::new(),
            pending: BTreeMap::new(),
            generations: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            forgotten: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Clone, V: PartialEq> StatusBook<K, V> {
    /// `status` is now wanted for `target`; it replaces any status still waiting.
    pub fn set(&mut self, target: K, status: V) {
        let generation = self.generations.entry(target.clone()).or_insert(0);
        *generation += 1;
        let generation = *generation;
        self.pending.insert(target, (status, generation));
    }

    /// The writes to start now, each marked in flight: the waiting statuses of objects without a
    /// write in flight, less those equal to what was last written.
    pub fn start_writes(&mut self) -> Vec<StatusWrite<K, V>> {
        let ready: Vec<K> = self
            .pending
            .keys()
            .filter(|t| !self.in_flight.contains(*t))
            .cloned()
            .collect();
        let mut writes = Vec::new();
        for target in ready {
            let Some((status, generation)) = self.pending.remove(&target) else {
                continue;
            };
            if self.written.get(&target) == Some(&status) {
                continue;
            }
            self.in_flight.insert(target.clone());
            writes.push(StatusWrite {
                target,
                status,
                generation,
            });
        }
        writes
    }

    /// A write ended. Returns the write to try again later (for a failure), which the caller
    /// hands back through [`StatusBook::retry`] after its delay.
    pub fn finished(
        &mut self,
        write: StatusWrite<K, V>,
        outcome: StatusWriteOutcome,
    ) -> Option<StatusWrite<K, V>> {
        self.in_flight.remove(&write.target);
        let forgotten = self.forgotten.remove(&write.target);
        match outcome {
            StatusWriteOutcome::Written if !forgotten => {
                self.written.insert(write.target, write.status);
                None
            }
            StatusWriteOutcome::Written | StatusWriteOutcome::ObjectGone => None,
            StatusWriteOutcome::Failed => Some(write),
        }
    }

    /// A failed write's status is wanted again, unless a newer status was set since.
    pub fn retry(&mut self, write: StatusWrite<K, V>) {
        if self.generations.get(&write.target) == Some(&write.generation) {
            self.pending
                .entry(write.target)
                .or_insert((write.status, write.generation));
        }
    }

    /// The object is gone: forget what was written and what waits; a write in flight will not
    /// count.
    pub fn forget(&mut self, target: &K) {
        self.written.remove(target);
        self.pending.remove(target);
        self.generations.remove(target);
        if self.in_flight.contains(target) {
            self.forgotten.insert(target.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StatusWriteOutcome::{Failed, ObjectGone, Written};
    use super::*;

    /// One step of a scenario and what `start_writes` must return after it. `Finish` ends the
    /// oldest write of that object still in flight; `Retry` hands back the last failed one.
    enum Step {
        Set(&'static str, &'static str),
        Finish(&'static str, StatusWriteOutcome),
        Retry(&'static str),
        Forget(&'static str),
    }
    use Step::*;

    /// A named scenario: each step with the writes that must start after it.
    type Scenario = (&'static str, Vec<(Step, Vec<(&'static str, &'static str)>)>);

    #[test]
    fn statuses_are_coalesced_written_once_and_retried() {
        let cases: Vec<Scenario> = vec![
            (
                "a status is written once",
                vec![
                    (Set("gdp", "ok"), vec![("gdp", "ok")]),
                    (Finish("gdp", Written), vec![]),
                    (Set("gdp", "ok"), vec![]),
                ],
            ),
            (
                "only the newest status waits behind a write in flight",
                vec![
                    (Set("gdp", "a"), vec![("gdp", "a")]),
                    (Set("gdp", "b"), vec![]),
                    (Set("gdp", "c"), vec![]),
                    (Finish("gdp", Written), vec![("gdp", "c")]),
                ],
            ),
            (
                "back to the written status while another is in flight is written again",
                vec![
                    (Set("gdp", "a"), vec![("gdp", "a")]),
                    (Finish("gdp", Written), vec![]),
                    (Set("gdp", "b"), vec![("gdp", "b")]),
                    (Set("gdp", "a"), vec![]),
                    (Finish("gdp", Written), vec![("gdp", "a")]),
                ],
            ),
            (
                "objects are written independently",
                vec![
                    (Set("gdp", "a"), vec![("gdp", "a")]),
                    (Set("rule", "x"), vec![("rule", "x")]),
                ],
            ),
            (
                "a failed write is retried",
                vec![
                    (Set("gdp", "a"), vec![("gdp", "a")]),
                    (Finish("gdp", Failed), vec![]),
                    (Retry("gdp"), vec![("gdp", "a")]),
                    (Finish("gdp", Written), vec![]),
                ],
            ),
            (
                "a failed write is not retried over a newer status, waiting or written",
                vec![
                    (Set("gdp", "a"), vec![("gdp", "a")]),
                    (Set("gdp", "b"), vec![]),
                    (Finish("gdp", Failed), vec![("gdp", "b")]),
                    (Finish("gdp", Written), vec![]),
                    (Retry("gdp"), vec![]),
                    (Set("gdp", "c"), vec![("gdp", "c")]),
                    (Finish("gdp", Written), vec![]),
                ],
            ),
            (
                "a gone object is not remembered as written",
                vec![
                    (Set("gdp", "a"), vec![("gdp", "a")]),
                    (Finish("gdp", ObjectGone), vec![]),
                    (Set("gdp", "a"), vec![("gdp", "a")]),
                ],
            ),
            (
                "forgotten while in flight: that write does not count",
                vec![
                    (Set("gdp", "a"), vec![("gdp", "a")]),
                    (Forget("gdp"), vec![]),
                    (Finish("gdp", Written), vec![]),
                    (Set("gdp", "a"), vec![("gdp", "a")]),
                ],
            ),
            (
                "forgotten after writing: the same status is written to the new object",
                vec![
                    (Set("gdp", "a"), vec![("gdp", "a")]),
                    (Finish("gdp", Written), vec![]),
                    (Forget("gdp"), vec![]),
                    (Set("gdp", "a"), vec![("gdp", "a")]),
                ],
            ),
        ];
        for (what, steps) in cases {
            let mut book: StatusBook<&str, &str> = StatusBook::default();
            let mut in_flight: Vec<StatusWrite<&str, &str>> = Vec::new();
            let mut failed: Vec<StatusWrite<&str, &str>> = Vec::new();
            for (index, (step, expected)) in steps.into_iter().enumerate() {
                match step {
                    Set(t, s) => book.set(t, s),
                    Finish(t, outcome) => {
                        let at = in_flight
                            .iter()
                            .position(|w| w.target == t)
                            .unwrap_or_else(|| panic!("{what}, step {index}: nothing in flight"));
                        let retry = book.finished(in_flight.remove(at), outcome);
                        assert_eq!(retry.is_some(), outcome == Failed, "{what}, step {index}");
                        failed.extend(retry);
                    }
                    Retry(t) => {
                        let at = failed
                            .iter()
                            .rposition(|w| w.target == t)
                            .unwrap_or_else(|| panic!("{what}, step {index}: nothing failed"));
                        book.retry(failed.remove(at));
                    }
                    Forget(t) => book.forget(&t),
                }
                let started = book.start_writes();
                let got: Vec<(&str, &str)> = started.iter().map(|w| (w.target, w.status)).collect();
                assert_eq!(got, expected, "{what}, step {index}");
                in_flight.extend(started);
            }
        }
    }
}
