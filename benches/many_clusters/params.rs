//! Command-line parameters of the many-cluster benchmark, with the full-size defaults of the
//! performance targets and a `--smoke` preset small enough for CI.

use clap::Parser;

/// Runs the real `amko run` against simulated member clusters and an Avi controller.
#[derive(Parser, Debug, Clone)]
#[command(name = "many_clusters")]
pub struct Params {
    /// Member clusters.
    #[arg(long, default_value_t = 100)]
    pub clusters: usize,
    /// Ingresses per cluster (one host each).
    #[arg(long, default_value_t = 200)]
    pub objects: usize,
    /// How many clusters serve each FQDN (FQDNs = clusters / overlap × objects).
    #[arg(long, default_value_t = 5)]
    pub overlap: usize,
    /// Latency the simulated controller adds to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub avi_latency_ms: u64,
    /// The simulated controller's rate limit (requests/s) in the rate-limited scenario.
    #[arg(long, default_value_t = 32.0)]
    pub controller_limit: f64,
    /// The operator's request budget (`--avi-rate`) in the rate-limited scenario.
    #[arg(long, default_value_t = 30.0)]
    pub avi_rate: f64,
    /// The operator's coalescing window (`--coalesce-ms`).
    #[arg(long, default_value_t = 50)]
    pub coalesce_ms: u64,
    /// GslbServices written concurrently (`--max-in-flight`).
    #[arg(long, default_value_t = 8)]
    pub max_in_flight: usize,
    /// The operator's refresh interval (`--refresh-secs`); the in-sync scenario waits for one.
    #[arg(long, default_value_t = 20)]
    pub refresh_secs: u64,
    /// Churn: changes per second.
    #[arg(long, default_value_t = 500)]
    pub churn_rate: u32,
    /// Churn: seconds of changes.
    #[arg(long, default_value_t = 10)]
    pub churn_secs: u64,
    /// Rate-limited scenario: seconds over which the budget use is measured.
    #[arg(long, default_value_t = 20)]
    pub rate_window_secs: u64,
    /// Member cluster outage: seconds the cluster is down.
    #[arg(long, default_value_t = 10)]
    pub outage_secs: u64,
    /// Concurrent requests while loading objects.
    #[arg(long, default_value_t = 64)]
    pub load_concurrency: usize,
    /// Scenarios to run, in order (comma-separated); later ones build on earlier ones' state.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "cold_start,in_sync_refresh,churn,gdp_edit,restart,outage,rate_limited"
    )]
    pub scenarios: Vec<String>,
    /// `AMKO_LOG` of the operator.
    #[arg(long, default_value = "info")]
    pub operator_log: String,
    /// Runs the operator under this command (e.g. `heaptrack -o /tmp/amko`) to profile it; the
    /// process figures are then the wrapper's.
    #[arg(long)]
    pub operator_wrapper: Option<String>,
    /// Give up waiting for convergence after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Small and short (a few clusters, seconds per scenario): for CI.
    #[arg(long)]
    pub smoke: bool,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    pub bench: bool,
}

impl Params {
    /// Applies the smoke preset: 3 clusters × 20 Ingresses, short churn and windows.
    pub fn smoke(mut self) -> Self {
        self.clusters = 3;
        self.objects = 20;
        self.overlap = 3;
        self.churn_rate = 50;
        self.churn_secs = 2;
        self.rate_window_secs = 3;
        self.outage_secs = 2;
        self.refresh_secs = 4;
        self.timeout_secs = 60;
        self
    }
}
