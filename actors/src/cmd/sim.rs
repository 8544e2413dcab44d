//! `amko sim`: start simulated member clusters and a simulated Avi controller (with its GSLB DNS
//! service) on loopback, write a kubeconfig, print one JSON line describing them when ready, and
//! run until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use amko_sim::avi::{AviSim, AviSimConfig, RateLimitConfig};
use amko_sim::k8s::{ClusterSpec, Down, FaultSettings, Listen, SimClusters, SimConfig, VipFamily};

/// Arguments of `amko sim`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of simulated clusters.
    #[arg(long, default_value_t = 2)]
    pub clusters: usize,
    /// How many of them (the last ones) are OpenShift-flavoured (serve route.openshift.io Routes).
    #[arg(long, default_value_t = 0)]
    pub openshift: usize,
    /// Cluster names, in order (repeatable); the rest are named clusterN.
    #[arg(long = "cluster", value_name = "NAME")]
    pub names: Vec<String>,
    /// Where to write the kubeconfig (one context per cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Listen address: IP with port 0 gives each cluster its own ephemeral port; a non-zero port
    /// gives consecutive ports from there (or the shared port with --shared-port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Serve all clusters on one port under /clusters/<name>.
    #[arg(long)]
    pub shared_port: bool,
    /// Serve HTTPS with a generated CA (embedded in the kubeconfig).
    #[arg(long)]
    pub tls: bool,
    /// Turn AKO emulation off.
    #[arg(long)]
    pub no_ako: bool,
    /// VIP family AKO assigns: v4, v6 or dual.
    #[arg(long, default_value = "v4", value_parser = parse_family)]
    pub vip_family: VipFamily,
    /// Clusters that start down (connection refused); repeatable.
    #[arg(long = "down", value_name = "NAME")]
    pub down: Vec<String>,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction of requests that fail with 500 (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 5)]
    pub bookmark_interval: u64,
    /// Do not start the simulated Avi controller.
    #[arg(long)]
    pub no_avi: bool,
    /// Listen address of the simulated Avi controller.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub avi_listen: SocketAddr,
    /// Serve the Avi controller over plain HTTP instead of HTTPS with a generated CA.
    #[arg(long)]
    pub avi_http: bool,
    /// Per-client request rate limit of the Avi controller (requests/s; 0 = unlimited).
    #[arg(long, default_value_t = 32.0)]
    pub avi_rate_limit: f64,
    /// Password of the Avi controller's admin user (default: generated).
    #[arg(long)]
    pub avi_password: Option<String>,
    /// UDP and TCP address of the simulated GSLB DNS service (port 0 = a free port); printed
    /// as `dns` in the JSON line.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub dns_listen: SocketAddr,
}

/// Command-line values `amko sim` cannot use.
#[derive(Debug, thiserror::Error)]
enum SimArgsError {
    #[error("unknown VIP family {0:?}: use v4, v6 or dual")]
    VipFamily(String),
    #[error("--openshift {openshift} is more than the {total} clusters")]
    TooManyOpenShift { openshift: usize, total: usize },
    #[error("--down {0}: no such cluster")]
    NoSuchCluster(String),
}

fn parse_family(text: &str) -> Result<VipFamily, SimArgsError> {
    match text {
        "v4" | "ipv4" => Ok(VipFamily::V4),
        "v6" | "ipv6" => Ok(VipFamily::V6),
        "dual" => Ok(VipFamily::Dual),
        other => Err(SimArgsError::VipFamily(other.to_owned())),
    }
}

fn config(args: &Args) -> Result<SimConfig, Box<dyn std::error::Error>> {
    let total = args.clusters.max(args.names.len());
    if args.openshift > total {
        return Err(SimArgsError::TooManyOpenShift {
            openshift: args.openshift,
            total,
        }
        .into());
    }
    let mut config = SimConfig::default();
    for i in 0..total {
        let name = args
            .names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("cluster{}", i + 1));
        let mut spec = ClusterSpec::new(name).vip_family(args.vip_family);
        spec.openshift = i >= total - args.openshift;
        spec.ako.enabled = !args.no_ako;
        config.clusters.push(spec);
    }
    config.listen = if args.shared_port {
        Listen::Shared { addr: args.listen }
    } else {
        Listen::PerCluster {
            ip: args.listen.ip(),
            base_port: args.listen.port(),
        }
    };
    config.tls = args.tls;
    config.watch.bookmark_interval = Duration::from_secs(args.bookmark_interval.max(1));
    Ok(config)
}

/// The simulated controller's settings from the command line.
fn avi_config(args: &Args) -> AviSimConfig {
    let defaults = AviSimConfig::default();
    AviSimConfig {
        listen: args.avi_listen,
        tls: !args.avi_http,
        password: args.avi_password.clone(),
        rate_limit: (args.avi_rate_limit > 0.0).then(|| RateLimitConfig {
            rate_per_sec: args.avi_rate_limit,
            burst: args.avi_rate_limit.ceil() as u32,
            ..RateLimitConfig::default()
        }),
        dns_listen: Some(args.dns_listen),
        ..defaults
    }
}

pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = config(&args)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let sim = SimClusters::start(config).await?;
        for name in &args.down {
            sim.faults(name)
                .ok_or_else(|| SimArgsError::NoSuchCluster(name.clone()))?
                .set_down(Down::Refused);
        }
        if args.latency_ms > 0 || args.error_rate > 0.0 {
            for endpoint in sim.endpoints() {
                if let Some(faults) = sim.faults(&endpoint.name) {
                    let down = faults.settings().down;
                    faults.apply(&FaultSettings {
                        down,
                        latency_ms: args.latency_ms,
                        error_rate: args.error_rate,
                    });
                }
            }
        }
        let kubeconfig = match &args.kubeconfig_out {
            Some(path) => path.clone(),
            None => {
                std::env::temp_dir().join(format!("amko-sim-{}.kubeconfig", std::process::id()))
            }
        };
        sim.write_kubeconfig(&kubeconfig)?;
        let avi = if args.no_avi {
            None
        } else {
            Some(AviSim::start(avi_config(&args)).await?)
        };
        let mut ready = serde_json::json!({
            "kubeconfig": kubeconfig.display().to_string(),
            "clusters": sim.endpoints(),
            "control": sim.control_url(),
        });
        if let Some(avi) = &avi {
            ready["avi"] = serde_json::to_value(avi.info())?;
            if let Some(dns) = avi.dns_addr() {
                ready["dns"] = serde_json::json!(dns.to_string());
            }
        }
        println!("{ready}");
        wait_for_signal().await?;
        if let Some(avi) = avi {
            avi.shutdown().await;
        }
        sim.shutdown().await;
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

async fn wait_for_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn names_and_openshift_flags() {
        let cli = Cli::parse_from([
            "sim",
            "--clusters",
            "3",
            "--openshift",
            "1",
            "--cluster",
            "east",
            "--vip-family",
            "dual",
        ]);
        let config = config(&cli.args).unwrap();
        let names: Vec<&str> = config.clusters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["east", "cluster2", "cluster3"]);
        assert!(!config.clusters[0].openshift && config.clusters[2].openshift);
        assert_eq!(config.clusters[1].ako.vip_family, VipFamily::Dual);
    }
}
