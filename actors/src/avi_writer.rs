//! The AviActor: the only code that writes to the controller. It keeps the cache of what the
//! controller holds, a last-write-wins queue of desired GslbServices (a newer desired state
//! replaces a queued one), bounded concurrency with strict per-GslbService ordering, the timers of
//! retries and holds, and a periodic refresh that repairs drift and deletes owned orphans. What to
//! write and when is decided by `amko::avi::converge` (boot phases, write gate, plans), what to do
//! after a failure by `amko::avi::retry`, how a refresh meets the writes made while it was in
//! flight by `amko::avi::refresh` (each listed page merged into the cache as it arrives); this
//! actor carries their answers out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use amko::avi::converge::{self, AfterLoad, DesiredMap, Gate, Phase, RefreshTick, Step};
use amko::avi::refresh::{RefreshMark, WriteLedger};
use amko::avi::retry::{self, Hold, Problem, Retry, WriteVerdict};
use amko::avi::sync::{CacheChange, ObjectType, execute, federated_pki_profiles, list_owned};
use amko::avi::{AviClient, AviError};
use amko::explain_report::{ExplainReport, WriteRecord};
use amko::model::DesiredGs;
use amko::model::plan::{ControllerObject, ControllerState, Repair, Write, WriteKind};
use amko::vocab::GsKey;
use serde_json::{Value, json};

use crate::status::EventSink;
use crate::telemetry::{Inbox, Mailbox, Metrics, OwnMailbox, WriteLabels};

/// Writer settings.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    pub created_by: String,
    pub default_tenant: String,
    pub refresh_interval: Duration,
    pub max_in_flight: usize,
    /// The longest a 429's `Retry-After` may hold writes (`--max-retry-after-secs`).
    pub max_rate_limit_hold: Duration,
}

/// The desired state of one GslbService (`None`: it must not exist), from its GslbService actor.
/// Shared with that actor (which compares the next state with it), so it is held once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Desired {
    pub key: GsKey,
    pub desired: Option<Arc<DesiredGs>>,
    /// When the earliest observation behind this state arrived.
    pub observed_at: Instant,
}

/// A member cluster finished its first list.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ClusterSynced(pub String);

/// Boot: the complete desired state once the policy is accepted and every reachable member
/// cluster has listed its objects. Until it arrives nothing is written; GslbServices on the
/// controller that list members of `unsynced` clusters are left alone until those clusters list.
#[derive(Message)]
#[rtype(result = "()")]
pub struct BootSnapshot {
    pub desired: DesiredMap,
    pub unsynced: BTreeSet<String>,
    pub observed_at: Instant,
}

/// Asks for one page of the writer's view of the GslbServices (for `/debug/gslbservices`): only
/// that page is built, so the answer holds up the writer for what one page costs.
#[derive(Message)]
#[rtype(result = "Value")]
pub struct DebugGslbServices {
    pub name: Option<String>,
    pub page: amko::page::PageRequest,
}

/// Completes the GslbService half of an `amko explain` report (for `/debug/explain`): the
/// writer's desired copy, the controller's copy, their difference, the last write and last error.
#[derive(Message)]
#[rtype(result = "ExplainReport")]
pub struct ExplainWriter(pub ExplainReport);

/// The last write and last failed write of one GslbService, for `amko explain`.
#[derive(Clone, Debug, Default)]
struct WriteHistory {
    last_write: Option<WriteRecord>,
    last_error: Option<WriteRecord>,
}

/// Whether the boot sync is done (for `/readyz`).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct IsBooted;

/// Reports a GslbService whose writes the controller rejected, or an object in the way.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct WriteProblem {
    pub key: GsKey,
    /// `None` clears an earlier problem.
    pub message: Option<String>,
}

/// The fallback PKI profile changed (`None`: the controller has no federated PKI profile).
/// GslbServices with site persistence and no PKI profile of their own are built with it.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct FallbackPki(pub Option<String>);

/// Who builds GslbServices and so must hear of the fallback PKI profile: told the current one
/// once it is known, then every change.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WatchFallbackPki {
    pub recipient: Inbox<FallbackPki>,
}

