//! The federator (`amko federate`): on the leader cluster, copies the GSLBConfig (spec
//! and the `amko.vmware.com/amko-uuid` annotation) and the GDP (spec) to every follower of
//! `AMKOCluster.spec.clusters` that runs the same version and is not a leader itself, so each
//! follower holds exactly the leader's objects; writes the AMKOCluster status conditions. On a
//! follower it only reports that it does not federate. Decisions come from `amko::federation`.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use amko::crd::amkocluster::{
    AmkoClusterCondition, CONDITION_GDP_FEDERATION, CONDITION_GSLBCONFIG_FEDERATION,
    CONDITION_MEMBER_INIT, CONDITION_MEMBER_VALIDATION, CONDITION_VALIDATION,
};
use amko::crd::gslbconfig::AMKO_UUID_ANNOTATION;
use amko::crd::{AmkoCluster, GlobalDeploymentPolicy, GslbConfig};
use amko::federation::{self as fed, CopyAction, FederatedObject, MemberVerdict};
use amko::members::{MembersError, MembersKubeconfig};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::telemetry::{Metrics, WriteLabels};

const FIELD_MANAGER: &str = "amko-federator";
/// A follower that does not answer within this is reported and skipped for this round.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(5);

/// Why there are no clients for the followers at all.
#[derive(Debug, thiserror::Error)]
enum MembersUnavailable {
    #[error("no members kubeconfig (set GSLB_CONFIG or --members-kubeconfig)")]
    NotGiven,
    #[error(transparent)]
    Invalid(#[from] MembersError),
}

/// Why one follower cluster was left out of a round. The text goes into the AMKOCluster
/// conditions, where users read it.
#[derive(Debug, thiserror::Error)]
enum MemberError {
    #[error("error in building context config for kubernetes cluster {context:?}: {cause}")]
    Config {
        context: String,
        #[source]
        cause: MembersError,
    },
    #[error("cannot build a client for cluster {context:?}: {cause}")]
    Client {
        context: String,
        #[source]
        cause: kube::Error,
    },
    #[error("cannot list AMKOClusters in cluster {context:?}: {cause}")]
    ListAmkoClusters {
        context: String,
        #[source]
        cause: kube::Error,
    },
    #[error("cluster {context:?} did not answer within {}s, can't federate", MEMBER_TIMEOUT.as_secs())]
    Silent { context: String },
}

/// Why a follower could not be made to hold the leader's object of a kind.
#[derive(Debug, thiserror::Error)]
enum CopyError {
    #[error("cluster {context:?} did not answer")]
    Silent { context: String },
    #[error("cannot list {kind} objects in cluster {context:?}: {cause}")]
    List {
        kind: &'static str,
        context: String,
        #[source]
        cause: kube::Error,
    },
    #[error("cannot {action} {kind} {name} in cluster {context:?}: {cause}")]
    Write {
        action: &'static str,
        kind: &'static str,
        name: String,
        context: String,
        #[source]
        cause: kube::Error,
    },
}

/// Why no follower can be federated to this round.
#[derive(Debug, thiserror::Error)]
enum NoFollowers<'a> {
    #[error("error in initialising member cluster contexts: {0}")]
    Members(&'a MembersUnavailable),
    /// The AMKOCluster's cluster list is unusable.
    #[error(transparent)]
    Invalid(fed::AmkoClusterProblem),
}

pub struct Federator {
    client: Client,
    namespace: String,
    members: Result<MembersKubeconfig, MembersUnavailable>,
    member_clients: BTreeMap<String, Client>,
    metrics: Arc<Metrics>,
}

/// How a kind is copied: what is compared, and the object written on the follower.
struct Kind<K> {
    label: &'static str,
    compare: fn(&K) -> FederatedObject,
    /// The follower's object after the copy: `existing` updated, or a fresh one.
    copy: fn(&K, Option<K>, &str) -> K,
}

fn uuid_of(meta: &ObjectMeta) -> Option<String> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(AMKO_UUID_ANNOTATION))
        .cloned()
}

