//! What the GSLB DNS service should answer for one GslbService, read from the object itself (the
//! payload amko-rs would write, or the controller's copy): per record type, the members of the
//! highest-priority pool that can answer, their expected shares, how many records an answer holds,
//! and the TTL. The rules are the answering model of the Avi DNS virtual service (docs/dns.md);
//! members are assumed healthy, since the policy is what is being checked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;

/// The TTL the DNS virtual service's application profile gives when the GslbService has none.
pub const DEFAULT_TTL: u32 = 30;

/// A DNS record type verify-dns asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordType {
    A,
    Aaaa,
}

impl RecordType {
    pub fn fits(self, ip: IpAddr) -> bool {
        match self {
            RecordType::A => ip.is_ipv4(),
            RecordType::Aaaa => ip.is_ipv6(),
        }
    }

    fn avi_type(self) -> &'static str {
        match self {
            RecordType::A => "V4",
            RecordType::Aaaa => "V6",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
        })
    }
}

/// How the chosen pool picks members, as far as it decides what a test can expect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Round robin weighted by ratio (also preference order ties, and geo/topology pools, which
    /// fall back to their fallback algorithm without location data): shares follow the ratios.
    Weighted,
    /// Consistent hash on the client subnet: one client subnet always gets the same member; the
    /// shares across subnets depend on the hash, so only stickiness is tested.
    ConsistentHash { mask: Option<u32> },
    /// No share can be predicted (a geo service algorithm chooses the pool by client location):
    /// only the set of addresses is checked.
    Unpredictable { why: String },
}

/// One member that may appear in answers, with its expected share of the first records.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedMember {
    pub ip: IpAddr,
    pub ratio: u32,
    /// Of the answers' first records; the shares of one answer sum to 1.
    pub share: f64,
}

/// What every answer for one record type should hold when a member is eligible.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedPool {
    /// The pools the answers come from (several only when they share the top priority).
    pub pools: Vec<String>,
    pub priority: u32,
    pub selection: Selection,
    /// The members that take an answer's first record, sorted by address.
    pub members: Vec<ExpectedMember>,
    /// Other eligible members of the pool, which may follow the first record only (preference
    /// order with `num_dns_ip` above 1).
    pub also_allowed: BTreeSet<IpAddr>,
    /// A member's `public_ip` → its `ip`: public clients get the former, and it counts as the
    /// member.
    pub aliases: BTreeMap<IpAddr, IpAddr>,
    /// Records per answer: `num_dns_ip` capped by the members of the pool (0: all of them).
    pub records_per_answer: BTreeSet<usize>,
    /// Every answer holds every member: the shares of first records say nothing.
    pub every_member_in_each_answer: bool,
}

/// What the service answers when nothing is eligible (`down_response`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownAnswer {
    /// No reply at all (`GSLB_SERVICE_DOWN_RESPONSE_NONE`, the default).
    NoReply,
    /// NOERROR with no record (`..._EMPTY`, and a disabled service).
    Empty,
    /// Exactly these addresses (`..._FALLBACK_IP`, or `..._ALL_RECORDS`: every member of every
    /// pool whatever its health).
    Addresses(BTreeSet<IpAddr>),
    /// `..._CNAME`: a CNAME to `fallback_cname` (verify-dns checks that no address comes back).
    Cname(String),
}

/// What one record type should get.
#[derive(Clone, Debug, PartialEq)]
pub enum Expectation {
    Pool(ExpectedPool),
    Down(DownAnswer),
}

/// The expectations of one GslbService.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedGs {
    pub name: String,
    /// The names it answers for; the first is the FQDN verify-dns asks for.
    pub domain_names: Vec<String>,
    pub ttl: u32,
    /// The record types its members have (A when none), each with what it should get.
    pub by_type: BTreeMap<RecordType, Expectation>,
}

impl ExpectedGs {
    pub fn fqdn(&self) -> &str {
        self.domain_names
            .first()
            .map_or(self.name.as_str(), String::as_str)
    }
}

