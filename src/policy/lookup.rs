//! What validation needs to know about the GSLB leader controller, as a synchronous lookup: the
//! operator answers from its Avi cache (a `ControllerSnapshot`), tests from an in-memory fixture.

use std::collections::{BTreeMap, BTreeSet};

/// The facts about an Avi health monitor that validation uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthMonitorFacts {
    /// Avi type, e.g. `HEALTH_MONITOR_HTTPS`.
    pub monitor_type: String,
    /// `is_federated`; `None` when the controller did not say (treated as federated, as AMKO did).
    pub is_federated: Option<bool>,
    /// `http_monitor.http_request` or `https_monitor.http_request`, e.g. `GET / HTTP/1.1`.
    pub http_request: Option<String>,
    /// `http_response_code` of the HTTP(S) monitor, e.g. `HTTP_2XX`.
    pub response_codes: Vec<String>,
}

impl HealthMonitorFacts {
    pub fn is_federated(&self) -> bool {
        self.is_federated.unwrap_or(true)
    }
}

/// Why an existing application persistence profile cannot serve GSLB site persistence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileDefect {
    #[error("it is not federated")]
    NotFederated,
    #[error("its persistence_type is not PERSISTENCE_TYPE_GSLB_SITE")]
    NotGslbSite,
}

/// Questions about objects on the GSLB leader controller. `tenant` is the Avi tenant the CR maps to.
pub trait ControllerLookup {
    fn health_monitor(&self, tenant: &str, name: &str) -> Option<HealthMonitorFacts>;
    fn persistence_profile_exists(&self, tenant: &str, name: &str) -> bool;
    /// Why an existing application persistence profile cannot serve GSLB site persistence (the
    /// controller refuses a GslbService naming one that is not federated or not of type
    /// `PERSISTENCE_TYPE_GSLB_SITE`); `None` when it can, or when the lookup does not know.
    fn persistence_profile_problem(&self, _tenant: &str, _name: &str) -> Option<ProfileDefect> {
        None
    }
    fn pki_profile_exists(&self, tenant: &str, name: &str) -> bool;
    /// A third-party (non-Avi) site in the leader's GSLB configuration.
    fn third_party_site_exists(&self, site: &str) -> bool;
}

/// A plain copy of the controller objects validation asks about, keyed by `(tenant, name)`.
/// Whoever fills it decides visibility: put an object under every tenant that can see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerSnapshot {
    pub health_monitors: BTreeMap<(String, String), HealthMonitorFacts>,
    pub persistence_profiles: BTreeSet<(String, String)>,
    /// Profiles that exist but cannot be used for site persistence, with the reason.
    pub unusable_persistence_profiles: BTreeMap<(String, String), ProfileDefect>,
    pub pki_profiles: BTreeSet<(String, String)>,
    pub third_party_sites: BTreeSet<String>,
}

fn key(tenant: &str, name: &str) -> (String, String) {
    (tenant.to_owned(), name.to_owned())
}

impl ControllerLookup for ControllerSnapshot {
    fn health_monitor(&self, tenant: &str, name: &str) -> Option<HealthMonitorFacts> {
        self.health_monitors.get(&key(tenant, name)).cloned()
    }

    fn persistence_profile_exists(&self, tenant: &str, name: &str) -> bool {
        self.persistence_profiles.contains(&key(tenant, name))
    }

    fn persistence_profile_problem(&self, tenant: &str, name: &str) -> Option<ProfileDefect> {
        self.unusable_persistence_profiles
            .get(&key(tenant, name))
            .copied()
    }

    fn pki_profile_exists(&self, tenant: &str, name: &str) -> bool {
        self.pki_profiles.contains(&key(tenant, name))
    }

    fn third_party_site_exists(&self, site: &str) -> bool {
        self.third_party_sites.contains(site)
    }
}
