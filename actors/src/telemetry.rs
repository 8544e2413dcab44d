//! Metrics of the operator (OpenMetrics text on `/metrics`) and the mailbox instrumentation every
//! actor uses: messages sent, handled, in queue, and handling time, by actor type; plus per-actor
//! instance counters so `/debug/actors` can list the busiest ones.
//!
//! Counting is structural, not a discipline: a sender holds an [`Outbox`] (or an [`Inbox`] for
//! one message type) instead of a bare `Addr`, and it counts every message it carries as sent;
//! the handler wraps its work in [`Mailbox::handle`], which counts it as handled. Stream items
//! ([`Mailbox::counted`]), `notify` ([`Mailbox::notify`]) and timers ([`Mailbox::run_later`],
//! [`Mailbox::run_interval`]) have their own counted entry points. So the depth of a mailbox is
//! the messages sent and not yet taken up by a handler. Depths still saturate at zero (and
//! counts that only grow at their maximum) as a guard; a handled message that was never counted
//! as sent is a counting defect, which `amko_mailbox_depth_underflows_total` shows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::dev::ToEnvelope;
use actix::{
    Actor, Addr, AsyncContext, Context, Handler, MailboxError, Message, Recipient, SpawnHandle,
};
use dashmap::DashMap;
use futures::Stream;
use futures::StreamExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActorLabels {
    pub actor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AviRequestLabels {
    pub method: String,
    pub object: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    pub cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HolderLabels {
    pub holder: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    pub kind: String,
}

/// The kind of a policy object: `GlobalDeploymentPolicy` or `GSLBHostRule`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyKindLabels {
    pub kind: String,
}

fn histogram_seconds() -> Histogram {
    // 100 µs .. ~100 s
    Histogram::new(exponential_buckets(0.0001, 2.5, 16))
}

/// Counters of one actor instance, for `/debug/actors`.
#[derive(Debug, Default)]
pub struct InstanceStats {
    pub handled: AtomicU64,
    pub depth: AtomicU64,
    pub busy_nanos: AtomicU64,
}

/// Adds `n` to `counter`, stopping at `u64::MAX` instead of wrapping.
fn saturating_add(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_add(n))
    });
}

/// Takes one from `counter`, stopping at zero instead of wrapping; false when it was already zero.
fn saturating_decrement(counter: &AtomicU64) -> bool {
    let before = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(1))
    });
    matches!(before, Ok(v) if v > 0)
}

/// Takes one from a gauge that counts things (never below zero).
fn decrement_count(gauge: &Gauge) {
    let _ = gauge
        .inner()
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v: i64| {
            Some(v.saturating_sub(1).max(0))
        });
}

/// Adds one to a gauge that counts things, stopping at `i64::MAX`.
fn increment_count(gauge: &Gauge) {
    let _ = gauge
        .inner()
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v: i64| {
            Some(v.saturating_add(1))
        });
}