/// One page of a read of the controller, merged into the cache as it arrives (the read is
/// never held whole next to the cache).
struct ListedPage {
    mark: RefreshMark,
    object_type: ObjectType,
    objects: Vec<ControllerObject>,
}
impl Message for ListedPage {
    type Result = ();
}

/// The end of a read of the controller, after its pages: whether every page was read and, when
/// listing them worked, the names of its federated PKI profiles (sorted).
struct Loaded {
    result: Result<Option<Vec<String>>, AviError>,
    refresh: bool,
    /// The read, as the ledger named it when it started.
    mark: RefreshMark,
}
impl Message for Loaded {
    type Result = ();
}

struct WriteDone {
    key: GsKey,
    changes: Vec<CacheChange>,
    error: Option<AviError>,
    writes: Vec<WriteKind>,
    observed_at: Option<Instant>,
}
impl Message for WriteDone {
    type Result = ();
}

struct LeaderChecked(Result<bool, AviError>);
impl Message for LeaderChecked {
    type Result = ();
}

pub struct AviActor {
    client: Arc<AviClient>,
    config: WriterConfig,
    metrics: Arc<Metrics>,
    mailbox: OwnMailbox,
    problems: Recipient<WriteProblem>,
    phase: Phase,
    cache: ControllerState,
    /// The writes a read in flight may have missed.
    ledger: WriteLedger,
    /// The fallback PKI profile announced last (`None`: not read yet).
    fallback_pki: Option<Option<String>>,
    pki_watchers: Vec<WatchFallbackPki>,
    desired: DesiredMap,
    /// When the earliest unwritten observation of a key arrived.
    observed: BTreeMap<GsKey, Instant>,
    queue: VecDeque<GsKey>,
    queued: BTreeSet<GsKey>,
    in_flight: BTreeSet<GsKey>,
    attempts: BTreeMap<GsKey, usize>,
    failed: BTreeMap<GsKey, String>,
    /// Per GslbService written since start: its last write and last failure (`amko explain`),
    /// dropped once nothing is left of it.
    history: BTreeMap<GsKey, WriteHistory>,
    unsynced: BTreeSet<String>,
    snapshot: Option<BootSnapshot>,
    paused_until: Option<Instant>,
    not_leader: bool,
    refreshing: bool,
    /// A periodic refresh came due while writes were queued: it starts once the queue has drained
    /// and the last write landed.
    refresh_owed: bool,
    /// Queued GslbServices that could be written (not waiting for a member cluster's first
    /// list), as the last pump left them.
    backlog: usize,
    events: EventSink,
    /// The controller failed at transport level or with 5xx since the last success.
    unreachable: bool,
    started: Instant,
    /// When the last read of the controller ended (the next periodic one is due an interval
    /// later).
    last_refresh_ended: Option<Instant>,
}

impl AviActor {
    pub fn new(
        client: Arc<AviClient>,
        config: WriterConfig,
        metrics: Arc<Metrics>,
        mailbox: &Mailbox,
        problems: Recipient<WriteProblem>,
        events: EventSink,
    ) -> Self {
        AviActor {
            unsynced: BTreeSet::new(),
            client,
            config,
            metrics,
            mailbox: mailbox.owned_by_actor(),
            problems,
            phase: Phase::LoadingCache,
            cache: ControllerState::default(),
            ledger: WriteLedger::new(),
            fallback_pki: None,
            pki_watchers: Vec::new(),
            desired: DesiredMap::new(),
            observed: BTreeMap::new(),
            queue: VecDeque::new(),
            queued: BTreeSet::new(),
            in_flight: BTreeSet::new(),
            attempts: BTreeMap::new(),
            failed: BTreeMap::new(),
            history: BTreeMap::new(),
            snapshot: None,
            paused_until: None,
            not_leader: false,
            refreshing: false,
            refresh_owed: false,
            backlog: 0,
            events,
            unreachable: false,
            started: Instant::now(),
            last_refresh_ended: None,
        }
    }

    fn enqueue(&mut self, key: GsKey) {
        if self.queued.insert(key.clone()) {
            self.queue.push_back(key);
        }
    }

