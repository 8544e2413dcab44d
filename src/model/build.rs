//! Builds the desired GslbService and its managed health monitors for one `tenant/fqdn` from the
//! selected members, the GDP and the GSLBHostRule, the way AMKO does, minus AMKO's accidents:
//! pools are deterministic, IP types come from the address, the tenant_ref is usable, every pool
//! has min_health_monitors_up, and no member is half-configured.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use super::health::{HmContext, managed_monitors};
use super::identity::describe_members;
use super::payload::{
    DownResponsePayload, GslbIpPayload, GslbServicePayload, HealthMonitorPayload, IpAddrPayload,
    PoolMemberPayload, PoolPayload, ref_by_name,
};
use crate::vocab::{
    DEFAULT_SPLIT, DEFAULT_THIRD_PARTY_SPLIT, DownResponse, GeoFallback, GsKey, HealthMonitoring,
    HostRuleOverrides, InstanceSettings, Member, Policy, PoolAlgorithm, SitePersistence, Split,
};

/// Everything one GslbService is built from: its key, the members selected for it, its domain
/// names and the policy in force for it. The world view (`state::World`) produces it, the
/// selection actor sends it to the GslbService's actor, and [`build_gslb_service`] consumes it.
/// Cheap to clone: the policy and the overrides are shared.
#[derive(Clone, Debug, PartialEq)]
pub struct GsInputs {
    pub key: GsKey,
    /// The FQDN first, then aliases (see `HostRuleIndex::domain_names`).
    pub domain_names: Vec<String>,
    /// Members selected for `key`, in any order.
    pub members: Vec<Member>,
    pub policy: Arc<Policy>,
    /// The accepted GSLBHostRule for this FQDN and tenant, if any.
    pub overrides: Option<Arc<HostRuleOverrides>>,
}

/// The desired state of one GslbService: the object and the managed monitors it references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredGs {
    pub key: GsKey,
    pub gslb_service: GslbServicePayload,
    /// Managed health monitors, sorted by name; empty with user refs or controlPlaneHmOnly.
    pub health_monitors: Vec<HealthMonitorPayload>,
}

/// The desired GslbService, or `None` when no member is left (the GslbService must go).
/// `settings` are this instance's (owner marker); `fallback_pki_profile` is the federated PKI
/// profile to use when site persistence is on but none is configured (AMKO picks the first
/// federated one on the controller).
pub fn build_gslb_service(
    input: &GsInputs,
    settings: &InstanceSettings,
    fallback_pki_profile: Option<&str>,
) -> Option<DesiredGs> {
    let key = &input.key;
    let overrides = input
        .overrides
        .as_deref()
        .filter(|o| o.fqdn == key.fqdn && o.tenant == key.tenant);
    let gdp = &input.policy.properties;
    let ghr = overrides.map(|o| &o.properties);

    let mut members: Vec<&Member> = input.members.iter().filter(|m| *m.key == *key).collect();
    if members.is_empty() {
        return None;
    }
    members.sort_by(|a, b| a.id().cmp(b.id()));

    let tenant_ref = ref_by_name("tenant", &key.tenant);
    let control_plane_only = ghr
        .and_then(|p| p.control_plane_hm_only)
        .or(gdp.control_plane_hm_only)
        .unwrap_or(false);
    let monitoring = ghr
        .and_then(|p| p.health_monitoring.clone())
        .or_else(|| gdp.health_monitoring.clone())
        .unwrap_or_default();

    let (health_monitor_refs, health_monitors, min_health_monitors_up) = if control_plane_only {
        (Vec::new(), Vec::new(), 1)
    } else {
        match &monitoring {
            HealthMonitoring::Refs(names) => (
                names
                    .iter()
                    .map(|n| ref_by_name("healthmonitor", n))
                    .collect(),
                Vec::new(),
                u32::try_from(names.len()).unwrap_or(u32::MAX - 1) + 1,
            ),
            HealthMonitoring::Managed | HealthMonitoring::Template(_) => {
                let template = match &monitoring {
                    HealthMonitoring::Template(t) => Some(t),
                    _ => None,
                };
                let ctx = HmContext {
                    gs_name: &key.fqdn,
                    tenant_ref: &tenant_ref,
                    created_by: &settings.created_by,
                    template,
                };
                let monitors = managed_monitors(&ctx, &members);
                let refs = monitors
                    .iter()
                    .map(|m| ref_by_name("healthmonitor", &m.name))
                    .collect();
                (refs, monitors, 2)
            }
        }
    };

    let any_tls = members.iter().any(|m| m.tls);
    let (persistence, pki) = site_persistence(
        key,
        &input.policy,
        input.overrides.as_deref(),
        any_tls,
        fallback_pki_profile,
    );
    let algorithm = ghr
        .and_then(|p| p.pool_algorithm)
        .or(gdp.pool_algorithm)
        .unwrap_or_default();
    let down_response = ghr.and_then(|p| p.down_response).or(gdp.down_response);

    let description = describe_members(members.iter().map(|m| m.id()));
    let groups = pools(
        input,
        overrides,
        &members,
        algorithm,
        min_health_monitors_up,
    );

    Some(DesiredGs {
        key: key.clone(),
        gslb_service: GslbServicePayload {
            name: key.fqdn.clone(),
            tenant_ref,
            created_by: settings.created_by.clone(),
            description,
            domain_names: input.domain_names.clone(),
            enabled: true,
            is_federated: true,
            controller_health_status_enabled: true,
            health_monitor_scope: "GSLB_SERVICE_HEALTH_MONITOR_ALL_MEMBERS".to_owned(),
            min_members: 0,
            pool_algorithm: "GSLB_SERVICE_ALGORITHM_PRIORITY".to_owned(),
            resolve_cname: false,
            use_edns_client_subnet: true,
            wildcard_match: false,
            ttl: ghr.and_then(|p| p.ttl).or(gdp.ttl),
            site_persistence_enabled: persistence.is_some(),
            application_persistence_profile_ref: persistence
                .map(|p| ref_by_name("applicationpersistenceprofile", &p.profile_ref)),
            pki_profile_ref: pki.map(|p| ref_by_name("pkiprofile", &p)),
            health_monitor_refs,
            down_response: down_response.map(down_response_payload),
            groups,
        },
        health_monitors,
    })
}

