//! Observations: what the ingest functions extract from member-cluster objects. Plain data, no
//! Kubernetes types, so selection and model building can be tested with simple fixtures.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// The kind of member-cluster object a GslbService member comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    Ingress,
    Route,
    LbService,
}

impl ObjectKind {
    /// The token AMKO uses in member identities (`INGRESS/…`).
    pub fn token(self) -> &'static str {
        match self {
            ObjectKind::Ingress => "INGRESS",
            ObjectKind::Route => "ROUTE",
            ObjectKind::LbService => "LBSVC",
        }
    }
}

/// Identity of one observation. An Ingress yields one observation per host, so the host is part
/// of its identity; Routes and Services have one host and leave `host` empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObservationId {
    pub kind: ObjectKind,
    pub cluster: String,
    pub namespace: String,
    pub name: String,
    /// Ingress host; empty for Route and Service.
    pub host: String,
}

impl fmt::Display for ObservationId {
    /// The member identity (`INGRESS/cluster/ns/name/host`, `ROUTE/cluster/ns/name`); its format
    /// is `model::identity`'s, which also reads it back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::model::identity::write_identity(self, f)
    }
}

/// Transport protocol of a LoadBalancer Service or passthrough Route, for TCP/UDP monitors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// One candidate member, as seen in one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub id: ObservationId,
    /// The object's host name (local FQDN).
    pub hostname: String,
    pub vip: IpAddr,
    pub labels: BTreeMap<String, String>,
    /// Sorted, de-duplicated HTTP paths (`/` when none). Empty for Services and passthrough Routes.
    pub paths: Vec<String>,
    pub tls: bool,
    pub passthrough: bool,
    /// Lowest port and its protocol, for Services and passthrough Routes.
    pub port: Option<(u16, Protocol)>,
    /// AKO's virtual service UUID for this host, when AKO annotated it.
    pub vs_uuid: Option<String>,
    /// AKO's controller cluster UUID, when AKO annotated it.
    pub controller_uuid: Option<String>,
    /// Tenant from the object's AKO annotation, if any.
    pub tenant: Option<String>,
}

/// A member-cluster Namespace: labels for the namespace selector, and its AKO tenant annotation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub cluster: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub tenant: Option<String>,
}

/// An AKO HostRule as AMKO uses it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostRuleInfo {
    pub cluster: String,
    pub namespace: String,
    pub name: String,
    /// `spec.virtualhost.fqdn`.
    pub local_fqdn: String,
    /// `spec.virtualhost.gslb.fqdn` (custom global FQDN mode).
    pub global_fqdn: Option<String>,
    pub include_aliases: bool,
    /// Sorted, de-duplicated aliases.
    pub aliases: Vec<String>,
    /// A TLS certificate is configured: members with this host in this namespace are TLS.
    pub tls: bool,
    /// `status.status == Accepted`.
    pub accepted: bool,
}
