//! Acceptance of each CR kind: run the checks in AMKO's order (so the problem a user is told about
//! first is the one AMKO would report), stop at the first problem, and otherwise return the
//! compiled form that selection and model building consume. Pure: controller facts come through
//! `ControllerLookup`.

use super::config::{
    ControllerSettings, DEFAULT_REFRESH_INTERVAL, DEFAULT_TENANT, GslbConfigSettings,
    HOME_NAMESPACE, LogLevel,
};
use super::error::{ObjectRef, PolicyError, Problem};
use super::lookup::ControllerLookup;
use super::validate;
use crate::crd::gslbconfig::AMKO_UUID_ANNOTATION;
use crate::crd::{GlobalDeploymentPolicy, GslbConfig, GslbHostRule};
use crate::vocab::{
    ClusterMatch, GsProperties, HostRuleOverrides, InstanceSettings, Policy, SitePersistence,
    ThirdPartyMember,
};
use kube::ResourceExt;
use std::collections::BTreeSet;
use std::time::Duration;

fn object_ref(kind: &'static str, namespace: Option<String>, name: String) -> ObjectRef {
    ObjectRef {
        kind,
        namespace: namespace.unwrap_or_default(),
        name,
    }
}

/// The GSLBConfig and the GDP are only read in `avi-system`.
fn in_home_namespace(namespace: &str) -> Result<(), Problem> {
    if namespace == HOME_NAMESPACE {
        Ok(())
    } else {
        Err(Problem::WrongNamespace {
            expected: HOME_NAMESPACE,
            actual: namespace.to_owned(),
        })
    }
}

/// Validates the GSLBConfig and compiles it. `fresh_uuid` becomes the instance identity when the
/// `amko.vmware.com/amko-uuid` annotation is absent (the caller generates it, keeping this pure).
pub fn accept_gslb_config(
    config: &GslbConfig,
    fresh_uuid: &str,
) -> Result<GslbConfigSettings, PolicyError> {
    let object = object_ref("GSLBConfig", config.namespace(), config.name_any());
    check_gslb_config(config, &object.namespace, fresh_uuid)
        .map_err(|problem| PolicyError { object, problem })
}

fn check_gslb_config(
    config: &GslbConfig,
    namespace: &str,
    fresh_uuid: &str,
) -> Result<GslbConfigSettings, Problem> {
    in_home_namespace(namespace)?;
    let spec = &config.spec;
    let log_level = match spec.log_level.as_deref() {
        None => LogLevel::default(),
        Some(text) => LogLevel::parse(text).ok_or_else(|| Problem::InvalidLogLevel {
            level: text.to_owned(),
        })?,
    };
    let (instance_uuid, uuid_needs_annotation) =
        match config.annotations().get(AMKO_UUID_ANNOTATION) {
            Some(value) => {
                uuid::Uuid::parse_str(value.trim()).map_err(|_| Problem::InvalidUuid {
                    value: value.clone(),
                })?;
                // Verbatim, so that objects AMKO created under this spelling stay ours.
                (value.trim().to_owned(), false)
            }
            None => (fresh_uuid.to_owned(), true),
        };
    let leader = &spec.gslb_leader;
    for (field, value) in [
        ("gslbLeader.controllerIP", &leader.controller_ip),
        ("gslbLeader.credentials", &leader.credentials),
        ("gslbLeader.controllerVersion", &leader.controller_version),
    ] {
        if value.trim().is_empty() {
            return Err(Problem::EmptyField {
                field: field.to_owned(),
            });
        }
    }
    let mut member_clusters = BTreeSet::new();
    for (index, member) in spec.member_clusters.iter().enumerate() {
        let context = member.cluster_context.as_str();
        if context.is_empty() {
            return Err(Problem::EmptyField {
                field: format!("memberClusters[{index}].clusterContext"),
            });
        }
        if !member_clusters.insert(context.to_owned()) {
            return Err(Problem::DuplicateCluster {
                field: "memberClusters",
                cluster: context.to_owned(),
            });
        }
    }
    let refresh_interval = match spec.refresh_interval {
        Some(seconds) if seconds > 0 => Duration::from_secs(seconds.unsigned_abs()),
        _ => DEFAULT_REFRESH_INTERVAL,
    };
    let default_tenant = leader
        .tenant
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(DEFAULT_TENANT)
        .to_owned();
    Ok(GslbConfigSettings {
        source: format!("{namespace}/{}", config.name_any()),
        instance: InstanceSettings {
            created_by: format!("amko-{instance_uuid}"),
            default_tenant,
            use_custom_global_fqdn: spec.use_custom_global_fqdn.unwrap_or(false),
            member_clusters,
        },
        controller: ControllerSettings {
            address: leader.controller_ip.trim().to_owned(),
            version: leader.controller_version.trim().to_owned(),
            credentials_secret: leader.credentials.trim().to_owned(),
            insecure_skip_verify: leader.insecure_skip_verify,
        },
        refresh_interval,
        log_level,
        instance_uuid,
        uuid_needs_annotation,
    })
}

