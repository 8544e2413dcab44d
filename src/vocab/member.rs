//! What a GslbService is keyed by (tenant and FQDN) and what selection hands the model for each
//! of its members.

use std::fmt;
use std::net::IpAddr;

use crate::ingest::{ObservationId, Protocol};

/// A GslbService is identified by its tenant and FQDN (its name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GsKey {
    pub tenant: String,
    pub fqdn: String,
}

impl fmt::Display for GsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.fqdn)
    }
}

/// A selected observation, ready to become a pool member of the GslbService `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub key: GsKey,
    pub id: ObservationId,
    pub vip: IpAddr,
    pub vs_uuid: Option<String>,
    pub controller_uuid: Option<String>,
    /// Send only the VIP (no VS or cluster UUID) for this member's cluster.
    pub sync_vip_only: bool,
    /// The object is TLS, or an AKO HostRule gives its host a certificate.
    pub tls: bool,
    pub passthrough: bool,
    /// HTTP paths for path health monitors; empty for Services and passthrough Routes.
    pub paths: Vec<String>,
    pub port: Option<(u16, Protocol)>,
}
