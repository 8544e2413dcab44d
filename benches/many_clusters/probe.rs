//! Reading the operator from outside: its `/metrics` text (mailbox depths, the convergence
//! histogram), its writer queue (`/debug/gslbservices`), its readiness, and its process figures
//! from `/proc` (peak RSS, CPU time). The debug endpoints are off by default: `setup.rs` starts
//! the operator with `--debug-endpoints`.

use std::time::Duration;

use serde_json::Value;

/// One sample line of OpenMetrics text: metric name, label text (inside the braces), value.
#[derive(Clone, Debug)]
pub struct Sample {
    pub name: String,
    pub labels: String,
    pub value: f64,
}

pub fn parse_metrics(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|line| {
            let (head, value) = line.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match head.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (head, ""),
            };
            Some(Sample {
                name: name.to_owned(),
                labels: labels.to_owned(),
                value,
            })
        })
        .collect()
}

/// The value of label `key` in a label text such as `actor="gdp",status="200"`.
pub fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.trim_matches('"'))
    })
}

/// The convergence histogram: cumulative counts per upper bound.
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    pub buckets: Vec<(f64, f64)>,
}

impl Histogram {
    pub fn from_samples(samples: &[Sample], name: &str) -> Histogram {
        let bucket_name = format!("{name}_bucket");
        let mut buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.name == bucket_name)
            .filter_map(|s| {
                let le = label(&s.labels, "le")?;
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((bound, s.value))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Histogram { buckets }
    }

    /// Observations in `self` that are not in `earlier`.
    pub fn minus(&self, earlier: &Histogram) -> Histogram {
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|(bound, count)| {
                    let before = earlier
                        .buckets
                        .iter()
                        .find(|(b, _)| b == bound)
                        .map_or(0.0, |(_, c)| *c);
                    (*bound, count - before)
                })
                .collect(),
        }
    }

    pub fn count(&self) -> f64 {
        self.buckets.last().map_or(0.0, |(_, c)| *c)
    }

    /// The upper bound of the bucket holding quantile `q` (the histogram's resolution).
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total <= 0.0 {
            return None;
        }
        self.buckets
            .iter()
            .find(|(_, c)| *c >= q * total)
            .map(|(b, _)| *b)
    }
}

/// HTTP access to one operator's endpoints.
#[derive(Clone)]
pub struct Probe {
    pub http: reqwest::Client,
    pub base: String,
}

/// What the writer reports about its queue.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriterState {
    pub ready: bool,
    pub queue: u64,
    pub in_flight: u64,
}

impl Probe {
    pub fn new(listen: &str) -> Probe {
        Probe {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            base: format!("http://{listen}"),
        }
    }

    pub async fn metrics(&self) -> Option<Vec<Sample>> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        Some(parse_metrics(&text))
    }

    pub async fn ready(&self) -> bool {
        self.http
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// The writer's queue, without the per-GslbService listing (a name nothing has).
    pub async fn writer(&self) -> Option<WriterState> {
        let v = self
            .get_json("/debug/gslbservices?name=__amko_bench_none__")
            .await?;
        // A 503 (`{"error": …}`: the writer did not answer in time) is no state: read as one it
        // looked like "not ready, queue 0, nothing in flight".
        if v.get("error").is_some() {
            return None;
        }
        Some(WriterState {
            ready: v["phase"] == "Ready",
            queue: v["queue"].as_u64().unwrap_or(0),
            in_flight: v["in_flight"].as_u64().unwrap_or(0),
        })
    }

    pub async fn debug_actors(&self) -> Option<Value> {
        self.get_json("/debug/actors?limit=50").await
    }

    /// GET `path` as JSON (`None` when it does not answer or is not JSON).
    async fn get_json(&self, path: &str) -> Option<Value> {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    }
}

/// The mailbox depth gauge of each actor type: messages sent to it (through its counted
/// outboxes, streams, notifications and timers) that no handler has taken up yet.
pub fn mailbox_depths(samples: &[Sample]) -> Vec<(String, f64)> {
    samples
        .iter()
        .filter(|s| s.name == "amko_mailbox_depth")
        .map(|s| (label(&s.labels, "actor").unwrap_or("?").to_owned(), s.value))
        .collect()
}

/// Messages handled that no sender counted, summed over actor types: zero when the depths
/// tell the truth (the operator's depth gauges stop at zero instead of going negative).
pub fn mailbox_underflows(samples: &[Sample]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == "amko_mailbox_depth_underflows_total")
        .map(|s| s.value)
        .sum()
}

/// Peak and current resident set size (MiB) and CPU time (user + system, seconds) of `pid`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessFigures {
    pub peak_rss_mib: f64,
    pub rss_mib: f64,
    pub cpu_secs: f64,
}

pub fn process_figures(pid: u32) -> ProcessFigures {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime
    // are fields 14 and 15, in clock ticks (100 per second on Linux).
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    ProcessFigures {
        peak_rss_mib: kib("VmHWM:") / 1024.0,
        rss_mib: kib("VmRSS:") / 1024.0,
        cpu_secs: (ticks(11) + ticks(12)) / 100.0,
    }
}
