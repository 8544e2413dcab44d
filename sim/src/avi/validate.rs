//! Per-type validation and defaulting, the way the controller does it for the objects AMKO
//! touches: required fields, enums, numeric ranges, list limits, cross-object rules (federated
//! health monitors, GSLB site-persistence profiles) and the defaults a response echoes back.
//! Pure: referenced objects come in through a lookup closure; messages name the field.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value, json};

use super::refs::parse_internal;
use super::types::ObjType;

/// Referenced object bodies, by type and uuid.
pub type Lookup<'a> = dyn Fn(ObjType, &str) -> Option<&'a Map<String, Value>> + 'a;

/// Controller-wide settings that validation depends on.
#[derive(Clone, Debug, Default)]
pub struct ValidationContext {
    /// `Gslb.dns_configs[].domain_name`; empty = no restriction.
    pub dns_domains: Vec<String>,
}

pub const GSLB_ALGORITHMS: &[&str] = &[
    "GSLB_ALGORITHM_ROUND_ROBIN",
    "GSLB_ALGORITHM_CONSISTENT_HASH",
    "GSLB_ALGORITHM_GEO",
    "GSLB_ALGORITHM_TOPOLOGY",
    "GSLB_ALGORITHM_PREFERENCE_ORDER",
];
const SERVICE_ALGORITHMS: &[&str] = &[
    "GSLB_SERVICE_ALGORITHM_PRIORITY",
    "GSLB_SERVICE_ALGORITHM_GEO",
];
const HM_SCOPES: &[&str] = &[
    "GSLB_SERVICE_HEALTH_MONITOR_ALL_MEMBERS",
    "GSLB_SERVICE_HEALTH_MONITOR_ONLY_NON_AVI_MEMBERS",
];
const DOWN_RESPONSES: &[&str] = &[
    "GSLB_SERVICE_DOWN_RESPONSE_NONE",
    "GSLB_SERVICE_DOWN_RESPONSE_ALL_RECORDS",
    "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP",
    "GSLB_SERVICE_DOWN_RESPONSE_EMPTY",
    "GSLB_SERVICE_DOWN_RESPONSE_CNAME",
];
const IP_TYPES: &[&str] = &["V4", "V6", "DNS"];
const LOCATION_SOURCES: &[&str] = &[
    "GSLB_LOCATION_SRC_USER_CONFIGURED",
    "GSLB_LOCATION_SRC_INHERIT_FROM_SITE",
    "GSLB_LOCATION_SRC_FROM_GEODB",
];
pub const HM_TYPES: &[&str] = &[
    "HEALTH_MONITOR_PING",
    "HEALTH_MONITOR_TCP",
    "HEALTH_MONITOR_HTTP",
    "HEALTH_MONITOR_HTTPS",
    "HEALTH_MONITOR_EXTERNAL",
    "HEALTH_MONITOR_UDP",
    "HEALTH_MONITOR_DNS",
    "HEALTH_MONITOR_GSLB",
    "HEALTH_MONITOR_SIP",
    "HEALTH_MONITOR_RADIUS",
    "HEALTH_MONITOR_SMTP",
    "HEALTH_MONITOR_SMTPS",
    "HEALTH_MONITOR_POP3",
    "HEALTH_MONITOR_POP3S",
    "HEALTH_MONITOR_IMAP",
    "HEALTH_MONITOR_IMAPS",
    "HEALTH_MONITOR_FTP",
    "HEALTH_MONITOR_FTPS",
    "HEALTH_MONITOR_LDAP",
    "HEALTH_MONITOR_LDAPS",
    "HEALTH_MONITOR_SCTP",
];
const HTTP_CODES: &[&str] = &[
    "HTTP_ANY", "HTTP_1XX", "HTTP_2XX", "HTTP_3XX", "HTTP_4XX", "HTTP_5XX",
];
const PERSISTENCE_TYPES: &[&str] = &[
    "PERSISTENCE_TYPE_CLIENT_IP_ADDRESS",
    "PERSISTENCE_TYPE_HTTP_COOKIE",
    "PERSISTENCE_TYPE_TLS",
    "PERSISTENCE_TYPE_CLIENT_IPV6_ADDRESS",
    "PERSISTENCE_TYPE_CUSTOM_HTTP_HEADER",
    "PERSISTENCE_TYPE_APP_COOKIE",
    "PERSISTENCE_TYPE_GSLB_SITE",
];
const HM_DOWN_RECOVERY: &[&str] = &[
    "HM_DOWN_PICK_NEW_SERVER",
    "HM_DOWN_ABORT_CONNECTION",
    "HM_DOWN_CONTINUE_PERSISTENT_SERVER",
];
const MEMBER_TYPES: &[&str] = &["GSLB_ACTIVE_MEMBER", "GSLB_PASSIVE_MEMBER"];
const REPLICATION_MODES: &[&str] = &[
    "REPLICATION_MODE_CONTINUOUS",
    "REPLICATION_MODE_MANUAL",
    "REPLICATION_MODE_ADAPTIVE",
];