    /// Reads the controller: the boot read now; a refresh (periodic, postponed or retried) now,
    /// once the queue drains, or not before boot.
    fn load(&mut self, ctx: &mut Context<Self>, is_refresh: bool) {
        if self.refreshing {
            return;
        }
        match converge::periodic_refresh(self.phase, is_refresh, self.backlog) {
            RefreshTick::Start => {}
            RefreshTick::Postpone => {
                tracing::debug!(
                    backlog = self.backlog,
                    "refresh postponed: the writer has a backlog"
                );
                self.refresh_owed = true;
                return;
            }
            RefreshTick::Skip => return,
        }
        self.refreshing = true;
        let mark = self.ledger.refresh_started();
        let client = self.client.clone();
        let created_by = self.config.created_by.clone();
        let tenant = self.config.default_tenant.clone();
        let addr = self.mailbox.outbox(ctx.address());
        actix::spawn(async move {
            let result = async {
                let pages = addr.clone();
                list_owned(&client, &created_by, &tenant, |object_type, objects| {
                    pages.do_send(ListedPage {
                        mark,
                        object_type,
                        objects,
                    });
                })
                .await?;
                let pki = federated_pki_profiles(&client)
                    .await
                    .inspect_err(
                        |err| tracing::warn!(error = %err, "listing federated PKI profiles failed"),
                    )
                    .ok();
                Ok(pki)
            }
            .await;
            addr.do_send(Loaded {
                result,
                refresh: is_refresh,
                mark,
            });
        });
    }

    /// Opens the boot gate once the cache is loaded and the snapshot has arrived.
    fn maybe_become_ready(&mut self, ctx: &mut Context<Self>) {
        if !self.phase.boots(self.snapshot.is_some()) {
            return;
        }
        let Some(snapshot) = self.snapshot.take() else {
            return;
        };
        // The snapshot is newer than anything that arrived before it; where equal, the copy
        // shared with the GslbService actor stays.
        self.desired = converge::adopt_snapshot(&self.desired, snapshot.desired);
        self.unsynced = snapshot.unsynced;
        for key in self.desired.keys() {
            self.observed
                .entry(key.clone())
                .or_insert(snapshot.observed_at);
        }
        self.phase = Phase::Ready;
        tracing::info!(
            unsynced = ?self.unsynced,
            desired = self.desired.len(),
            cached = self.cache.gslb_services().len(),
            "boot sync: converging the controller"
        );
        self.queue_everything();
        self.pump(ctx);
    }

    fn queue_everything(&mut self) {
        for key in converge::keys_to_converge(self.desired.keys(), &self.cache) {
            self.enqueue(key);
        }
    }

    /// Tells the builders about a new fallback PKI profile.
    fn announce_fallback_pki(&mut self, federated: Option<&[String]>) {
        let known = self.fallback_pki.as_ref().map(Option::as_deref);
        let Some(fallback) = converge::fallback_pki_update(known, federated) else {
            return;
        };
        tracing::info!(fallback_pki_profile = ?fallback, "fallback PKI profile");
        for watcher in &self.pki_watchers {
            watcher.recipient.do_send(FallbackPki(fallback.clone()));
        }
        self.fallback_pki = Some(fallback);
    }