/// A GslbService verify-dns cannot read.
#[derive(Debug, thiserror::Error)]
pub enum ExpectError {
    #[error("GslbService {name}: {source}")]
    Shape {
        name: String,
        source: serde_json::Error,
    },
    #[error(
        "GslbService {name}: groups[{pool}].members[{member}].ip.addr {addr:?} is not an IP address"
    )]
    Address {
        name: String,
        pool: usize,
        member: usize,
        addr: String,
    },
    #[error("GslbService {name}: down_response.fallback_ip.addr {addr:?} is not an IP address")]
    FallbackIp { name: String, addr: String },
}

// A lenient view of a GslbService: the controller echoes more fields than amko-rs writes, and
// leaves out the ones at their defaults.
#[derive(Deserialize)]
struct GsView {
    #[serde(default)]
    name: String,
    #[serde(default)]
    domain_names: Vec<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    pool_algorithm: Option<String>,
    #[serde(default)]
    ttl: Option<u32>,
    #[serde(default)]
    num_dns_ip: Option<u32>,
    #[serde(default)]
    min_members: u32,
    #[serde(default)]
    down_response: Option<DownView>,
    #[serde(default)]
    groups: Vec<PoolView>,
}

#[derive(Deserialize)]
struct DownView {
    #[serde(rename = "type", default)]
    type_: Option<String>,
    #[serde(default)]
    fallback_ip: Option<IpView>,
    #[serde(default)]
    fallback_ip6: Option<IpView>,
    #[serde(default)]
    fallback_cname: Option<String>,
}

#[derive(Deserialize)]
struct PoolView {
    #[serde(default)]
    name: String,
    #[serde(default = "ten")]
    priority: u32,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    algorithm: Option<String>,
    #[serde(default)]
    fallback_algorithm: Option<String>,
    #[serde(default)]
    consistent_hash_mask: Option<u32>,
    #[serde(default)]
    members: Vec<MemberView>,
}

#[derive(Deserialize)]
struct MemberView {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "one")]
    ratio: u32,
    #[serde(default)]
    ip: Option<IpView>,
    #[serde(default)]
    public_ip: Option<PublicIpView>,
    #[serde(default)]
    preference_order: Option<u32>,
}

#[derive(Deserialize)]
struct PublicIpView {
    ip: IpView,
}

#[derive(Deserialize)]
struct IpView {
    addr: String,
    #[serde(rename = "type", default)]
    type_: Option<String>,
}

fn yes() -> bool {
    true
}
fn ten() -> u32 {
    10
}
fn one() -> u32 {
    1
}

/// A member as the selection sees it.
struct Candidate {
    ip: IpAddr,
    /// Shown to public clients instead of `ip` (same family only).
    public_ip: Option<IpAddr>,
    ratio: u32,
    preference_order: Option<u32>,
}

/// What the DNS service should answer for the GslbService `gs` (a payload or a controller copy).
pub fn expected_answers(gs: &Value) -> Result<ExpectedGs, ExpectError> {
    let fallback_name = gs["name"].as_str().unwrap_or("(unnamed)").to_owned();
    let view: GsView = serde_json::from_value(gs.clone()).map_err(|source| ExpectError::Shape {
        name: fallback_name,
        source,
    })?;
    let name = view.name.clone();
    // Every enabled member of every enabled pool, by pool, with its address.
    let mut pools: Vec<(&PoolView, Vec<Candidate>)> = Vec::new();
    let mut all_addresses = BTreeSet::new();
    for (p, pool) in view.groups.iter().enumerate() {
        let mut candidates = Vec::new();
        for (m, member) in pool.members.iter().enumerate() {
            let Some(ip) = &member.ip else { continue };
            let addr: IpAddr = ip.addr.parse().map_err(|_| ExpectError::Address {
                name: name.clone(),
                pool: p,
                member: m,
                addr: ip.addr.clone(),
            })?;
            all_addresses.insert(addr);
            let public_ip = member
                .public_ip
                .as_ref()
                .and_then(|p| p.ip.addr.parse::<IpAddr>().ok())
                .filter(|p| p.is_ipv4() == addr.is_ipv4());
            if member.enabled && pool.enabled {
                candidates.push(Candidate {
                    ip: addr,
                    public_ip,
                    ratio: member.ratio.max(1),
                    preference_order: member.preference_order,
                });
            }
        }
        pools.push((pool, candidates));
    }
    let mut types: BTreeSet<RecordType> = all_addresses
        .iter()
        .flat_map(|ip| {
            [RecordType::A, RecordType::Aaaa]
                .into_iter()
                .filter(|t| t.fits(*ip))
        })
        .collect();
    if types.is_empty() {
        types.insert(RecordType::A);
    }
    // The service is up while a pool can answer some record type; a type none of its pools can
    // answer then gets an empty NOERROR, not the down response.
    let service_up = [RecordType::A, RecordType::Aaaa]
        .into_iter()
        .any(|t| pool_for(&view, &pools, t).is_some());
    let mut by_type = BTreeMap::new();
    for record_type in types {
        let expectation = if view.enabled {
            pool_for(&view, &pools, record_type)
        } else {
            None
        };
        let expectation = match expectation {
            Some(pool) => Expectation::Pool(pool),
            None if !view.enabled || service_up => Expectation::Down(DownAnswer::Empty),
            None => Expectation::Down(down_answer(&view, record_type, &all_addresses)?),
        };
        by_type.insert(record_type, expectation);
    }
    Ok(ExpectedGs {
        name: view.name.clone(),
        domain_names: view.domain_names.clone(),
        ttl: view.ttl.unwrap_or(DEFAULT_TTL),
        by_type,
    })
}

