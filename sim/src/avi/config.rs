//! Start-up configuration of the simulated controller. Every knob has a default that behaves
//! like a freshly installed controller; tests and benchmarks tighten or loosen them.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::seed::SeedFile;

/// What a rate-limit bucket belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitScope {
    /// One bucket per source IP address, like the controller's nginx front end.
    #[default]
    SourceIp,
    /// One bucket per session cookie (source IP for requests without one), so that parallel
    /// clients on one machine can be limited separately.
    Session,
}

/// nginx `limit_req`-style limit: `rate_per_sec` on average, `burst` requests of excess allowed;
/// beyond that 429. With `delay` the excess requests wait for their slot (nginx default),
/// without it they pass at once (nginx `nodelay`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateLimitConfig {
    pub rate_per_sec: f64,
    pub burst: u32,
    #[serde(default)]
    pub scope: RateLimitScope,
    #[serde(default = "default_true")]
    pub delay: bool,
}

fn default_true() -> bool {
    true
}

impl Default for RateLimitConfig {
    /// The controller's default portal limit: about 32 requests/s with a burst (KB 372209).
    fn default() -> Self {
        RateLimitConfig {
            rate_per_sec: 32.0,
            burst: 32,
            scope: RateLimitScope::SourceIp,
            delay: true,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AviSimConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// HTTPS with a generated CA (true) or plain HTTP.
    pub tls: bool,
    pub username: String,
    /// `None` generates a random password at start (read it from the handle).
    pub password: Option<String>,
    /// The controller's own API version; newer `X-Avi-Version` headers are refused.
    pub version: String,
    /// Sessions idle longer than this answer 401 (controller default 15 min).
    pub idle_timeout: Duration,
    /// Sessions older than this answer 401 (controller default 24 h).
    pub absolute_timeout: Duration,
    /// Accept `Authorization: Basic` (portal_configuration.allow_basic_authentication).
    pub basic_auth: bool,
    /// `None` = unlimited (benchmarks).
    pub rate_limit: Option<RateLimitConfig>,
    /// Page size when the request does not give one.
    pub default_page_size: usize,
    /// Start as a GSLB follower (federated writes refused).
    pub follower: bool,
    /// Start with GSLB maintenance mode on.
    pub maintenance: bool,
    /// `Gslb.dns_configs` subdomains; when non-empty every GslbService FQDN must fall under one.
    pub gslb_dns_domains: Vec<String>,
    /// Tenants and objects created at start (after the system objects).
    pub seed: Option<SeedFile>,
    /// Where the CA file goes; `None` = a fresh directory under the system temp dir, removed at
    /// shutdown.
    pub state_dir: Option<PathBuf>,
    /// UDP and TCP address of the simulated GSLB DNS service (port 0 = a free port shared by
    /// both); `None` = no DNS service.
    pub dns_listen: Option<SocketAddr>,
}

impl Default for AviSimConfig {
    fn default() -> Self {
        AviSimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls: true,
            username: "admin".to_string(),
            password: None,
            version: "30.2.1".to_string(),
            idle_timeout: Duration::from_secs(15 * 60),
            absolute_timeout: Duration::from_secs(24 * 3600),
            basic_auth: false,
            rate_limit: Some(RateLimitConfig::default()),
            default_page_size: 25,
            follower: false,
            maintenance: false,
            gslb_dns_domains: Vec::new(),
            seed: None,
            state_dir: None,
            dns_listen: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
        }
    }
}