fn fresh_meta(name: String, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(namespace.to_owned()),
        ..ObjectMeta::default()
    }
}

const GSLB_CONFIG: Kind<GslbConfig> = Kind {
    label: "GSLBConfig",
    compare: |gc| FederatedObject {
        name: gc.name_any(),
        spec: serde_json::to_value(&gc.spec).unwrap_or_default(),
        uuid: uuid_of(&gc.metadata),
    },
    copy: |leader, existing, namespace| {
        let mut out = existing.unwrap_or_else(|| GslbConfig {
            metadata: fresh_meta(leader.name_any(), namespace),
            spec: leader.spec.clone(),
            status: None,
        });
        out.spec = leader.spec.clone();
        if let Some(uuid) = uuid_of(&leader.metadata) {
            out.annotations_mut()
                .insert(AMKO_UUID_ANNOTATION.to_owned(), uuid);
        }
        out
    },
};

const GDP: Kind<GlobalDeploymentPolicy> = Kind {
    label: "GDP",
    compare: |gdp| FederatedObject {
        name: gdp.name_any(),
        spec: serde_json::to_value(&gdp.spec).unwrap_or_default(),
        uuid: None,
    },
    copy: |leader, existing, namespace| {
        let mut out = existing.unwrap_or_else(|| GlobalDeploymentPolicy {
            metadata: fresh_meta(leader.name_any(), namespace),
            spec: leader.spec.clone(),
            status: None,
        });
        out.spec = leader.spec.clone();
        out
    },
};

impl Federator {
    pub fn new(
        client: Client,
        namespace: String,
        members_kubeconfig: Option<&str>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let members = match members_kubeconfig {
            Some(text) => MembersKubeconfig::parse(text).map_err(MembersUnavailable::from),
            None => Err(MembersUnavailable::NotGiven),
        };
        Federator {
            client,
            namespace,
            members,
            member_clients: BTreeMap::new(),
            metrics,
        }
    }

    /// One round; returns what it did, for `/api/status` and the log.
    pub async fn reconcile(&mut self) -> String {
        let api: Api<AmkoCluster> = Api::namespaced(self.client.clone(), &self.namespace);
        let clusters = match api.list(&ListParams::default()).await {
            Ok(list) => list.items,
            Err(e) => return format!("cannot list AMKOClusters in {}: {e}", self.namespace),
        };
        let cluster = match clusters.as_slice() {
            [] => return "no AMKOCluster: nothing to federate".to_owned(),
            [one] => one.clone(),
            _ => {
                return format!(
                    "only one AMKOCluster object allowed per cluster; {} found in {}",
                    clusters.len(),
                    self.namespace
                );
            }
        };
        let (conditions, phase) = self.conditions_for(&cluster).await;
        self.write_status(&api, &cluster, conditions).await;
        phase
    }

