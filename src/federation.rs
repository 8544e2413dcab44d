//! Federation of amko-rs instances, the pure part: checking an AMKOCluster,
//! judging each follower cluster (present, one AMKOCluster, same version, not a leader), planning
//! the copies that make a follower hold exactly the leader's GSLBConfig and GDP, the AMKOCluster
//! status conditions, and which of two leaders must step back.

use std::cmp::Ordering;

use serde_json::Value;

use crate::crd::AmkoCluster;
use crate::crd::amkocluster::AmkoClusterCondition;

/// `status` values of the conditions (AMKO's strings, which users and scripts know).
pub const NOT_FEDERATING: &str = "won't federate objects";
pub const NOT_A_LEADER: &str = "AMKO not a leader";
pub const INVALID_AMKOCLUSTER: &str = "invalid AMKOCluster object";
pub const VALID_AMKOCLUSTER: &str = "valid AMKOCluster object";
pub const MEMBER_CLIENTS_INVALID: &str = "member cluster clients invalid";
pub const SOME_CLIENTS_MISSING: &str = "some member cluster clients couldn't be fetched";
pub const ALL_CLIENTS_FETCHED: &str = "all cluster clients fetched";
pub const SOME_MEMBERS_INVALID: &str = "error in validating some member clusters";
pub const ALL_MEMBERS_VALID: &str = "validated all member clusters";
pub const FEDERATED_ALL: &str = "federated to all valid clusters successfully";
pub const FEDERATED_SOME: &str = "error in federating to some clusters";
pub const FEDERATION_FAILED: &str = "failure in federation";

/// One condition.
pub fn condition(type_: &str, status: &str, reason: impl Into<String>) -> AmkoClusterCondition {
    AmkoClusterCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.into(),
    }
}

/// Why this cluster's AMKOCluster cannot drive federation. The Display text is the condition's
/// reason users read (AMKO's wording).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmkoClusterProblem {
    #[error("AMKOCluster's namespace is not {home_namespace}")]
    WrongNamespace { home_namespace: String },
    #[error("clusterContext field can't be empty in AMKOCluster object")]
    EmptyClusterContext,
    #[error("version field can't be empty in AMKOCluster object")]
    EmptyVersion,
    #[error(
        "error in initialising member cluster contexts: current cluster context {current} not part of member clusters (spec.clusters)"
    )]
    CurrentNotListed { current: String },
}

/// Sanity of this cluster's AMKOCluster, checked by a leader at boot (its own context among the
/// clusters, the home namespace).
pub fn check_amko_cluster(
    cluster: &AmkoCluster,
    home_namespace: &str,
) -> Result<(), AmkoClusterProblem> {
    if cluster.metadata.namespace.as_deref() != Some(home_namespace) {
        return Err(AmkoClusterProblem::WrongNamespace {
            home_namespace: home_namespace.to_owned(),
        });
    }
    if cluster.spec.cluster_context.trim().is_empty() {
        return Err(AmkoClusterProblem::EmptyClusterContext);
    }
    if cluster.spec.version.trim().is_empty() {
        return Err(AmkoClusterProblem::EmptyVersion);
    }
    Ok(())
}

/// The federation set without this cluster, or why there is none usable.
pub fn followers_of(cluster: &AmkoCluster) -> Result<Vec<String>, AmkoClusterProblem> {
    let current = &cluster.spec.cluster_context;
    if !cluster.spec.clusters.iter().any(|c| c == current) {
        return Err(AmkoClusterProblem::CurrentNotListed {
            current: current.clone(),
        });
    }
    let mut followers: Vec<String> = cluster
        .spec
        .clusters
        .iter()
        .filter(|c| *c != current && !c.trim().is_empty())
        .cloned()
        .collect();
    followers.dedup();
    Ok(followers)
}

/// What a follower cluster's AMKOClusters say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberVerdict {
    /// One AMKOCluster, a follower, same version: federate to it.
    Valid,
    /// Not federated to; the message says why and what to fix.
    Skipped(String),
    /// It claims to be a leader too.
    AlsoLeader(String),
}