/// Most health monitor references a GslbService may carry.
pub const MAX_GS_HEALTH_MONITORS: usize = 6;

type Res = Result<(), String>;

/// Validates `body` as an object of `obj_type` and fills in defaults.
pub fn validate(
    obj_type: ObjType,
    body: &mut Map<String, Value>,
    lookup: &Lookup<'_>,
    ctx: &ValidationContext,
) -> Res {
    required_string(body, "name", "name")?;
    bool_field(body, "is_federated", "is_federated", None)?;
    match obj_type {
        ObjType::GslbService => gslb_service(body, lookup, ctx),
        ObjType::HealthMonitor => health_monitor(body),
        ObjType::ApplicationPersistenceProfile => persistence_profile(body),
        ObjType::PkiProfile => {
            default(body, "is_federated", json!(false));
            Ok(())
        }
        ObjType::Tenant => tenant(body),
        ObjType::Cloud => {
            string_field(body, "vtype", "vtype")?;
            default(body, "vtype", json!("CLOUD_NONE"));
            Ok(())
        }
        ObjType::Cluster => cluster(body),
        ObjType::Gslb => gslb(body),
    }
}

fn default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_string(), value);
    }
}

fn present<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn required_string(map: &Map<String, Value>, key: &str, path: &str) -> Res {
    match present(map, key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(()),
        Some(Value::String(_)) => Err(format!("field '{path}' must not be empty")),
        Some(_) => Err(format!("field '{path}' must be a string")),
        None => Err(format!("field '{path}' is required")),
    }
}

fn string_field(map: &Map<String, Value>, key: &str, path: &str) -> Res {
    match present(map, key) {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => Err(format!("field '{path}' must be a string")),
    }
}

/// Booleans; the controller also takes the strings "true"/"false" and stores a bool.
fn bool_field(map: &mut Map<String, Value>, key: &str, path: &str, fallback: Option<bool>) -> Res {
    let normalised = match present(map, key) {
        None => fallback,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        Some(other) => return Err(format!("field '{path}' must be a boolean, got {other}")),
    };
    if let Some(b) = normalised {
        map.insert(key.to_string(), Value::Bool(b));
    }
    Ok(())
}

/// Integers within `[min, max]` (numeric strings are accepted and stored as numbers).
fn int_field(
    map: &mut Map<String, Value>,
    key: &str,
    path: &str,
    min: i64,
    max: i64,
    fallback: Option<i64>,
) -> Result<Option<i64>, String> {
    let value = match present(map, key) {
        None => fallback,
        Some(Value::Number(n)) => Some(
            n.as_i64()
                .ok_or_else(|| format!("field '{path}' must be an integer, got {n}"))?,
        ),
        Some(Value::String(s)) => Some(
            s.trim()
                .parse::<i64>()
                .map_err(|_| format!("field '{path}' must be an integer, got '{s}'"))?,
        ),
        Some(other) => return Err(format!("field '{path}' must be an integer, got {other}")),
    };
    if let Some(v) = value {
        if v < min || v > max {
            return Err(format!(
                "field '{path}' is {v}, which is outside the allowed range {min}-{max}"
            ));
        }
        map.insert(key.to_string(), json!(v));
    }
    Ok(value)
}

fn enum_field(
    map: &mut Map<String, Value>,
    key: &str,
    path: &str,
    allowed: &[&str],
    fallback: Option<&str>,
) -> Result<Option<String>, String> {
    match present(map, key) {
        None => {
            if let Some(f) = fallback {
                map.insert(key.to_string(), json!(f));
            }
            Ok(fallback.map(str::to_string))
        }
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            "field '{path}' has invalid value {other}; allowed: {}",
            allowed.join(", ")
        )),
    }
}

fn list_field<'m>(
    map: &'m mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'m mut Vec<Value>>, String> {
    match map.get_mut(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(_) => Err(format!("field '{path}' must be a list")),
    }
}

fn object_field<'m>(
    map: &'m mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'m mut Map<String, Value>>, String> {
    match map.get_mut(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(_) => Err(format!("field '{path}' must be an object")),
    }
}

fn as_object<'v>(value: &'v mut Value, path: &str) -> Result<&'v mut Map<String, Value>, String> {
    value
        .as_object_mut()
        .ok_or_else(|| format!("'{path}' must be an object"))
}

