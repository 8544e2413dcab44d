//! Whether this `amko run` may write (to the controller and to CR status), decided from what it
//! knows: the Lease (with `--leader-elect`), its cluster's AMKOCluster (leader, follower, none,
//! or an unusable set) and, for a leader, whether another cluster of the federation leads since
//! earlier. Pure: the role watcher in amko-actors reads the objects and carries the verdict out.

use kube::ResourceExt;

use crate::crd::AmkoCluster;
use crate::federation::{LeaderClaim, must_step_back};

/// What this replica knows about the Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseView {
    /// No election (`--leader-elect` not given): this replica may lead.
    NotElecting,
    Held,
    /// Another replica holds it (`holder` empty when unknown).
    Standby {
        holder: String,
    },
}

impl LeaseView {
    pub fn held(&self) -> bool {
        matches!(self, LeaseView::NotElecting | LeaseView::Held)
    }
}

/// The verdict: may this instance run the pipeline, and why (shown as the phase when it may not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gate {
    pub may_lead: bool,
    pub why: String,
    /// False until the role was read once (the instance is neither leading nor idle yet).
    pub decided: bool,
}

/// The role of this cluster as its AMKOCluster says.
pub enum Role {
    /// No AMKOCluster: today's single-cluster behaviour.
    Alone,
    Leader(Box<AmkoCluster>),
    Follower(String),
    Invalid(String),
}

impl Role {
    /// The role the AMKOClusters of the home namespace give this cluster.
    pub fn of(amko_clusters: Vec<AmkoCluster>, namespace: &str) -> Role {
        let count = amko_clusters.len();
        let mut clusters = amko_clusters.into_iter();
        match (clusters.next(), clusters.next()) {
            (None, _) => Role::Alone,
            (Some(one), None) if one.spec.is_leader => Role::Leader(Box::new(one)),
            (Some(one), None) => Role::Follower(one.name_any()),
            (Some(_), Some(_)) => Role::Invalid(format!(
                "only one AMKOCluster object allowed per cluster; {count} found in {namespace}"
            )),
        }
    }
}

/// What the Lease says once the election has stopped reporting (its loop ended or panicked): it
/// can no longer vouch that this replica holds the Lease, so it counts as not held and this
/// replica stops writing (fail closed). Without an election there is nothing to lose.
pub fn lease_when_silent(last: &LeaseView) -> LeaseView {
    match last {
        LeaseView::NotElecting => LeaseView::NotElecting,
        LeaseView::Held | LeaseView::Standby { .. } => LeaseView::Standby {
            holder: String::new(),
        },
    }
}

/// Why leader `mine` must step back for `theirs` (an older leader), or `None` when it need not.
pub fn step_back_reason(mine: &LeaderClaim, theirs: &LeaderClaim) -> Option<String> {
    must_step_back(mine, theirs).then(|| {
        format!(
            "AMKO in cluster {} is also a leader, conflicting state: this cluster became leader later ({}) and does not write until one of them is set to isLeader: false",
            theirs.context, mine.since
        )
    })
}

/// The verdict from the role, the Lease and, for a leader, the reason to step back (if any).
pub fn verdict(role: &Role, lease: &LeaseView, conflict: Option<String>) -> Gate {
    let closed = |why: String| Gate {
        may_lead: false,
        why,
        decided: true,
    };
    let open = |why: String| Gate {
        may_lead: true,
        why,
        decided: true,
    };
    match lease {
        LeaseView::Standby { holder } if holder.is_empty() => {
            return closed("standby: waiting for the leader-election lease".to_owned());
        }
        LeaseView::Standby { holder } => {
            return closed(format!(
                "standby: the leader-election lease is held by {holder}"
            ));
        }
        LeaseView::Held | LeaseView::NotElecting => {}
    }
    match role {
        Role::Alone => open("no AMKOCluster in this cluster: running as the leader".to_owned()),
        Role::Invalid(why) => closed(why.clone()),
        Role::Follower(name) => closed(format!(
            "follower: AMKOCluster {name} says isLeader: false; amko-rs idles until it is promoted"
        )),
        Role::Leader(cluster) => match conflict {
            Some(why) => closed(why),
            None => open(format!(
                "leader (AMKOCluster {} says isLeader: true)",
                cluster.name_any()
            )),
        },
    }
}