/// A count as a gauge value (`i64::MAX` past it).
pub fn count_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    mailbox_sent: Family<ActorLabels, Counter>,
    mailbox_handled: Family<ActorLabels, Counter>,
    mailbox_depth: Family<ActorLabels, Gauge>,
    mailbox_underflows: Family<ActorLabels, Counter>,
    mailbox_dropped: Family<ActorLabels, Counter>,
    mailbox_handling: Family<ActorLabels, Histogram, fn() -> Histogram>,
    pub avi_requests: Family<AviRequestLabels, Counter>,
    pub rate_limiter_wait: Histogram,
    pub writes: Family<WriteLabels, Counter>,
    pub writes_skipped_in_sync: Counter,
    pub gslb_services: Gauge,
    pub members: Gauge,
    pub cluster_connected: Family<ClusterLabels, Gauge>,
    pub cluster_objects: Family<ClusterLabels, Gauge>,
    pub convergence: Histogram,
    pub drift_repairs: Counter,
    pub orphan_deletions: Counter,
    pub write_errors: Family<WriteLabels, Counter>,
    pub leading: Gauge,
    pub lease_holder: Family<HolderLabels, Gauge>,
    pub federation_writes: Family<WriteLabels, Counter>,
    pub controller_up: Gauge,
    pub rate_budget: Gauge<f64, AtomicU64>,
    pub policies_rejected: Family<PolicyKindLabels, Gauge>,
    instances: DashMap<String, Arc<InstanceStats>>,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("amko");
        let m = Metrics {
            mailbox_sent: Family::default(),
            mailbox_handled: Family::default(),
            mailbox_depth: Family::default(),
            mailbox_underflows: Family::default(),
            mailbox_dropped: Family::default(),
            mailbox_handling: Family::new_with_constructor(histogram_seconds),
            avi_requests: Family::default(),
            rate_limiter_wait: histogram_seconds(),
            writes: Family::default(),
            writes_skipped_in_sync: Counter::default(),
            gslb_services: Gauge::default(),
            members: Gauge::default(),
            cluster_connected: Family::default(),
            cluster_objects: Family::default(),
            convergence: histogram_seconds(),
            drift_repairs: Counter::default(),
            orphan_deletions: Counter::default(),
            write_errors: Family::default(),
            leading: Gauge::default(),
            lease_holder: Family::default(),
            federation_writes: Family::default(),
            controller_up: Gauge::default(),
            rate_budget: Gauge::default(),
            policies_rejected: Family::default(),
            instances: DashMap::new(),
            registry: Registry::default(),
        };
        registry.register(
            "mailbox_sent",
            "Messages sent to actors",
            m.mailbox_sent.clone(),
        );
        registry.register(
            "mailbox_handled",
            "Messages handled by actors",
            m.mailbox_handled.clone(),
        );
        registry.register(
            "mailbox_depth",
            "Messages waiting in actor mailboxes",
            m.mailbox_depth.clone(),
        );
        registry.register(
            "mailbox_depth_underflows",
            "Messages handled while the depth was already zero: a sending path that does not count (a defect; zero when counting is right)",
            m.mailbox_underflows.clone(),
        );
        registry.register(
            "mailbox_dropped",
            "Messages still waiting when their actor stopped (a pipeline torn down), never handled",
            m.mailbox_dropped.clone(),
        );
        registry.register(
            "mailbox_handling_seconds",
            "Time actors spend handling one message",
            m.mailbox_handling.clone(),
        );
        registry.register(
            "avi_requests",
            "Requests to the Avi controller by method, object type and status",
            m.avi_requests.clone(),
        );
        registry.register(
            "avi_rate_limiter_wait_seconds",
            "Time a controller request waited for the rate budget",
            m.rate_limiter_wait.clone(),
        );
        registry.register("avi_writes", "Controller writes by kind", m.writes.clone());
        registry.register(
            "avi_writes_skipped_in_sync",
            "Desired states that needed no write because the controller already had them",
            m.writes_skipped_in_sync.clone(),
        );
        registry.register(
            "avi_write_errors",
            "Controller writes that failed, by error class",
            m.write_errors.clone(),
        );
        registry.register(
            "gslb_services",
            "GslbServices amko-rs wants on the controller",
            m.gslb_services.clone(),
        );
        registry.register(
            "gslb_members",
            "Members across those GslbServices",
            m.members.clone(),
        );
        registry.register(
            "cluster_connected",
            "1 when the member cluster's watches are healthy",
            m.cluster_connected.clone(),
        );
        registry.register(
            "cluster_objects",
            "Objects observed per member cluster",
            m.cluster_objects.clone(),
        );
        registry.register(
            "convergence_seconds",
            "From an observation to the controller acknowledging the write it caused",
            m.convergence.clone(),
        );
        registry.register(
            "drift_repairs",
            "Owned objects edited out of band and put back",
            m.drift_repairs.clone(),
        );
        registry.register(
            "orphan_deletions",
            "Owned objects deleted because nothing wants them",
            m.orphan_deletions.clone(),
        );
        registry.register(
            "leading",
            "1 while this instance is the one that writes (holds the Lease with --leader-elect, and its AMKOCluster makes it the leader)",
            m.leading.clone(),
        );
        registry.register(
            "lease_holder",
            "1 for the replica that holds the leader-election Lease, as this replica last saw it",
            m.lease_holder.clone(),
        );
        registry.register(
            "federation_writes",
            "GSLBConfig and GDP writes to follower clusters, by kind",
            m.federation_writes.clone(),
        );
        registry.register(
            "avi_controller_up",
            "1 when the last request to the Avi controller got an answer below 500; 0 after a transport failure or a 5xx (and before the first request)",
            m.controller_up.clone(),
        );
        registry.register(
            "avi_rate_budget_per_second",
            "The controller request budget (amko run --avi-rate): requests per second this instance allows itself",
            m.rate_budget.clone(),
        );
        registry.register(
            "policies_rejected",
            "GlobalDeploymentPolicies and GSLBHostRules whose status says rejected, by kind",
            m.policies_rejected.clone(),
        );
        Arc::new(Metrics { registry, ..m })
    }

    /// Records how many GDPs and GSLBHostRules are rejected now.
    pub fn set_policies_rejected(&self, gdps: usize, rules: usize) {
        for (kind, count) in [("GlobalDeploymentPolicy", gdps), ("GSLBHostRule", rules)] {
            self.policies_rejected
                .get_or_create(&PolicyKindLabels {
                    kind: kind.to_owned(),
                })
                .set(count_value(count));
        }
    }

    /// Records the outcome of one controller request: `status` is `None` for a transport failure.
    pub fn observe_controller_answer(&self, status: Option<u16>) {
        self.controller_up
            .set(i64::from(status.is_some_and(|s| s < 500)));
    }

    /// Records who holds the leader-election Lease (one series at a time).
    pub fn set_lease_holder(&self, holder: &str) {
        let labels = HolderLabels {
            holder: holder.to_owned(),
        };
        if self.lease_holder.get(&labels).is_some_and(|g| g.get() == 1) {
            return;
        }
        self.lease_holder.clear();
        if !holder.is_empty() {
            self.lease_holder.get_or_create(&labels).set(1);
        }
    }

    /// OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// The mailbox of a new actor instance of type `actor`: the actor keeps it as an
    /// [`OwnMailbox`] ([`Mailbox::owned_by_actor`]) and its senders count through outboxes made
    /// from clones of it. Instances of the same name (a restarted pipeline) share the
    /// `/debug/actors` entry but not their waiting messages.
    pub fn mailbox(self: &Arc<Self>, actor: &'static str, instance: &str) -> Mailbox {
        let stats = self
            .instances
            .entry(format!("{actor}/{instance}"))
            .or_default()
            .clone();
        Mailbox {
            metrics: self.clone(),
            labels: ActorLabels {
                actor: actor.to_owned(),
            },
            stats,
            waiting: Arc::default(),
        }
    }

    /// Forgets an actor instance that stopped.
    pub fn drop_instance(&self, actor: &'static str, instance: &str) {
        self.instances.remove(&format!("{actor}/{instance}"));
    }

    /// Every actor instance, busiest first: (name, handled, in queue, busy seconds).
    pub fn busiest(&self) -> Vec<(String, u64, u64, f64)> {
        let mut all: Vec<(String, u64, u64, f64)> = self
            .instances
            .iter()
            .map(|e| {
                let s = e.value();
                (
                    e.key().clone(),
                    s.handled.load(Ordering::Relaxed),
                    s.depth.load(Ordering::Relaxed),
                    s.busy_nanos.load(Ordering::Relaxed) as f64 / 1e9,
                )
            })
            .collect();
        all.sort_by(|a, b| b.3.total_cmp(&a.3).then(b.1.cmp(&a.1)).then(a.0.cmp(&b.0)));
        all
    }

    /// Messages waiting for the actor instance `name` (`selection/world`); 0 when unknown.
    pub fn queued(&self, name: &str) -> u64 {
        self.instances
            .get(name)
            .map_or(0, |s| s.depth.load(Ordering::Relaxed))
    }
}