/// `IpAddr {addr, type}` with the address matching its type.
fn ip_addr(map: &mut Map<String, Value>, path: &str) -> Res {
    required_string(map, "addr", &format!("{path}.addr"))?;
    let ip_type = enum_field(map, "type", &format!("{path}.type"), IP_TYPES, None)?
        .ok_or_else(|| format!("field '{path}.type' is required"))?;
    let addr = map.get("addr").and_then(Value::as_str).unwrap_or_default();
    let ok = match ip_type.as_str() {
        "V4" => addr.parse::<Ipv4Addr>().is_ok(),
        "V6" => addr.parse::<Ipv6Addr>().is_ok(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "field '{path}.addr' value '{addr}' is not a valid {ip_type} address"
        ))
    }
}

fn optional_ip(map: &mut Map<String, Value>, key: &str, path: &str) -> Res {
    if let Some(inner) = object_field(map, key, path)? {
        ip_addr(inner, path)?;
    }
    Ok(())
}

fn location(map: &mut Map<String, Value>, path: &str) -> Res {
    if let Some(loc) = object_field(map, "location", &format!("{path}.location"))? {
        enum_field(
            loc,
            "source",
            &format!("{path}.location.source"),
            LOCATION_SOURCES,
            None,
        )?
        .ok_or_else(|| format!("field '{path}.location.source' is required"))?;
    }
    Ok(())
}

fn gslb_service(
    body: &mut Map<String, Value>,
    lookup: &Lookup<'_>,
    ctx: &ValidationContext,
) -> Res {
    // FQDNs.
    let domains = list_field(body, "domain_names", "domain_names")?
        .ok_or("field 'domain_names' is required: a GslbService needs at least one FQDN")?;
    if domains.is_empty() {
        return Err("field 'domain_names' needs at least one FQDN".to_string());
    }
    let mut seen = std::collections::HashSet::new();
    for (i, domain) in domains.iter().enumerate() {
        let fqdn = domain
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| format!("field 'domain_names[{i}]' must be a non-empty string"))?;
        if !seen.insert(fqdn.to_ascii_lowercase()) {
            return Err(format!("field 'domain_names' lists '{fqdn}' twice"));
        }
        if !ctx.dns_domains.is_empty() && !ctx.dns_domains.iter().any(|d| fqdn_under(fqdn, d)) {
            return Err(format!(
                "domain name '{fqdn}' is not under any GSLB DNS subdomain ({})",
                ctx.dns_domains.join(", ")
            ));
        }
    }

    // Pools.
    let groups = list_field(body, "groups", "groups")?
        .ok_or("field 'groups' is required: a GslbService needs at least one pool")?;
    if groups.is_empty() {
        return Err("field 'groups' needs at least one pool".to_string());
    }
    let mut pool_names = std::collections::HashSet::new();
    for (i, group) in groups.iter_mut().enumerate() {
        let path = format!("groups[{i}]");
        let pool = as_object(group, &path)?;
        gslb_pool(pool, &path)?;
        let name = pool.get("name").and_then(Value::as_str).unwrap_or_default();
        if !pool_names.insert(name.to_string()) {
            return Err(format!("pool name '{name}' is used twice in 'groups'"));
        }
    }

    // Health monitors: at most six, all federated.
    if let Some(refs) = list_field(body, "health_monitor_refs", "health_monitor_refs")? {
        if refs.len() > MAX_GS_HEALTH_MONITORS {
            return Err(format!(
                "field 'health_monitor_refs' has {} entries; at most {MAX_GS_HEALTH_MONITORS} are allowed",
                refs.len()
            ));
        }
        for r in refs.iter() {
            let stored = r.as_str().unwrap_or_default();
            let (obj_type, uuid) = parse_internal(stored).ok_or_else(|| {
                format!("health_monitor_refs entry '{stored}' is not a reference")
            })?;
            if obj_type != ObjType::HealthMonitor {
                return Err(format!(
                    "health_monitor_refs entry '{stored}' is not a health monitor"
                ));
            }
            let hm = lookup(obj_type, uuid)
                .ok_or_else(|| format!("health monitor '{uuid}' does not exist"))?;
            if hm.get("is_federated") != Some(&Value::Bool(true)) {
                let name = hm.get("name").and_then(Value::as_str).unwrap_or(uuid);
                return Err(format!(
                    "Health monitor '{name}' is not federated; a GslbService can only use federated health monitors"
                ));
            }
        }
    }

    enum_field(
        body,
        "health_monitor_scope",
        "health_monitor_scope",
        HM_SCOPES,
        Some("GSLB_SERVICE_HEALTH_MONITOR_ALL_MEMBERS"),
    )?;
    enum_field(
        body,
        "pool_algorithm",
        "pool_algorithm",
        SERVICE_ALGORITHMS,
        Some("GSLB_SERVICE_ALGORITHM_PRIORITY"),
    )?;
    for (key, fallback) in [
        ("controller_health_status_enabled", true),
        ("enabled", true),
        ("is_federated", true),
        ("site_persistence_enabled", false),
        ("use_edns_client_subnet", true),
        ("wildcard_match", false),
        ("resolve_cname", false),
        ("topology_policy_enabled", false),
    ] {
        bool_field(body, key, key, Some(fallback))?;
    }
    bool_field(body, "hm_off", "hm_off", None)?;
    int_field(body, "ttl", "ttl", 0, 86_400, None)?;
    int_field(body, "num_dns_ip", "num_dns_ip", 0, 20, None)?;
    int_field(body, "min_members", "min_members", 0, 65_535, Some(0))?;
    for key in ["description", "created_by"] {
        string_field(body, key, key)?;
    }

    // Down response.
    default(
        body,
        "down_response",
        json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_NONE"}),
    );
    if let Some(down) = object_field(body, "down_response", "down_response")? {
        let kind = enum_field(
            down,
            "type",
            "down_response.type",
            DOWN_RESPONSES,
            Some("GSLB_SERVICE_DOWN_RESPONSE_NONE"),
        )?
        .unwrap_or_default();
        optional_ip(down, "fallback_ip", "down_response.fallback_ip")?;
        optional_ip(down, "fallback_ip6", "down_response.fallback_ip6")?;
        if kind == "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP"
            && present(down, "fallback_ip").is_none()
            && present(down, "fallback_ip6").is_none()
        {
            return Err(
                "down_response type GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP needs 'fallback_ip' or 'fallback_ip6'"
                    .to_string(),
            );
        }
        if kind == "GSLB_SERVICE_DOWN_RESPONSE_CNAME" {
            required_string(down, "fallback_cname", "down_response.fallback_cname")?;
        }
    }

    // Site persistence needs a federated GSLB-site persistence profile.
    let site_persistence = body.get("site_persistence_enabled") == Some(&Value::Bool(true));
    if let Some(stored) = present(body, "application_persistence_profile_ref") {
        let stored = stored.as_str().unwrap_or_default();
        let (obj_type, uuid) = parse_internal(stored).ok_or_else(|| {
            format!("application_persistence_profile_ref '{stored}' is not a reference")
        })?;
        let profile = lookup(obj_type, uuid)
            .ok_or_else(|| format!("application persistence profile '{uuid}' does not exist"))?;
        let name = profile.get("name").and_then(Value::as_str).unwrap_or(uuid);
        if profile.get("is_federated") != Some(&Value::Bool(true)) {
            return Err(format!(
                "Application persistence profile '{name}' is not federated"
            ));
        }
        if profile.get("persistence_type").and_then(Value::as_str)
            != Some("PERSISTENCE_TYPE_GSLB_SITE")
        {
            return Err(format!(
                "Application persistence profile '{name}' must be of type PERSISTENCE_TYPE_GSLB_SITE"
            ));
        }
    } else if site_persistence {
        return Err(
            "site_persistence_enabled needs 'application_persistence_profile_ref'".to_string(),
        );
    }
    Ok(())
}

