//! Command-line parameters of the many-cluster benchmark, with the full-size defaults of the
//! performance targets and a `--smoke` preset small enough for CI.

use clap::Parser;

/// The scenarios a plain run does; `crash` and `soak` (the long campaigns) run when named.
pub const DEFAULT_SCENARIOS: &str =
    "cold_start,in_sync_refresh,churn,gdp_edit,restart,outage,rate_limited";

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
    /// Crash: trials (each kills the operator with SIGKILL during a cold start, a churn, a GDP edit
    /// or a refresh, in turn, and checks the recovery).
    #[arg(long, default_value_t = 12)]
    pub trials: usize,
    /// Crash: seed of the moments and changes (a failing trial names it).
    #[arg(long, default_value_t = 0x5eed_c7a5)]
    pub crash_seed: u64,
    /// Soak: seconds of churn (the documented run: 1800).
    #[arg(long, default_value_t = 1800)]
    pub soak_secs: u64,
    /// Soak: changes per second.
    #[arg(long, default_value_t = 50)]
    pub soak_rate: u32,
    /// Soak: seconds between samples of RSS and map sizes.
    #[arg(long, default_value_t = 30)]
    pub soak_sample_secs: u64,
    /// Soak: seconds of warm-up, after which growth is measured.
    #[arg(long, default_value_t = 300)]
    pub soak_warmup_secs: u64,
    /// cold_start_at_limit: stop measuring this many seconds after the operator's start and
    /// report the ratio on the part written by then (for sizes whose cold start outlasts the run).
    #[arg(long)]
    pub at_limit_cutoff_secs: Option<u64>,
    /// Concurrent requests while loading objects.
    #[arg(long, default_value_t = 64)]
    pub load_concurrency: usize,
    /// Scenarios to run, in order (comma-separated); later ones build on earlier ones' state.
    /// Also `crash` and `soak`, not run unless named (the smoke preset adds short forms).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = DEFAULT_SCENARIOS
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
    /// Applies the smoke preset: 3 clusters × 20 Ingresses, short churn and windows; the default
    /// scenario list gains a 2-trial crash and a 6-second soak.
    pub fn smoke(mut self) -> Self {
        if self.scenarios.join(",") == DEFAULT_SCENARIOS {
            self.scenarios
                .extend(["crash".to_owned(), "soak".to_owned()]);
        }
        self.trials = 2;
        self.soak_secs = 6;
        self.soak_rate = 20;
        self.soak_sample_secs = 1;
        self.soak_warmup_secs = 2;
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