/// Validates the GlobalDeploymentPolicy against the accepted GSLBConfig and the controller, and
/// compiles it. Controller lookups use the instance's default tenant (the GDP lives in
/// `avi-system`).
pub fn accept_gdp(
    gdp: &GlobalDeploymentPolicy,
    instance: &InstanceSettings,
    lookup: &dyn ControllerLookup,
) -> Result<Policy, PolicyError> {
    let object = object_ref("GlobalDeploymentPolicy", gdp.namespace(), gdp.name_any());
    check_gdp(gdp, &object.namespace, instance, lookup)
        .map_err(|problem| PolicyError { object, problem })
}

fn check_gdp(
    gdp: &GlobalDeploymentPolicy,
    namespace: &str,
    instance: &InstanceSettings,
    lookup: &dyn ControllerLookup,
) -> Result<Policy, Problem> {
    in_home_namespace(namespace)?;
    let spec = &gdp.spec;
    let tenant = instance.default_tenant.as_str();
    let rules = spec.match_rules.as_ref();
    let app_selector =
        validate::label_selector("appSelector", rules.and_then(|r| r.app_selector.as_ref()))?;
    let namespace_selector = validate::label_selector(
        "namespaceSelector",
        rules.and_then(|r| r.namespace_selector.as_ref()),
    )?;

    let member = |cluster: &str| instance.member_clusters.contains(cluster);
    let match_clusters = validate::per_cluster(
        "matchClusters",
        &spec.match_clusters,
        |entry| &entry.cluster,
        member,
        |cluster| Problem::MatchClusterUnknown { cluster },
        |entry| {
            Ok(ClusterMatch {
                sync_vip_only: entry.sync_vip_only,
            })
        },
    )?;
    let traffic_split = validate::per_cluster(
        "trafficSplit",
        &spec.traffic_split,
        |entry| &entry.cluster,
        member,
        |cluster| Problem::TrafficSplitClusterUnknown { cluster },
        |entry| validate::split(&entry.cluster, entry.weight, entry.priority),
    )?;

    let ttl = validate::ttl(spec.ttl)?;
    let health_monitoring = validate::health_monitoring(
        &spec.health_monitor_refs,
        spec.health_monitor_template.as_deref(),
        tenant,
        lookup,
    )?;
    let pool_algorithm = validate::pool_algorithm(spec.pool_algorithm_settings.as_ref())?;
    let persistence_profile = spec
        .site_persistence_ref
        .as_deref()
        .map(|name| validate::persistence_profile("sitePersistenceRef", name, tenant, lookup))
        .transpose()?;
    let pki_profile = spec
        .pki_profile_ref
        .as_deref()
        .map(|name| validate::pki_profile("pkiProfileRef", name, tenant, lookup))
        .transpose()?;
    let down_response = validate::down_response(spec.down_response.as_ref())?;

    // The PKI profile rides with the persistence profile when there is one; alone it is kept
    // separately so a GSLBHostRule that enables persistence can still fall back to it.
    let (site_persistence, pki_profile_ref) = match persistence_profile {
        Some(profile_ref) => (
            Some(Some(SitePersistence {
                profile_ref,
                pki_profile_ref: pki_profile,
            })),
            None,
        ),
        None => (None, pki_profile),
    };
    Ok(Policy {
        name: gdp.name_any(),
        app_selector,
        namespace_selector,
        match_clusters,
        traffic_split,
        properties: GsProperties {
            ttl,
            health_monitoring,
            site_persistence,
            pki_profile_ref,
            pool_algorithm,
            down_response,
            control_plane_hm_only: spec.control_plane_hm_only,
        },
        default_domain: spec.default_domain.clone().filter(|d| !d.is_empty()),
    })
}

