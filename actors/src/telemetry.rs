//! Metrics of the operator (OpenMetrics text on `/metrics`) and the mailbox instrumentation every
//! actor uses: messages sent, handled, in queue, and handling time, by actor type; plus per-actor
//! instance counters so `/debug/actors` can list the busiest ones. Counts that move both ways
//! (mailbox depths) saturate at zero and counts that only grow saturate at their maximum: a
//! message handled without having been counted as sent (the debug queries, a sender that does not
//! count) must not wrap a depth to 2^64.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use dashmap::DashMap;
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

/// Takes one from `counter`, stopping at zero instead of wrapping.
fn saturating_decrement(counter: &AtomicU64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(1))
    });
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
    instances: DashMap<String, Arc<InstanceStats>>,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("amko");
        let m = Metrics {
            mailbox_sent: Family::default(),
            mailbox_handled: Family::default(),
            mailbox_depth: Family::default(),
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
        Arc::new(Metrics { registry, ..m })
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

    /// A mailbox handle for one actor instance of type `actor`.
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

/// Instrumentation of one actor's mailbox. Senders call `sent`; the handler wraps its work in
/// `handle`, which counts it and times it.
#[derive(Clone)]
pub struct Mailbox {
    metrics: Arc<Metrics>,
    labels: ActorLabels,
    stats: Arc<InstanceStats>,
}

impl Mailbox {
    pub fn sent(&self) {
        self.metrics.mailbox_sent.get_or_create(&self.labels).inc();
        increment_count(&self.metrics.mailbox_depth.get_or_create(&self.labels));
        saturating_add(&self.stats.depth, 1);
    }

    pub fn handle<R>(&self, work: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let result = work();
        let elapsed = started.elapsed();
        self.metrics
            .mailbox_handled
            .get_or_create(&self.labels)
            .inc();
        decrement_count(&self.metrics.mailbox_depth.get_or_create(&self.labels));
        self.metrics
            .mailbox_handling
            .get_or_create(&self.labels)
            .observe(elapsed.as_secs_f64());
        saturating_add(&self.stats.handled, 1);
        saturating_decrement(&self.stats.depth);
        saturating_add(
            &self.stats.busy_nanos,
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        );
        result
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
    fn a_message_handled_without_being_counted_leaves_depths_at_zero() {
        let metrics = Metrics::new();
        let mailbox = metrics.mailbox("selection", "world");
        // A debug query or an uncounted sender: handled, never counted as sent.
        mailbox.handle(|| ());
        mailbox.handle(|| ());
        assert_eq!(metrics.queued("selection/world"), 0);
        let text = metrics.render();
        assert!(
            text.contains("amko_mailbox_depth{actor=\"selection\"} 0"),
            "{text}"
        );
        mailbox.sent();
        assert_eq!(metrics.queued("selection/world"), 1, "counts on from zero");
        assert_eq!(metrics.queued("nobody/here"), 0);
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
