//! GSLBConfig (`amko.vmware.com/v1alpha1`, `gslbconfigs`, short `gc`): the static configuration of
//! one amko-rs instance — which GSLB leader controller to talk to and which member clusters to watch.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Annotation carrying this instance's identity; GslbServices are marked `amko-<uuid>`.
pub const AMKO_UUID_ANNOTATION: &str = "amko.vmware.com/amko-uuid";
/// `status.state` values AMKO wrote and users (and scripts) know.
pub const STATE_ACCEPTED: &str = "success: gslb config accepted";
pub const STATE_SYNCING: &str = "syncing all objects";
pub const STATE_SYNCED: &str = "synced all objects";
pub const STATE_NOT_LEADER: &str = "error: controller not a leader";
pub const STATE_NEEDS_RESTART: &str = "gslb config edited, amko needs a restart";
/// Every valid `spec.logLevel`.
pub const LOG_LEVELS: [&str; 4] = ["DEBUG", "INFO", "WARN", "ERROR"];

/// GSLBConfig spec. Exactly one GSLBConfig, in `avi-system`, configures an instance.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "amko.vmware.com",
    doc = "The static configuration of one amko-rs instance: GSLB leader controller and member clusters.",
    version = "v1alpha1",
    kind = "GSLBConfig",
    root = "GslbConfig",
    plural = "gslbconfigs",
    singular = "gslbconfig",
    shortname = "gc",
    namespaced,
    status = "GslbConfigStatus",
    printcolumn = r#"{"name":"Controller","type":"string","jsonPath":".spec.gslbLeader.controllerIP"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["gslbLeader"]))]
pub struct GslbConfigSpec {
    /// The Avi GSLB leader controller.
    #[serde(default)]
    pub gslb_leader: GslbLeader,
    /// Kubeconfig contexts (from the `gslb-config-secret` kubeconfig) of the clusters to watch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["clusterContext"]))]
    pub member_clusters: Vec<MemberCluster>,
    /// Seconds between leader re-checks and resyncs; absent or 0 means 1800.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub refresh_interval: Option<i64>,
    /// DEBUG, INFO, WARN or ERROR; absent means INFO. The only field honoured live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = LOG_LEVELS))]
    pub log_level: Option<String>,
    /// Map AKO HostRule `gslb.fqdn` values to GslbService names ("custom global FQDN" mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_custom_global_fqdn: Option<bool>,
}

/// Where and how to reach the GSLB leader controller.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["credentials", "controllerVersion", "controllerIP"]))]
pub struct GslbLeader {
    /// Name of a Secret in `avi-system` with keys `username` and `password`, and optionally
    /// `certificateAuthorityData` (PEM) to verify the controller's certificate.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub credentials: String,
    /// Avi API version sent as `X-Avi-Version`, e.g. `31.1.1`.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub controller_version: String,
    /// IP address or hostname of the leader, optionally `host:port`.
    #[serde(default, rename = "controllerIP")]
    #[schemars(length(min = 1))]
    pub controller_ip: String,
    /// Default Avi tenant for GslbServices; absent means `admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Skip verification of the controller's TLS certificate (AMKO always skipped it).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// A member cluster, by kubeconfig context name.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["clusterContext"]))]
pub struct MemberCluster {
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub cluster_context: String,
}

/// GSLBConfig status, written through the status subresource.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GslbConfigStatus {
    /// e.g. `success: gslb config accepted`, or the reason it was not.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub state: String,
}