fn fqdn_under(fqdn: &str, domain: &str) -> bool {
    let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    fqdn == domain || fqdn.ends_with(&format!(".{domain}"))
}

fn gslb_pool(pool: &mut Map<String, Value>, path: &str) -> Res {
    required_string(pool, "name", &format!("{path}.name"))?;
    enum_field(
        pool,
        "algorithm",
        &format!("{path}.algorithm"),
        GSLB_ALGORITHMS,
        Some("GSLB_ALGORITHM_ROUND_ROBIN"),
    )?;
    enum_field(
        pool,
        "fallback_algorithm",
        &format!("{path}.fallback_algorithm"),
        GSLB_ALGORITHMS,
        None,
    )?;
    int_field(
        pool,
        "consistent_hash_mask",
        &format!("{path}.consistent_hash_mask"),
        1,
        31,
        None,
    )?;
    int_field(
        pool,
        "consistent_hash_mask6",
        &format!("{path}.consistent_hash_mask6"),
        1,
        127,
        None,
    )?;
    int_field(
        pool,
        "priority",
        &format!("{path}.priority"),
        0,
        100,
        Some(10),
    )?;
    int_field(
        pool,
        "min_health_monitors_up",
        &format!("{path}.min_health_monitors_up"),
        0,
        i64::from(u32::MAX),
        None,
    )?;
    bool_field(pool, "enabled", &format!("{path}.enabled"), Some(true))?;
    bool_field(
        pool,
        "manual_resume",
        &format!("{path}.manual_resume"),
        Some(false),
    )?;
    string_field(pool, "description", &format!("{path}.description"))?;
    let members = list_field(pool, "members", &format!("{path}.members"))?
        .ok_or_else(|| format!("field '{path}.members' is required: a pool needs members"))?;
    if members.is_empty() {
        return Err(format!("field '{path}.members' needs at least one member"));
    }
    for (j, member) in members.iter_mut().enumerate() {
        let mpath = format!("{path}.members[{j}]");
        let member = as_object(member, &mpath)?;
        if present(member, "ip").is_none() && present(member, "fqdn").is_none() {
            return Err(format!("'{mpath}' needs 'ip' or 'fqdn'"));
        }
        optional_ip(member, "ip", &format!("{mpath}.ip"))?;
        string_field(member, "fqdn", &format!("{mpath}.fqdn"))?;
        if let Some(public) = object_field(member, "public_ip", &format!("{mpath}.public_ip"))? {
            let ip_path = format!("{mpath}.public_ip.ip");
            let ip = object_field(public, "ip", &ip_path)?
                .ok_or_else(|| format!("field '{ip_path}' is required"))?;
            ip_addr(ip, &ip_path)?;
        }
        location(member, &mpath)?;
        bool_field(member, "enabled", &format!("{mpath}.enabled"), Some(true))?;
        bool_field(
            member,
            "resolve_fqdn_to_v6",
            &format!("{mpath}.resolve_fqdn_to_v6"),
            Some(false),
        )?;
        int_field(member, "ratio", &format!("{mpath}.ratio"), 1, 20, Some(1))?;
        int_field(
            member,
            "preference_order",
            &format!("{mpath}.preference_order"),
            1,
            128,
            Some(1),
        )?;
        for key in [
            "cluster_uuid",
            "vs_uuid",
            "cloud_uuid",
            "hostname",
            "description",
        ] {
            string_field(member, key, &format!("{mpath}.{key}"))?;
        }
    }
    Ok(())
}