    /// Starts as many queued writes as the concurrency bound allows.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        match converge::gate(
            self.phase,
            self.not_leader,
            self.paused_until,
            Instant::now(),
        ) {
            Gate::Closed => return,
            Gate::Open { resumed } => {
                if resumed {
                    self.paused_until = None;
                }
            }
        }
        let mut deferred = Vec::new();
        while self.in_flight.len() < self.config.max_in_flight {
            let Some(key) = self.queue.pop_front() else {
                break;
            };
            self.queued.remove(&key);
            let step = converge::step(
                &key,
                self.in_flight.contains(&key),
                &self.unsynced,
                &self.desired,
                &self.cache,
                &self.config.created_by,
            );
            match step {
                Step::Defer => deferred.push(key),
                Step::Idle { conflict: None } => {
                    self.metrics.writes_skipped_in_sync.inc();
                    self.clear_problem(&key);
                    self.observed.remove(&key);
                    self.forget_if_gone(&key);
                }
                Step::Idle {
                    conflict: Some(conflict),
                } => {
                    self.report_conflict(&key, conflict);
                    self.observed.remove(&key);
                }
                Step::Write { writes, conflict } => {
                    if let Some(conflict) = conflict {
                        self.report_conflict(&key, conflict);
                    }
                    self.start_writes(ctx, key, writes);
                }
            }
        }
        // Deferred keys wait for a member cluster, not for budget: they hold no refresh back.
        self.backlog = self.queue.len();
        for key in deferred {
            self.enqueue(key);
        }
        // After the last write has landed: the read then neither delays it nor misses it.
        if self.refresh_owed && self.backlog == 0 && self.in_flight.is_empty() {
            self.refresh_owed = false;
            self.load(ctx, true);
        }
    }

    fn start_writes(&mut self, ctx: &mut Context<Self>, key: GsKey, writes: Vec<Write>) {
        self.in_flight.insert(key.clone());
        let client = self.client.clone();
        let created_by = self.config.created_by.clone();
        let observed_at = self.observed.remove(&key);
        let addr = self.mailbox.outbox(ctx.address());
        actix::spawn(async move {
            let mut changes = Vec::new();
            let mut done = Vec::new();
            let mut error = None;
            for write in &writes {
                match execute(&client, write, &created_by).await {
                    Ok(change) => {
                        changes.push(change);
                        done.push(write.kind());
                    }
                    Err(err) => {
                        tracing::warn!(gslbservice = %key, write = %write.describe(), error = %err, "controller write failed");
                        error = Some(err);
                        break;
                    }
                }
            }
            addr.do_send(WriteDone {
                key,
                changes,
                error,
                writes: done,
                observed_at,
            });
        });
    }

    /// Reports objects in the way of `key`'s writes, once per distinct message.
    fn report_conflict(&mut self, key: &GsKey, message: String) {
        if self.failed.get(key) != Some(&message) {
            tracing::warn!(gslbservice = %key, "{message}");
            self.failed.insert(key.clone(), message.clone());
            self.problems.do_send(WriteProblem {
                key: key.clone(),
                message: Some(message),
            });
        }
    }

    fn clear_problem(&mut self, key: &GsKey) {
        if self.failed.remove(key).is_some() {
            self.problems.do_send(WriteProblem {
                key: key.clone(),
                message: None,
            });
        }
    }

    fn retry_later(&mut self, ctx: &mut Context<Self>, key: GsKey, delay: Duration) {
        self.mailbox.clone().run_later(ctx, delay, move |act, ctx| {
            act.enqueue(key);
            act.pump(ctx);
        });
    }

    fn publish_gauges(&self) {
        self.metrics.gslb_services.set(self.desired.len() as i64);
        let members = converge::member_count(&self.desired);
        self.metrics.members.set(members as i64);
    }

    /// Counts finished writes; those of the refresh (no observation behind them) are repairs.
    fn count_writes(&self, msg: &WriteDone) {
        let by_refresh = msg.observed_at.is_none();
        for kind in &msg.writes {
            let labels = WriteLabels {
                kind: kind.label().to_owned(),
            };
            self.metrics.writes.get_or_create(&labels).inc();
            let repairs = match kind.repair(by_refresh) {
                Some(Repair::Drift) => &self.metrics.drift_repairs,
                Some(Repair::Orphan) => &self.metrics.orphan_deletions,
                None => continue,
            };
            repairs.inc();
        }
    }

    /// Remembers what was just written for `msg.key`, and the error that stopped it.
    fn record_history(&mut self, msg: &WriteDone) {
        if msg.writes.is_empty() && msg.error.is_none() {
            return;
        }
        let record = WriteRecord {
            at: k8s_openapi::jiff::Timestamp::now().to_string(),
            writes: msg
                .writes
                .iter()
                .map(|w| w.label().replace('_', " "))
                .collect(),
            error: msg.error.as_ref().map(ToString::to_string),
        };
        let history = self.history.entry(msg.key.clone()).or_default();
        if record.error.is_some() {
            history.last_error = Some(record.clone());
        }
        history.last_write = Some(record);
    }

    /// Drops the write history of `key` once nothing is left of it (deleted, or never created
    /// and no longer desired).
    fn forget_if_gone(&mut self, key: &GsKey) {
        if converge::forgotten(key, &self.desired, &self.cache) {
            self.history.remove(key);
        }
    }

    /// Does what `retry::decide` said about `key`.
    fn carry_out(
        &mut self,
        ctx: &mut Context<Self>,
        key: GsKey,
        observed_at: Option<Instant>,
        verdict: WriteVerdict,
    ) {
        match (verdict.converged, observed_at) {
            (true, Some(at)) => self.metrics.convergence.observe(at.elapsed().as_secs_f64()),
            (false, Some(at)) => {
                self.observed.entry(key.clone()).or_insert(at);
            }
            (_, None) => {}
        }
        if verdict.attempts == 0 {
            self.attempts.remove(&key);
        } else {
            self.attempts.insert(key.clone(), verdict.attempts);
        }
        match verdict.problem {
            Problem::Keep => {}
            Problem::Clear => self.clear_problem(&key),
            Problem::Report(message) => {
                self.failed.insert(key.clone(), message.clone());
                self.problems.do_send(WriteProblem {
                    key: key.clone(),
                    message: Some(message),
                });
            }
        }
        match verdict.hold {
            Hold::No => {}
            Hold::For(wait) => self.paused_until = Some(Instant::now() + wait),
            Hold::UntilLeader { recheck_after } => {
                if !self.not_leader {
                    tracing::error!(
                        "the controller says it is not the GSLB leader: writes paused until it is"
                    );
                }
                self.not_leader = true;
                self.mailbox
                    .clone()
                    .run_later(ctx, recheck_after, |act, ctx| act.check_leader(ctx));
            }
        }
        match verdict.retry {
            Retry::Now => self.enqueue(key),
            Retry::After(delay) => self.retry_later(ctx, key, delay),
            Retry::Never => {}
        }
    }

    fn check_leader(&mut self, ctx: &mut Context<Self>) {
        let client = self.client.clone();
        let addr = self.mailbox.outbox(ctx.address());
        actix::spawn(async move {
            addr.do_send(LeaderChecked(client.is_gslb_leader().await));
        });
    }
}

