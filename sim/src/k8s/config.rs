//! Configuration of the simulated clusters: names, flavour, AKO emulation settings, listeners,
//! TLS and watch tuning.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Which IP family AKO assigns VIPs from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VipFamily {
    #[default]
    V4,
    V6,
    /// One IPv4 and one IPv6 VIP per host.
    Dual,
}

/// AKO emulation of one cluster.
#[derive(Clone, Debug)]
pub struct AkoSettings {
    pub enabled: bool,
    pub vip_family: VipFamily,
    /// `ako.vmware.com/controller-cluster-uuid` value; derived from the cluster name when unset.
    pub controller_cluster_uuid: Option<String>,
}

impl Default for AkoSettings {
    fn default() -> Self {
        AkoSettings {
            enabled: true,
            vip_family: VipFamily::V4,
            controller_cluster_uuid: None,
        }
    }
}

/// One simulated cluster.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    pub name: String,
    /// Serve `route.openshift.io/v1` Route.
    pub openshift: bool,
    pub ako: AkoSettings,
}

impl ClusterSpec {
    pub fn new(name: impl Into<String>) -> Self {
        ClusterSpec {
            name: name.into(),
            openshift: false,
            ako: AkoSettings::default(),
        }
    }

    pub fn openshift(mut self) -> Self {
        self.openshift = true;
        self
    }

    pub fn vip_family(mut self, family: VipFamily) -> Self {
        self.ako.vip_family = family;
        self
    }

    pub fn without_ako(mut self) -> Self {
        self.ako.enabled = false;
        self
    }
}

/// How clusters get their base URLs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// One listener per cluster on `ip`: ephemeral ports when `base_port` is 0, else consecutive
    /// ports from `base_port`.
    PerCluster { ip: IpAddr, base_port: u16 },
    /// One listener for all; cluster `name` lives under the path prefix `/clusters/<name>`.
    Shared { addr: SocketAddr },
}

impl Default for Listen {
    fn default() -> Self {
        Listen::PerCluster {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            base_port: 0,
        }
    }
}

/// Watch behaviour.
#[derive(Clone, Debug)]
pub struct WatchSettings {
    /// How often open watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    /// Events kept per cluster for resuming watches; older resourceVersions get 410 Expired.
    pub event_log_capacity: usize,
    /// Events buffered per cluster for slow watchers; a watcher that falls further behind gets 410.
    pub watch_buffer: usize,
}

impl Default for WatchSettings {
    fn default() -> Self {
        WatchSettings {
            bookmark_interval: Duration::from_secs(5),
            event_log_capacity: 1024,
            watch_buffer: 8192,
        }
    }
}

/// Everything `SimClusters::start` needs.
#[derive(Clone, Debug, Default)]
pub struct SimConfig {
    pub clusters: Vec<ClusterSpec>,
    pub listen: Listen,
    /// Serve HTTPS with a CA generated at start-up (written into the kubeconfig).
    pub tls: bool,
    pub watch: WatchSettings,
}

impl SimConfig {
    /// `n` plain clusters named `cluster1` … `clusterN`.
    pub fn with_clusters(n: usize) -> Self {
        SimConfig {
            clusters: (1..=n)
                .map(|i| ClusterSpec::new(format!("cluster{i}")))
                .collect(),
            ..Default::default()
        }
    }
}
