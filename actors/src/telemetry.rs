//! Metrics of the operator (OpenMetrics text on `/metrics`) and the mailbox instrumentation every
//! actor uses: messages sent, handled, in queue, and handling time, by actor type; plus per-actor
//! instance counters so `/debug/actors` can list the busiest ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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
    pub depth: AtomicI64,
    pub busy_nanos: AtomicU64,
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

    /// The busiest actor instances: (name, handled, in queue, busy seconds).
    pub fn busiest(&self, limit: usize) -> Vec<(String, u64, i64, f64)> {
        let mut all: Vec<(String, u64, i64, f64)> = self
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
        all.sort_by(|a, b| b.3.total_cmp(&a.3).then(b.1.cmp(&a.1)));
        all.truncate(limit);
        all
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
        self.metrics.mailbox_depth.get_or_create(&self.labels).inc();
        self.stats.depth.fetch_add(1, Ordering::Relaxed);
    }

    pub fn handle<R>(&self, work: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let result = work();
        let elapsed = started.elapsed();
        self.metrics
            .mailbox_handled
            .get_or_create(&self.labels)
            .inc();
        self.metrics.mailbox_depth.get_or_create(&self.labels).dec();
        self.metrics
            .mailbox_handling
            .get_or_create(&self.labels)
            .observe(elapsed.as_secs_f64());
        self.stats.handled.fetch_add(1, Ordering::Relaxed);
        self.stats.depth.fetch_sub(1, Ordering::Relaxed);
        self.stats.busy_nanos.fetch_add(
            elapsed.as_nanos().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
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
        let busiest = metrics.busiest(5);
        assert_eq!(busiest[0].0, "gslb_service/admin/a.example.com");
        assert_eq!((busiest[0].1, busiest[0].2), (1, 1));
    }
}
