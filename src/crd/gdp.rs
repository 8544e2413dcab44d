//! GlobalDeploymentPolicy (`amko.vmware.com/v1alpha2`, `globaldeploymentpolicies`, short `gdp`):
//! which member-cluster objects become GslbService members, and the default GslbService properties.

use super::common::{
    DownResponseSettings, LabelMatch, PRIORITY_MAX, PRIORITY_MIN, PoolAlgorithmSettings, TTL_MAX,
    TTL_MIN, WEIGHT_MAX, WEIGHT_MIN, default_weight,
};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `status.errorStatus` of the accepted policy.
pub const STATUS_SUCCESS: &str = "success";
pub use super::common::DEFAULT_WEIGHT;
/// Default `trafficSplit[].priority` in a GDP.
pub const DEFAULT_PRIORITY: i64 = 10;

/// GlobalDeploymentPolicy spec. An empty spec is valid and selects nothing.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "amko.vmware.com",
    doc = "Selects member-cluster objects for GSLB and sets default GslbService properties.",
    version = "v1alpha2",
    kind = "GlobalDeploymentPolicy",
    plural = "globaldeploymentpolicies",
    singular = "globaldeploymentpolicy",
    shortname = "gdp",
    namespaced,
    status = "GlobalDeploymentPolicyStatus",
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.errorStatus"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!(has(self.healthMonitorRefs) && size(self.healthMonitorRefs) > 0 && has(self.healthMonitorTemplate))",
        "message": "healthMonitorRefs and healthMonitorTemplate cannot be specified together"
    }
]))]
pub struct GlobalDeploymentPolicySpec {
    /// Label selectors for objects and namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_rules: Option<MatchRules>,
    /// Clusters whose objects may be selected; empty selects nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["cluster"]))]
    pub match_clusters: Vec<MatchCluster>,
    /// Per-cluster member ratio and pool priority.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["cluster"]))]
    pub traffic_split: Vec<GdpTrafficSplit>,
    /// GslbService DNS TTL in seconds; absent leaves it to the DNS virtual service profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = TTL_MIN, max = TTL_MAX))]
    pub ttl: Option<i64>,
    /// Federated Avi health monitors to use instead of the ones amko-rs manages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub health_monitor_refs: Vec<String>,
    /// Federated HTTP(S) health monitor whose request line and response codes managed monitors copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub health_monitor_template: Option<String>,
    /// Federated application persistence profile; enables site persistence for TLS members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub site_persistence_ref: Option<String>,
    /// Federated PKI profile used with site persistence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub pki_profile_ref: Option<String>,
    /// Default pool algorithm; absent means GSLB_ALGORITHM_ROUND_ROBIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_algorithm_settings: Option<PoolAlgorithmSettings>,
    /// Answer when every member is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_response: Option<DownResponseSettings>,
    /// Only control-plane health: no data-plane health monitors at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_hm_only: Option<bool>,
    /// Domain used to build an OpenShift Route's host from `spec.subdomain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_domain: Option<String>,
}

/// Object and namespace label selectors (each with AND semantics over its labels).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MatchRules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_selector: Option<LabelMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelMatch>,
}

/// A cluster whose objects may be selected.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["cluster"]))]
pub struct MatchCluster {
    /// Kubeconfig context of a GSLBConfig member cluster.
    #[serde(default)]
    pub cluster: String,
    /// Send this cluster's members to Avi by IP only (no virtual service / cluster UUIDs).
    #[serde(default)]
    pub sync_vip_only: bool,
}

/// Member ratio and pool priority of one cluster.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["cluster"]))]
pub struct GdpTrafficSplit {
    #[serde(default)]
    pub cluster: String,
    #[serde(default = "default_weight")]
    #[schemars(range(min = WEIGHT_MIN, max = WEIGHT_MAX))]
    pub weight: i64,
    /// Members of the highest-priority pool with an up member get the traffic.
    #[serde(default = "default_priority")]
    #[schemars(range(min = PRIORITY_MIN, max = PRIORITY_MAX))]
    pub priority: i64,
}

impl Default for GdpTrafficSplit {
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

/// GlobalDeploymentPolicy status, written through the status subresource.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GlobalDeploymentPolicyStatus {
    /// `success`, or why the policy was rejected.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error_status: String,
}