/// Validates a GSLBHostRule and compiles its overrides. `tenant` is the Avi tenant of the rule's
/// namespace; controller lookups and the overrides use it.
pub fn accept_host_rule(
    rule: &GslbHostRule,
    tenant: &str,
    instance: &InstanceSettings,
    lookup: &dyn ControllerLookup,
) -> Result<HostRuleOverrides, PolicyError> {
    let object = object_ref("GSLBHostRule", rule.namespace(), rule.name_any());
    let source = format!("{}/{}", object.namespace, object.name);
    check_host_rule(rule, source, tenant, instance, lookup)
        .map_err(|problem| PolicyError { object, problem })
}

fn check_host_rule(
    rule: &GslbHostRule,
    source: String,
    tenant: &str,
    instance: &InstanceSettings,
    lookup: &dyn ControllerLookup,
) -> Result<HostRuleOverrides, Problem> {
    let spec = &rule.spec;
    let fqdn = spec.fqdn.trim();
    if fqdn.is_empty() {
        return Err(Problem::FqdnMissing);
    }

    let site_persistence = match &spec.site_persistence {
        None => None,
        Some(settings) => {
            let profile = settings
                .enabled
                .then(|| {
                    validate::persistence_profile(
                        "sitePersistence.profileRef",
                        &settings.profile_ref,
                        tenant,
                        lookup,
                    )
                })
                .transpose()?;
            // Checked even when disabled, as AMKO did: a wrong name is wrong either way.
            let pki = settings
                .pki_profile_ref
                .as_deref()
                .map(|name| {
                    validate::pki_profile("sitePersistence.pkiProfileRef", name, tenant, lookup)
                })
                .transpose()?;
            Some(profile.map(|profile_ref| SitePersistence {
                profile_ref,
                pki_profile_ref: pki,
            }))
        }
    };

    let pool_algorithm = validate::pool_algorithm(spec.pool_algorithm_settings.as_ref())?;

    let mut third_party_members = BTreeSet::new();
    for (index, member) in spec.third_party_members.iter().enumerate() {
        validate::required(|| format!("thirdPartyMembers[{index}].site"), &member.site)?;
        let vip = validate::ip(&member.vip).ok_or_else(|| Problem::ThirdPartyVipInvalid {
            site: member.site.clone(),
            vip: member.vip.clone(),
        })?;
        let public_ip = match member.public_ip.as_deref().filter(|ip| !ip.is_empty()) {
            None => None,
            Some(text) => {
                Some(
                    validate::ip(text).ok_or_else(|| Problem::ThirdPartyPublicIpInvalid {
                        site: member.site.clone(),
                        ip: text.to_owned(),
                    })?,
                )
            }
        };
        if !lookup.third_party_site_exists(&member.site) {
            return Err(Problem::ThirdPartySiteUnknown {
                site: member.site.clone(),
            });
        }
        third_party_members.insert(ThirdPartyMember {
            site: member.site.clone(),
            vip,
            public_ip,
        });
    }

    let member = |cluster: &str| instance.member_clusters.contains(cluster);
    let public_ips = validate::per_cluster(
        "publicIP",
        &spec.public_ip,
        |entry| &entry.cluster,
        member,
        |cluster| Problem::PublicIpClusterUnknown { cluster },
        |entry| {
            validate::ip(&entry.ip).ok_or_else(|| Problem::PublicIpInvalid {
                cluster: entry.cluster.clone(),
                ip: entry.ip.clone(),
            })
        },
    )?;

    let ttl = validate::ttl(spec.ttl)?;
    let sites: BTreeSet<&str> = spec
        .third_party_members
        .iter()
        .map(|m| m.site.as_str())
        .collect();
    let traffic_split = validate::per_cluster(
        "trafficSplit",
        &spec.traffic_split,
        |entry| &entry.cluster,
        |cluster| member(cluster) || sites.contains(cluster),
        |cluster| Problem::HostRuleSplitTargetUnknown { cluster },
        |entry| validate::split(&entry.cluster, entry.weight, entry.priority),
    )?;

    let health_monitoring = validate::health_monitoring(
        &spec.health_monitor_refs,
        spec.health_monitor_template.as_deref(),
        tenant,
        lookup,
    )?;
    let down_response = validate::down_response(spec.down_response.as_ref())?;

    Ok(HostRuleOverrides {
        source,
        fqdn: fqdn.to_owned(),
        tenant: tenant.to_owned(),
        properties: GsProperties {
            ttl,
            health_monitoring,
            site_persistence,
            pki_profile_ref: None,
            pool_algorithm,
            down_response,
            control_plane_hm_only: spec.control_plane_hm_only,
        },
        traffic_split,
        public_ips,
        third_party_members,
    })
}
