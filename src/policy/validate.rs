//! Field-level checks shared by the GDP, GSLBHostRule and GSLBConfig: each one validates a piece of
//! a CR and returns it in compiled form ("parse, don't validate"), or the first problem found.
//! The per-kind order of these checks lives in `compile.rs`.

use super::error::{DownResponseProblem, PoolAlgorithmProblem, Problem};
use super::lookup::ControllerLookup;
use crate::crd::common::{
    ALGORITHM_CONSISTENT_HASH, ALGORITHM_GEO, ALGORITHM_ROUND_ROBIN, ALGORITHM_TOPOLOGY,
    DOWN_RESPONSE_ALL_RECORDS, DOWN_RESPONSE_EMPTY, DOWN_RESPONSE_FALLBACK_IP, DOWN_RESPONSE_NONE,
    DownResponseSettings, GeoFallbackSettings, HASH_MASK_MAX, HASH_MASK_MIN, LabelMatch,
    PRIORITY_MAX, PRIORITY_MIN, PoolAlgorithmSettings, TTL_MAX, TTL_MIN, WEIGHT_MAX, WEIGHT_MIN,
};
use crate::vocab::{
    DownResponse, GeoFallback, HealthMonitoring, HmTemplate, LabelSelector, MAX_GS_HEALTH_MONITORS,
    PoolAlgorithm, Split,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::RangeInclusive;

/// A label selector: every label needs a key and a value. `None` (or no labels) selects all.
pub fn label_selector(
    selector: &'static str,
    labels: Option<&LabelMatch>,
) -> Result<Option<LabelSelector>, Problem> {
    let Some(labels) = labels.filter(|l| !l.label.is_empty()) else {
        return Ok(None);
    };
    for (key, value) in &labels.label {
        if key.is_empty() {
            return Err(Problem::LabelKeyMissing {
                selector,
                value: value.clone(),
            });
        }
        if value.is_empty() {
            return Err(Problem::LabelValueMissing {
                selector,
                key: key.clone(),
            });
        }
    }
    Ok(Some(LabelSelector(labels.label.clone())))
}

/// Rejects a name listed twice in `field`; `seen` accumulates the names of one list.
pub fn unique_cluster<'a>(
    seen: &mut BTreeSet<&'a str>,
    field: &'static str,
    cluster: &'a str,
) -> Result<(), Problem> {
    if seen.insert(cluster) {
        Ok(())
    } else {
        Err(Problem::DuplicateCluster {
            field,
            cluster: cluster.to_owned(),
        })
    }
}

/// `value` as a `u32` when it lies within `bounds`.
fn within(value: i64, bounds: RangeInclusive<i64>) -> Option<u32> {
    u32::try_from(value)
        .ok()
        .filter(|_| bounds.contains(&value))
}

/// A per-cluster list such as `trafficSplit`, keyed by cluster. Entry by entry: it names its
/// cluster (`<field>[i].cluster`), one that `known` accepts (otherwise `unknown(cluster)`), which
/// no earlier entry named; then `value` compiles it.
pub fn per_cluster<E, V>(
    field: &'static str,
    entries: &[E],
    cluster_of: impl Fn(&E) -> &str,
    known: impl Fn(&str) -> bool,
    unknown: impl Fn(String) -> Problem,
    value: impl Fn(&E) -> Result<V, Problem>,
) -> Result<BTreeMap<String, V>, Problem> {
    let mut compiled = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (index, entry) in entries.iter().enumerate() {
        let cluster = required(|| format!("{field}[{index}].cluster"), cluster_of(entry))?;
        if !known(cluster) {
            return Err(unknown(cluster.to_owned()));
        }
        unique_cluster(&mut seen, field, cluster)?;
        compiled.insert(cluster.to_owned(), value(entry)?);
    }
    Ok(compiled)
}

/// Weight 1–20 and priority 0–100 of one trafficSplit entry.
pub fn split(cluster: &str, weight: i64, priority: i64) -> Result<Split, Problem> {
    let weight =
        within(weight, WEIGHT_MIN..=WEIGHT_MAX).ok_or_else(|| Problem::WeightOutOfRange {
            cluster: cluster.to_owned(),
            weight,
        })?;
    let priority = within(priority, PRIORITY_MIN..=PRIORITY_MAX).ok_or_else(|| {
        Problem::PriorityOutOfRange {
            cluster: cluster.to_owned(),
            priority,
        }
    })?;
    Ok(Split { weight, priority })
}

/// TTL in seconds, 0–86400.
pub fn ttl(ttl: Option<i64>) -> Result<Option<u32>, Problem> {
    ttl.map(|t| within(t, TTL_MIN..=TTL_MAX).ok_or(Problem::TtlOutOfRange { ttl: t }))
        .transpose()
}

/// An IPv4 or IPv6 address, surrounding blanks ignored.
pub fn ip(text: &str) -> Option<IpAddr> {
    text.trim().parse().ok()
}