    async fn conditions_for(
        &mut self,
        cluster: &AmkoCluster,
    ) -> (Vec<AmkoClusterCondition>, String) {
        let mut conditions = Vec::new();
        if !cluster.spec.is_leader {
            conditions.push(fed::condition(
                CONDITION_VALIDATION,
                fed::NOT_FEDERATING,
                fed::NOT_A_LEADER,
            ));
            return (conditions, "follower: won't federate objects".to_owned());
        }
        if let Err(problem) = fed::check_amko_cluster(cluster, &self.namespace) {
            let reason = problem.to_string();
            conditions.push(fed::condition(
                CONDITION_VALIDATION,
                fed::INVALID_AMKOCLUSTER,
                reason.clone(),
            ));
            return (conditions, reason);
        }
        conditions.push(fed::condition(
            CONDITION_VALIDATION,
            fed::VALID_AMKOCLUSTER,
            "",
        ));

        // Member cluster clients.
        let prepared = match (&self.members, fed::followers_of(cluster)) {
            (Err(e), _) => Err(NoFollowers::Members(e)),
            (_, Err(reason)) => Err(NoFollowers::Invalid(reason)),
            (Ok(members), Ok(followers)) => Ok((members, followers)),
        };
        let (members, followers) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                let reason = e.to_string();
                conditions.push(fed::condition(
                    CONDITION_MEMBER_INIT,
                    fed::MEMBER_CLIENTS_INVALID,
                    reason.clone(),
                ));
                return (conditions, reason);
            }
        };
        let mut clients = Vec::new();
        let mut client_errors = Vec::new();
        for context in &followers {
            match member_client(members, &mut self.member_clients, context).await {
                Ok(c) => clients.push((context.clone(), c)),
                Err(e) => client_errors.push(e.to_string()),
            }
        }
        let init = if clients.is_empty() && !followers.is_empty() {
            fed::MEMBER_CLIENTS_INVALID
        } else if client_errors.is_empty() {
            fed::ALL_CLIENTS_FETCHED
        } else {
            fed::SOME_CLIENTS_MISSING
        };
        conditions.push(fed::condition(
            CONDITION_MEMBER_INIT,
            init,
            client_errors.join(", "),
        ));

        // Member validation: same version, not a leader.
        let mut valid = Vec::new();
        let mut problems = Vec::new();
        for (context, client) in clients {
            let api: Api<AmkoCluster> = Api::namespaced(client.clone(), &self.namespace);
            let listed =
                tokio::time::timeout(MEMBER_TIMEOUT, api.list(&ListParams::default())).await;
            let theirs = match listed {
                Ok(Ok(list)) => list.items,
                Ok(Err(cause)) => {
                    problems.push(MemberError::ListAmkoClusters { context, cause }.to_string());
                    continue;
                }
                Err(_) => {
                    problems.push(MemberError::Silent { context }.to_string());
                    continue;
                }
            };
            match fed::judge_member(&cluster.spec.version, &context, &theirs) {
                MemberVerdict::Valid => valid.push((context, client)),
                MemberVerdict::Skipped(why) => problems.push(why),
                MemberVerdict::AlsoLeader(why) => {
                    conditions.push(fed::condition(
                        CONDITION_MEMBER_VALIDATION,
                        fed::MEMBER_CLIENTS_INVALID,
                        why.clone(),
                    ));
                    return (conditions, why);
                }
            }
        }
        conditions.push(if problems.is_empty() {
            fed::condition(CONDITION_MEMBER_VALIDATION, fed::ALL_MEMBERS_VALID, "")
        } else {
            fed::condition(
                CONDITION_MEMBER_VALIDATION,
                fed::SOME_MEMBERS_INVALID,
                problems.join(", "),
            )
        });

        conditions.push(self.federate(&GSLB_CONFIG, &valid).await);
        conditions.push(self.federate(&GDP, &valid).await);
        let phase = format!(
            "federating to {} of {} follower clusters",
            valid.len(),
            followers.len()
        );
        (conditions, phase)
    }

    /// Makes every valid follower hold exactly the leader's object of this kind.
    async fn federate<K>(&self, kind: &Kind<K>, valid: &[(String, Client)]) -> AmkoClusterCondition
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + Serialize
            + DeserializeOwned,
    {
        let condition_type = match kind.label {
            "GDP" => CONDITION_GDP_FEDERATION,
            _ => CONDITION_GSLBCONFIG_FEDERATION,
        };
        let local: Api<K> = Api::namespaced(self.client.clone(), &self.namespace);
        let leader = match local.list(&ListParams::default()).await {
            Ok(list) if list.items.len() > 1 => {
                return fed::condition(
                    condition_type,
                    fed::FEDERATION_FAILED,
                    format!(
                        "more than one {} object in {}, can't federate",
                        kind.label, self.namespace
                    ),
                );
            }
            Ok(list) => list.items.into_iter().next(),
            Err(e) => {
                return fed::condition(
                    condition_type,
                    fed::FEDERATION_FAILED,
                    format!(
                        "cannot list {} objects in {}: {e}",
                        kind.label, self.namespace
                    ),
                );
            }
        };
        let mut errors = Vec::new();
        for (context, client) in valid {
            if let Err(e) = self
                .federate_to(kind, leader.as_ref(), context, client)
                .await
            {
                errors.push(e.to_string());
            }
        }
        match (errors.is_empty(), errors.len() == valid.len()) {
            (true, _) => fed::condition(condition_type, fed::FEDERATED_ALL, ""),
            (false, false) => {
                fed::condition(condition_type, fed::FEDERATED_SOME, errors.join(", "))
            }
            (false, true) => {
                fed::condition(condition_type, fed::FEDERATION_FAILED, errors.join(", "))
            }
        }
    }

    async fn federate_to<K>(
        &self,
        kind: &Kind<K>,
        leader: Option<&K>,
        context: &str,
        client: &Client,
    ) -> Result<(), CopyError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + Serialize
            + DeserializeOwned,
    {
        let api: Api<K> = Api::namespaced(client.clone(), &self.namespace);
        let fail = |action: &'static str, name: &str, cause: kube::Error| CopyError::Write {
            action,
            kind: kind.label,
            name: name.to_owned(),
            context: context.to_owned(),
            cause,
        };
        let existing = tokio::time::timeout(MEMBER_TIMEOUT, api.list(&ListParams::default()))
            .await
            .map_err(|_| CopyError::Silent {
                context: context.to_owned(),
            })?
            .map_err(|cause| CopyError::List {
                kind: kind.label,
                context: context.to_owned(),
                cause,
            })?
            .items;
        let compared: Vec<FederatedObject> = existing.iter().map(kind.compare).collect();
        let leader_view = leader.map(kind.compare);
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        for action in fed::plan_copies(leader_view.as_ref(), &compared) {
            let write = match &action {
                CopyAction::Delete(name) => {
                    tracing::info!(cluster = %context, kind = kind.label, %name, "deleting an object the leader does not have");
                    api.delete(name, &DeleteParams::default())
                        .await
                        .map(|_| "delete")
                        .map_err(|e| fail("delete", name, e))
                }
                CopyAction::Create(object) => {
                    let Some(leader) = leader else { continue };
                    tracing::info!(cluster = %context, kind = kind.label, name = %object.name, "creating");
                    api.create(&params, &(kind.copy)(leader, None, &self.namespace))
                        .await
                        .map(|_| "create")
                        .map_err(|e| fail("create", &object.name, e))
                }
                CopyAction::Update(object) => {
                    let Some(leader) = leader else { continue };
                    let current = existing
                        .iter()
                        .find(|e| e.name_any() == object.name)
                        .cloned();
                    tracing::info!(cluster = %context, kind = kind.label, name = %object.name, "updating");
                    api.replace(
                        &object.name,
                        &params,
                        &(kind.copy)(leader, current, &self.namespace),
                    )
                    .await
                    .map(|_| "update")
                    .map_err(|e| fail("update", &object.name, e))
                }
            };
            let done = write?;
            self.metrics
                .federation_writes
                .get_or_create(&WriteLabels {
                    kind: done.to_owned(),
                })
                .inc();
        }
        Ok(())
    }

    async fn write_status(
        &self,
        api: &Api<AmkoCluster>,
        cluster: &AmkoCluster,
        conditions: Vec<AmkoClusterCondition>,
    ) {
        let current = cluster
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        if current == conditions {
            return;
        }
        let patch = json!({"status": {"conditions": conditions}});
        if let Err(e) = api
            .patch_status(
                &cluster.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            tracing::warn!(error = %e, amkocluster = %cluster.name_any(), "cannot write AMKOCluster status");
        }
    }
}