/// Instrumentation of one actor's mailbox. Senders count through an [`Outbox`] or [`Inbox`] made
/// from it; the handler wraps its work in [`handle`](Mailbox::handle).
#[derive(Clone)]
pub struct Mailbox {
    metrics: Arc<Metrics>,
    labels: ActorLabels,
    stats: Arc<InstanceStats>,
    /// Messages counted as sent to this actor instance and not yet taken up.
    waiting: Arc<AtomicU64>,
}

impl Mailbox {
    /// One message is in the mailbox. Private: only the counted sending paths call it.
    fn sent(&self) {
        self.metrics.mailbox_sent.get_or_create(&self.labels).inc();
        increment_count(&self.metrics.mailbox_depth.get_or_create(&self.labels));
        saturating_add(&self.stats.depth, 1);
        saturating_add(&self.waiting, 1);
    }

    /// The actor's own handle: when the actor is dropped, what still waits is never handled.
    pub fn owned_by_actor(&self) -> OwnMailbox {
        OwnMailbox(self.clone())
    }

    /// Handles one message: it leaves the mailbox when `work` starts (so the depth is what
    /// waits, not what is in hand) and counts as handled, and is timed, when `work` returns.
    pub fn handle<R>(&self, work: impl FnOnce() -> R) -> R {
        if saturating_decrement(&self.waiting) {
            decrement_count(&self.metrics.mailbox_depth.get_or_create(&self.labels));
            saturating_decrement(&self.stats.depth);
        } else {
            // The depth stays where it is (zero for this instance), but is exported.
            let _ = self.metrics.mailbox_depth.get_or_create(&self.labels);
            self.metrics
                .mailbox_underflows
                .get_or_create(&self.labels)
                .inc();
            #[cfg(debug_assertions)]
            tracing::error!(actor = %self.labels.actor, "mailbox depth underflow: a message was handled that no sender counted");
        }
        let started = Instant::now();
        let result = work();
        let elapsed = started.elapsed();
        self.metrics
            .mailbox_handled
            .get_or_create(&self.labels)
            .inc();
        self.metrics
            .mailbox_handling
            .get_or_create(&self.labels)
            .observe(elapsed.as_secs_f64());
        saturating_add(&self.stats.handled, 1);
        saturating_add(
            &self.stats.busy_nanos,
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        );
        result
    }