/// The pool(s) of the highest priority with an eligible member of `record_type`.
fn pool_for(
    view: &GsView,
    pools: &[(&PoolView, Vec<Candidate>)],
    record_type: RecordType,
) -> Option<ExpectedPool> {
    let eligible: Vec<(&PoolView, Vec<&Candidate>)> = pools
        .iter()
        .map(|(pool, candidates)| {
            let fit = candidates
                .iter()
                .filter(|c| record_type.fits(c.ip))
                .collect::<Vec<_>>();
            (*pool, fit)
        })
        // `min_members`: a pool keeps the traffic only while it has that many eligible members.
        .filter(|(pool, fit)| pool.priority > 0 && fit.len() >= view.min_members.max(1) as usize)
        .collect();
    let geo_service = view.pool_algorithm.as_deref() == Some("GSLB_SERVICE_ALGORITHM_GEO");
    let top = if geo_service {
        // The client's location picks the pool: any pool with an eligible member may answer.
        eligible.iter().map(|(p, _)| p.priority).min()?
    } else {
        eligible.iter().map(|(p, _)| p.priority).max()?
    };
    let chosen: Vec<&(&PoolView, Vec<&Candidate>)> = eligible
        .iter()
        .filter(|(p, _)| if geo_service { true } else { p.priority == top })
        .collect();
    let num_dns_ip = view.num_dns_ip.unwrap_or(1) as usize;
    let pool_share = 1.0 / chosen.len() as f64;
    let mut shares: BTreeMap<IpAddr, (u32, f64)> = BTreeMap::new();
    let mut in_pools = BTreeSet::new();
    let mut aliases = BTreeMap::new();
    let mut records_per_answer = BTreeSet::new();
    let mut every_member_in_each_answer = true;
    let mut selection = None;
    for (pool, candidates) in &chosen {
        let (pool_selection, answering) = pool_selection(pool, candidates);
        let ratio_sum: u32 = answering.iter().map(|c| c.ratio).sum();
        in_pools.extend(candidates.iter().map(|c| c.ip));
        aliases.extend(
            candidates
                .iter()
                .filter_map(|c| c.public_ip.map(|public| (public, c.ip))),
        );
        for candidate in &answering {
            let entry = shares.entry(candidate.ip).or_insert((candidate.ratio, 0.0));
            entry.1 += pool_share * f64::from(candidate.ratio) / f64::from(ratio_sum.max(1));
        }
        let records = if num_dns_ip == 0 {
            candidates.len()
        } else {
            num_dns_ip.min(candidates.len())
        };
        records_per_answer.insert(records);
        every_member_in_each_answer &= records >= candidates.len();
        selection = Some(match selection {
            None => pool_selection,
            Some(same) if same == pool_selection => same,
            Some(_) => Selection::Unpredictable {
                why: "the pools of the top priority use different algorithms".to_owned(),
            },
        });
    }
    let mut selection = selection?;
    if geo_service && chosen.len() > 1 {
        selection = Selection::Unpredictable {
            why: "the geo service algorithm picks the pool by client location".to_owned(),
        };
    }
    let also_allowed = in_pools
        .into_iter()
        .filter(|ip| !shares.contains_key(ip))
        .collect();
    Some(ExpectedPool {
        pools: chosen.iter().map(|(p, _)| p.name.clone()).collect(),
        also_allowed,
        aliases,
        priority: top,
        selection,
        members: shares
            .into_iter()
            .map(|(ip, (ratio, share))| ExpectedMember { ip, ratio, share })
            .collect(),
        records_per_answer,
        every_member_in_each_answer,
    })
}

