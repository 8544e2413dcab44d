//! AKO HostRule (`ako.vmware.com/v1beta1`), read-only: only the fields amko-rs reads.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "ako.vmware.com",
    version = "v1beta1",
    kind = "HostRule",
    namespaced,
    status = "HostRuleStatus",
    shortname = "hostrule",
    shortname = "hr"
)]
#[serde(rename_all = "camelCase")]
pub struct HostRuleSpec {
    #[serde(default)]
    pub virtualhost: HostRuleVirtualHost,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HostRuleVirtualHost {
    #[serde(default)]
    pub fqdn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gslb: Option<HostRuleGslb>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<HostRuleTls>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HostRuleGslb {
    #[serde(default)]
    pub fqdn: String,
    #[serde(default)]
    pub include_aliases: bool,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HostRuleTls {
    #[serde(default)]
    pub ssl_key_certificate: HostRuleSslKeyCertificate,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HostRuleSslKeyCertificate {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HostRuleStatus {
    /// `Accepted` or `Rejected`.
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}
