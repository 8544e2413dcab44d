//! Why a GSLBConfig, GlobalDeploymentPolicy or GSLBHostRule was rejected. The Display text is what
//! the user sees in the object's status: it names the object, the field and the offending value.
//!
//! Wording follows AMKO where it was sound; its known defects are fixed (swapped label messages,
//! missing/double spaces, a priority range that disagreed with the schema).

use std::fmt;

/// The object a problem was found in, e.g. `GSLBHostRule shop/shop-overrides`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// A rejected object and the first problem found in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {problem}")]
pub struct PolicyError {
    pub object: ObjectRef,
    pub problem: Problem,
}

/// One validation failure. The text names the field (in the CR's JSON spelling) and the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    // --- placement and uniqueness (decided by the operator, which knows the other objects)
    #[error("namespace must be {expected}, not {actual}")]
    WrongNamespace {
        expected: &'static str,
        actual: String,
    },
    #[error("a GlobalDeploymentPolicy ({existing}) already exists, can't add another")]
    GdpAlreadyExists { existing: String },
    #[error("a GSLBConfig ({existing}) is already in use, can't add another")]
    GslbConfigAlreadyExists { existing: String },
    #[error("there's an existing GSLBHostRule ({existing}) for the same fqdn {fqdn}")]
    FqdnAlreadyClaimed { fqdn: String, existing: String },

    // --- GSLBConfig
    #[error("logLevel {level} is invalid, expected one of DEBUG, INFO, WARN, ERROR")]
    InvalidLogLevel { level: String },
    #[error("annotation amko.vmware.com/amko-uuid {value} is not a valid UUID")]
    InvalidUuid { value: String },
    #[error("{field} must not be empty")]
    EmptyField { field: String },

    // --- selectors and clusters
    #[error("label key is missing for value {value} in matchRules.{selector}.label")]
    LabelKeyMissing {
        selector: &'static str,
        value: String,
    },
    #[error("label value is missing for key {key} in matchRules.{selector}.label")]
    LabelValueMissing { selector: &'static str, key: String },
    #[error("cluster context {cluster} in matchClusters not present in GSLBConfig")]
    MatchClusterUnknown { cluster: String },
    #[error("cluster {cluster} appears more than once in {field}")]
    DuplicateCluster {
        field: &'static str,
        cluster: String,
    },
    #[error("cluster {cluster} in trafficSplit not present in GSLBConfig")]
    TrafficSplitClusterUnknown { cluster: String },
    #[error(
        "cluster {cluster} in trafficSplit is neither a GSLBConfig member cluster nor a thirdPartyMembers site"
    )]
    HostRuleSplitTargetUnknown { cluster: String },
    #[error(
        "traffic weight {weight} for cluster {cluster} in trafficSplit must be between 1 and 20"
    )]
    WeightOutOfRange { cluster: String, weight: i64 },
    #[error("priority {priority} for cluster {cluster} in trafficSplit must be between 0 and 100")]
    PriorityOutOfRange { cluster: String, priority: i64 },
    #[error("ttl {ttl} must be between 0 and 86400")]
    TtlOutOfRange { ttl: i64 },

    // --- health monitors
    #[error("healthMonitorRefs and healthMonitorTemplate cannot be specified together")]
    HealthMonitorRefsAndTemplate,
    #[error("healthMonitorRefs lists {count} monitors; a GslbService takes at most {max}")]
    HealthMonitorRefsTooMany { count: usize, max: usize },
    #[error("empty string as a health monitor reference in healthMonitorRefs not supported")]
    HealthMonitorRefEmpty,
    #[error("health monitor ref {name} in healthMonitorRefs not found")]
    HealthMonitorRefNotFound { name: String },
    #[error("health monitor ref {name} in healthMonitorRefs is not federated")]
    HealthMonitorRefNotFederated { name: String },
    #[error("health monitor template {name} in healthMonitorTemplate not found")]
    HealthMonitorTemplateNotFound { name: String },
    #[error("health monitor template {name} in healthMonitorTemplate is not federated")]
    HealthMonitorTemplateNotFederated { name: String },
    #[error(
        "health monitor template {name} in healthMonitorTemplate has type {monitor_type}; only HTTP and HTTPS monitors can be templates"
    )]
    HealthMonitorTemplateType { name: String, monitor_type: String },
    #[error(
        "client request header {request:?} in health monitor template {name} is invalid, expected \"<METHOD> <path> <HTTP version>\""
    )]
    HealthMonitorTemplateRequest { name: String, request: String },

    // --- site persistence and PKI
    #[error("empty string as {field} not supported")]
    EmptyReference { field: &'static str },
    #[error("site persistence profile {name} in {field} not present")]
    PersistenceProfileNotFound { field: &'static str, name: String },
    #[error("site persistence profile {name} in {field} cannot be used: {reason}")]
    PersistenceProfileUnusable {
        field: &'static str,
        name: String,
        reason: super::lookup::ProfileDefect,
    },
    #[error("pki profile {name} in {field} not present")]
    PkiProfileNotFound { field: &'static str, name: String },

    // --- GSLBHostRule members
    #[error("fqdn is missing")]
    FqdnMissing,
    #[error("invalid vip {vip} for thirdPartyMembers site {site} (expecting IP address)")]
    ThirdPartyVipInvalid { site: String, vip: String },
    #[error("invalid publicIP {ip} for thirdPartyMembers site {site} (expecting IP address)")]
    ThirdPartyPublicIpInvalid { site: String, ip: String },
    #[error("thirdPartyMembers site {site} does not exist on the GSLB leader")]
    ThirdPartySiteUnknown { site: String },
    #[error("cluster {cluster} in publicIP not present in GSLBConfig")]
    PublicIpClusterUnknown { cluster: String },
    #[error("invalid IP {ip} in publicIP for cluster {cluster} (expecting IP address)")]
    PublicIpInvalid { cluster: String, ip: String },

    // --- pool algorithm and down response
    #[error("invalid pool algorithm: {0}")]
    PoolAlgorithm(PoolAlgorithmProblem),
    #[error("invalid down response configuration: {0}")]
    DownResponse(DownResponseProblem),
}

/// What is wrong with `poolAlgorithmSettings`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolAlgorithmProblem {
    #[error("unsupported lbAlgorithm {algorithm:?}")]
    Unsupported { algorithm: String },
    #[error("geoFallback not allowed for {algorithm}")]
    GeoFallbackNotAllowed { algorithm: String },
    #[error("hashMask not allowed for {algorithm}")]
    HashMaskNotAllowed { algorithm: String },
    #[error("hashMask is required for GSLB_ALGORITHM_CONSISTENT_HASH")]
    HashMaskRequired,
    #[error("{field} {hash_mask} must be between 1 and 31")]
    HashMaskOutOfRange { field: &'static str, hash_mask: i64 },
    #[error(
        "geoFallback has to be set for GSLB_ALGORITHM_GEO, available choices: GSLB_ALGORITHM_ROUND_ROBIN, GSLB_ALGORITHM_CONSISTENT_HASH"
    )]
    GeoFallbackRequired,
    #[error("unsupported algorithm {algorithm:?} for geoFallback")]
    UnsupportedFallback { algorithm: String },
    #[error("geoFallback.hashMask is not allowed with {algorithm} as geoFallback algorithm")]
    FallbackHashMaskNotAllowed { algorithm: String },
    #[error("geoFallback.hashMask is required for {algorithm} as the geoFallback algorithm")]
    FallbackHashMaskRequired { algorithm: String },
}

/// What is wrong with `downResponse`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DownResponseProblem {
    #[error("unsupported type {down_type:?}")]
    UnsupportedType { down_type: String },
    #[error("fallbackIP is required for {down_type}")]
    FallbackIpRequired { down_type: String },
    #[error("fallbackIP {ip} is not valid")]
    FallbackIpInvalid { ip: String },
    #[error("fallbackIP is not allowed for {down_type}")]
    FallbackIpNotAllowed { down_type: String },
}