/// True when the GslbService `key`, with this policy and GSLBHostRule and a TLS member or not
/// (`any_tls`), takes the fallback PKI profile: site persistence is on and no PKI profile is
/// configured. Such GslbServices are rebuilt when the fallback profile changes.
pub fn uses_fallback_pki(
    key: &GsKey,
    policy: &Policy,
    overrides: Option<&HostRuleOverrides>,
    any_tls: bool,
) -> bool {
    let (persistence, pki) = site_persistence(key, policy, overrides, any_tls, None);
    persistence.is_some() && pki.is_none()
}

/// Site persistence and PKI profile. They apply only to GslbServices with a TLS member;
/// unlike AMKO, the decision depends on the whole member set, not on which member changed last.
fn site_persistence(
    key: &GsKey,
    policy: &Policy,
    overrides: Option<&HostRuleOverrides>,
    any_tls: bool,
    fallback_pki_profile: Option<&str>,
) -> (Option<SitePersistence>, Option<String>) {
    if !any_tls {
        return (None, None);
    }
    let gdp = &policy.properties;
    let ghr = overrides
        .filter(|o| o.fqdn == key.fqdn && o.tenant == key.tenant)
        .map(|o| &o.properties);
    let persistence = match ghr.and_then(|p| p.site_persistence.clone()) {
        Some(explicit) => explicit,
        None => gdp.site_persistence.clone().flatten(),
    };
    // The GDP's pkiProfileRef sits beside its sitePersistenceRef when both are set.
    let gdp_pki = gdp.pki_profile_ref.clone().or_else(|| {
        gdp.site_persistence
            .clone()
            .flatten()
            .and_then(|sp| sp.pki_profile_ref)
    });
    let mut pki = match (&persistence, ghr.and_then(|p| p.site_persistence.as_ref())) {
        // Explicitly disabled by the GSLBHostRule: no PKI profile either.
        (None, Some(None)) => None,
        (Some(sp), _) => sp.pki_profile_ref.clone().or(gdp_pki),
        (None, _) => gdp_pki,
    };
    if persistence.is_some() && pki.is_none() {
        pki = fallback_pki_profile.map(str::to_owned);
    }
    (persistence, pki)
}