/// The client of a follower cluster, built once.
async fn member_client(
    members: &MembersKubeconfig,
    cache: &mut BTreeMap<String, Client>,
    context: &str,
) -> Result<Client, MemberError> {
    if let Some(c) = cache.get(context) {
        return Ok(c.clone());
    }
    let config = members
        .config_for(context)
        .await
        .map_err(|cause| MemberError::Config {
            context: context.to_owned(),
            cause,
        })?;
    let client = Client::try_from(config).map_err(|cause| MemberError::Client {
        context: context.to_owned(),
        cause,
    })?;
    cache.insert(context.to_owned(), client.clone());
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use amko::crd::GslbConfigSpec;

    fn gc(name: &str, controller: &str, uuid: Option<&str>) -> GslbConfig {
        let mut gc = GslbConfig::new(name, GslbConfigSpec::default());
        gc.spec.gslb_leader.controller_ip = controller.to_owned();
        if let Some(uuid) = uuid {
            gc.annotations_mut()
                .insert(AMKO_UUID_ANNOTATION.to_owned(), uuid.to_owned());
        }
        gc
    }

    #[test]
    fn a_copy_onto_an_existing_object_keeps_its_identity_and_takes_spec_and_uuid() {
        let leader = gc("gc-1", "10.0.0.1", Some("u-1"));
        let mut existing = gc("gc-1", "10.9.9.9", Some("u-old"));
        existing.metadata.resource_version = Some("42".to_owned());
        existing
            .annotations_mut()
            .insert("team".to_owned(), "gslb".to_owned());
        let copy = (GSLB_CONFIG.copy)(&leader, Some(existing), "avi-system");
        assert_eq!(copy.spec, leader.spec);
        assert_eq!(copy.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(
            copy.annotations()
                .get(AMKO_UUID_ANNOTATION)
                .map(String::as_str),
            Some("u-1")
        );
        assert_eq!(
            copy.annotations().get("team").map(String::as_str),
            Some("gslb")
        );
        assert_eq!((GSLB_CONFIG.compare)(&copy), (GSLB_CONFIG.compare)(&leader));
    }

    #[test]
    fn problems_read_in_the_amkocluster_conditions() {
        let not_given = MembersUnavailable::NotGiven;
        let unparsable = MembersUnavailable::from(MembersError::Parse("line 1: bad".into()));
        let cases: [(&dyn std::error::Error, &str); 5] = [
            (
                &NoFollowers::Members(&not_given),
                "error in initialising member cluster contexts: no members kubeconfig (set GSLB_CONFIG or --members-kubeconfig)",
            ),
            (
                &NoFollowers::Members(&unparsable),
                "error in initialising member cluster contexts: members kubeconfig is not valid YAML kubeconfig: line 1: bad",
            ),
            (
                &MemberError::Config {
                    context: "cluster2".into(),
                    cause: MembersError::UnknownContext {
                        context: "cluster2".into(),
                        available: "cluster1".into(),
                    },
                },
                "error in building context config for kubernetes cluster cluster2: members kubeconfig has no context named \"cluster2\" (it has: cluster1)",
            ),
            (
                &MemberError::Silent {
                    context: "cluster3".into(),
                },
                "cluster cluster3 did not answer within 5s, can't federate",
            ),
            (
                &CopyError::Silent {
                    context: "cluster3".into(),
                },
                "cluster cluster3 did not answer",
            ),
        ];
        for (error, reason) in cases {
            assert_eq!(error.to_string(), reason);
        }
    }

    #[test]
    fn a_fresh_copy_carries_only_name_namespace_uuid_and_spec() {
        let mut leader = gc("gc-1", "10.0.0.1", Some("u-1"));
        leader.metadata.resource_version = Some("7".to_owned());
        leader.metadata.namespace = Some("elsewhere".to_owned());
        leader.status = Some(Default::default());
        let copy = (GSLB_CONFIG.copy)(&leader, None, "avi-system");
        assert_eq!(copy.metadata.name.as_deref(), Some("gc-1"));
        assert_eq!(copy.metadata.namespace.as_deref(), Some("avi-system"));
        assert_eq!(copy.metadata.resource_version, None);
        assert_eq!(copy.status, None);
        assert_eq!(copy.annotations().len(), 1);
        assert_eq!(copy.spec, leader.spec);
    }
}