/// Judges follower `context` from the AMKOClusters in its home namespace: it may receive copies
/// only when it has exactly one AMKOCluster, marked follower, of our version.
pub fn judge_member(our_version: &str, context: &str, theirs: &[AmkoCluster]) -> MemberVerdict {
    match theirs {
        [] => MemberVerdict::Skipped(format!(
            "no AMKOCluster object present in cluster {context}, can't federate"
        )),
        [one] if one.spec.is_leader => MemberVerdict::AlsoLeader(format!(
            "AMKO in cluster {context} is also a leader, conflicting state"
        )),
        [one] if one.spec.version != our_version => MemberVerdict::Skipped(format!(
            "version mismatch, current AMKO: {our_version}, AMKO in cluster {context}: {}",
            one.spec.version
        )),
        [_] => MemberVerdict::Valid,
        _ => MemberVerdict::Skipped(format!(
            "more than one AMKOCluster objects present in cluster {context}, can't federate"
        )),
    }
}

/// The part of a GSLBConfig or GDP that federation copies.
#[derive(Clone, Debug, PartialEq)]
pub struct FederatedObject {
    pub name: String,
    pub spec: Value,
    /// The `amko.vmware.com/amko-uuid` annotation (GSLBConfig only; `None` for a GDP).
    pub uuid: Option<String>,
}

/// One write on a follower.
#[derive(Clone, Debug, PartialEq)]
pub enum CopyAction {
    Create(FederatedObject),
    /// Set the spec (and uuid annotation, when the leader's object has one) of the existing object.
    Update(FederatedObject),
    Delete(String),
}

/// The writes that leave the follower with exactly the leader's object (or none), and nothing
/// when it already has it: an object of the same name is updated only when its spec or uuid
/// differs, every other object is deleted.
pub fn plan_copies(
    leader: Option<&FederatedObject>,
    follower: &[FederatedObject],
) -> Vec<CopyAction> {
    let mut actions: Vec<CopyAction> = follower
        .iter()
        .filter(|f| leader.is_none_or(|l| l.name != f.name))
        .map(|f| CopyAction::Delete(f.name.clone()))
        .collect();
    if let Some(leader) = leader {
        match follower.iter().find(|f| f.name == leader.name) {
            None => actions.push(CopyAction::Create(leader.clone())),
            Some(existing) => {
                let uuid_differs = leader.uuid.is_some() && leader.uuid != existing.uuid;
                if existing.spec != leader.spec || uuid_differs {
                    actions.push(CopyAction::Update(leader.clone()));
                }
            }
        }
    }
    actions
}

/// A leader's claim, compared when two clusters both say `isLeader: true`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderClaim {
    /// `status.leaderSince` (RFC 3339, UTC); empty when not recorded yet, which counts as the
    /// newest claim: a cluster just promoted has not written it yet.
    pub since: String,
    pub context: String,
}

