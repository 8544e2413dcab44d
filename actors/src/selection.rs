//! The SelectionActor: holds the world view (`amko::state::World`), fed by the ClusterActors with
//! observations and by the PolicyActor with the policy it accepted; runs selection, opens the boot
//! gate (`amko::state::boot`), and routes each changed GslbService's inputs to its
//! GslbServiceActor, starting one on demand.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use amko::ingest::{HostRuleInfo, Ingested, NamespaceInfo, ObjectKind};
use amko::page::PageRequest;
use amko::state::boot::{BootGate, BootStep, Signal};
use amko::state::cluster_watch;
use amko::state::{ObjectId, World};
use amko::vocab::{GsKey, HostRuleOverrides, InstanceSettings, Notice, Policy};
use serde_json::{Value, json};

use crate::avi_writer::{AviActor, BootSnapshot, ClusterSynced, FallbackPki, WatchFallbackPki};
use crate::gslb_service::{GslbServiceActor, HandedOver, InputsChanged, share_handed_over};
use crate::status::EventSink;
use crate::telemetry::{ClusterLabels, Inbox, Mailbox, Metrics, Outbox, OwnMailbox, count_value};

/// How many changed GslbServices one turn of the actor routes. A GDP edit at 200,000 objects
/// changes 40,000: routed in one turn, their inputs (copies of every member) all waited in the
/// GslbService actors' mailboxes at once, and no desired state reached the writer until the last
/// was routed. A slice costs a few milliseconds.
const ROUTE_SLICE: usize = 500;

/// What a member cluster reports.
#[derive(Debug)]
pub enum ClusterChange {
    Object(ObjectId, Ingested),
    ObjectGone(ObjectId),
    /// After a (re)list: every object of `kind` not in the set is gone.
    Relisted(ObjectKind, BTreeSet<ObjectId>),
    Namespace(NamespaceInfo),
    NamespaceGone(String),
    NamespacesRelisted(BTreeSet<String>),
    HostRule {
        namespace: String,
        name: String,
        info: Option<HostRuleInfo>,
    },
    HostRulesRelisted(BTreeSet<(String, String)>),
    /// The first list of every watched kind is done.
    Synced,
    /// Watches healthy (`true`) or failing, with the reason.
    Connection(bool, String),
}

#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ClusterEvent {
    pub cluster: String,
    pub change: ClusterChange,
}

/// The accepted GDP changed (`None`: no accepted GDP; every GslbService goes).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPolicy(pub Option<Policy>);

/// The accepted GSLBHostRules changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetOverrides(pub Vec<HostRuleOverrides>);

/// What changed in the accepted GSLBHostRule overrides since the last `SetOverrides` or
/// `ChangeOverrides`: replaced ones, and (tenant, FQDN) pairs that lost theirs.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChangeOverrides {
    pub upserts: Vec<HostRuleOverrides>,
    pub removed: Vec<(String, String)>,
}

/// Who should be told when the GDP's defaultDomain changes (Routes are re-read with it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RegisterDomainListener(pub Inbox<DefaultDomain>);

#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct DefaultDomain(pub Option<String>);

/// One page of `/debug/members` or `/debug/policy`. Only the page's items are built, so the
/// answer holds up the actor for what one page costs.
#[derive(Message)]
#[rtype(result = "Value")]
pub enum DebugQuery {
    Members(PageRequest),
    Policy(PageRequest),
}

/// The selection half of an `amko explain` report (for `/debug/explain`).
#[derive(Message)]
#[rtype(result = "amko::explain_report::ExplainReport")]
pub struct ExplainSelection(pub amko::explain_report::Subject);