fn health_monitor(body: &mut Map<String, Value>) -> Res {
    let kind = enum_field(body, "type", "type", HM_TYPES, None)?
        .ok_or("field 'type' is required for a health monitor")?;
    let send_interval =
        int_field(body, "send_interval", "send_interval", 1, 3600, Some(10))?.unwrap_or(10);
    let receive_timeout =
        int_field(body, "receive_timeout", "receive_timeout", 1, 2400, Some(4))?.unwrap_or(4);
    if receive_timeout >= send_interval {
        return Err(format!(
            "receive_timeout ({receive_timeout}) must be less than send_interval ({send_interval})"
        ));
    }
    int_field(
        body,
        "successful_checks",
        "successful_checks",
        1,
        50,
        Some(2),
    )?;
    int_field(body, "failed_checks", "failed_checks", 1, 50, Some(2))?;
    int_field(body, "monitor_port", "monitor_port", 0, 65_535, None)?;
    bool_field(body, "is_federated", "is_federated", Some(false))?;
    bool_field(
        body,
        "allow_duplicate_monitors",
        "allow_duplicate_monitors",
        None,
    )?;
    bool_field(body, "disable_quickstart", "disable_quickstart", None)?;
    string_field(body, "description", "description")?;

    match kind.as_str() {
        "HEALTH_MONITOR_HTTP" => http_monitor(body, "http_monitor")?,
        "HEALTH_MONITOR_HTTPS" => http_monitor(body, "https_monitor")?,
        "HEALTH_MONITOR_TCP" => {
            if let Some(tcp) = object_field(body, "tcp_monitor", "tcp_monitor")? {
                bool_field(
                    tcp,
                    "tcp_half_open",
                    "tcp_monitor.tcp_half_open",
                    Some(false),
                )?;
            }
        }
        "HEALTH_MONITOR_DNS" => {
            let dns = object_field(body, "dns_monitor", "dns_monitor")?
                .ok_or("a HEALTH_MONITOR_DNS monitor needs 'dns_monitor'")?;
            required_string(dns, "query_name", "dns_monitor.query_name")?;
            default(dns, "qtype", json!("DNS_QUERY_TYPE"));
            default(dns, "rcode", json!("RCODE_NO_ERROR"));
            default(dns, "record_type", json!("DNS_RECORD_A"));
        }
        "HEALTH_MONITOR_EXTERNAL" => {
            let ext = object_field(body, "external_monitor", "external_monitor")?
                .ok_or("a HEALTH_MONITOR_EXTERNAL monitor needs 'external_monitor'")?;
            required_string(ext, "command_code", "external_monitor.command_code")?;
        }
        _ => {}
    }
    Ok(())
}

