//! The role watcher: reads this cluster's AMKOClusters, records `status.leaderSince`, asks the
//! federation's other clusters whether one of them leads since earlier, and publishes whether this
//! `amko run` may write, as `amko::gate::verdict` decides. Re-evaluated every few seconds and on
//! Lease changes, so promoting or demoting a cluster takes effect without a restart.

use std::collections::BTreeMap;
use std::time::Duration;

use amko::crd::AmkoCluster;
use amko::federation::{LeaderClaim, followers_of};
use amko::gate::{
    Gate, LeaseView, Role, lease_when_silent, step_back_reason, verdict, verdict_without_role,
};
use amko::members::MembersKubeconfig;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::watch;

/// How long one evaluation (the AMKOCluster list, `leaderSince`, the other clusters' claims) may
/// take before the previous verdict stands for this round.
const EVALUATE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RoleWatcher {
    client: Client,
    namespace: String,
    members: Option<MembersKubeconfig>,
    member_clients: BTreeMap<String, Client>,
    poll: Duration,
}

impl RoleWatcher {
    pub fn new(
        client: Client,
        namespace: String,
        members_kubeconfig: Option<&str>,
        poll: Duration,
    ) -> Self {
        RoleWatcher {
            client,
            namespace,
            members: members_kubeconfig.and_then(|t| MembersKubeconfig::parse(t).ok()),
            member_clients: BTreeMap::new(),
            poll,
        }
    }

    /// Runs on the current arbiter and publishes the gate. It starts closed.
    pub fn spawn(mut self, mut lease: watch::Receiver<LeaseView>) -> watch::Receiver<Gate> {
        let (tx, rx) = watch::channel(Gate {
            may_lead: false,
            why: "checking this cluster's role (AMKOCluster)".to_owned(),
            decided: false,
        });
        actix::spawn(async move {
            let mut lease_open = true;
            loop {
                let view = if lease_open {
                    lease.borrow_and_update().clone()
                } else {
                    lease_when_silent(&lease.borrow())
                };
                // A Lease not held closes the gate whatever the role: decide at once, without
                // waiting on an API server that may be the reason the Lease was lost.
                let evaluated = if view.held() {
                    tokio::time::timeout(EVALUATE_TIMEOUT, self.evaluate(&view))
                        .await
                        .unwrap_or_else(|_| {
                            tracing::warn!("reading this cluster's AMKOClusters timed out");
                            None
                        })
                } else {
                    None
                };
                let gate = match evaluated {
                    Some(gate) => gate,
                    None => verdict_without_role(&tx.borrow(), &view),
                };
                tx.send_if_modified(|current| {
                    if *current == gate {
                        return false;
                    }
                    tracing::info!(may_lead = gate.may_lead, why = %gate.why, "role changed");
                    *current = gate;
                    true
                });
                tokio::select! {
                    _ = tokio::time::sleep(self.poll) => {}
                    changed = lease.changed(), if lease_open => {
                        lease_open = changed.is_ok();
                        if !lease_open && *lease.borrow() != LeaseView::NotElecting {
                            tracing::error!("the leader election stopped reporting; this replica stops writing");
                        }
                    }
                }
            }
        });
        rx
    }

    /// `None` when the AMKOClusters cannot be read (see `verdict_without_role`).
    async fn evaluate(&mut self, lease: &LeaseView) -> Option<Gate> {
        let role = self.role().await?;
        let mut conflict = None;
        if lease.held() {
            // Only the replica that may write records leaderSince.
            match &role {
                Role::Follower(name) => self.record_leader_since(name, None).await,
                Role::Leader(cluster) => conflict = self.leader_conflict(cluster).await,
                _ => {}
            }
        }
        Some(verdict(&role, lease, conflict))
    }

    async fn role(&self) -> Option<Role> {
        let api: Api<AmkoCluster> = Api::namespaced(self.client.clone(), &self.namespace);
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list.items,
            // No AMKOCluster CRD installed: a single-cluster install.
            Err(kube::Error::Api(s)) if s.code == 404 => Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list AMKOClusters");
                return None;
            }
        };
        Some(Role::of(list, &self.namespace))
    }

    /// Records (or clears) `status.leaderSince` on our AMKOCluster; only the writer calls this.
    async fn record_leader_since(&self, name: &str, since: Option<&str>) {
        let api: Api<AmkoCluster> = Api::namespaced(self.client.clone(), &self.namespace);
        let current = match api.get_opt(name).await {
            Ok(Some(c)) => c.status.and_then(|s| s.leader_since),
            _ => return,
        };
        if current.as_deref() == since {
            return;
        }
        let patch = json!({"status": {"leaderSince": since}});
        if let Err(e) = api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            tracing::warn!(error = %e, amkocluster = %name, "cannot record status.leaderSince");
        }
    }

    /// Why this leader must step back: another cluster of the federation is an older leader.
    async fn leader_conflict(&mut self, cluster: &AmkoCluster) -> Option<String> {
        let name = cluster.name_any();
        let since = match cluster.status.as_ref().and_then(|s| s.leader_since.clone()) {
            Some(since) => since,
            None => {
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                self.record_leader_since(&name, Some(&now)).await;
                now
            }
        };
        let mine = LeaderClaim {
            since,
            context: cluster.spec.cluster_context.clone(),
        };
        for context in followers_of(cluster).unwrap_or_default() {
            let Some(theirs) = self.leader_claim_of(&context).await else {
                continue;
            };
            if let Some(why) = step_back_reason(&mine, &theirs) {
                return Some(why);
            }
            tracing::warn!(cluster = %context, "AMKO in cluster {context} is also a leader, conflicting state; it became leader later and steps back");
        }
        None
    }

    /// The leader claim of member `context`, when it is reachable and says `isLeader: true`.
    async fn leader_claim_of(&mut self, context: &str) -> Option<LeaderClaim> {
        if !self.member_clients.contains_key(context) {
            let config = self.members.as_ref()?.config_for(context).await.ok()?;
            let client = Client::try_from(config).ok()?;
            self.member_clients.insert(context.to_owned(), client);
        }
        let client = self.member_clients.get(context)?.clone();
        let api: Api<AmkoCluster> = Api::namespaced(client, &self.namespace);
        let list = tokio::time::timeout(Duration::from_secs(3), api.list(&ListParams::default()))
            .await
            .ok()?
            .ok()?;
        list.items
            .into_iter()
            .find(|c| c.spec.is_leader)
            .map(|c| LeaderClaim {
                since: c.status.and_then(|s| s.leader_since).unwrap_or_default(),
                context: context.to_owned(),
            })
    }
}