impl Actor for AviActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.load(ctx, false);
        let refresh = self.config.refresh_interval;
        let mailbox = self.mailbox.clone();
        // Due an interval after the previous read ended; then now, once the queue drains, or not
        // before boot (`load`).
        mailbox.run_interval(ctx, converge::refresh_check_every(refresh), |act, ctx| {
            if converge::refresh_due(
                Instant::now(),
                act.started,
                act.last_refresh_ended,
                act.config.refresh_interval,
            ) {
                act.load(ctx, true);
            }
        });
        // The gauges sum over every GslbService: once a second, not on every pump.
        mailbox.run_interval(ctx, Duration::from_secs(1), |act, _| act.publish_gauges());
        // A paused writer (429, maintenance) resumes on its own.
        mailbox.run_interval(ctx, Duration::from_millis(250), |act, ctx| {
            if act.paused_until.is_some() {
                act.pump(ctx);
            }
        });
    }
}

impl Handler<Desired> for AviActor {
    type Result = ();

    fn handle(&mut self, msg: Desired, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            match msg.desired {
                Some(d) => {
                    self.desired.insert(msg.key.clone(), d);
                }
                None => {
                    self.desired.remove(&msg.key);
                }
            }
            self.observed
                .entry(msg.key.clone())
                .or_insert(msg.observed_at);
            self.attempts.remove(&msg.key);
            self.enqueue(msg.key);
            self.pump(ctx);
        })
    }
}

impl Handler<ClusterSynced> for AviActor {
    type Result = ();

    fn handle(&mut self, msg: ClusterSynced, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            if self.unsynced.remove(&msg.0) && self.phase.is_ready() {
                tracing::info!(cluster = %msg.0, "member cluster listed: its GslbServices may be written now");
                self.queue_everything();
                self.pump(ctx);
            }
        })
    }
}

impl Handler<BootSnapshot> for AviActor {
    type Result = ();

    fn handle(&mut self, msg: BootSnapshot, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            self.snapshot = Some(msg);
            self.maybe_become_ready(ctx);
        })
    }
}

impl Handler<WatchFallbackPki> for AviActor {
    type Result = ();

