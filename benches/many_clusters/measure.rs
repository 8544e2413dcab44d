//! Measuring one scenario: a recorder that snapshots the controller's audit log and counters, the
//! operator's histogram and CPU time at the start, samples writes and mailbox depths while the
//! scenario runs, waits until the operator is quiet, and turns the differences into figures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use amko_sim::avi::{AuditEntry, CounterSnapshot, SimControl};
use serde::Serialize;

use crate::probe::{self, Histogram, Probe};
use crate::setup::{Bench, BenchError};

/// Everything reported for one scenario.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Figures {
    pub scenario: String,
    /// Seconds from the scenario's trigger to its last controller write (or to quiet).
    pub converged_secs: Option<f64>,
    /// Controller writes by `METHOD object_type`.
    pub writes: BTreeMap<String, u64>,
    pub writes_total: u64,
    /// The writes the scenario needs at least (`None`: not defined for it).
    pub minimum_writes: Option<u64>,
    pub write_amplification: Option<f64>,
    /// Controller requests answered 429.
    pub status_429: u64,
    /// All controller requests (reads too).
    pub requests_total: u64,
    /// Observation-to-write latency from the operator's `amko_convergence_seconds` histogram:
    /// the upper bounds of the buckets holding p50 / p99 / the maximum.
    pub histogram_p50_le: Option<f64>,
    pub histogram_p99_le: Option<f64>,
    pub histogram_max_le: Option<f64>,
    pub histogram_count: f64,
    /// Object change (API acknowledged) to controller write, from the simulator audit log (ms).
    pub change_to_write_ms: Option<Latencies>,
    pub peak_rss_mib: f64,
    pub rss_mib: f64,
    pub cpu_secs: f64,
    /// The deepest actor mailbox sampled (`amko_mailbox_depth`, every 100 ms) and its type.
    pub max_mailbox_depth: f64,
    pub deepest_mailbox: String,
    /// Depth underflows during the run (`amko_mailbox_depth_underflows_total`): a message
    /// handled without being counted as sent. Must be zero for the depths above to mean anything.
    pub mailbox_underflows: f64,
    /// Rate-limited scenario: requests per second over the window / the operator's budget.
    pub budget_use: Option<f64>,
    pub notes: Vec<String>,
    /// The operator's busiest actors at the end (`/debug/actors`).
    pub busiest_actors: serde_json::Value,
    /// (seconds since start, writes so far) for the convergence plot.
    pub timeline: Vec<(f64, u64)>,
    /// Crash: one record per trial (phase, moment, recovery writes and time, checks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trials: Vec<serde_json::Value>,
    /// Soak: RSS and map sizes over time.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Latencies {
    pub count: usize,
    pub unmatched: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latencies {
    pub fn from_millis(mut values: Vec<f64>, unmatched: usize) -> Option<Latencies> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Some(Latencies {
            count: values.len(),
            unmatched,
            p50: at(0.5),
            p99: at(0.99),
            max: at(1.0),
        })
    }
}

/// What the sampler saw.
#[derive(Default)]
struct Sampled {
    timeline: Vec<(f64, u64)>,
    max_depth: f64,
    deepest: String,
    underflows_at_start: Option<f64>,
    underflows: f64,
}

/// Started at a scenario's trigger; `finish` produces its figures.
pub struct Recorder {
    name: String,
    started: Instant,
    started_micros: u64,
    audit_seq: u64,
    counters: CounterSnapshot,
    histogram: Histogram,
    cpu_start: f64,
    stop: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<Sampled>,
}

pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn probe_of(bench: &Bench) -> Option<Probe> {
    bench.operator.as_ref().map(|o| Probe::new(&o.listen))
}

/// The operator's `amko_convergence_seconds` histogram (empty without an operator or metrics).
async fn convergence_histogram(bench: &Bench) -> Histogram {
    match probe_of(bench) {
        Some(p) => p
            .metrics()
            .await
            .map(|s| Histogram::from_samples(&s, "amko_convergence_seconds"))
            .unwrap_or_default(),
        None => Histogram::default(),
    }
}