/// How `pool` picks among its eligible `candidates`, and which of them take first places.
fn pool_selection<'a>(
    pool: &PoolView,
    candidates: &[&'a Candidate],
) -> (Selection, Vec<&'a Candidate>) {
    let algorithm = pool
        .algorithm
        .as_deref()
        .unwrap_or("GSLB_ALGORITHM_ROUND_ROBIN");
    // Geo and topology pools use their fallback without location data (the simulator has none).
    let effective = match algorithm {
        "GSLB_ALGORITHM_GEO" | "GSLB_ALGORITHM_TOPOLOGY" => pool
            .fallback_algorithm
            .as_deref()
            .unwrap_or("GSLB_ALGORITHM_ROUND_ROBIN"),
        other => other,
    };
    match effective {
        "GSLB_ALGORITHM_CONSISTENT_HASH" => (
            Selection::ConsistentHash {
                mask: pool.consistent_hash_mask,
            },
            candidates.to_vec(),
        ),
        "GSLB_ALGORITHM_PREFERENCE_ORDER" => {
            let best = candidates.iter().filter_map(|c| c.preference_order).min();
            let first = candidates
                .iter()
                .copied()
                .filter(|c| best.is_none() || c.preference_order == best)
                .collect();
            (Selection::Weighted, first)
        }
        _ => (Selection::Weighted, candidates.to_vec()),
    }
}