/// A required name, e.g. `trafficSplit[2].cluster`: empty names get their own message rather than
/// a confusing "cluster  not present".
pub fn required(field: impl FnOnce() -> String, value: &str) -> Result<&str, Problem> {
    if value.is_empty() {
        Err(Problem::EmptyField { field: field() })
    } else {
        Ok(value)
    }
}

/// A reference field that, when present, must be non-empty.
pub fn non_empty_ref<'a>(field: &'static str, value: &'a str) -> Result<&'a str, Problem> {
    if value.is_empty() {
        Err(Problem::EmptyReference { field })
    } else {
        Ok(value)
    }
}

/// A federated application persistence profile named in `field`: non-empty, on the controller,
/// and usable for GSLB site persistence.
pub fn persistence_profile(
    field: &'static str,
    name: &str,
    tenant: &str,
    lookup: &dyn ControllerLookup,
) -> Result<String, Problem> {
    let name = non_empty_ref(field, name)?;
    if !lookup.persistence_profile_exists(tenant, name) {
        return Err(Problem::PersistenceProfileNotFound {
            field,
            name: name.to_owned(),
        });
    }
    match lookup.persistence_profile_problem(tenant, name) {
        Some(reason) => Err(Problem::PersistenceProfileUnusable {
            field,
            name: name.to_owned(),
            reason,
        }),
        None => Ok(name.to_owned()),
    }
}

/// A federated PKI profile named in `field`: non-empty and on the controller.
pub fn pki_profile(
    field: &'static str,
    name: &str,
    tenant: &str,
    lookup: &dyn ControllerLookup,
) -> Result<String, Problem> {
    let name = non_empty_ref(field, name)?;
    if lookup.pki_profile_exists(tenant, name) {
        Ok(name.to_owned())
    } else {
        Err(Problem::PkiProfileNotFound {
            field,
            name: name.to_owned(),
        })
    }
}

/// `poolAlgorithmSettings`, shared by the GDP and the GSLBHostRule: the algorithm with the
/// settings it needs (hash mask for consistent hash, a fallback for GEO) and none it forbids.
/// Absent settings are no choice (`None`).
pub fn pool_algorithm(
    settings: Option<&PoolAlgorithmSettings>,
) -> Result<Option<PoolAlgorithm>, Problem> {
    settings
        .map(|s| pool_algorithm_detail(s).map_err(Problem::PoolAlgorithm))
        .transpose()
}

fn pool_algorithm_detail(
    settings: &PoolAlgorithmSettings,
) -> Result<PoolAlgorithm, PoolAlgorithmProblem> {
    let algorithm = settings.lb_algorithm.as_str();
    let forbid_fallback = || match settings.geo_fallback {
        Some(_) => Err(PoolAlgorithmProblem::GeoFallbackNotAllowed {
            algorithm: algorithm.to_owned(),
        }),
        None => Ok(()),
    };
    let forbid_hash_mask = || match settings.hash_mask {
        Some(_) => Err(PoolAlgorithmProblem::HashMaskNotAllowed {
            algorithm: algorithm.to_owned(),
        }),
        None => Ok(()),
    };
    match algorithm {
        ALGORITHM_ROUND_ROBIN | ALGORITHM_TOPOLOGY => {
            forbid_fallback()?;
            forbid_hash_mask()?;
            Ok(if algorithm == ALGORITHM_TOPOLOGY {
                PoolAlgorithm::Topology
            } else {
                PoolAlgorithm::RoundRobin
            })
        }
        ALGORITHM_CONSISTENT_HASH => {
            forbid_fallback()?;
            let mask = settings
                .hash_mask
                .ok_or(PoolAlgorithmProblem::HashMaskRequired)?;
            Ok(PoolAlgorithm::ConsistentHash {
                hash_mask: hash_mask("hashMask", mask)?,
            })
        }
        ALGORITHM_GEO => {
            forbid_hash_mask()?;
            let fallback = settings
                .geo_fallback
                .as_ref()
                .ok_or(PoolAlgorithmProblem::GeoFallbackRequired)?;
            Ok(PoolAlgorithm::Geo {
                fallback: geo_fallback(fallback)?,
            })
        }
        other => Err(PoolAlgorithmProblem::Unsupported {
            algorithm: other.to_owned(),
        }),
    }
}

fn geo_fallback(fallback: &GeoFallbackSettings) -> Result<GeoFallback, PoolAlgorithmProblem> {
    let algorithm = fallback.lb_algorithm.as_str();
    match (algorithm, fallback.hash_mask) {
        (ALGORITHM_ROUND_ROBIN, None) => Ok(GeoFallback::RoundRobin),
        (ALGORITHM_ROUND_ROBIN, Some(_)) => Err(PoolAlgorithmProblem::FallbackHashMaskNotAllowed {
            algorithm: algorithm.to_owned(),
        }),
        (ALGORITHM_CONSISTENT_HASH, Some(mask)) => Ok(GeoFallback::ConsistentHash {
            hash_mask: hash_mask("geoFallback.hashMask", mask)?,
        }),
        (ALGORITHM_CONSISTENT_HASH, None) => Err(PoolAlgorithmProblem::FallbackHashMaskRequired {
            algorithm: algorithm.to_owned(),
        }),
        (other, _) => Err(PoolAlgorithmProblem::UnsupportedFallback {
            algorithm: other.to_owned(),
        }),
    }
}

