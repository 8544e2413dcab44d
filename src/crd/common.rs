//! Field types shared by the GlobalDeploymentPolicy and the GSLBHostRule (pool algorithm settings,
//! down response, label selectors) and the enum value lists their schemas enforce.
//!
//! The Rust types are deliberately lenient (strings for enums, `i64` for numbers, defaults
//! everywhere): one object that an older or missing CRD let through must not break a whole watch
//! list. The schema is strict, and `policy::validate` re-checks everything with a readable message.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const ALGORITHM_ROUND_ROBIN: &str = "GSLB_ALGORITHM_ROUND_ROBIN";
pub const ALGORITHM_TOPOLOGY: &str = "GSLB_ALGORITHM_TOPOLOGY";
pub const ALGORITHM_CONSISTENT_HASH: &str = "GSLB_ALGORITHM_CONSISTENT_HASH";
pub const ALGORITHM_GEO: &str = "GSLB_ALGORITHM_GEO";
/// Every `poolAlgorithmSettings.lbAlgorithm` value.
pub const LB_ALGORITHMS: [&str; 4] = [
    ALGORITHM_CONSISTENT_HASH,
    ALGORITHM_GEO,
    ALGORITHM_ROUND_ROBIN,
    ALGORITHM_TOPOLOGY,
];
/// Every `poolAlgorithmSettings.geoFallback.lbAlgorithm` value.
pub const GEO_FALLBACK_ALGORITHMS: [&str; 2] = [ALGORITHM_ROUND_ROBIN, ALGORITHM_CONSISTENT_HASH];

pub const DOWN_RESPONSE_NONE: &str = "GSLB_SERVICE_DOWN_RESPONSE_NONE";
pub const DOWN_RESPONSE_ALL_RECORDS: &str = "GSLB_SERVICE_DOWN_RESPONSE_ALL_RECORDS";
pub const DOWN_RESPONSE_FALLBACK_IP: &str = "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP";
pub const DOWN_RESPONSE_EMPTY: &str = "GSLB_SERVICE_DOWN_RESPONSE_EMPTY";
/// Every `downResponse.type` value.
pub const DOWN_RESPONSE_TYPES: [&str; 4] = [
    DOWN_RESPONSE_NONE,
    DOWN_RESPONSE_ALL_RECORDS,
    DOWN_RESPONSE_FALLBACK_IP,
    DOWN_RESPONSE_EMPTY,
];

/// Inclusive bounds the schemas and the validation share.
pub const WEIGHT_MIN: i64 = 1;
pub const WEIGHT_MAX: i64 = 20;
pub const PRIORITY_MIN: i64 = 0;
pub const PRIORITY_MAX: i64 = 100;
pub const TTL_MIN: i64 = 0;
pub const TTL_MAX: i64 = 86_400;
pub const HASH_MASK_MIN: i64 = 1;
pub const HASH_MASK_MAX: i64 = 31;

/// Default `trafficSplit[].weight`, in a GDP and in a GSLBHostRule alike (their default
/// priorities differ).
pub const DEFAULT_WEIGHT: i64 = 1;

pub(super) fn default_weight() -> i64 {
    DEFAULT_WEIGHT
}

/// How GslbService pools spread traffic over their members.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["lbAlgorithm"]))]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.lbAlgorithm == 'GSLB_ALGORITHM_CONSISTENT_HASH' ? has(self.hashMask) : !has(self.hashMask)",
        "message": "hashMask is required with GSLB_ALGORITHM_CONSISTENT_HASH and not allowed with any other lbAlgorithm"
    },
    {
        "rule": "self.lbAlgorithm == 'GSLB_ALGORITHM_GEO' ? has(self.geoFallback) : !has(self.geoFallback)",
        "message": "geoFallback is required with GSLB_ALGORITHM_GEO and not allowed with any other lbAlgorithm"
    }
]))]
pub struct PoolAlgorithmSettings {
    /// One of GSLB_ALGORITHM_ROUND_ROBIN, GSLB_ALGORITHM_TOPOLOGY, GSLB_ALGORITHM_CONSISTENT_HASH,
    /// GSLB_ALGORITHM_GEO.
    #[serde(default)]
    #[schemars(extend("enum" = LB_ALGORITHMS))]
    pub lb_algorithm: String,
    /// Mask applied to the client IP before hashing; required with GSLB_ALGORITHM_CONSISTENT_HASH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = HASH_MASK_MIN, max = HASH_MASK_MAX))]
    pub hash_mask: Option<i64>,
    /// Algorithm used when the client's location is unknown; required with GSLB_ALGORITHM_GEO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_fallback: Option<GeoFallbackSettings>,
}

/// Fallback algorithm of a GSLB_ALGORITHM_GEO pool.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["lbAlgorithm"]))]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.lbAlgorithm == 'GSLB_ALGORITHM_CONSISTENT_HASH' ? has(self.hashMask) : !has(self.hashMask)",
        "message": "geoFallback.hashMask is required with GSLB_ALGORITHM_CONSISTENT_HASH and not allowed with GSLB_ALGORITHM_ROUND_ROBIN"
    }
]))]
pub struct GeoFallbackSettings {
    /// GSLB_ALGORITHM_ROUND_ROBIN or GSLB_ALGORITHM_CONSISTENT_HASH.
    #[serde(default)]
    #[schemars(extend("enum" = GEO_FALLBACK_ALGORITHMS))]
    pub lb_algorithm: String,
    /// Required with GSLB_ALGORITHM_CONSISTENT_HASH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = HASH_MASK_MIN, max = HASH_MASK_MAX))]
    pub hash_mask: Option<i64>,
}

/// What the DNS service answers when every member of a GslbService is down.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["type"]))]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.type == 'GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP' ? (has(self.fallbackIP) && self.fallbackIP != '') : (!has(self.fallbackIP) || self.fallbackIP == '')",
        "message": "fallbackIP is required with GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP and not allowed with any other type"
    }
]))]
pub struct DownResponseSettings {
    /// One of GSLB_SERVICE_DOWN_RESPONSE_NONE, _ALL_RECORDS, _FALLBACK_IP, _EMPTY.
    #[serde(default, rename = "type")]
    #[schemars(extend("enum" = DOWN_RESPONSE_TYPES))]
    pub type_: String,
    /// IPv4 or IPv6 address answered with GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP.
    #[serde(
        default,
        rename = "fallbackIP",
        skip_serializing_if = "Option::is_none"
    )]
    pub fallback_ip: Option<String>,
}

/// Labels that must all be present with these exact values (AND semantics).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LabelMatch {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub label: BTreeMap<String, String>,
}
