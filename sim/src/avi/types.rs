//! The object types the simulated controller serves, and the per-type facts the API layer needs
//! (path segment, model name for messages, tenant scoping, GSLB federation).

use serde::Serialize;

/// One Avi object type served under `/api/<path>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjType {
    GslbService,
    HealthMonitor,
    ApplicationPersistenceProfile,
    PkiProfile,
    Tenant,
    Cloud,
    Cluster,
    Gslb,
}

/// Which tenant an object lives in decides who sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantScope {
    /// Visible only inside its own tenant (or with `X-Avi-Tenant: *`).
    Owned,
    /// Like `Owned`, but objects of the admin tenant are also visible (read-only use, refs) from
    /// every other tenant, the way the `System-*` monitors and profiles are.
    SharedFromAdmin,
    /// Controller-wide objects (tenants, clouds, the cluster, the GSLB configuration).
    Global,
}

impl ObjType {
    pub const ALL: [ObjType; 8] = [
        ObjType::GslbService,
        ObjType::HealthMonitor,
        ObjType::ApplicationPersistenceProfile,
        ObjType::PkiProfile,
        ObjType::Tenant,
        ObjType::Cloud,
        ObjType::Cluster,
        ObjType::Gslb,
    ];

    /// Dense index, for per-type tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The path segment after `/api/`, also the uuid prefix.
    pub fn path(self) -> &'static str {
        match self {
            ObjType::GslbService => "gslbservice",
            ObjType::HealthMonitor => "healthmonitor",
            ObjType::ApplicationPersistenceProfile => "applicationpersistenceprofile",
            ObjType::PkiProfile => "pkiprofile",
            ObjType::Tenant => "tenant",
            ObjType::Cloud => "cloud",
            ObjType::Cluster => "cluster",
            ObjType::Gslb => "gslb",
        }
    }

    pub fn from_path(segment: &str) -> Option<ObjType> {
        ObjType::ALL.into_iter().find(|t| t.path() == segment)
    }

    /// Model class name, as used in "<Model> object not found!" messages.
    pub fn model(self) -> &'static str {
        match self {
            ObjType::GslbService => "GslbService",
            ObjType::HealthMonitor => "HealthMonitor",
            ObjType::ApplicationPersistenceProfile => "ApplicationPersistenceProfile",
            ObjType::PkiProfile => "PKIProfile",
            ObjType::Tenant => "Tenant",
            ObjType::Cloud => "Cloud",
            ObjType::Cluster => "Cluster",
            ObjType::Gslb => "Gslb",
        }
    }

    /// Human name used by the uniqueness message ("Health monitor with this Name and Tenant ref
    /// already exists." is string-matched by AMKO).
    pub fn verbose(self) -> &'static str {
        match self {
            ObjType::GslbService => "Gslb service",
            ObjType::HealthMonitor => "Health monitor",
            ObjType::ApplicationPersistenceProfile => "Application persistence profile",
            ObjType::PkiProfile => "Pki profile",
            ObjType::Tenant => "Tenant",
            ObjType::Cloud => "Cloud",
            ObjType::Cluster => "Cluster",
            ObjType::Gslb => "Gslb",
        }
    }

    pub fn scope(self) -> TenantScope {
        match self {
            ObjType::GslbService => TenantScope::Owned,
            ObjType::HealthMonitor
            | ObjType::ApplicationPersistenceProfile
            | ObjType::PkiProfile => TenantScope::SharedFromAdmin,
            ObjType::Tenant | ObjType::Cloud | ObjType::Cluster | ObjType::Gslb => {
                TenantScope::Global
            }
        }
    }

    /// Objects of these types are always federated: writes need the GSLB leader.
    pub fn always_federated(self) -> bool {
        matches!(self, ObjType::GslbService | ObjType::Gslb)
    }

    /// Types whose `is_federated` flag decides whether writes need the GSLB leader.
    pub fn may_be_federated(self) -> bool {
        matches!(
            self,
            ObjType::HealthMonitor | ObjType::ApplicationPersistenceProfile | ObjType::PkiProfile
        )
    }

    /// Objects whose bodies carry a `tenant_ref`.
    pub fn has_tenant_ref(self) -> bool {
        self != ObjType::Tenant
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        for t in ObjType::ALL {
            assert_eq!(ObjType::from_path(t.path()), Some(t));
            assert_eq!(ObjType::ALL[t.index()], t);
        }
        assert_eq!(ObjType::from_path("pool"), None);
    }
}