fn hash_mask(field: &'static str, mask: i64) -> Result<u32, PoolAlgorithmProblem> {
    within(mask, HASH_MASK_MIN..=HASH_MASK_MAX).ok_or(PoolAlgorithmProblem::HashMaskOutOfRange {
        field,
        hash_mask: mask,
    })
}

/// `downResponse`: what the DNS service answers when every member is down; a fallback IP only
/// with `GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP`.
/// Absent settings are no choice (`None`).
pub fn down_response(
    settings: Option<&DownResponseSettings>,
) -> Result<Option<DownResponse>, Problem> {
    settings
        .map(|s| down_response_detail(s).map_err(Problem::DownResponse))
        .transpose()
}

fn down_response_detail(
    settings: &DownResponseSettings,
) -> Result<DownResponse, DownResponseProblem> {
    let down_type = settings.type_.as_str();
    let fallback = settings.fallback_ip.as_deref().filter(|ip| !ip.is_empty());
    let simple = match down_type {
        DOWN_RESPONSE_NONE => DownResponse::None,
        DOWN_RESPONSE_ALL_RECORDS => DownResponse::AllRecords,
        DOWN_RESPONSE_EMPTY => DownResponse::Empty,
        DOWN_RESPONSE_FALLBACK_IP => {
            let text = fallback.ok_or_else(|| DownResponseProblem::FallbackIpRequired {
                down_type: down_type.to_owned(),
            })?;
            let address = ip(text).ok_or_else(|| DownResponseProblem::FallbackIpInvalid {
                ip: text.to_owned(),
            })?;
            return Ok(DownResponse::FallbackIp(address));
        }
        other => {
            return Err(DownResponseProblem::UnsupportedType {
                down_type: other.to_owned(),
            });
        }
    };
    match fallback {
        Some(_) => Err(DownResponseProblem::FallbackIpNotAllowed {
            down_type: down_type.to_owned(),
        }),
        None => Ok(simple),
    }
}

/// `healthMonitorRefs` / `healthMonitorTemplate`: mutually exclusive; refs must exist and be
/// federated; a template must be a federated HTTP(S) monitor with a `METHOD path VERSION` request.
/// `None` when neither is set.
pub fn health_monitoring(
    refs: &[String],
    template: Option<&str>,
    tenant: &str,
    lookup: &dyn ControllerLookup,
) -> Result<Option<HealthMonitoring>, Problem> {
    match (refs.is_empty(), template) {
        (false, Some(_)) => Err(Problem::HealthMonitorRefsAndTemplate),
        (false, None) => {
            if refs.len() > MAX_GS_HEALTH_MONITORS {
                return Err(Problem::HealthMonitorRefsTooMany {
                    count: refs.len(),
                    max: MAX_GS_HEALTH_MONITORS,
                });
            }
            for name in refs {
                if name.is_empty() {
                    return Err(Problem::HealthMonitorRefEmpty);
                }
                let facts = lookup
                    .health_monitor(tenant, name)
                    .ok_or_else(|| Problem::HealthMonitorRefNotFound { name: name.clone() })?;
                if !facts.is_federated() {
                    return Err(Problem::HealthMonitorRefNotFederated { name: name.clone() });
                }
            }
            Ok(Some(HealthMonitoring::Refs(refs.to_vec())))
        }
        (true, Some(name)) => {
            hm_template(name, tenant, lookup).map(|t| Some(HealthMonitoring::Template(t)))
        }
        (true, None) => Ok(None),
    }
}

fn hm_template(
    name: &str,
    tenant: &str,
    lookup: &dyn ControllerLookup,
) -> Result<HmTemplate, Problem> {
    let facts = lookup.health_monitor(tenant, name).ok_or_else(|| {
        Problem::HealthMonitorTemplateNotFound {
            name: name.to_owned(),
        }
    })?;
    if !facts.is_federated() {
        return Err(Problem::HealthMonitorTemplateNotFederated {
            name: name.to_owned(),
        });
    }
    if !matches!(
        facts.monitor_type.as_str(),
        "HEALTH_MONITOR_HTTP" | "HEALTH_MONITOR_HTTPS"
    ) {
        return Err(Problem::HealthMonitorTemplateType {
            name: name.to_owned(),
            monitor_type: facts.monitor_type,
        });
    }
    let request = facts.http_request.unwrap_or_default();
    let tokens: Vec<&str> = request.split_whitespace().collect();
    let [method, _path, http_version] = tokens.as_slice() else {
        return Err(Problem::HealthMonitorTemplateRequest {
            name: name.to_owned(),
            request,
        });
    };
    Ok(HmTemplate {
        name: name.to_owned(),
        method: (*method).to_owned(),
        http_version: (*http_version).to_owned(),
        response_codes: facts.response_codes,
    })
}