fn down_answer(
    view: &GsView,
    record_type: RecordType,
    all_addresses: &BTreeSet<IpAddr>,
) -> Result<DownAnswer, ExpectError> {
    let Some(down) = &view.down_response else {
        return Ok(DownAnswer::NoReply);
    };
    Ok(match down.type_.as_deref() {
        Some("GSLB_SERVICE_DOWN_RESPONSE_EMPTY") => DownAnswer::Empty,
        Some("GSLB_SERVICE_DOWN_RESPONSE_ALL_RECORDS") => DownAnswer::Addresses(
            all_addresses
                .iter()
                .copied()
                .filter(|ip| record_type.fits(*ip))
                .collect(),
        ),
        Some("GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP") => {
            let ip = match record_type {
                RecordType::A => &down.fallback_ip,
                RecordType::Aaaa => &down.fallback_ip6,
            };
            let mut addresses = BTreeSet::new();
            if let Some(ip) = ip.as_ref().filter(|ip| {
                ip.type_
                    .as_deref()
                    .is_none_or(|t| t == record_type.avi_type())
            }) {
                let addr: IpAddr = ip.addr.parse().map_err(|_| ExpectError::FallbackIp {
                    name: view.name.clone(),
                    addr: ip.addr.clone(),
                })?;
                addresses.insert(addr);
            }
            if addresses.is_empty() {
                DownAnswer::Empty
            } else {
                DownAnswer::Addresses(addresses)
            }
        }
        Some("GSLB_SERVICE_DOWN_RESPONSE_CNAME") => {
            DownAnswer::Cname(down.fallback_cname.clone().unwrap_or_default())
        }
        _ => DownAnswer::NoReply,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn member(addr: &str, ratio: u32) -> Value {
        let kind = if addr.contains(':') { "V6" } else { "V4" };
        json!({"enabled": true, "ratio": ratio, "ip": {"addr": addr, "type": kind}})
    }

    fn gs(groups: Value) -> Value {
        json!({
            "name": "shop.example.com",
            "domain_names": ["shop.example.com", "www.example.com"],
            "enabled": true,
            "pool_algorithm": "GSLB_SERVICE_ALGORITHM_PRIORITY",
            "ttl": 45,
            "groups": groups
        })
    }

    fn pool(name: &str, priority: u32, members: Value) -> Value {
        json!({"name": name, "priority": priority, "enabled": true,
               "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN", "members": members})
    }

    fn expected_pool(gs: &Value, record_type: RecordType) -> ExpectedPool {
        let expected = expected_answers(gs).expect("readable");
        match expected.by_type.get(&record_type) {
            Some(Expectation::Pool(pool)) => pool.clone(),
            other => panic!("no pool for {record_type}: {other:?}"),
        }
    }

    fn shares(pool: &ExpectedPool) -> Vec<(String, f64)> {
        pool.members
            .iter()
            .map(|m| (m.ip.to_string(), (m.share * 1e9).round() / 1e9))
            .collect()
    }

    #[test]
    fn the_highest_priority_pool_answers_with_shares_from_the_ratios() {
        let gs = gs(json!([
            pool(
                "amko-gs-group-10",
                10,
                json!([member("10.0.0.2", 3), member("10.0.0.1", 1)])
            ),
            pool(
                "amko-gs-group-20",
                20,
                json!([member("10.0.0.3", 1), member("10.0.0.4", 2)])
            ),
        ]));
        let expected = expected_answers(&gs).expect("readable");
        assert_eq!(expected.fqdn(), "shop.example.com");
        assert_eq!(expected.ttl, 45);
        assert_eq!(
            expected.by_type.keys().collect::<Vec<_>>(),
            [&RecordType::A]
        );
        let pool = expected_pool(&gs, RecordType::A);
        assert_eq!(pool.pools, ["amko-gs-group-20"]);
        assert_eq!(pool.priority, 20);
        assert_eq!(pool.selection, Selection::Weighted);
        assert_eq!(
            shares(&pool),
            [
                ("10.0.0.3".to_owned(), 0.333_333_333),
                ("10.0.0.4".to_owned(), 0.666_666_667)
            ]
        );
        assert_eq!(pool.records_per_answer, BTreeSet::from([1]));
        assert!(!pool.every_member_in_each_answer);
    }

    #[test]
    fn disabled_members_and_pools_and_priority_zero_never_answer() {
        let mut disabled = member("10.0.0.9", 5);
        disabled["enabled"] = json!(false);
        let mut off = pool("off", 90, json!([member("10.0.0.8", 1)]));
        off["enabled"] = json!(false);
        let gs = gs(json!([
            pool("zero", 0, json!([member("10.0.0.7", 1)])),
            off,
            pool("p30", 30, json!([disabled])),
            pool(
                "p10",
                10,
                json!([member("10.0.0.1", 1), member("10.0.0.2", 1)])
            ),
        ]));
        let pool = expected_pool(&gs, RecordType::A);
        assert_eq!(pool.pools, ["p10"]);
        assert_eq!(
            shares(&pool),
            [("10.0.0.1".to_owned(), 0.5), ("10.0.0.2".to_owned(), 0.5)]
        );
    }

    #[test]
    fn each_record_type_takes_the_highest_pool_that_has_its_family() {
        let gs = gs(json!([
            pool("v6", 20, json!([member("fd00::1", 1)])),
            pool("v4", 10, json!([member("10.0.0.1", 1)])),
        ]));
        assert_eq!(expected_pool(&gs, RecordType::A).pools, ["v4"]);
        assert_eq!(expected_pool(&gs, RecordType::Aaaa).pools, ["v6"]);
    }

    #[test]
    fn min_members_moves_the_traffic_and_a_missing_family_gets_an_empty_answer() {
        let mut gs = gs(json!([
            pool("p20", 20, json!([member("10.0.0.1", 1)])),
            pool(
                "p10",
                10,
                json!([member("10.0.0.2", 1), member("10.0.0.3", 1)])
            ),
        ]));
        assert_eq!(expected_pool(&gs, RecordType::A).pools, ["p20"]);
        gs["min_members"] = json!(2);
        assert_eq!(expected_pool(&gs, RecordType::A).pools, ["p10"]);
        // AAAA: its only member is disabled while the IPv4 members still answer.
        gs["groups"][0]["members"]
            .as_array_mut()
            .expect("members")
            .push(json!({"enabled": false, "ratio": 1, "ip": {"addr": "fd00::1", "type": "V6"}}));
        let expected = expected_answers(&gs).expect("readable");
        assert_eq!(
            expected.by_type[&RecordType::Aaaa],
            Expectation::Down(DownAnswer::Empty)
        );
    }

    #[test]
    fn a_members_public_ip_is_an_alias_of_it() {
        let mut natted = member("10.0.0.1", 1);
        natted["public_ip"] = json!({"ip": {"addr": "203.0.113.1", "type": "V4"}});
        let mut wrong_family = member("10.0.0.2", 1);
        wrong_family["public_ip"] = json!({"ip": {"addr": "2001:db8::2", "type": "V6"}});
        let pool = expected_pool(
            &gs(json!([pool("p", 10, json!([natted, wrong_family]))])),
            RecordType::A,
        );
        assert_eq!(
            pool.aliases,
            BTreeMap::from([(
                "203.0.113.1".parse().expect("ip"),
                "10.0.0.1".parse().expect("ip")
            )])
        );
    }

    #[test]
    fn pools_sharing_the_top_priority_split_the_answers() {
        let gs = gs(json!([
            pool("a", 10, json!([member("10.0.0.1", 1)])),
            pool(
                "b",
                10,
                json!([member("10.0.0.2", 1), member("10.0.0.3", 3)])
            ),
        ]));
        let pool = expected_pool(&gs, RecordType::A);
        assert_eq!(pool.pools, ["a", "b"]);
        assert_eq!(
            shares(&pool),
            [
                ("10.0.0.1".to_owned(), 0.5),
                ("10.0.0.2".to_owned(), 0.125),
                ("10.0.0.3".to_owned(), 0.375)
            ]
        );
    }

    #[test]
    fn num_dns_ip_sets_the_records_per_answer() {
        let three = json!([
            member("10.0.0.1", 1),
            member("10.0.0.2", 1),
            member("10.0.0.3", 2)
        ]);
        let table = [
            (None, 1, false),
            (Some(2), 2, false),
            (Some(3), 3, true),
            (Some(7), 3, true),
            (Some(0), 3, true),
        ];
        for (num_dns_ip, records, all) in table {
            let mut gs = gs(json!([pool("p", 10, three.clone())]));
            if let Some(n) = num_dns_ip {
                gs["num_dns_ip"] = json!(n);
            }
            let pool = expected_pool(&gs, RecordType::A);
            assert_eq!(
                pool.records_per_answer,
                BTreeSet::from([records]),
                "{num_dns_ip:?}"
            );
            assert_eq!(pool.every_member_in_each_answer, all, "{num_dns_ip:?}");
        }
    }

    #[test]
    fn the_pool_algorithm_decides_what_can_be_tested() {
        let members = json!([member("10.0.0.1", 1), member("10.0.0.2", 1)]);
        let with = |algorithm: &str, extra: Value| {
            let mut p = pool("p", 10, members.clone());
            p["algorithm"] = json!(algorithm);
            if let Value::Object(extra) = extra {
                for (k, v) in extra {
                    p[k] = v;
                }
            }
            expected_pool(&gs(json!([p])), RecordType::A).selection
        };
        assert_eq!(
            with(
                "GSLB_ALGORITHM_CONSISTENT_HASH",
                json!({"consistent_hash_mask": 24})
            ),
            Selection::ConsistentHash { mask: Some(24) }
        );
        assert_eq!(
            with(
                "GSLB_ALGORITHM_GEO",
                json!({"fallback_algorithm": "GSLB_ALGORITHM_CONSISTENT_HASH", "consistent_hash_mask": 16})
            ),
            Selection::ConsistentHash { mask: Some(16) }
        );
        assert_eq!(with("GSLB_ALGORITHM_GEO", json!({})), Selection::Weighted);
        assert_eq!(
            with("GSLB_ALGORITHM_TOPOLOGY", json!({})),
            Selection::Weighted
        );
        let mut first = member("10.0.0.3", 1);
        first["preference_order"] = json!(1);
        let mut second = member("10.0.0.4", 1);
        second["preference_order"] = json!(2);
        let mut p = pool("p", 10, json!([first, second]));
        p["algorithm"] = json!("GSLB_ALGORITHM_PREFERENCE_ORDER");
        let pool = expected_pool(&gs(json!([p])), RecordType::A);
        assert_eq!(shares(&pool), [("10.0.0.3".to_owned(), 1.0)]);
        assert_eq!(
            pool.also_allowed,
            BTreeSet::from(["10.0.0.4".parse().expect("ip")])
        );
    }

    #[test]
    fn a_geo_service_algorithm_allows_every_pool_without_shares() {
        let mut gs = gs(json!([
            pool("a", 10, json!([member("10.0.0.1", 1)])),
            pool("b", 20, json!([member("10.0.0.2", 1)])),
        ]));
        gs["pool_algorithm"] = json!("GSLB_SERVICE_ALGORITHM_GEO");
        let pool = expected_pool(&gs, RecordType::A);
        assert!(matches!(pool.selection, Selection::Unpredictable { .. }));
        assert_eq!(pool.members.len(), 2);
    }

    #[test]
    fn with_nothing_eligible_the_down_response_answers() {
        let mut off = member("10.0.0.1", 1);
        off["enabled"] = json!(false);
        let base = gs(json!([pool("p", 10, json!([off]))]));
        let down = |down_response: Option<Value>| {
            let mut gs = base.clone();
            if let Some(d) = down_response {
                gs["down_response"] = d;
            }
            expected_answers(&gs).expect("readable").by_type[&RecordType::A].clone()
        };
        assert_eq!(down(None), Expectation::Down(DownAnswer::NoReply));
        assert_eq!(
            down(Some(json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_EMPTY"}))),
            Expectation::Down(DownAnswer::Empty)
        );
        assert_eq!(
            down(Some(
                json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP",
                             "fallback_ip": {"addr": "192.0.2.1", "type": "V4"}})
            )),
            Expectation::Down(DownAnswer::Addresses(BTreeSet::from(["192.0.2.1"
                .parse()
                .expect("ip")])))
        );
        assert_eq!(
            down(Some(
                json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_ALL_RECORDS"})
            )),
            Expectation::Down(DownAnswer::Addresses(BTreeSet::from(["10.0.0.1"
                .parse()
                .expect("ip")])))
        );
        let mut disabled = base.clone();
        disabled["enabled"] = json!(false);
        disabled["groups"][0]["members"][0]["enabled"] = json!(true);
        assert_eq!(
            expected_answers(&disabled).expect("readable").by_type[&RecordType::A],
            Expectation::Down(DownAnswer::Empty)
        );
    }

    #[test]
    fn defaults_fill_what_the_controller_leaves_out() {
        let gs = json!({"name": "n", "domain_names": ["n.example.com"],
                        "groups": [{"name": "p", "members": [{"ip": {"addr": "10.0.0.1"}}]}]});
        let expected = expected_answers(&gs).expect("readable");
        assert_eq!(expected.ttl, DEFAULT_TTL);
        let Expectation::Pool(pool) = &expected.by_type[&RecordType::A] else {
            panic!("{expected:?}")
        };
        assert_eq!(pool.priority, 10);
        assert_eq!(pool.members[0].ratio, 1);
    }

    #[test]
    fn unreadable_objects_name_the_field() {
        let bad = gs(json!([pool(
            "p",
            10,
            json!([{"ip": {"addr": "not-an-ip"}}])
        )]));
        let err = expected_answers(&bad).expect_err("bad address").to_string();
        assert!(err.contains("groups[0].members[0].ip.addr"), "{err}");
        let err = expected_answers(&json!({"name": "x", "groups": "no"}))
            .expect_err("bad shape")
            .to_string();
        assert!(err.starts_with("GslbService x:"), "{err}");
    }
}