fn http_monitor(body: &mut Map<String, Value>, key: &str) -> Res {
    default(body, key, json!({}));
    let Some(http) = object_field(body, key, key)? else {
        return Ok(());
    };
    default(http, "http_request", json!("GET / HTTP/1.0"));
    string_field(http, "http_request", &format!("{key}.http_request"))?;
    bool_field(
        http,
        "exact_http_request",
        &format!("{key}.exact_http_request"),
        Some(false),
    )?;
    if let Some(codes) = list_field(
        http,
        "http_response_code",
        &format!("{key}.http_response_code"),
    )? {
        if codes.is_empty() {
            return Err(format!(
                "field '{key}.http_response_code' needs at least one code"
            ));
        }
        for code in codes.iter() {
            if !code.as_str().is_some_and(|c| HTTP_CODES.contains(&c)) {
                return Err(format!(
                    "field '{key}.http_response_code' has invalid value {code}; allowed: {}",
                    HTTP_CODES.join(", ")
                ));
            }
        }
    }
    if let Some(codes) = list_field(http, "maintenance_code", &format!("{key}.maintenance_code"))? {
        if codes.len() > 4 {
            return Err(format!(
                "field '{key}.maintenance_code' allows at most 4 codes"
            ));
        }
        for code in codes.iter() {
            if !code.as_u64().is_some_and(|c| (101..=599).contains(&c)) {
                return Err(format!(
                    "field '{key}.maintenance_code' value {code} is outside 101-599"
                ));
            }
        }
    }
    int_field(
        http,
        "response_size",
        &format!("{key}.response_size"),
        2048,
        16_384,
        None,
    )?;
    Ok(())
}

fn persistence_profile(body: &mut Map<String, Value>) -> Res {
    let kind = enum_field(
        body,
        "persistence_type",
        "persistence_type",
        PERSISTENCE_TYPES,
        Some("PERSISTENCE_TYPE_CLIENT_IP_ADDRESS"),
    )?
    .unwrap_or_default();
    bool_field(body, "is_federated", "is_federated", Some(false))?;
    enum_field(
        body,
        "server_hm_down_recovery",
        "server_hm_down_recovery",
        HM_DOWN_RECOVERY,
        Some("HM_DOWN_PICK_NEW_SERVER"),
    )?;
    if kind == "PERSISTENCE_TYPE_CLIENT_IP_ADDRESS" {
        default(body, "ip_persistence_profile", json!({}));
    }
    if let Some(ip) = object_field(body, "ip_persistence_profile", "ip_persistence_profile")? {
        int_field(
            ip,
            "ip_persistent_timeout",
            "ip_persistence_profile.ip_persistent_timeout",
            1,
            720,
            Some(5),
        )?;
        int_field(
            ip,
            "ip_mask",
            "ip_persistence_profile.ip_mask",
            0,
            128,
            None,
        )?;
    }
    if let Some(cookie) = object_field(
        body,
        "http_cookie_persistence_profile",
        "http_cookie_persistence_profile",
    )? {
        int_field(
            cookie,
            "timeout",
            "http_cookie_persistence_profile.timeout",
            0,
            14_400,
            None,
        )?;
    }
    Ok(())
}

fn tenant(body: &mut Map<String, Value>) -> Res {
    bool_field(body, "local", "local", Some(true))?;
    bool_field(
        body,
        "enforce_label_group",
        "enforce_label_group",
        Some(false),
    )?;
    default(body, "config_settings", json!({}));
    if let Some(settings) = object_field(body, "config_settings", "config_settings")? {
        for (key, fallback) in [
            ("tenant_vrf", false),
            ("se_in_provider_context", true),
            ("tenant_access_to_provider_se", true),
        ] {
            bool_field(
                settings,
                key,
                &format!("config_settings.{key}"),
                Some(fallback),
            )?;
        }
    }
    Ok(())
}

fn cluster(body: &mut Map<String, Value>) -> Res {
    bool_field(
        body,
        "rejoin_nodes_automatically",
        "rejoin_nodes_automatically",
        Some(true),
    )?;
    if let Some(nodes) = list_field(body, "nodes", "nodes")? {
        for (i, node) in nodes.iter_mut().enumerate() {
            let path = format!("nodes[{i}]");
            let node = as_object(node, &path)?;
            let ip = object_field(node, "ip", &format!("{path}.ip"))?
                .ok_or_else(|| format!("field '{path}.ip' is required"))?;
            ip_addr(ip, &format!("{path}.ip"))?;
            default(node, "name", json!("node"));
        }
    }
    optional_ip(body, "virtual_ip", "virtual_ip")
}