pub struct SelectionActor {
    world: World,
    settings: Arc<InstanceSettings>,
    avi: Outbox<AviActor>,
    metrics: Arc<Metrics>,
    mailbox: OwnMailbox,
    window: Duration,
    services: HashMap<GsKey, Outbox<GslbServiceActor>>,
    /// What the GslbService actors last handed to the writer (the boot snapshot shares it).
    handed_over: HandedOver,
    /// GslbServices whose inputs changed and are not routed yet (see [`ROUTE_SLICE`]).
    unrouted: BTreeSet<GsKey>,
    /// A slice of `unrouted` is scheduled.
    routing_scheduled: bool,
    domain_listeners: Vec<Inbox<DefaultDomain>>,
    connection: BTreeMap<String, (bool, String)>,
    /// The controller's fallback PKI profile, for GslbServices with site persistence and none of
    /// their own.
    fallback_pki: Option<String>,
    boot: BootGate,
    boot_timeout: Duration,
    /// When this instance started: the observation time of everything in the boot snapshot.
    started: Instant,
    events: EventSink,
}

impl SelectionActor {
    pub fn new(
        settings: InstanceSettings,
        avi: Outbox<AviActor>,
        mailbox: &Mailbox,
        metrics: Arc<Metrics>,
        window: Duration,
        boot_timeout: Duration,
        events: EventSink,
    ) -> Self {
        let clusters = settings.member_clusters.clone();
        SelectionActor {
            world: World::new(settings.clone()),
            settings: Arc::new(settings),
            avi,
            metrics,
            mailbox: mailbox.owned_by_actor(),
            window,
            services: HashMap::new(),
            handed_over: HandedOver::default(),
            unrouted: BTreeSet::new(),
            routing_scheduled: false,
            domain_listeners: Vec::new(),
            connection: BTreeMap::new(),
            fallback_pki: None,
            boot: BootGate::new(clusters),
            boot_timeout,
            started: Instant::now(),
            events,
        }
    }

    /// Tells the boot gate what arrived, and does what it says.
    fn boot_signal(&mut self, signal: Signal) {
        match self.boot.on(signal) {
            BootStep::Wait => {}
            BootStep::Open { unsynced } => self.send_snapshot(unsynced),
            BootStep::Synced(cluster) => {
                self.avi.do_send(ClusterSynced(cluster));
            }
        }
    }

    /// Hands the writer its boot snapshot: the desired state of every GslbService.
    fn send_snapshot(&mut self, unsynced: BTreeSet<String>) {
        if !unsynced.is_empty() {
            tracing::warn!(
                ?unsynced,
                "boot timeout: converging without these clusters; GslbServices with their members stay untouched"
            );
        }
        let fallback_pki = self.fallback_pki.as_deref();
        let desired: amko::avi::converge::DesiredMap = self
            .world
            .keys()
            .filter_map(|k| {
                self.world
                    .desired(k, fallback_pki)
                    .map(|d| (k.clone(), share_handed_over(&self.handed_over, k, d)))
            })
            .collect();
        self.avi.do_send(BootSnapshot {
            desired,
            unsynced,
            observed_at: self.started,
        });
    }

    /// Sends fresh inputs to the actor of every changed GslbService: at once when they are few,
    /// in slices of [`ROUTE_SLICE`] when a change touched many (a GDP edit touches every one).
    fn route(&mut self, changed: BTreeSet<GsKey>, ctx: &mut Context<Self>) {
        if changed.len() <= ROUTE_SLICE {
            for key in changed {
                // Routed now with its current inputs: a pending slice need not route it again.
                self.unrouted.remove(&key);
                self.route_one(key);
            }
            return;
        }
        self.unrouted.extend(changed);
        self.route_slice(ctx);
    }

    /// Routes the next slice of `unrouted` and schedules the one after it behind the thread's
    /// other work, so the GslbService actors (on this thread) build and hand on the first desired
    /// states while the rest wait here as keys, not as queued inputs.
    fn route_slice(&mut self, ctx: &mut Context<Self>) {
        for _ in 0..ROUTE_SLICE {
            let Some(key) = self.unrouted.pop_first() else {
                break;
            };
            self.route_one(key);
        }
        if !self.unrouted.is_empty() && !self.routing_scheduled {
            self.routing_scheduled = true;
            self.mailbox.clone().run_after_yield(ctx, |act, ctx| {
                act.routing_scheduled = false;
                act.route_slice(ctx);
            });
        }
    }