/// Whether `mine` must stop writing because `theirs` is the older claim. The order is total
/// (time, then context name), so of two leaders exactly one steps back: the newer one.
pub fn must_step_back(mine: &LeaderClaim, theirs: &LeaderClaim) -> bool {
    let key = |c: &LeaderClaim| (c.since.is_empty(), c.since.clone(), c.context.clone());
    key(mine).cmp(&key(theirs)) == Ordering::Greater
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::AmkoClusterSpec;
    use serde_json::json;

    fn amko_cluster(context: &str, leader: bool, version: &str, clusters: &[&str]) -> AmkoCluster {
        let mut c = AmkoCluster::new(
            "amkocluster-federation",
            AmkoClusterSpec {
                is_leader: leader,
                cluster_context: context.to_owned(),
                version: version.to_owned(),
                clusters: clusters.iter().map(|s| (*s).to_owned()).collect(),
            },
        );
        c.metadata.namespace = Some("avi-system".to_owned());
        c
    }

    fn object(name: &str, spec: Value, uuid: Option<&str>) -> FederatedObject {
        FederatedObject {
            name: name.to_owned(),
            spec,
            uuid: uuid.map(str::to_owned),
        }
    }

    #[test]
    fn sanity_names_the_missing_field() {
        let mut c = amko_cluster("east", true, "1.0", &["east"]);
        assert_eq!(check_amko_cluster(&c, "avi-system"), Ok(()));
        c.spec.version.clear();
        let reason =
            |c: &AmkoCluster, ns: &str| check_amko_cluster(c, ns).map_err(|e| e.to_string());
        assert_eq!(
            reason(&c, "avi-system"),
            Err("version field can't be empty in AMKOCluster object".to_owned())
        );
        c.spec.cluster_context.clear();
        assert_eq!(
            reason(&c, "avi-system"),
            Err("clusterContext field can't be empty in AMKOCluster object".to_owned())
        );
        assert_eq!(
            reason(&c, "other"),
            Err("AMKOCluster's namespace is not other".to_owned())
        );
    }

    #[test]
    fn followers_exclude_this_cluster_which_must_be_listed() {
        let c = amko_cluster("east", true, "1.0", &["east", "west", "north"]);
        assert_eq!(
            followers_of(&c),
            Ok(vec!["west".to_owned(), "north".to_owned()])
        );
        let missing = amko_cluster("east", true, "1.0", &["west"]);
        assert!(
            followers_of(&missing)
                .map_err(|e| e.to_string())
                .unwrap_err()
                .contains("current cluster context east not part of member clusters")
        );
    }

    #[test]
    fn members_are_judged_on_count_role_and_version() {
        let follower = amko_cluster("west", false, "1.0", &[]);
        assert_eq!(
            judge_member("1.0", "west", std::slice::from_ref(&follower)),
            MemberVerdict::Valid
        );
        assert_eq!(
            judge_member("2.0", "west", std::slice::from_ref(&follower)),
            MemberVerdict::Skipped(
                "version mismatch, current AMKO: 2.0, AMKO in cluster west: 1.0".to_owned()
            )
        );
        assert_eq!(
            judge_member("1.0", "west", &[]),
            MemberVerdict::Skipped(
                "no AMKOCluster object present in cluster west, can't federate".to_owned()
            )
        );
        assert!(matches!(
            judge_member("1.0", "west", &[follower.clone(), follower.clone()]),
            MemberVerdict::Skipped(m) if m.starts_with("more than one AMKOCluster")
        ));
        let leader = amko_cluster("west", true, "1.0", &[]);
        assert_eq!(
            judge_member("1.0", "west", &[leader]),
            MemberVerdict::AlsoLeader(
                "AMKO in cluster west is also a leader, conflicting state".to_owned()
            )
        );
    }

    #[test]
    fn copies_create_update_and_delete_only_what_differs() {
        let leader = object("gc-1", json!({"a": 1}), Some("u-1"));
        assert_eq!(
            plan_copies(Some(&leader), &[]),
            vec![CopyAction::Create(leader.clone())]
        );
        assert_eq!(
            plan_copies(Some(&leader), std::slice::from_ref(&leader)),
            vec![]
        );
        let stale = object("gc-1", json!({"a": 0}), Some("u-1"));
        let stray = object("gc-2", json!({"a": 1}), None);
        assert_eq!(
            plan_copies(Some(&leader), &[stray.clone(), stale]),
            vec![
                CopyAction::Delete("gc-2".to_owned()),
                CopyAction::Update(leader.clone())
            ]
        );
        let other_uuid = object("gc-1", json!({"a": 1}), Some("u-2"));
        assert_eq!(
            plan_copies(Some(&leader), &[other_uuid]),
            vec![CopyAction::Update(leader.clone())]
        );
        assert_eq!(
            plan_copies(None, &[stray, leader]),
            vec![
                CopyAction::Delete("gc-2".to_owned()),
                CopyAction::Delete("gc-1".to_owned())
            ]
        );
    }

    #[test]
    fn of_two_leaders_exactly_the_newer_steps_back() {
        let old = LeaderClaim {
            since: "2026-01-01T00:00:00Z".to_owned(),
            context: "east".to_owned(),
        };
        let new = LeaderClaim {
            since: "2026-02-01T00:00:00Z".to_owned(),
            context: "west".to_owned(),
        };
        assert!(must_step_back(&new, &old));
        assert!(!must_step_back(&old, &new));
        let not_recorded_yet = LeaderClaim {
            since: String::new(),
            context: "west".to_owned(),
        };
        assert!(must_step_back(&not_recorded_yet, &new));
        assert!(!must_step_back(&new, &not_recorded_yet));
        let same_time = LeaderClaim {
            since: old.since.clone(),
            context: "west".to_owned(),
        };
        assert!(must_step_back(&same_time, &old) != must_step_back(&old, &same_time));
    }
}