    fn handle(&mut self, msg: WatchFallbackPki, _: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            if let Some(fallback) = &self.fallback_pki {
                msg.recipient.do_send(FallbackPki(fallback.clone()));
            }
            self.pki_watchers.push(msg);
        })
    }
}

impl Handler<Loaded> for AviActor {
    type Result = ();

    fn handle(&mut self, msg: Loaded, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            self.refreshing = false;
            self.last_refresh_ended = Some(Instant::now());
            let is_refresh = msg.refresh;
            match msg.result {
                Ok(pki) => {
                    // Every page is merged: what the read lacked is gone, except what a write
                    // made meanwhile (writes still in flight update the cache when done).
                    let end = self.ledger.refreshed(msg.mark, &mut self.cache);
                    tracing::debug!(
                        removed = end.removed,
                        cached = self.cache.gslb_services().len(),
                        "controller read merged into the cache"
                    );
                    self.announce_fallback_pki(pki.as_deref());
                    let (phase, then) = self.phase.after_load(is_refresh);
                    self.phase = phase;
                    match then {
                        AfterLoad::TryBoot => self.maybe_become_ready(ctx),
                        AfterLoad::ConvergeAll => {
                            self.queue_everything();
                            self.pump(ctx);
                        }
                        AfterLoad::Nothing => {}
                    }
                }
                Err(err) => {
                    // The pages merged stay (newer than what they replaced); nothing is removed.
                    self.ledger.refresh_failed(msg.mark);
                    tracing::warn!(error = %err, "reading the controller failed; retrying");
                    self.mailbox
                        .clone()
                        .run_later(ctx, retry::RELOAD_AFTER, move |act, ctx| {
                            act.load(ctx, is_refresh)
                        });
                }
            }
        })
    }
}

impl Handler<ListedPage> for AviActor {
    type Result = ();

    fn handle(&mut self, msg: ListedPage, _: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            // Objects written since the read started keep the cache's copy (the page may
            // predate the write).
            self.ledger
                .listed(msg.mark, msg.object_type, msg.objects, &mut self.cache);
        })
    }
}

impl Handler<WriteDone> for AviActor {
    type Result = ();

    fn handle(&mut self, msg: WriteDone, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            self.in_flight.remove(&msg.key);
            self.count_writes(&msg);
            self.record_history(&msg);
            for change in msg.changes {
                self.ledger.apply(change, &mut self.cache);
            }
            if msg.error.is_none() {
                self.forget_if_gone(&msg.key);
            }
            if let Some(notice) = retry::reachability(self.unreachable, msg.error.as_ref()) {
                // The warning says it became unreachable, the normal event that it is back.
                self.unreachable = notice.warning;
                self.events
                    .emit(notice.warning, notice.reason, notice.message);
            }
            if let Some(err) = &msg.error {
                let class = WriteLabels {
                    kind: err.kind.class().to_owned(),
                };
                self.metrics.write_errors.get_or_create(&class).inc();
            }
            let attempts = self.attempts.get(&msg.key).copied().unwrap_or(0);
            let seed = RandomState::new().hash_one(&msg.key);
            let verdict = retry::decide(
                &msg.key,
                msg.error.as_ref(),
                attempts,
                seed,
                self.config.max_rate_limit_hold,
            );
            self.carry_out(ctx, msg.key, msg.observed_at, verdict);
            self.pump(ctx);
        })
    }
}

impl Handler<LeaderChecked> for AviActor {
    type Result = ();

    fn handle(&mut self, msg: LeaderChecked, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| match msg.0 {
            Ok(true) => {
                tracing::info!("the controller is the GSLB leader again: resuming writes");
                self.not_leader = false;
                self.pump(ctx);
            }
            Ok(false) | Err(_) => {
                self.mailbox
                    .clone()
                    .run_later(ctx, retry::LEADER_RECHECK, |act, ctx| act.check_leader(ctx));
            }
        })
    }
}

impl Handler<IsBooted> for AviActor {
    type Result = bool;

    fn handle(&mut self, _: IsBooted, _: &mut Context<Self>) -> bool {
        self.mailbox.clone().handle(|| self.phase.is_ready())
    }
}

impl Handler<DebugGslbServices> for AviActor {
    type Result = MessageResult<DebugGslbServices>;