    /// The address of this mailbox's actor, counting what is sent through it.
    pub fn outbox<A: Actor>(&self, addr: Addr<A>) -> Outbox<A> {
        Outbox {
            addr,
            mailbox: self.clone(),
        }
    }

    /// `stream`, each item counted as sent when the stream yields it. Actix hands a yielded item
    /// to the `StreamHandler` at once (it does not queue in the mailbox), so stream items add to
    /// the sent and handled totals but wait only while their handler runs.
    pub fn counted<S: Stream>(&self, stream: S) -> impl Stream<Item = S::Item> + use<S> {
        let mailbox = self.clone();
        stream.inspect(move |_| mailbox.sent())
    }

    /// `ctx.notify(msg)`, counted: the message waits in the context until the actor takes it.
    /// No actor notifies itself today; this is the counted way for the first one that does.
    #[allow(dead_code)]
    pub fn notify<A, M>(&self, ctx: &mut Context<A>, msg: M)
    where
        A: Actor<Context = Context<A>> + Handler<M>,
        M: Message + 'static,
    {
        self.sent();
        ctx.notify(msg);
    }

    /// `ctx.run_later(delay, f)`, counted as one message when it fires. A timer that has not
    /// fired is not a message yet: it is not in the depth, which stays zero at rest even while
    /// retries or rechecks are scheduled.
    pub fn run_later<A, F>(&self, ctx: &mut Context<A>, delay: Duration, f: F) -> SpawnHandle
    where
        A: Actor<Context = Context<A>>,
        F: FnOnce(&mut A, &mut Context<A>) + 'static,
    {
        let mailbox = self.clone();
        ctx.run_later(delay, move |act, ctx| {
            mailbox.sent();
            mailbox.handle(|| f(act, ctx));
        })
    }

    /// Runs `f` once the thread's other ready tasks (other actors, timers) have had a turn,
    /// counted as one message from now: a long job cut into slices this way does not hold up
    /// the actors on its thread, and the depth shows that more of it is waiting.
    pub fn run_after_yield<A, F>(&self, ctx: &mut Context<A>, f: F) -> SpawnHandle
    where
        A: Actor<Context = Context<A>>,
        F: FnOnce(&mut A, &mut Context<A>) + 'static,
    {
        use actix::fut::ActorFutureExt;
        self.sent();
        let mailbox = self.clone();
        ctx.spawn(
            actix::fut::wrap_future::<_, A>(tokio::task::yield_now())
                .map(move |(), act, ctx| mailbox.handle(|| f(act, ctx))),
        )
    }

    /// `ctx.run_interval(every, f)`, each tick counted as one message when it fires.
    pub fn run_interval<A, F>(&self, ctx: &mut Context<A>, every: Duration, mut f: F) -> SpawnHandle
    where
        A: Actor<Context = Context<A>>,
        F: FnMut(&mut A, &mut Context<A>) + 'static,
    {
        let mailbox = self.clone();
        ctx.run_interval(every, move |act, ctx| {
            mailbox.sent();
            mailbox.handle(|| f(act, ctx));
        })
    }
}

