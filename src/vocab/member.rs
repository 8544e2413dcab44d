//! What a GslbService is keyed by (tenant and FQDN) and what selection hands the model for each
//! of its members.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::ingest::{Observation, ObservationId, Protocol};

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
///
/// It shares the observation it was selected from rather than copying its id, UUIDs and paths:
/// at 200,000 objects the copies were ~95 MB, and every message carrying a GslbService's inputs
/// copied them again. Two members are equal when they make the same pool member (same key,
/// flags and member fields of the observation); labels and other selection inputs do not count.
#[derive(Clone, Debug)]
pub struct Member {
    pub key: Arc<GsKey>,
    pub observation: Arc<Observation>,
    /// Send only the VIP (no VS or cluster UUID) for this member's cluster.
    pub sync_vip_only: bool,
    /// The object is TLS, or an AKO HostRule gives its host a certificate.
    pub tls: bool,
}

impl Member {
    pub fn id(&self) -> &ObservationId {
        &self.observation.id
    }

    pub fn vip(&self) -> IpAddr {
        self.observation.vip
    }

    /// AKO's virtual service UUID for the host.
    pub fn vs_uuid(&self) -> Option<&str> {
        self.observation.vs_uuid.as_deref()
    }

    /// AKO's controller cluster UUID.
    pub fn controller_uuid(&self) -> Option<&str> {
        self.observation.controller_uuid.as_deref()
    }

    pub fn passthrough(&self) -> bool {
        self.observation.passthrough
    }

    /// HTTP paths for path health monitors; empty for Services and passthrough Routes.
    pub fn paths(&self) -> &[String] {
        &self.observation.paths
    }

    pub fn port(&self) -> Option<(u16, Protocol)> {
        self.observation.port
    }

    /// What of the observation makes the pool member (equality reads only these): the
    /// accessors above, so a field the model starts reading is compared too once it has one.
    #[allow(clippy::type_complexity)]
    fn pool_fields(
        &self,
    ) -> (
        &ObservationId,
        IpAddr,
        Option<&str>,
        Option<&str>,
        bool,
        &[String],
        Option<(u16, Protocol)>,
    ) {
        (
            self.id(),
            self.vip(),
            self.vs_uuid(),
            self.controller_uuid(),
            self.passthrough(),
            self.paths(),
            self.port(),
        )
    }
}

impl PartialEq for Member {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.sync_vip_only == other.sync_vip_only
            && self.tls == other.tls
            && (Arc::ptr_eq(&self.observation, &other.observation)
                || self.pool_fields() == other.pool_fields())
    }
}

impl Eq for Member {}