/// One pool per distinct priority, highest priority first; members de-duplicated by IP (the
/// first by identity wins) and sorted by IP.
fn pools(
    input: &GsInputs,
    overrides: Option<&HostRuleOverrides>,
    members: &[&Member],
    algorithm: PoolAlgorithm,
    min_health_monitors_up: u32,
) -> Vec<PoolPayload> {
    let split_for = |name: &str, default: Split| {
        overrides
            .and_then(|o| o.traffic_split.get(name))
            .or_else(|| input.policy.traffic_split.get(name))
            .copied()
            .unwrap_or(default)
    };
    let mut seen_ips: BTreeSet<IpAddr> = BTreeSet::new();
    let mut by_priority: BTreeMap<u32, Vec<(IpAddr, PoolMemberPayload)>> = BTreeMap::new();
    for member in members {
        if !seen_ips.insert(member.vip()) {
            continue;
        }
        let split = split_for(&member.id().cluster, DEFAULT_SPLIT);
        let public_ip = overrides
            .and_then(|o| o.public_ips.get(&member.id().cluster))
            .copied();
        let (cluster_uuid, vs_uuid) = if member.sync_vip_only {
            (None, None)
        } else {
            (
                member.controller_uuid().map(str::to_owned),
                member.vs_uuid().map(str::to_owned),
            )
        };
        by_priority.entry(split.priority).or_default().push((
            member.vip(),
            PoolMemberPayload {
                enabled: true,
                ratio: split.weight,
                ip: member.vip().into(),
                cluster_uuid,
                vs_uuid,
                public_ip: public_ip.map(|ip| GslbIpPayload { ip: ip.into() }),
            },
        ));
    }
    for third_party in overrides
        .map(|o| &o.third_party_members)
        .into_iter()
        .flatten()
    {
        if !seen_ips.insert(third_party.vip) {
            continue;
        }
        // AMKO looks up a third-party site's split only in the GSLBHostRule.
        let split = overrides
            .and_then(|o| o.traffic_split.get(&third_party.site))
            .copied()
            .unwrap_or(DEFAULT_THIRD_PARTY_SPLIT);
        by_priority.entry(split.priority).or_default().push((
            third_party.vip,
            PoolMemberPayload {
                enabled: true,
                ratio: split.weight,
                ip: third_party.vip.into(),
                cluster_uuid: None,
                vs_uuid: None,
                public_ip: third_party
                    .public_ip
                    .map(|ip| GslbIpPayload { ip: ip.into() }),
            },
        ));
    }
    let (algorithm_name, hash_mask, fallback) = algorithm_fields(algorithm);
    by_priority
        .into_iter()
        .rev()
        .map(|(priority, mut pool_members)| {
            pool_members.sort_by_key(|(ip, _)| *ip);
            // Exactly as many slots as members: collected in place, the vector would keep the
            // pushed pairs' allocation (8 larger slots for 5 members), held with every desired
            // GslbService (~25 MB at 40,000).
            let mut members = Vec::with_capacity(pool_members.len());
            members.extend(pool_members.into_iter().map(|(_, m)| m));
            PoolPayload {
                name: format!("amko-gs-group-{priority}"),
                priority,
                enabled: true,
                algorithm: algorithm_name.to_owned(),
                consistent_hash_mask: hash_mask,
                fallback_algorithm: fallback.map(str::to_owned),
                min_health_monitors_up,
                members,
            }
        })
        .collect()
}

/// (algorithm, consistent_hash_mask, fallback_algorithm) of a pool.
fn algorithm_fields(algorithm: PoolAlgorithm) -> (&'static str, Option<u32>, Option<&'static str>) {
    match algorithm {
        PoolAlgorithm::RoundRobin => ("GSLB_ALGORITHM_ROUND_ROBIN", None, None),
        PoolAlgorithm::Topology => ("GSLB_ALGORITHM_TOPOLOGY", None, None),
        PoolAlgorithm::ConsistentHash { hash_mask } => {
            ("GSLB_ALGORITHM_CONSISTENT_HASH", Some(hash_mask), None)
        }
        PoolAlgorithm::Geo {
            fallback: GeoFallback::RoundRobin,
        } => (
            "GSLB_ALGORITHM_GEO",
            None,
            Some("GSLB_ALGORITHM_ROUND_ROBIN"),
        ),
        PoolAlgorithm::Geo {
            fallback: GeoFallback::ConsistentHash { hash_mask },
        } => (
            "GSLB_ALGORITHM_GEO",
            Some(hash_mask),
            Some("GSLB_ALGORITHM_CONSISTENT_HASH"),
        ),
    }
}

fn down_response_payload(down: DownResponse) -> DownResponsePayload {
    let (type_, fallback_ip) = match down {
        DownResponse::None => ("GSLB_SERVICE_DOWN_RESPONSE_NONE", None),
        DownResponse::AllRecords => ("GSLB_SERVICE_DOWN_RESPONSE_ALL_RECORDS", None),
        DownResponse::Empty => ("GSLB_SERVICE_DOWN_RESPONSE_EMPTY", None),
        DownResponse::FallbackIp(ip) => (
            "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP",
            Some(IpAddrPayload::from(ip)),
        ),
    };
    DownResponsePayload {
        type_: type_.to_owned(),
        fallback_ip,
    }
}