/// The mailbox an actor holds as its own. Dropped with the actor (it stopped, or its arbiter was
/// stopped with the pipeline): the messages still waiting will never be handled, so they leave
/// the depth and count as dropped.
pub struct OwnMailbox(Mailbox);

impl std::ops::Deref for OwnMailbox {
    type Target = Mailbox;
    fn deref(&self) -> &Mailbox {
        &self.0
    }
}

impl Drop for OwnMailbox {
    fn drop(&mut self) {
        let m = &self.0;
        let left = m.waiting.swap(0, Ordering::Relaxed);
        if left == 0 {
            return;
        }
        let _ = m
            .stats
            .depth
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(left))
            });
        let gauge = m.metrics.mailbox_depth.get_or_create(&m.labels);
        let _ = gauge
            .inner()
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v: i64| {
                Some(
                    v.saturating_sub(i64::try_from(left).unwrap_or(i64::MAX))
                        .max(0),
                )
            });
        m.metrics
            .mailbox_dropped
            .get_or_create(&m.labels)
            .inc_by(left);
    }
}

/// An actor's address that counts every message sent through it in the actor's mailbox. The
/// only way the actors send to each other, so that no path can skip the count.
pub struct Outbox<A: Actor> {
    addr: Addr<A>,
    mailbox: Mailbox,
}

impl<A: Actor> Clone for Outbox<A> {
    fn clone(&self) -> Self {
        Outbox {
            addr: self.addr.clone(),
            mailbox: self.mailbox.clone(),
        }
    }
}

impl<A: Actor> Outbox<A> {
    /// Sends without waiting for the answer. A stopped actor gets nothing, and nothing is
    /// counted.
    pub fn do_send<M>(&self, msg: M)
    where
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        if self.addr.connected() {
            self.mailbox.sent();
            self.addr.do_send(msg);
        }
    }

    /// Sends and returns the answer's future (the answer is not a mailbox message). Dropping the
    /// future (a caller's timeout) gives up the answer, not the message: it is still handled.
    pub fn send<M>(
        &self,
        msg: M,
    ) -> impl Future<Output = Result<M::Result, MailboxError>> + Send + use<A, M>
    where
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        // A fresh sender is never parked, so the message enters the mailbox now, as counted,
        // instead of waiting in the request (and being lost if the request is dropped).
        let addr = self.addr.clone();
        if addr.connected() {
            self.mailbox.sent();
        }
        let request = addr.send(msg);
        // actix skips, unhandled, a message whose answer channel is closed; counted as sent, it
        // would then wait in the depth for ever. Its own task keeps the channel open until the
        // actor answers or stops (bounded by the actor's life), whoever still awaits the answer.
        let (answer, answered) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let _ = answer.send(request.await);
        });
        async move { answered.await.unwrap_or(Err(MailboxError::Closed)) }
    }

    /// A counted sender of one message type.
    pub fn recipient<M>(&self) -> Inbox<M>
    where
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        Inbox {
            recipient: self.addr.clone().recipient(),
            mailbox: self.mailbox.clone(),
        }
    }

    /// Whether the actor still runs.
    pub fn connected(&self) -> bool {
        self.addr.connected()
    }

    /// The bare address, for what watches the actor rather than sends to it (liveness):
    /// messages sent through it are not counted.
    pub fn watch_only(&self) -> Addr<A> {
        self.addr.clone()
    }
}

/// A counted sender of one message type (a `Recipient` with its mailbox).
pub struct Inbox<M: Message + Send>
where
    M::Result: Send,
{
    recipient: Recipient<M>,
    mailbox: Mailbox,
}

impl<M: Message + Send> Clone for Inbox<M>
where
    M::Result: Send,
{
    fn clone(&self) -> Self {
        Inbox {
            recipient: self.recipient.clone(),
            mailbox: self.mailbox.clone(),
        }
    }
}

