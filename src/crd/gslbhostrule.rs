//! GSLBHostRule (`amko.vmware.com/v1alpha1`, `gslbhostrules`, short `ghr`): per-FQDN overrides of
//! the GlobalDeploymentPolicy's GslbService properties, plus third-party members and public IPs.

use super::common::{
    DownResponseSettings, PRIORITY_MAX, PRIORITY_MIN, PoolAlgorithmSettings, TTL_MAX, TTL_MIN,
    WEIGHT_MAX, WEIGHT_MIN, default_weight,
};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::common::DEFAULT_WEIGHT;
/// Default `trafficSplit[].priority` in a GSLBHostRule. AMKO's CRD defaults it to 1 (not the GDP's
/// 10); kept so that existing rules produce the same pools.
pub const DEFAULT_PRIORITY: i64 = 1;

/// `status.status` of an accepted rule.
pub const STATUS_ACCEPTED: &str = "Accepted";
/// `status.status` of a rejected rule (`status.error` says why).
pub const STATUS_REJECTED: &str = "Rejected";

/// GSLBHostRule spec. Any namespace; that namespace's tenant decides which GslbService it targets.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "amko.vmware.com",
    doc = "Per-FQDN overrides of GslbService properties, third-party members and public IPs.",
    version = "v1alpha1",
    kind = "GSLBHostRule",
    root = "GslbHostRule",
    plural = "gslbhostrules",
    singular = "gslbhostrule",
    shortname = "ghr",
    namespaced,
    status = "GslbHostRuleStatus",
    printcolumn = r#"{"name":"FQDN","type":"string","jsonPath":".spec.fqdn"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.status"}"#,
    printcolumn = r#"{"name":"Error","type":"string","jsonPath":".status.error"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["fqdn"]))]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!(has(self.healthMonitorRefs) && size(self.healthMonitorRefs) > 0 && has(self.healthMonitorTemplate))",
        "message": "healthMonitorRefs and healthMonitorTemplate cannot be specified together"
    }
]))]
pub struct GslbHostRuleSpec {
    /// The GslbService FQDN (= GslbService name) these overrides apply to.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub fqdn: String,
    /// Overrides the GDP ttl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = TTL_MIN, max = TTL_MAX))]
    pub ttl: Option<i64>,
    /// Present: enabled uses `profileRef`, disabled turns site persistence off. Absent: the GDP's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_persistence: Option<SitePersistenceSettings>,
    /// Members from non-Avi (third-party) GSLB sites.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub third_party_members: Vec<ThirdPartyMemberSpec>,
    /// Federated health monitors overriding the GDP's choice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub health_monitor_refs: Vec<String>,
    /// HTTP(S) health monitor template overriding the GDP's choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub health_monitor_template: Option<String>,
    /// Per cluster (or third-party site) ratio and priority, overriding the GDP's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["cluster"]))]
    pub traffic_split: Vec<HostRuleTrafficSplit>,
    /// Public (NAT) IP per member cluster.
    #[serde(default, rename = "publicIP", skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["cluster"]))]
    pub public_ip: Vec<PublicIpSpec>,
    /// Overrides the GDP pool algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_algorithm_settings: Option<PoolAlgorithmSettings>,
    /// Overrides the GDP down response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_response: Option<DownResponseSettings>,
    /// Overrides the GDP flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_hm_only: Option<bool>,
}

/// Site persistence override.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["enabled"]))]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!self.enabled || (has(self.profileRef) && self.profileRef != '')",
        "message": "profileRef is required when site persistence is enabled"
    }
]))]
pub struct SitePersistenceSettings {
    /// Site persistence on (with `profileRef`) or off for this FQDN.
    // Required and without a schema default: `sitePersistence: {profileRef: x}` must not silently
    // mean "off".
    #[serde(default)]
    #[schemars(transform = without_default)]
    pub enabled: bool,
    /// Federated application persistence profile.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub profile_ref: String,
    /// Federated PKI profile; absent falls back to the GDP's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub pki_profile_ref: Option<String>,
}

fn without_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// A member from a third-party GSLB site.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["vip", "site"]))]
pub struct ThirdPartyMemberSpec {
    /// IPv4 or IPv6 address of the member.
    #[serde(default)]
    pub vip: String,
    /// Name of a third-party site in the controller's GSLB configuration.
    #[serde(default)]
    pub site: String,
    /// Public (NAT) IP of the member.
    #[serde(default, rename = "publicIP", skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<String>,
}

/// Member ratio and pool priority of one cluster or third-party site.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["cluster"]))]
pub struct HostRuleTrafficSplit {
    /// Cluster context or third-party site name.
    #[serde(default)]
    pub cluster: String,
    #[serde(default = "default_weight")]
    #[schemars(range(min = WEIGHT_MIN, max = WEIGHT_MAX))]
    pub weight: i64,
    #[serde(default = "default_priority")]
    #[schemars(range(min = PRIORITY_MIN, max = PRIORITY_MAX))]
    pub priority: i64,
}

impl Default for HostRuleTrafficSplit {
    fn default() -> Self {
        Self {
            cluster: String::new(),
            weight: DEFAULT_WEIGHT,
            priority: DEFAULT_PRIORITY,
        }
    }
}

fn default_priority() -> i64 {
    DEFAULT_PRIORITY
}

/// Public IP of a member cluster's members.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["cluster", "ip"]))]
pub struct PublicIpSpec {
    #[serde(default)]
    pub cluster: String,
    /// IPv4 or IPv6 address.
    #[serde(default)]
    pub ip: String,
}

/// GSLBHostRule status, written through the status subresource.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GslbHostRuleStatus {
    /// `Accepted` or `Rejected`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Why the rule was rejected; empty when accepted.
    #[serde(default)]
    pub error: String,
}
