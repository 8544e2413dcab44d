//! Fills a `ControllerSnapshot` with exactly the controller objects a GDP or GSLBHostRule names,
//! so validation (pure, synchronous) can answer "does it exist, is it federated" without
//! reading whole collections.

use std::collections::BTreeSet;

use serde_json::Value;

use super::client::AviClient;
use super::error::AviError;
use crate::crd::{GlobalDeploymentPolicy, GslbHostRule};
use crate::policy::{ControllerSnapshot, HealthMonitorFacts, ProfileDefect};

/// Names of controller objects a policy refers to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct References {
    pub health_monitors: BTreeSet<String>,
    pub persistence_profiles: BTreeSet<String>,
    pub pki_profiles: BTreeSet<String>,
    pub third_party_sites: bool,
}

impl References {
    pub fn of_gdp(gdp: &GlobalDeploymentPolicy) -> Self {
        let spec = &gdp.spec;
        let mut refs = References::default();
        refs.health_monitors
            .extend(spec.health_monitor_refs.iter().cloned());
        refs.health_monitors
            .extend(spec.health_monitor_template.iter().cloned());
        refs.persistence_profiles
            .extend(spec.site_persistence_ref.iter().cloned());
        refs.pki_profiles
            .extend(spec.pki_profile_ref.iter().cloned());
        refs
    }

    pub fn of_host_rule(rule: &GslbHostRule) -> Self {
        let spec = &rule.spec;
        let mut refs = References::default();
        refs.health_monitors
            .extend(spec.health_monitor_refs.iter().cloned());
        refs.health_monitors
            .extend(spec.health_monitor_template.iter().cloned());
        if let Some(sp) = &spec.site_persistence {
            refs.persistence_profiles.insert(sp.profile_ref.clone());
            refs.pki_profiles.extend(sp.pki_profile_ref.iter().cloned());
        }
        refs.third_party_sites = !spec.third_party_members.is_empty();
        refs
    }

    fn is_empty(&self) -> bool {
        self.health_monitors.is_empty()
            && self.persistence_profiles.is_empty()
            && self.pki_profiles.is_empty()
            && !self.third_party_sites
    }
}

/// Reads the referenced objects as seen from `tenant` (the controller includes shared admin objects).
pub async fn fetch_snapshot(
    client: &AviClient,
    tenant: &str,
    refs: &References,
) -> Result<ControllerSnapshot, AviError> {
    let mut snapshot = ControllerSnapshot::default();
    if refs.is_empty() {
        return Ok(snapshot);
    }
    for hm in by_names(client, "healthmonitor", tenant, &refs.health_monitors).await? {
        if let Some((name, facts)) = health_monitor_facts(&hm) {
            snapshot
                .health_monitors
                .insert((tenant.to_owned(), name), facts);
        }
    }
    for profile in by_names(
        client,
        "applicationpersistenceprofile",
        tenant,
        &refs.persistence_profiles,
    )
    .await?
    {
        if let Some(name) = profile.get("name").and_then(Value::as_str) {
            let key = (tenant.to_owned(), name.to_owned());
            if let Some(problem) = site_persistence_problem(&profile) {
                snapshot
                    .unusable_persistence_profiles
                    .insert(key.clone(), problem);
            }
            snapshot.persistence_profiles.insert(key);
        }
    }
    for profile in by_names(client, "pkiprofile", tenant, &refs.pki_profiles).await? {
        if let Some(name) = profile.get("name").and_then(Value::as_str) {
            snapshot
                .pki_profiles
                .insert((tenant.to_owned(), name.to_owned()));
        }
    }
    if refs.third_party_sites {
        for gslb in client.list("gslb", &[], Some("admin")).await? {
            for site in gslb
                .get("third_party_sites")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(name) = site.get("name").and_then(Value::as_str) {
                    snapshot.third_party_sites.insert(name.to_owned());
                }
            }
        }
    }
    Ok(snapshot)
}

/// The name of a controller health monitor and the facts validation uses; `None` without a name.
/// Public so that the fuzz targets (`crate::fuzzing`) read controller answers through it too.
pub fn health_monitor_facts(hm: &Value) -> Option<(String, HealthMonitorFacts)> {
    let name = hm.get("name").and_then(Value::as_str)?;
    let http = hm.get("https_monitor").or_else(|| hm.get("http_monitor"));
    let facts = HealthMonitorFacts {
        monitor_type: hm
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        is_federated: hm.get("is_federated").and_then(Value::as_bool),
        http_request: http
            .and_then(|h| h.get("http_request"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        response_codes: http
            .and_then(|h| h.get("http_response_code"))
            .and_then(Value::as_array)
            .map(|codes| {
                codes
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    };
    Some((name.to_owned(), facts))
}

/// Why the controller would refuse this profile as a GslbService's site persistence profile.
pub fn site_persistence_problem(profile: &Value) -> Option<ProfileDefect> {
    if profile.get("is_federated").and_then(Value::as_bool) != Some(true) {
        Some(ProfileDefect::NotFederated)
    } else if profile.get("persistence_type").and_then(Value::as_str)
        != Some("PERSISTENCE_TYPE_GSLB_SITE")
    {
        Some(ProfileDefect::NotGslbSite)
    } else {
        None
    }
}

async fn by_names(
    client: &AviClient,
    object_type: &str,
    tenant: &str,
    names: &BTreeSet<String>,
) -> Result<Vec<Value>, AviError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let joined = names.iter().cloned().collect::<Vec<_>>().join(",");
    client
        .list(object_type, &[("name.in", &joined)], Some(tenant))
        .await
}