/// The verdict when this cluster's AMKOClusters cannot be read (its API server does not answer).
/// The role is then unknown and the previous verdict stands, except that a Lease no longer held
/// closes the gate whatever the role: the same outage that hides the role keeps this replica from
/// renewing its Lease, and a standby may already be writing.
pub fn verdict_without_role(previous: &Gate, lease: &LeaseView) -> Gate {
    if lease.held() {
        previous.clone()
    } else {
        verdict(&Role::Alone, lease, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::AmkoClusterSpec;

    fn leader() -> Role {
        Role::Leader(Box::new(AmkoCluster::new(
            "amkocluster-federation",
            AmkoClusterSpec {
                is_leader: true,
                ..AmkoClusterSpec::default()
            },
        )))
    }

    fn standby_of(holder: &str) -> LeaseView {
        LeaseView::Standby {
            holder: holder.to_owned(),
        }
    }

    #[test]
    fn a_single_cluster_install_or_a_leader_leads_when_it_holds_the_lease() {
        for lease in [LeaseView::NotElecting, LeaseView::Held] {
            assert!(verdict(&Role::Alone, &lease, None).may_lead);
            assert!(verdict(&leader(), &lease, None).may_lead);
        }
        let standby = verdict(&leader(), &standby_of("replica-a"), None);
        assert!(!standby.may_lead && standby.decided);
        assert_eq!(
            standby.why,
            "standby: the leader-election lease is held by replica-a"
        );
        assert!(!verdict(&Role::Alone, &standby_of(""), None).may_lead);
    }

    #[test]
    fn followers_invalid_setups_and_the_newer_of_two_leaders_idle() {
        let follower = verdict(
            &Role::Follower("amkocluster-federation".to_owned()),
            &LeaseView::Held,
            None,
        );
        assert!(!follower.may_lead);
        assert!(
            follower
                .why
                .starts_with("follower: AMKOCluster amkocluster-federation")
        );
        let invalid = verdict(
            &Role::Invalid("only one AMKOCluster object allowed per cluster".to_owned()),
            &LeaseView::NotElecting,
            None,
        );
        assert!(!invalid.may_lead);
        let conflict = verdict(
            &leader(),
            &LeaseView::NotElecting,
            Some("AMKO in cluster east is also a leader, conflicting state".to_owned()),
        );
        assert!(!conflict.may_lead);
        assert!(conflict.why.starts_with("AMKO in cluster east"));
    }

    fn amko_cluster(name: &str, is_leader: bool) -> AmkoCluster {
        AmkoCluster::new(
            name,
            AmkoClusterSpec {
                is_leader,
                ..AmkoClusterSpec::default()
            },
        )
    }

    #[test]
    fn the_amkoclusters_of_the_namespace_give_the_role() {
        let cases: Vec<(Vec<AmkoCluster>, &str)> = vec![
            (vec![], "alone"),
            (vec![amko_cluster("fed", true)], "leader fed"),
            (vec![amko_cluster("fed", false)], "follower fed"),
            (
                vec![amko_cluster("a", true), amko_cluster("b", false)],
                "invalid: only one AMKOCluster object allowed per cluster; 2 found in avi-system",
            ),
        ];
        for (clusters, expected) in cases {
            let got = match Role::of(clusters, "avi-system") {
                Role::Alone => "alone".to_owned(),
                Role::Leader(c) => format!("leader {}", c.name_any()),
                Role::Follower(name) => format!("follower {name}"),
                Role::Invalid(why) => format!("invalid: {why}"),
            };
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn only_the_newer_leader_is_told_to_step_back_and_why() {
        let older = LeaderClaim {
            since: "2026-01-01T00:00:00Z".to_owned(),
            context: "east".to_owned(),
        };
        let newer = LeaderClaim {
            since: "2026-02-01T00:00:00Z".to_owned(),
            context: "west".to_owned(),
        };
        assert_eq!(step_back_reason(&older, &newer), None);
        assert_eq!(
            step_back_reason(&newer, &older).as_deref(),
            Some(
                "AMKO in cluster east is also a leader, conflicting state: this cluster became leader later (2026-02-01T00:00:00Z) and does not write until one of them is set to isLeader: false"
            )
        );
    }

    #[test]
    fn a_silent_election_fails_closed() {
        let cases = [
            (LeaseView::Held, false),
            (standby_of("replica-b"), false),
            (LeaseView::NotElecting, true),
        ];
        for (last, may_lead) in cases {
            let silent = lease_when_silent(&last);
            assert_eq!(
                verdict(&Role::Alone, &silent, None).may_lead,
                may_lead,
                "{last:?}"
            );
        }
    }
    #[test]
    fn an_unreadable_role_keeps_the_verdict_only_while_the_lease_is_held() {
        let leading = verdict(&leader(), &LeaseView::Held, None);
        assert!(leading.may_lead);
        assert_eq!(verdict_without_role(&leading, &LeaseView::Held), leading);
        assert_eq!(
            verdict_without_role(&leading, &LeaseView::NotElecting),
            leading
        );
        let lost = verdict_without_role(
            &leading,
            &LeaseView::Standby {
                holder: String::new(),
            },
        );
        assert!(!lost.may_lead && lost.decided, "{lost:?}");
        let taken = verdict_without_role(&leading, &standby_of("replica-b"));
        assert!(!taken.may_lead, "{taken:?}");
        assert!(taken.why.contains("replica-b"), "{taken:?}");
    }
}