fn gslb(body: &mut Map<String, Value>) -> Res {
    required_string(body, "leader_cluster_uuid", "leader_cluster_uuid")?;
    let sites = list_field(body, "sites", "sites")?
        .ok_or("field 'sites' is required: a GSLB configuration needs at least one site")?;
    if sites.is_empty() {
        return Err("field 'sites' needs at least one site".to_string());
    }
    let mut cluster_uuids = Vec::new();
    for (i, site) in sites.iter_mut().enumerate() {
        let path = format!("sites[{i}]");
        let site = as_object(site, &path)?;
        for key in ["cluster_uuid", "name", "username", "password"] {
            required_string(site, key, &format!("{path}.{key}"))?;
        }
        enum_field(
            site,
            "member_type",
            &format!("{path}.member_type"),
            MEMBER_TYPES,
            Some("GSLB_PASSIVE_MEMBER"),
        )?;
        int_field(site, "port", &format!("{path}.port"), 1, 65_535, Some(443))?;
        int_field(site, "ratio", &format!("{path}.ratio"), 1, 20, None)?;
        bool_field(site, "enabled", &format!("{path}.enabled"), Some(true))?;
        bool_field(
            site,
            "hm_shard_enabled",
            &format!("{path}.hm_shard_enabled"),
            Some(false),
        )?;
        bool_field(
            site,
            "suspend_mode",
            &format!("{path}.suspend_mode"),
            Some(false),
        )?;
        if let Some(ips) = list_field(site, "ip_addresses", &format!("{path}.ip_addresses"))? {
            if ips.len() > 3 {
                return Err(format!(
                    "field '{path}.ip_addresses' allows at most 3 addresses"
                ));
            }
            for (j, ip) in ips.iter_mut().enumerate() {
                let ip_path = format!("{path}.ip_addresses[{j}]");
                ip_addr(as_object(ip, &ip_path)?, &ip_path)?;
            }
        }
        location(site, &path)?;
        cluster_uuids.push(
            site.get("cluster_uuid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        );
    }
    let leader = body
        .get("leader_cluster_uuid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !cluster_uuids.iter().any(|c| c == leader) {
        return Err(format!(
            "leader_cluster_uuid '{leader}' is not the cluster_uuid of any site"
        ));
    }
    if let Some(third) = list_field(body, "third_party_sites", "third_party_sites")? {
        for (i, site) in third.iter_mut().enumerate() {
            let path = format!("third_party_sites[{i}]");
            let site = as_object(site, &path)?;
            required_string(site, "name", &format!("{path}.name"))?;
            default(
                site,
                "cluster_uuid",
                json!(format!("tp_cluster-{}", super::ids::uuid4())),
            );
            bool_field(site, "enabled", &format!("{path}.enabled"), Some(true))?;
            int_field(site, "ratio", &format!("{path}.ratio"), 1, 20, None)?;
            location(site, &path)?;
        }
    }
    if let Some(configs) = list_field(body, "dns_configs", "dns_configs")? {
        for (i, config) in configs.iter_mut().enumerate() {
            let path = format!("dns_configs[{i}]");
            required_string(
                as_object(config, &path)?,
                "domain_name",
                &format!("{path}.domain_name"),
            )?;
        }
    }
    bool_field(body, "is_federated", "is_federated", Some(true))?;
    bool_field(body, "maintenance_mode", "maintenance_mode", Some(false))?;
    bool_field(body, "tenant_scoped", "tenant_scoped", Some(true))?;
    bool_field(
        body,
        "enable_config_by_members",
        "enable_config_by_members",
        Some(false),
    )?;
    int_field(body, "send_interval", "send_interval", 1, 3600, Some(15))?;
    int_field(
        body,
        "clear_on_max_retries",
        "clear_on_max_retries",
        1,
        1024,
        Some(20),
    )?;
    let resync = int_field(
        body,
        "error_resync_interval",
        "error_resync_interval",
        0,
        3600,
        Some(300),
    )?
    .unwrap_or(300);
    if resync != 0 && resync < 60 {
        return Err(format!(
            "field 'error_resync_interval' is {resync}; it must be 0 or 60-3600"
        ));
    }
    int_field(body, "async_interval", "async_interval", 0, 5, Some(0))?;
    int_field(body, "view_id", "view_id", 0, i64::MAX, Some(0))?;
    default(body, "replication_policy", json!({}));
    if let Some(policy) = object_field(body, "replication_policy", "replication_policy")? {
        enum_field(
            policy,
            "replication_mode",
            "replication_policy.replication_mode",
            REPLICATION_MODES,
            Some("REPLICATION_MODE_CONTINUOUS"),
        )?;
    }
    Ok(())
}

/// The `Gslb.dns_configs` domains of a stored Gslb body.
pub fn dns_domains_of(gslb: &Map<String, Value>) -> Vec<String> {
    gslb.get("dns_configs")
        .and_then(Value::as_array)
        .map(|configs| {
            configs
                .iter()
                .filter_map(|c| c.get("domain_name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn federated_hm() -> Map<String, Value> {
        json!({"name": "hm", "is_federated": true})
            .as_object()
            .cloned()
            .unwrap()
    }

    fn gs(extra: Value) -> Map<String, Value> {
        let mut body = json!({
            "name": "gs",
            "domain_names": ["a.example.com"],
            "groups": [{"name": "p", "members": [{"ip": {"addr": "10.0.0.1", "type": "V4"}}]}],
        });
        for (k, v) in extra.as_object().cloned().unwrap() {
            body[k] = v;
        }
        body.as_object().cloned().unwrap()
    }

    fn check(mut body: Map<String, Value>) -> Result<Map<String, Value>, String> {
        let hm = federated_hm();
        let plain = json!({"name": "plain", "is_federated": false})
            .as_object()
            .cloned()
            .unwrap();
        let lookup: &Lookup<'_> = &|t, uuid| match (t, uuid) {
            (ObjType::HealthMonitor, "healthmonitor-fed") => Some(&hm),
            (ObjType::HealthMonitor, "healthmonitor-plain") => Some(&plain),
            _ => None,
        };
        let result = validate(
            ObjType::GslbService,
            &mut body,
            lookup,
            &ValidationContext::default(),
        );
        result.map(|()| body)
    }

    #[test]
    fn fills_gslb_service_defaults() {
        let body = check(gs(json!({}))).unwrap();
        assert_eq!(body["enabled"], true);
        assert_eq!(body["pool_algorithm"], "GSLB_SERVICE_ALGORITHM_PRIORITY");
        assert_eq!(body["groups"][0]["priority"], 10);
        assert_eq!(body["groups"][0]["algorithm"], "GSLB_ALGORITHM_ROUND_ROBIN");
        assert_eq!(body["groups"][0]["members"][0]["ratio"], 1);
        assert_eq!(
            body["down_response"]["type"],
            "GSLB_SERVICE_DOWN_RESPONSE_NONE"
        );
    }

    #[test]
    fn enforces_ranges_and_limits() {
        let bad_ratio = gs(json!({"groups": [{"name": "p", "members": [
            {"ip": {"addr": "10.0.0.1", "type": "V4"}, "ratio": 21}]}]}));
        assert!(check(bad_ratio).unwrap_err().contains("ratio"));
        assert!(
            check(gs(json!({"ttl": 86_401})))
                .unwrap_err()
                .contains("ttl")
        );
        let bad_priority = gs(
            json!({"groups": [{"name": "p", "priority": 101, "members": [
            {"ip": {"addr": "10.0.0.1", "type": "V4"}}]}]}),
        );
        assert!(check(bad_priority).unwrap_err().contains("priority"));
        let seven = vec![json!("/api/healthmonitor/healthmonitor-fed"); 7];
        assert!(
            check(gs(json!({"health_monitor_refs": seven})))
                .unwrap_err()
                .contains("at most 6")
        );
        assert!(
            check(gs(
                json!({"health_monitor_refs": ["/api/healthmonitor/healthmonitor-plain"]})
            ))
            .unwrap_err()
            .contains("not federated")
        );
        assert!(
            check(gs(
                json!({"health_monitor_refs": ["/api/healthmonitor/healthmonitor-fed"]})
            ))
            .is_ok()
        );
        assert!(check(gs(json!({"domain_names": []}))).is_err());
        let bad_ip = gs(json!({"groups": [{"name": "p", "members": [
            {"ip": {"addr": "not-an-ip", "type": "V4"}}]}]}));
        assert!(check(bad_ip).unwrap_err().contains("not a valid V4"));
    }

    #[test]
    fn health_monitor_timeouts() {
        let mut hm = json!({"name": "h", "type": "HEALTH_MONITOR_HTTP", "send_interval": 5, "receive_timeout": 5})
            .as_object()
            .cloned()
            .unwrap();
        let none: &Lookup<'_> = &|_, _| None;
        let err = validate(
            ObjType::HealthMonitor,
            &mut hm,
            none,
            &ValidationContext::default(),
        )
        .unwrap_err();
        assert!(err.contains("receive_timeout"));
        let mut ok = json!({"name": "h", "type": "HEALTH_MONITOR_HTTP"})
            .as_object()
            .cloned()
            .unwrap();
        validate(
            ObjType::HealthMonitor,
            &mut ok,
            none,
            &ValidationContext::default(),
        )
        .unwrap();
        assert_eq!(ok["http_monitor"]["http_request"], "GET / HTTP/1.0");
        assert_eq!(ok["is_federated"], false);
    }

    #[test]
    fn dns_subdomains_are_enforced_when_configured() {
        assert!(fqdn_under("a.gslb.example.com", "gslb.example.com"));
        assert!(!fqdn_under("agslb.example.com", "gslb.example.com"));
    }
}
