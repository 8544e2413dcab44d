//! When the writer gets its boot snapshot, the first complete desired state. Until then nothing is
//! written: with part of the members missing, the writer would shrink or delete GslbServices whose
//! other members it has not heard of yet. The gate opens once the policy (GDP and GSLBHostRules)
//! and the controller's fallback PKI profile are known and every member cluster has listed its
//! objects; or, after the boot timeout, without the clusters still missing (the writer then leaves
//! their GslbServices alone until they list).

use std::collections::BTreeSet;

/// Something the gate waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    Policy,
    Overrides,
    FallbackPki,
    ClusterSynced(String),
    TimedOut,
}

/// What to do after a signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootStep {
    Wait,
    /// The gate opens now: hand the writer its snapshot. `unsynced` lists the clusters that have
    /// not listed their objects (only after the timeout).
    Open {
        unsynced: BTreeSet<String>,
    },
    /// The gate was open already: tell the writer that this cluster has listed now.
    Synced(String),
}

/// The boot gate of the member clusters `clusters`.
#[derive(Clone, Debug)]
pub struct BootGate {
    clusters: BTreeSet<String>,
    synced: BTreeSet<String>,
    policy: bool,
    overrides: bool,
    fallback_pki: bool,
    timed_out: bool,
    open: bool,
}

impl BootGate {
    pub fn new(clusters: BTreeSet<String>) -> Self {
        BootGate {
            clusters,
            synced: BTreeSet::new(),
            policy: false,
            overrides: false,
            fallback_pki: false,
            timed_out: false,
            open: false,
        }
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Records `signal`; opens the gate (once) when everything it waits for is there.
    pub fn on(&mut self, signal: Signal) -> BootStep {
        match signal {
            Signal::Policy => self.policy = true,
            Signal::Overrides => self.overrides = true,
            Signal::FallbackPki => self.fallback_pki = true,
            Signal::TimedOut => self.timed_out = true,
            Signal::ClusterSynced(cluster) => {
                self.synced.insert(cluster.clone());
                if self.open {
                    return BootStep::Synced(cluster);
                }
            }
        }
        if self.open || !self.policy || !self.overrides || !self.fallback_pki {
            return BootStep::Wait;
        }
        let unsynced: BTreeSet<String> = self.clusters.difference(&self.synced).cloned().collect();
        if !unsynced.is_empty() && !self.timed_out {
            return BootStep::Wait;
        }
        self.open = true;
        BootStep::Open { unsynced }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn synced(cluster: &str) -> Signal {
        Signal::ClusterSynced(cluster.to_owned())
    }

    fn open(unsynced: &[&str]) -> BootStep {
        BootStep::Open {
            unsynced: set(unsynced),
        }
    }

    /// Each case: the signals in order and the step after each.
    #[test]
    fn boot_gate_table() {
        use BootStep::Wait;
        use Signal::*;
        let cases: Vec<(&str, Vec<(Signal, BootStep)>)> = vec![
            (
                "everything, clusters first",
                vec![
                    (synced("east"), Wait),
                    (synced("west"), Wait),
                    (Policy, Wait),
                    (Overrides, Wait),
                    (FallbackPki, open(&[])),
                ],
            ),
            (
                "everything, the last cluster opens it",
                vec![
                    (FallbackPki, Wait),
                    (Overrides, Wait),
                    (Policy, Wait),
                    (synced("west"), Wait),
                    (synced("east"), open(&[])),
                ],
            ),
            (
                "a cluster syncing twice counts once",
                vec![
                    (Policy, Wait),
                    (Overrides, Wait),
                    (FallbackPki, Wait),
                    (synced("east"), Wait),
                    (synced("east"), Wait),
                    (synced("west"), open(&[])),
                ],
            ),
            (
                "the timeout opens it without the missing clusters",
                vec![
                    (Policy, Wait),
                    (Overrides, Wait),
                    (FallbackPki, Wait),
                    (synced("east"), Wait),
                    (TimedOut, open(&["west"])),
                    (synced("west"), BootStep::Synced("west".into())),
                    (Policy, Wait),
                    (TimedOut, Wait),
                ],
            ),
            (
                "the timeout does not replace the policy",
                vec![
                    (TimedOut, Wait),
                    (FallbackPki, Wait),
                    (Policy, Wait),
                    (synced("west"), Wait),
                    (Overrides, open(&["east"])),
                ],
            ),
            (
                "nor the fallback PKI profile",
                vec![
                    (synced("east"), Wait),
                    (synced("west"), Wait),
                    (Policy, Wait),
                    (Overrides, Wait),
                    (TimedOut, Wait),
                    (FallbackPki, open(&[])),
                    (FallbackPki, Wait),
                ],
            ),
            (
                "a cluster not configured is told once open",
                vec![
                    (synced("other"), Wait),
                    (Policy, Wait),
                    (Overrides, Wait),
                    (FallbackPki, Wait),
                    (TimedOut, open(&["east", "west"])),
                    (synced("other"), BootStep::Synced("other".into())),
                ],
            ),
        ];
        for (name, steps) in cases {
            let mut gate = BootGate::new(set(&["east", "west"]));
            for (i, (signal, expected)) in steps.into_iter().enumerate() {
                let was_open = gate.is_open();
                let step = gate.on(signal.clone());
                assert_eq!(step, expected, "{name}: step {i} ({signal:?})");
                assert_eq!(
                    gate.is_open(),
                    was_open || matches!(step, BootStep::Open { .. })
                );
            }
        }
    }

    #[test]
    fn without_member_clusters_the_policy_and_fallback_open_it() {
        let mut gate = BootGate::new(BTreeSet::new());
        assert_eq!(gate.on(Signal::Policy), BootStep::Wait);
        assert_eq!(gate.on(Signal::FallbackPki), BootStep::Wait);
        assert_eq!(gate.on(Signal::Overrides), open(&[]));
    }
}