    fn handle(&mut self, msg: DebugGslbServices, _: &mut Context<Self>) -> Self::Result {
        let mailbox = self.mailbox.clone();
        mailbox.handle(|| self.debug_answer(msg))
    }
}

impl Handler<ExplainWriter> for AviActor {
    type Result = MessageResult<ExplainWriter>;

    fn handle(&mut self, msg: ExplainWriter, _: &mut Context<Self>) -> Self::Result {
        let mailbox = self.mailbox.clone();
        mailbox.handle(|| MessageResult(self.explain(msg.0)))
    }
}

impl AviActor {
    /// The writer's half of an explanation: what it would write, what the controller holds.
    fn explain(&self, mut report: ExplainReport) -> ExplainReport {
        report.add_controller_only(
            self.cache
                .gslb_services()
                .keys()
                .map(|(t, n)| (t.as_str(), n.as_str())),
        );
        for gs in &mut report.gslb_services {
            let key = gs.key();
            let desired = self
                .desired
                .get(&key)
                .map(|d| serde_json::to_value(&d.gslb_service).unwrap_or(Value::Null));
            let controller = self
                .cache
                .gslb_services()
                .get(&(key.tenant.clone(), key.fqdn.clone()))
                .map(ControllerObject::body);
            gs.set_copies(desired, controller);
            if let Some(history) = self.history.get(&key) {
                gs.last_write = history.last_write.clone();
                gs.last_error = history.last_error.clone();
            }
            gs.problem = self.failed.get(&key).cloned();
        }
        report
    }

    fn debug_answer(&self, msg: DebugGslbServices) -> MessageResult<DebugGslbServices> {
        // Asked for one name (the benchmark polls this while the writer is busy): look it up
        // per tenant instead of listing every key.
        let page = match msg.name.as_deref() {
            Some(name) => {
                let cached = self.cache.gslb_services_named(name);
                let keys: BTreeSet<GsKey> = self
                    .desired
                    .keys_named(name)
                    .into_iter()
                    .chain(
                        cached
                            .into_iter()
                            .map(|(tenant, fqdn)| GsKey { tenant, fqdn }),
                    )
                    .collect();
                msg.page.take(keys.into_iter())
            }
            None => {
                let mut keys: BTreeSet<(&str, &str)> = self
                    .desired
                    .keys()
                    .map(|k| (k.tenant.as_str(), k.fqdn.as_str()))
                    .collect();
                keys.extend(
                    self.cache
                        .gslb_services()
                        .keys()
                        .map(|(t, n)| (t.as_str(), n.as_str())),
                );
                let page = msg.page.take(keys.into_iter());
                amko::page::Page {
                    items: page
                        .items
                        .into_iter()
                        .map(|(tenant, fqdn)| GsKey {
                            tenant: tenant.to_owned(),
                            fqdn: fqdn.to_owned(),
                        })
                        .collect(),
                    next: page.next,
                }
            }
        };
        let items: Vec<Value> = page
            .items
            .into_iter()
            .map(|key| {
                let desired = self
                    .desired
                    .get(&key)
                    .map(|d| serde_json::to_value(&d.gslb_service).unwrap_or(Value::Null));
                let controller = self
                    .cache
                    .gslb_services()
                    .get(&(key.tenant.clone(), key.fqdn.clone()))
                    .map(ControllerObject::body);
                let differences = match (&desired, &controller) {
                    (Some(d), Some(c)) => json!(amko::model::compare::differences(d, c)),
                    _ => Value::Null,
                };
                json!({
                    "tenant": key.tenant,
                    "name": key.fqdn,
                    "in_sync": differences.as_array().is_some_and(Vec::is_empty),
                    "differences": differences,
                    "queued": self.queued.contains(&key),
                    "writing": self.in_flight.contains(&key),
                    "problem": self.failed.get(&key),
                    "desired": desired,
                    "controller": controller,
                })
            })
            .collect();
        MessageResult(json!({
            "phase": format!("{:?}", self.phase),
            "unsynced_clusters": self.unsynced,
            "not_leader": self.not_leader,
            "queue": self.queue.len(),
            "in_flight": self.in_flight.len(),
            "gslbservices": items,
            "next": page.next,
        }))
    }
}