    fn route_one(&mut self, key: GsKey) {
        let inputs = self.world.inputs_for(&key);
        let empty = inputs.members.is_empty();
        if empty && !self.services.contains_key(&key) {
            // No actor means its last desired state (none) was already handed over.
            return;
        }
        let service = match self.services.get(&key) {
            Some(entry) if entry.connected() => entry.clone(),
            _ => {
                let entry = self.spawn_service(&key);
                self.services.insert(key.clone(), entry.clone());
                entry
            }
        };
        service.do_send(InputsChanged {
            inputs,
            fallback_pki: self.fallback_pki.clone(),
        });
        if empty {
            self.services.remove(&key);
        }
    }

    fn emit(&self, notice: Notice) {
        self.events
            .emit(notice.warning, notice.reason, notice.message);
    }

    fn spawn_service(&self, key: &GsKey) -> Outbox<GslbServiceActor> {
        let actor = GslbServiceActor::new(
            key.clone(),
            self.settings.clone(),
            self.avi.clone(),
            self.metrics.clone(),
            self.window,
            self.handed_over.clone(),
        );
        let mailbox = actor.mailbox();
        mailbox.outbox(actor.start())
    }

    fn apply(&mut self, cluster: &str, change: ClusterChange) -> BTreeSet<GsKey> {
        match change {
            ClusterChange::Object(object, ingested) => self.world.upsert_object(object, ingested),
            ClusterChange::ObjectGone(object) => self.world.delete_object(&object),
            ClusterChange::Relisted(kind, keep) => self.world.retain_objects(cluster, kind, &keep),
            ClusterChange::Namespace(info) => self.world.upsert_namespace(info),
            ClusterChange::NamespaceGone(name) => self.world.delete_namespace(cluster, &name),
            ClusterChange::NamespacesRelisted(keep) => self.world.retain_namespaces(cluster, &keep),
            ClusterChange::HostRule {
                namespace,
                name,
                info,
            } => self.world.set_hostrule(cluster, &namespace, &name, info),
            ClusterChange::HostRulesRelisted(keep) => self.world.retain_hostrules(cluster, &keep),
            ClusterChange::Synced => {
                self.emit(cluster_watch::synced_notice(cluster));
                self.boot_signal(Signal::ClusterSynced(cluster.to_owned()));
                BTreeSet::new()
            }
            ClusterChange::Connection(up, reason) => {
                let was_up = self.connection.get(cluster).map(|(u, _)| *u);
                if up {
                    tracing::info!(cluster, "member cluster connected");
                } else {
                    tracing::warn!(cluster, reason = %reason, "member cluster watches failing; keeping its last known members");
                }
                if let Some(notice) = cluster_watch::connection_notice(cluster, was_up, up, &reason)
                {
                    self.emit(notice);
                }
                self.metrics
                    .cluster_connected
                    .get_or_create(&ClusterLabels {
                        cluster: cluster.to_owned(),
                    })
                    .set(i64::from(up));
                self.connection.insert(cluster.to_owned(), (up, reason));
                BTreeSet::new()
            }
        }
    }
}

impl Actor for SelectionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.avi.do_send(WatchFallbackPki {
            recipient: self.mailbox.outbox(ctx.address()).recipient(),
        });
        let mailbox = self.mailbox.clone();
        mailbox.run_later(ctx, self.boot_timeout, |act, _| {
            act.boot_signal(Signal::TimedOut);
        });
        // Counting is O(objects): refresh the gauge now and then, not per event.
        mailbox.run_interval(ctx, Duration::from_secs(5), |act, _| {
            for cluster in act.connection.keys() {
                act.metrics
                    .cluster_objects
                    .get_or_create(&ClusterLabels {
                        cluster: cluster.clone(),
                    })
                    .set(count_value(act.world.observation_count_of(cluster)));
            }
        });
    }
}

impl Handler<ClusterEvent> for SelectionActor {
    type Result = ();

    fn handle(&mut self, msg: ClusterEvent, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            let changed = self.apply(&msg.cluster, msg.change);
            self.route(changed, ctx);
        })
    }
}

impl Handler<SetPolicy> for SelectionActor {
    type Result = ();

