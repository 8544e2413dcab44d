//! Canonical JSON payloads for the two objects amko-rs writes: GslbService and HealthMonitor.
//! Field order is fixed by these structs and every list is built sorted, so equal inputs always
//! serialise to byte-equal JSON.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// `POST /api/gslbservice` / `PUT /api/gslbservice/<uuid>` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GslbServicePayload {
    pub name: String,
    pub tenant_ref: String,
    pub created_by: String,
    pub description: String,
    pub domain_names: Vec<String>,
    pub enabled: bool,
    pub is_federated: bool,
    pub controller_health_status_enabled: bool,
    pub health_monitor_scope: String,
    pub min_members: u32,
    pub pool_algorithm: String,
    pub resolve_cname: bool,
    pub use_edns_client_subnet: bool,
    pub wildcard_match: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    pub site_persistence_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_persistence_profile_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pki_profile_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_monitor_refs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_response: Option<DownResponsePayload>,
    pub groups: Vec<PoolPayload>,
}

/// `GslbServiceDownResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownResponsePayload {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_ip: Option<IpAddrPayload>,
}

/// `GslbPool`: one per distinct member priority, named `amko-gs-group-<priority>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolPayload {
    pub name: String,
    pub priority: u32,
    pub enabled: bool,
    pub algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent_hash_mask: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_algorithm: Option<String>,
    pub min_health_monitors_up: u32,
    pub members: Vec<PoolMemberPayload>,
}

/// `GslbPoolMember`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolMemberPayload {
    pub enabled: bool,
    pub ratio: u32,
    pub ip: IpAddrPayload,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vs_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<GslbIpPayload>,
}

/// Avi `IpAddr`: the address and `V4` or `V6` as the address says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpAddrPayload {
    pub addr: String,
    #[serde(rename = "type")]
    pub type_: String,
}

impl From<IpAddr> for IpAddrPayload {
    fn from(ip: IpAddr) -> Self {
        IpAddrPayload {
            addr: ip.to_string(),
            type_: if ip.is_ipv4() { "V4" } else { "V6" }.to_owned(),
        }
    }
}

/// Avi `GslbIpAddr` (a member's public IP).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GslbIpPayload {
    pub ip: IpAddrPayload,
}

/// `POST /api/healthmonitor` / `PUT /api/healthmonitor/<uuid>` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthMonitorPayload {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub tenant_ref: String,
    pub description: String,
    pub is_federated: bool,
    pub allow_duplicate_monitors: bool,
    pub send_interval: u32,
    pub receive_timeout: u32,
    pub successful_checks: u32,
    pub failed_checks: u32,
    pub monitor_port: u16,
    pub markers: Vec<MarkerPayload>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_monitor: Option<HttpMonitorPayload>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_monitor: Option<HttpMonitorPayload>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_monitor: Option<TcpMonitorPayload>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_monitor: Option<UdpMonitorPayload>,
}

/// `RoleFilterMatchLabel`: the `created-by` marker that proves ownership of a health monitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkerPayload {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpMonitorPayload {
    pub http_request: String,
    pub http_response_code: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpMonitorPayload {
    pub tcp_half_open: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpMonitorPayload {
    pub udp_request: String,
}

/// A reference by name, in the form the controller resolves on input.
pub fn ref_by_name(object_type: &str, name: &str) -> String {
    format!("/api/{object_type}?name={name}")
}