impl Recorder {
    pub async fn start(bench: &Bench, name: &str) -> Recorder {
        let control = bench.avi.control().clone();
        let audit_seq = control.audit_len() as u64;
        let histogram = convergence_histogram(bench).await;
        let cpu_start = bench
            .operator
            .as_ref()
            .map_or(0.0, |o| probe::process_figures(o.pid()).cpu_secs);
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let sampler = tokio::spawn(sample(
            control.clone(),
            probe_of(bench),
            audit_seq,
            started,
            stop.clone(),
        ));
        Recorder {
            name: name.to_owned(),
            started,
            started_micros: now_micros(),
            audit_seq,
            counters: control.counters(),
            histogram,
            cpu_start,
            stop,
            sampler,
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// The controller writes since the start.
    pub fn writes_so_far(&self, bench: &Bench) -> Vec<AuditEntry> {
        bench.avi.control().audit_since(self.audit_seq)
    }

    /// Stops sampling and computes the figures. `converged_at`: when the scenario's own notion
    /// of convergence was reached if it has one; otherwise the last write (or `quiet_since`).
    pub async fn finish(
        self,
        bench: &Bench,
        quiet_since: Option<Instant>,
        minimum_writes: Option<u64>,
    ) -> Figures {
        self.stop.store(true, Ordering::Relaxed);
        let sampled = self.sampler.await.unwrap_or_default();
        let control = bench.avi.control();
        let audit = control.audit_since(self.audit_seq);
        let mut writes = BTreeMap::new();
        for entry in &audit {
            *writes
                .entry(format!("{} {}", entry.method, entry.object_type))
                .or_insert(0) += 1;
        }
        let writes_total = audit.len() as u64;
        let converged_secs = match audit.last() {
            Some(last) => Some(last.time_micros.saturating_sub(self.started_micros) as f64 / 1e6),
            None => quiet_since.map(|q| q.saturating_duration_since(self.started).as_secs_f64()),
        };
        let counters = control.counters();
        let status_429 = counters
            .count(None, None, Some(429))
            .saturating_sub(self.counters.count(None, None, Some(429)));
        let requests_total = counters.total().saturating_sub(self.counters.total());
        let histogram = convergence_histogram(bench).await;
        let delta = histogram.minus(&self.histogram);
        let busiest_actors = match probe_of(bench) {
            Some(p) => p.debug_actors().await.unwrap_or_default(),
            None => serde_json::Value::Null,
        };
        let process = bench
            .operator
            .as_ref()
            .map(|o| probe::process_figures(o.pid()))
            .unwrap_or_default();
        let write_amplification = minimum_writes
            .filter(|m| *m > 0)
            .map(|m| writes_total as f64 / m as f64);
        Figures {
            scenario: self.name,
            converged_secs,
            writes,
            writes_total,
            minimum_writes,
            write_amplification,
            status_429,
            requests_total,
            histogram_p50_le: delta.quantile_bound(0.5),
            histogram_p99_le: delta.quantile_bound(0.99),
            histogram_max_le: delta.quantile_bound(1.0),
            histogram_count: delta.count(),
            change_to_write_ms: None,
            peak_rss_mib: process.peak_rss_mib,
            rss_mib: process.rss_mib,
            cpu_secs: (process.cpu_secs - self.cpu_start).max(0.0),
            max_mailbox_depth: sampled.max_depth,
            deepest_mailbox: sampled.deepest,
            mailbox_underflows: sampled.underflows,
            budget_use: None,
            notes: Vec::new(),
            busiest_actors,
            timeline: sampled.timeline,
            trials: Vec::new(),
            samples: Vec::new(),
        }
    }
}

async fn sample(
    control: SimControl,
    probe: Option<Probe>,
    audit_seq: u64,
    started: Instant,
    stop: Arc<AtomicBool>,
) -> Sampled {
    let mut sampled = Sampled::default();
    let mut last_writes = u64::MAX;
    loop {
        let writes = (control.audit_len() as u64).saturating_sub(audit_seq);
        if writes != last_writes {
            sampled
                .timeline
                .push((started.elapsed().as_secs_f64(), writes));
            last_writes = writes;
        }
        if let Some(p) = &probe
            && let Some(samples) = p.metrics().await
        {
            let underflows = probe::mailbox_underflows(&samples);
            let at_start = *sampled.underflows_at_start.get_or_insert(underflows);
            sampled.underflows = (underflows - at_start).max(0.0);
            for (actor, depth) in probe::mailbox_depths(&samples) {
                if depth > sampled.max_depth {
                    sampled.max_depth = depth;
                    sampled.deepest = actor;
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            sampled
                .timeline
                .push((started.elapsed().as_secs_f64(), writes));
            return sampled;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the operator is quiet: writer ready with an empty queue and nothing in flight,
/// every mailbox empty, and no controller write for `quiet`. Returns when the quiet began.
pub async fn settle(bench: &Bench, quiet: Duration) -> Result<Instant, BenchError> {
    let probe = probe_of(bench).ok_or("no operator running")?;
    let control = bench.avi.control();
    let deadline = Instant::now() + Duration::from_secs(bench.params.timeout_secs);
    let mut last_len = control.audit_len();
    let mut quiet_since: Option<Instant> = None;
    loop {
        let len = control.audit_len();
        let answer = probe.writer().await;
        let writer = answer.unwrap_or_default();
        let depth: f64 = match probe.metrics().await {
            // Only waiting messages count: some actors' gauges drift below zero (handled
            // messages never counted as sent), which would hide another actor's queue.
            Some(s) => probe::mailbox_depths(&s)
                .iter()
                .map(|(_, d)| d.max(0.0))
                .sum(),
            None => f64::INFINITY,
        };
        let idle = writer.ready && writer.queue == 0 && writer.in_flight == 0 && depth <= 0.0;
        if idle && len == last_len {
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= quiet {
                return Ok(since);
            }
        } else {
            quiet_since = None;
        }
        last_len = len;
        if Instant::now() > deadline {
            let waiting: Vec<String> = match probe.metrics().await {
                Some(s) => probe::mailbox_depths(&s)
                    .into_iter()
                    .filter(|(_, d)| *d > 0.0)
                    .map(|(actor, d)| format!("{actor} {d}"))
                    .collect(),
                None => Vec::new(),
            };
            let writer = match answer {
                Some(w) => format!("{w:?}"),
                None => "not answering /debug/gslbservices".to_owned(),
            };
            return Err(format!(
                "not quiet after {}s (writer {writer}, mailbox depth {depth}: {})\n{}",
                bench.params.timeout_secs,
                waiting.join(", "),
                bench.log_tail(40)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the operator answers ready.
pub async fn wait_ready(bench: &Bench) -> Result<Instant, BenchError> {
    let probe = probe_of(bench).ok_or("no operator running")?;
    let deadline = Instant::now() + Duration::from_secs(bench.params.timeout_secs);
    loop {
        if probe.ready().await {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            return Err(format!("operator not ready\n{}", bench.log_tail(40)).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
