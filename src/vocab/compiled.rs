//! Compiled, already-validated policy: what the GDP, the GSLBHostRules and the GSLBConfig mean once
//! checked. Selection and model building consume only these types, never the raw CRDs, so they
//! cannot see an invalid policy.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::ingest::Labels;

/// A label selector with AND semantics: every pair must be present with that exact value.
/// AMKO ignored selectors with more than one label; we honour all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector(pub BTreeMap<String, String>);

impl LabelSelector {
    /// True when every required label is present with the required value.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.0
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v.as_str()))
    }
}

/// Per-cluster share of traffic: pool member ratio and pool priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Split {
    pub weight: u32,
    pub priority: u32,
}

/// Default split when neither the GSLBHostRule nor the GDP names the cluster.
pub const DEFAULT_SPLIT: Split = Split {
    weight: 1,
    priority: 10,
};
/// Default split for a third-party member without a trafficSplit entry for its site.
pub const DEFAULT_THIRD_PARTY_SPLIT: Split = Split {
    weight: 1,
    priority: 1,
};

/// Fallback algorithm of a GEO pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GeoFallback {
    RoundRobin,
    ConsistentHash { hash_mask: u32 },
}

/// Pool load-balancing algorithm, valid by construction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PoolAlgorithm {
    #[default]
    RoundRobin,
    Topology,
    ConsistentHash {
        hash_mask: u32,
    },
    Geo {
        fallback: GeoFallback,
    },
}

/// What the DNS service answers when every member is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DownResponse {
    None,
    AllRecords,
    FallbackIp(IpAddr),
    Empty,
}

/// A validated HTTP(S) health monitor template: its request line split around the path, and the
/// response codes it accepts. AMKO-managed path monitors copy these, substituting their own path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HmTemplate {
    pub name: String,
    /// First token of the request line, e.g. `GET`.
    pub method: String,
    /// Third token of the request line, e.g. `HTTP/1.1`.
    pub http_version: String,
    pub response_codes: Vec<String>,
}

/// How data-plane health is monitored for a GslbService.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum HealthMonitoring {
    /// AMKO-managed monitors built from the members (the default).
    #[default]
    Managed,
    /// AMKO-managed path monitors whose request line and codes come from a template.
    Template(HmTemplate),
    /// User-owned federated monitors, by name.
    Refs(Vec<String>),
}

/// Site persistence as configured: a federated persistence profile and an optional PKI profile.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SitePersistence {
    pub profile_ref: String,
    pub pki_profile_ref: Option<String>,
}

/// GslbService-wide properties that a GDP sets and a GSLBHostRule may override. `None` means
/// "not set here": for a GSLBHostRule that falls back to the GDP, for the GDP to the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GsProperties {
    pub ttl: Option<u32>,
    pub health_monitoring: Option<HealthMonitoring>,
    /// `Some(None)` is "site persistence explicitly disabled" (GSLBHostRule with enabled: false).
    pub site_persistence: Option<Option<SitePersistence>>,
    /// A PKI profile without a persistence profile (GDP `pkiProfileRef` alone).
    pub pki_profile_ref: Option<String>,
    pub pool_algorithm: Option<PoolAlgorithm>,
    pub down_response: Option<DownResponse>,
    pub control_plane_hm_only: Option<bool>,
}

/// The accepted GlobalDeploymentPolicy, compiled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Name of the GDP this came from (for status and debug output).
    pub name: String,
    pub app_selector: Option<LabelSelector>,
    pub namespace_selector: Option<LabelSelector>,
    /// Selected clusters, with their syncVipOnly flag. Empty selects nothing.
    pub match_clusters: BTreeMap<String, ClusterMatch>,
    pub traffic_split: BTreeMap<String, Split>,
    pub properties: GsProperties,
    /// Used to build a Route's host from `spec.subdomain`.
    pub default_domain: Option<String>,
}

/// A cluster named in `matchClusters`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClusterMatch {
    pub sync_vip_only: bool,
}

/// A member from a non-Avi (third-party) GSLB site, declared in a GSLBHostRule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThirdPartyMember {
    pub site: String,
    pub vip: IpAddr,
    pub public_ip: Option<IpAddr>,
}

/// An accepted GSLBHostRule, compiled: per-FQDN overrides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostRuleOverrides {
    /// `namespace/name` of the GSLBHostRule (for status and debug output).
    pub source: String,
    pub fqdn: String,
    /// Tenant of the GSLBHostRule's namespace; the overrides apply to `tenant/fqdn` only.
    pub tenant: String,
    pub properties: GsProperties,
    /// Keyed by cluster context or third-party site name.
    pub traffic_split: BTreeMap<String, Split>,
    pub public_ips: BTreeMap<String, IpAddr>,
    pub third_party_members: BTreeSet<ThirdPartyMember>,
}

/// Settings derived from the accepted GSLBConfig that selection and model building need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSettings {
    /// `amko-<uuid>`: the marker on every object this instance owns on the controller.
    pub created_by: String,
    /// The GSLBConfig tenant (default `admin`).
    pub default_tenant: String,
    pub use_custom_global_fqdn: bool,
    /// Cluster contexts listed in the GSLBConfig.
    pub member_clusters: BTreeSet<String>,
}