impl<M: Message + Send + 'static> Inbox<M>
where
    M::Result: Send,
{
    pub fn do_send(&self, msg: M) {
        if self.recipient.connected() {
            self.mailbox.sent();
            self.recipient.do_send(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_counts_appear_in_openmetrics_text() {
        let metrics = Metrics::new();
        let mailbox = metrics.mailbox("gslb_service", "admin/a.example.com");
        mailbox.sent();
        mailbox.sent();
        let value = mailbox.handle(|| 7);
        assert_eq!(value, 7);
        let text = metrics.render();
        assert!(
            text.contains("amko_mailbox_sent_total{actor=\"gslb_service\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("amko_mailbox_handled_total{actor=\"gslb_service\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("amko_mailbox_depth{actor=\"gslb_service\"} 1"),
            "{text}"
        );
        let busiest = metrics.busiest();
        assert_eq!(busiest[0].0, "gslb_service/admin/a.example.com");
        assert_eq!((busiest[0].1, busiest[0].2), (1, 1));
    }

    #[test]
    fn a_message_handled_without_being_counted_is_flagged_and_leaves_depths_at_zero() {
        let metrics = Metrics::new();
        let mailbox = metrics.mailbox("selection", "world");
        // Only a sending path that does not count can do this: the guard keeps the depth at
        // zero and the underflow counter names the actor.
        mailbox.handle(|| ());
        mailbox.handle(|| ());
        assert_eq!(metrics.queued("selection/world"), 0);
        let text = metrics.render();
        assert_eq!(series(&text, "amko_mailbox_depth", "selection"), Some(0));
        assert_eq!(
            series(&text, "amko_mailbox_depth_underflows_total", "selection"),
            Some(2)
        );
        mailbox.sent();
        assert_eq!(metrics.queued("selection/world"), 1, "counts on from zero");
        assert_eq!(metrics.queued("nobody/here"), 0);
    }

    /// The value of `name{actor="actor"}` in OpenMetrics text.
    fn series(text: &str, name: &str, actor: &str) -> Option<i64> {
        let prefix = format!("{name}{{actor=\"{actor}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
    }

    /// What the recording actor handled, in order.
    type Log = Arc<std::sync::Mutex<Vec<String>>>;

    struct Recorder {
        mailbox: OwnMailbox,
        log: Log,
    }

    /// Stops the actor: what waits behind it is never handled.
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Stop;

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Work(&'static str);

    /// Keeps the actor busy until `release` says so (at most ten seconds), after sending itself
    /// a notification and scheduling a timer that cannot fire while it is busy.
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Hold {
        entered: std::sync::mpsc::Sender<()>,
        release: std::sync::mpsc::Receiver<()>,
        side_messages: bool,
    }

    struct Item(&'static str);

    impl Recorder {
        fn record(&self, what: &str) {
            if let Ok(mut log) = self.log.lock() {
                log.push(what.to_owned());
            }
        }
    }

    impl Actor for Recorder {
        type Context = Context<Self>;

        fn started(&mut self, ctx: &mut Context<Self>) {
            let items = futures::stream::iter(["stream 1", "stream 2", "stream 3"]).map(Item);
            ctx.add_stream(self.mailbox.counted(items));
        }
    }

    impl actix::StreamHandler<Item> for Recorder {
        fn handle(&mut self, item: Item, _: &mut Context<Self>) {
            self.mailbox.clone().handle(|| self.record(item.0));
        }

        fn finished(&mut self, _: &mut Context<Self>) {}
    }

    impl Handler<Work> for Recorder {
        type Result = ();
        fn handle(&mut self, msg: Work, _: &mut Context<Self>) {
            self.mailbox.clone().handle(|| self.record(msg.0));
        }
    }

    impl Handler<Hold> for Recorder {
        type Result = ();
        fn handle(&mut self, msg: Hold, ctx: &mut Context<Self>) {
            let mailbox = self.mailbox.clone();
            mailbox.handle(|| {
                if msg.side_messages {
                    mailbox.notify(ctx, Work("notify"));
                    mailbox.run_later(ctx, Duration::ZERO, |act, _| act.record("run_later"));
                    mailbox.run_after_yield(ctx, |act, _| act.record("run_after_yield"));
                }
                let _ = msg.entered.send(());
                let _ = msg.release.recv_timeout(Duration::from_secs(10));
                self.record("hold");
            });
        }
    }

    impl Handler<Stop> for Recorder {
        type Result = ();
        fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
            self.mailbox
                .clone()
                .handle(|| actix::ActorContext::stop(ctx));
        }
    }

    /// Starts a `Recorder` on `arbiter`, another thread than the test's, so that holding it
    /// busy does not hold the test.
    fn start_recorder(
        metrics: &Arc<Metrics>,
        name: &str,
        arbiter: &actix::Arbiter,
    ) -> (Outbox<Recorder>, Log) {
        let mailbox = metrics.mailbox("recorder", name);
        let log: Log = Arc::default();
        let addr = {
            let (mailbox, log) = (mailbox.clone(), log.clone());
            Recorder::start_in_arbiter(&arbiter.handle(), move |_| Recorder {
                mailbox: mailbox.owned_by_actor(),
                log,
            })
        };
        (mailbox.outbox(addr), log)
    }

    /// Sends `Hold` and returns once the actor is busy with it, with the sender that ends it.
    fn hold(outbox: &Outbox<Recorder>, side_messages: bool) -> std::sync::mpsc::Sender<()> {
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel();
        outbox.do_send(Hold {
            entered: entered_tx,
            release: release_rx,
            side_messages,
        });
        assert!(entered.recv_timeout(Duration::from_secs(10)).is_ok());
        release
    }

    /// Polls `done` every 10 ms for at most ten seconds.
    async fn wait_until(mut done: impl FnMut() -> bool) -> bool {
        for _ in 0..1000 {
            if done() {
                return true;
            }
            actix::clock::sleep(Duration::from_millis(10)).await;
        }
        done()
    }

    #[test]
    fn depth_is_what_waits_and_every_sending_path_counts_once() {
        let system = actix::System::new();
        system.block_on(async {
            let metrics = Metrics::new();
            let arbiter = actix::Arbiter::new();
            let (outbox, log) = start_recorder(&metrics, "one", &arbiter);
            let inbox = outbox.recipient::<Work>();
            let count = |name: &str| series(&metrics.render(), name, "recorder");

            // The stream's three items: sent when yielded, handled at once.
            let streamed = wait_until(|| count("amko_mailbox_handled_total") == Some(3)).await;
            assert!(streamed, "{}", metrics.render());
            assert_eq!(count("amko_mailbox_sent_total"), Some(3));
            assert_eq!(count("amko_mailbox_depth"), Some(0));

            let release = hold(&outbox, true);
            // Busy: everything sent now waits.
            outbox.do_send(Work("do_send 1"));
            outbox.do_send(Work("do_send 2"));
            let answer = outbox.send(Work("send"));
            inbox.do_send(Work("recipient"));
            // Waiting: the notification, the slice run after a yield and the four above; the
            // hold is in hand, the timer has not fired (a timer is a message only once it fires).
            assert_eq!(count("amko_mailbox_depth"), Some(6));
            assert_eq!(metrics.queued("recorder/one"), 6);
            assert_eq!(count("amko_mailbox_sent_total"), Some(3 + 1 + 1 + 1 + 4));
            assert_eq!(count("amko_mailbox_handled_total"), Some(3));

            assert!(release.send(()).is_ok());
            assert!(answer.await.is_ok());
            let drained = wait_until(|| count("amko_mailbox_handled_total") == Some(11)).await;
            assert!(drained, "{}", metrics.render());
            assert_eq!(count("amko_mailbox_sent_total"), Some(11));
            assert_eq!(count("amko_mailbox_depth"), Some(0));
            assert_eq!(metrics.queued("recorder/one"), 0);
            assert_eq!(count("amko_mailbox_depth_underflows_total"), None);
            let busiest = metrics.busiest();
            assert_eq!((busiest[0].1, busiest[0].2), (11, 0));
            let mut handled = log.lock().map(|l| l.clone()).unwrap_or_default();
            handled.sort();
            assert_eq!(
                handled,
                [
                    "do_send 1",
                    "do_send 2",
                    "hold",
                    "notify",
                    "recipient",
                    "run_after_yield",
                    "run_later",
                    "send",
                    "stream 1",
                    "stream 2",
                    "stream 3"
                ]
            );
            arbiter.stop();
        });
    }

    /// A requester that gives up (a debug endpoint's timeout while the writer is busy) must not
    /// leave its message counted as waiting for ever: actix skips a message whose answer nobody
    /// awaits any more, so such a message was counted as sent and never as handled.
    #[test]
    fn a_request_given_up_before_its_answer_is_still_handled_and_counted() {
        let system = actix::System::new();
        system.block_on(async {
            let metrics = Metrics::new();
            let arbiter = actix::Arbiter::new();
            let (outbox, log) = start_recorder(&metrics, "three", &arbiter);
            let count = |name: &str| series(&metrics.render(), name, "recorder");
            let streamed = wait_until(|| count("amko_mailbox_handled_total") == Some(3)).await;
            assert!(streamed, "{}", metrics.render());

            let release = hold(&outbox, false);
            let given_up =
                tokio::time::timeout(Duration::from_millis(20), outbox.send(Work("given up")))
                    .await;
            assert!(given_up.is_err(), "the actor was busy: no answer yet");
            assert_eq!(count("amko_mailbox_depth"), Some(1));
            assert!(release.send(()).is_ok());
            let drained = wait_until(|| count("amko_mailbox_handled_total") == Some(5)).await;
            assert!(drained, "{}", metrics.render());
            assert_eq!(count("amko_mailbox_sent_total"), Some(5));
            assert_eq!(count("amko_mailbox_depth"), Some(0));
            assert_eq!(metrics.queued("recorder/three"), 0);
            assert!(log.lock().is_ok_and(|l| l.iter().any(|w| w == "given up")));
            arbiter.stop();
        });
    }

    #[test]
    fn messages_left_when_an_actor_stops_leave_the_depth_as_dropped() {
        let system = actix::System::new();
        system.block_on(async {
            let metrics = Metrics::new();
            let arbiter = actix::Arbiter::new();
            let (outbox, log) = start_recorder(&metrics, "two", &arbiter);
            let count = |name: &str| series(&metrics.render(), name, "recorder");
            let streamed = wait_until(|| count("amko_mailbox_handled_total") == Some(3)).await;
            assert!(streamed, "{}", metrics.render());

            let release = hold(&outbox, false);
            outbox.do_send(Stop);
            for _ in 0..3 {
                outbox.do_send(Work("never"));
            }
            assert_eq!(count("amko_mailbox_depth"), Some(4));
            assert!(release.send(()).is_ok());
            // Stopping, the actor takes no more messages; dropped, it gives up the three left.
            let gone = wait_until(|| count("amko_mailbox_dropped_total") == Some(3)).await;
            assert!(gone, "{}", metrics.render());
            assert_eq!(count("amko_mailbox_sent_total"), Some(3 + 1 + 1 + 3));
            assert_eq!(count("amko_mailbox_handled_total"), Some(3 + 1 + 1));
            assert_eq!(count("amko_mailbox_depth"), Some(0));
            assert_eq!(metrics.queued("recorder/two"), 0);
            assert_eq!(count("amko_mailbox_depth_underflows_total"), None);
            assert!(!log.lock().is_ok_and(|l| l.iter().any(|w| w == "never")));
            // A stopped actor is sent nothing, and nothing is counted.
            outbox.do_send(Work("after"));
            assert_eq!(count("amko_mailbox_sent_total"), Some(8));
            arbiter.stop();
        });
    }

    #[test]
    fn controller_reachability_budget_and_rejections_appear_in_openmetrics_text() {
        let metrics = Metrics::new();
        let text = metrics.render();
        assert!(text.contains("amko_avi_controller_up 0\n"), "{text}");
        metrics.rate_budget.set(12.5);
        metrics.observe_controller_answer(Some(429));
        let text = metrics.render();
        assert!(text.contains("amko_avi_controller_up 1\n"), "{text}");
        assert!(
            text.contains("amko_avi_rate_budget_per_second 12.5\n"),
            "{text}"
        );
        metrics.observe_controller_answer(Some(503));
        assert!(metrics.render().contains("amko_avi_controller_up 0\n"));
        metrics.observe_controller_answer(Some(200));
        metrics.observe_controller_answer(None);
        assert!(metrics.render().contains("amko_avi_controller_up 0\n"));

        metrics.set_policies_rejected(1, usize::MAX);
        let text = metrics.render();
        assert!(
            text.contains("amko_policies_rejected{kind=\"GlobalDeploymentPolicy\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "amko_policies_rejected{{kind=\"GSLBHostRule\"}} {}\n",
                i64::MAX
            )),
            "{text}"
        );
    }

    #[test]
    fn counters_stop_at_their_maximum() {
        let counter = AtomicU64::new(u64::MAX - 1);
        saturating_add(&counter, 5);
        assert_eq!(counter.load(Ordering::Relaxed), u64::MAX);
        let depth = AtomicU64::new(0);
        saturating_decrement(&depth);
        assert_eq!(depth.load(Ordering::Relaxed), 0);
        let gauge = Gauge::default();
        gauge.set(i64::MAX);
        increment_count(&gauge);
        assert_eq!(gauge.get(), i64::MAX);
        assert_eq!(count_value(usize::MAX), i64::MAX);
        assert_eq!(count_value(3), 3);
    }
}