    fn handle(&mut self, msg: SetPolicy, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            let old_domain = self.world.policy().and_then(|p| p.default_domain.clone());
            let new_domain = msg.0.as_ref().and_then(|p| p.default_domain.clone());
            let changed = self.world.set_policy(msg.0);
            self.route(changed, ctx);
            self.boot_signal(Signal::Policy);
            if old_domain != new_domain {
                for listener in &self.domain_listeners {
                    listener.do_send(DefaultDomain(new_domain.clone()));
                }
            }
        })
    }
}

impl Handler<SetOverrides> for SelectionActor {
    type Result = ();

    fn handle(&mut self, msg: SetOverrides, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            let changed = self.world.set_overrides(msg.0);
            self.route(changed, ctx);
            self.boot_signal(Signal::Overrides);
        })
    }
}

impl Handler<ChangeOverrides> for SelectionActor {
    type Result = ();

    fn handle(&mut self, msg: ChangeOverrides, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            let changed = self.world.change_overrides(msg.upserts, &msg.removed);
            self.route(changed, ctx);
        })
    }
}

impl Handler<FallbackPki> for SelectionActor {
    type Result = ();

    fn handle(&mut self, msg: FallbackPki, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            if self.fallback_pki != msg.0 {
                self.fallback_pki = msg.0;
                let changed = self.world.keys_using_fallback_pki();
                self.route(changed, ctx);
            }
            self.boot_signal(Signal::FallbackPki);
        })
    }
}

impl Handler<RegisterDomainListener> for SelectionActor {
    type Result = ();

    fn handle(&mut self, msg: RegisterDomainListener, _: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            let domain = self.world.policy().and_then(|p| p.default_domain.clone());
            msg.0.do_send(DefaultDomain(domain));
            self.domain_listeners.push(msg.0);
        })
    }
}

impl Handler<DebugQuery> for SelectionActor {
    type Result = MessageResult<DebugQuery>;

    fn handle(&mut self, msg: DebugQuery, _: &mut Context<Self>) -> Self::Result {
        let mailbox = self.mailbox.clone();
        mailbox.handle(|| self.debug_answer(msg))
    }
}

impl Handler<ExplainSelection> for SelectionActor {
    type Result = MessageResult<ExplainSelection>;

    fn handle(&mut self, msg: ExplainSelection, _: &mut Context<Self>) -> Self::Result {
        let mailbox = self.mailbox.clone();
        mailbox.handle(|| {
            MessageResult(amko::explain_report::ExplainReport::from_world(
                &self.world,
                msg.0,
                "operator",
            ))
        })
    }
}

impl SelectionActor {
    fn debug_answer(&self, msg: DebugQuery) -> MessageResult<DebugQuery> {
        MessageResult(match msg {
            DebugQuery::Members(page) => {
                let members = page.take(self.world.reports().map(|r| {
                    json!({
                        "object": r.id.to_string(),
                        "hostname": r.hostname,
                        "vip": r.vip,
                        "selected": r.selected_into.is_some(),
                        "gslbservice": r.selected_into.map(|k| k.to_string()),
                        "reason": r.reason,
                    })
                }));
                let skipped = page.take(self.world.skipped().flat_map(|(object, reasons)| {
                    reasons.iter().map(move |s| {
                        json!({
                            "object": amko::model::identity::object_identity(object.kind, &object.cluster, &object.namespace, &object.name),
                            "host": s.host,
                            "reason": s.reason,
                        })
                    })
                }));
                let clusters: BTreeMap<&String, Value> = self
                    .connection
                    .iter()
                    .map(|(c, (up, reason))| (c, json!({"connected": up, "reason": reason})))
                    .collect();
                // One token pages both lists: the next page continues whichever goes on.
                let next = members.next.or(skipped.next);
                json!({"members": members.items, "skipped": skipped.items, "clusters": clusters, "next": next})
            }
            DebugQuery::Policy(page) => {
                let policy = self.world.policy().map(|p| format!("{p:#?}"));
                let keys = page.take(self.world.keys().map(|k| k.to_string()));
                json!({
                    "instance": format!("{:#?}", self.settings),
                    "policy": policy,
                    "gslbservices": keys.items,
                    "next": keys.next,
                })
            }
        })
    }
}
