//! AMKOCluster (`amko.vmware.com/v1alpha1`, `amkoclusters`): this cluster's role in the federation
//! of amko-rs instances (leader or follower) and the set of clusters to federate configuration to.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `status.conditions[].type` values, one per federation step.
pub const CONDITION_VALIDATION: &str = "current AMKOCluster Validation";
pub const CONDITION_MEMBER_INIT: &str = "member cluster initialisation";
pub const CONDITION_MEMBER_VALIDATION: &str = "member cluster validation";
pub const CONDITION_GSLBCONFIG_FEDERATION: &str = "GSLBConfig Federation";
pub const CONDITION_GDP_FEDERATION: &str = "GDP Federation";

/// AMKOCluster spec. One per cluster, in `avi-system`.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "amko.vmware.com",
    doc = "This cluster's role in the amko-rs federation and the clusters to federate to.",
    version = "v1alpha1",
    kind = "AMKOCluster",
    root = "AmkoCluster",
    plural = "amkoclusters",
    singular = "amkocluster",
    namespaced,
    status = "AmkoClusterStatus",
    printcolumn = r#"{"name":"Leader","type":"boolean","jsonPath":".spec.isLeader"}"#,
    printcolumn = r#"{"name":"Context","type":"string","jsonPath":".spec.clusterContext"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct AmkoClusterSpec {
    /// This instance syncs to Avi and federates configuration; exactly one per federation.
    #[serde(default)]
    pub is_leader: bool,
    /// This cluster's context name in the members kubeconfig.
    #[serde(default)]
    pub cluster_context: String,
    /// amko version; every member of a federation must run the same one.
    #[serde(default)]
    pub version: String,
    /// Contexts of the federation set (including this cluster's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub clusters: Vec<String>,
}

/// AMKOCluster status, written through the status subresource by the federator.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AmkoClusterStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<AmkoClusterCondition>,
    /// When this cluster's operator started acting as leader (RFC 3339, UTC). Of two clusters that
    /// both say `isLeader: true`, the one that became leader later stops writing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_since: Option<String>,
}

/// One federation step's outcome (plain strings, not `metav1.Condition`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AmkoClusterCondition {
    /// e.g. `current AMKOCluster Validation`, `GDP Federation`.
    #[serde(default, rename = "type")]
    pub type_: String,
    /// e.g. `valid AMKOCluster object`.
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}
