//! The answer decision of the GSLB DNS virtual service (avi-api.md §5), as a pure function of
//! the catalog, the member health book, the rotation state and the question. No I/O: the socket
//! loop decodes a query, calls `decide`, and encodes what it returns.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::catalog::{
    Catalog, DownResponse, GeoPoint, Member, MemberTarget, NameMatch, Pool, PoolAlgorithm, Service,
    ServiceAlgorithm,
};

/// The record type asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryType {
    A,
    Aaaa,
    /// Any other type: a known name answers NOERROR with no records.
    Other,
}

/// One query, as the decision needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: QueryType,
    /// The packet's source address.
    pub source: IpAddr,
    /// The EDNS client subnet option: (address, source prefix length).
    pub client_subnet: Option<(IpAddr, u8)>,
}

/// One answer record's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rdata {
    Addr(IpAddr),
    Cname(String),
}

/// What to send back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No reply at all (`down_response` NONE).
    Drop,
    /// REFUSED: the name is outside every `Gslb.dns_configs` subdomain.
    Refused,
    /// NXDOMAIN: under our subdomains, but no GslbService has the name.
    NxDomain,
    /// NOERROR with these records (possibly none).
    Answer {
        ttl: u32,
        records: Vec<Rdata>,
        /// The prefix length the answer is valid for (EDNS client subnet scope): the hash mask
        /// for consistent hash, 0 when the answer does not depend on the client.
        scope_prefix: u8,
    },
}

impl Decision {
    fn empty(ttl: u32) -> Decision {
        Decision::Answer {
            ttl,
            records: Vec::new(),
            scope_prefix: 0,
        }
    }
}

/// Member health as set through the simulator's control API. Everything is up unless marked
/// down, by member key (IP or FQDN) or by site (`cluster_uuid`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthBook {
    down_members: HashSet<String>,
    down_sites: HashSet<String>,
    /// Members and sites that went down since the last resume: pools with `manual_resume` keep
    /// them out even after they come back up.
    went_down_members: HashSet<String>,
    went_down_sites: HashSet<String>,
}

impl HealthBook {
    pub fn set_member(&mut self, key: &str, up: bool) {
        if up {
            self.down_members.remove(key);
        } else {
            self.down_members.insert(key.to_owned());
            self.went_down_members.insert(key.to_owned());
        }
    }

    pub fn set_site(&mut self, cluster_uuid: &str, up: bool) {
        if up {
            self.down_sites.remove(cluster_uuid);
        } else {
            self.down_sites.insert(cluster_uuid.to_owned());
            self.went_down_sites.insert(cluster_uuid.to_owned());
        }
    }

    /// The admin re-enable of `manual_resume`: forget that anything went down.
    pub fn resume(&mut self) {
        self.went_down_members.clear();
        self.went_down_sites.clear();
    }

    /// Everything up again, nothing remembered.
    pub fn clear(&mut self) {
        *self = HealthBook::default();
    }

    pub fn down_members(&self) -> impl Iterator<Item = &str> {
        self.down_members.iter().map(String::as_str)
    }

    pub fn down_sites(&self) -> impl Iterator<Item = &str> {
        self.down_sites.iter().map(String::as_str)
    }

    fn site_of(member: &Member) -> Option<&str> {
        member.cluster_uuid.as_deref()
    }

    fn is_up(&self, member: &Member) -> bool {
        !self.down_members.contains(&member.key)
            && Self::site_of(member).is_none_or(|s| !self.down_sites.contains(s))
    }

    fn went_down(&self, member: &Member) -> bool {
        self.went_down_members.contains(&member.key)
            || Self::site_of(member).is_some_and(|s| self.went_down_sites.contains(s))
    }
}

/// Client locations the simulator knows (its stand-in for the GeoDB): the longest matching
/// prefix wins.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GeoDb {
    entries: Vec<(IpAddr, u8, GeoPoint)>,
}

impl GeoDb {
    pub fn insert(&mut self, network: IpAddr, prefix: u8, point: GeoPoint) {
        let network = mask_ip(network, prefix);
        self.entries
            .retain(|(n, p, _)| !(*n == network && *p == prefix));
        self.entries.push((network, prefix, point));
        self.entries.sort_by_key(|e| std::cmp::Reverse(e.1));
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn locate(&self, client: IpAddr) -> Option<GeoPoint> {
        self.entries
            .iter()
            .find(|(network, prefix, _)| {
                network.is_ipv4() == client.is_ipv4() && mask_ip(client, *prefix) == *network
            })
            .map(|(_, _, point)| *point)
    }
}

/// Round-robin state: smooth weighted round robin current weights per (service, pool), and the
/// turn counter that rotates pools sharing the top priority, per service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    weights: HashMap<(String, String), HashMap<String, i64>>,
    pool_turns: HashMap<String, usize>,
}

impl Rotation {
    pub fn reset(&mut self) {
        self.weights.clear();
        self.pool_turns.clear();
    }
}

/// `addr` with everything after the first `prefix` bits cleared.
pub fn mask_ip(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let prefix = u32::from(prefix.min(32));
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let prefix = u32::from(prefix.min(128));
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6((bits & mask).into())
        }
    }
}

fn fits(member: &Member, qtype: QueryType) -> bool {
    match (&member.target, qtype) {
        (MemberTarget::Fqdn(_), QueryType::A | QueryType::Aaaa) => true,
        (MemberTarget::Ip(ip), QueryType::A) => ip.is_ipv4(),
        (MemberTarget::Ip(ip), QueryType::Aaaa) => ip.is_ipv6(),
        (_, QueryType::Other) => false,
    }
}

/// Enabled, site enabled, up, and not held out by `manual_resume`: eligible for some type.
fn serviceable(pool: &Pool, member: &Member, health: &HealthBook) -> bool {
    member.enabled
        && member.site_enabled
        && health.is_up(member)
        && !(pool.manual_resume && health.went_down(member))
}

fn candidate_pools(service: &Service) -> impl Iterator<Item = &Pool> {
    service.pools.iter().filter(|p| p.enabled && p.priority > 0)
}

fn eligible<'a>(pool: &'a Pool, health: &HealthBook, qtype: QueryType) -> Vec<&'a Member> {
    pool.members
        .iter()
        .filter(|m| serviceable(pool, m, health) && fits(m, qtype))
        .collect()
}

/// A pool keeps the traffic while it offers at least `min_members` (and at least one) members.
fn qualifies(count: usize, service: &Service) -> bool {
    count >= (service.min_members as usize).max(1)
}

fn distance_km(a: GeoPoint, b: GeoPoint) -> f64 {
    let (lat1, lat2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.longitude - a.longitude).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

/// The client address the algorithms see: the ECS subnet when present and allowed.
fn client_address(service: &Service, question: &Question) -> (IpAddr, Option<u8>) {
    match question.client_subnet {
        Some((addr, prefix)) if service.use_edns_client_subnet => (addr, Some(prefix)),
        _ => (question.source, None),
    }
}

/// 64-bit FNV-1a followed by the splitmix64 finaliser: stable across runs and platforms.
fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            h ^= u64::from(*byte);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// Members ordered for consistent hash: weighted rendezvous hashing on the masked client key.
/// The same key picks the same member while the member set is unchanged, and adding or
/// removing a member only moves the keys that member gains or loses.
fn by_consistent_hash<'a>(
    members: &[&'a Member],
    pool: &Pool,
    client: IpAddr,
) -> (Vec<&'a Member>, u8) {
    let prefix = match client {
        IpAddr::V4(_) => pool.consistent_hash_mask.unwrap_or(32),
        IpAddr::V6(_) => pool.consistent_hash_mask6.unwrap_or(128),
    };
    let key = ip_bytes(mask_ip(client, prefix));
    let mut scored: Vec<(f64, &Member)> = members
        .iter()
        .map(|m| {
            let h = stable_hash(&[&key, &[prefix], m.key.as_bytes()]);
            // Uniform in (0, 1); the weighted score -w/ln(u) gives each member a share of keys
            // proportional to its ratio.
            let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            (-f64::from(m.ratio) / u.ln(), *m)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.key.cmp(&b.1.key)));
    (scored.into_iter().map(|(_, m)| m).collect(), prefix)
}

/// Smooth weighted round robin (the nginx scheme): every member gains its ratio, the largest
/// current weight is picked and loses the total. The picked member comes first; the others
/// follow by their current weight, i.e. in the order the rotation would pick them next.
fn by_round_robin<'a>(members: &[&'a Member], state: &mut HashMap<String, i64>) -> Vec<&'a Member> {
    state.retain(|key, _| members.iter().any(|m| &m.key == key));
    let total: i64 = members.iter().map(|m| i64::from(m.ratio)).sum();
    let mut best: Option<(i64, usize)> = None;
    for (i, m) in members.iter().enumerate() {
        let current = state.entry(m.key.clone()).or_insert(0);
        *current += i64::from(m.ratio);
        if best.is_none_or(|(w, _)| *current > w) {
            best = Some((*current, i));
        }
    }
    let Some((_, picked)) = best else {
        return Vec::new();
    };
    if let Some(current) = state.get_mut(&members[picked].key) {
        *current -= total;
    }
    let mut rest: Vec<(i64, usize)> = members
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != picked)
        .map(|(i, m)| (state.get(&m.key).copied().unwrap_or(0), i))
        .collect();
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    std::iter::once(members[picked])
        .chain(rest.into_iter().map(|(_, i)| members[i]))
        .collect()
}

struct Context<'a> {
    service: &'a Service,
    question: &'a Question,
    geo: &'a GeoDb,
}

/// Members of the chosen pool in the order the pool's algorithm hands them out.
fn order_members<'a>(
    ctx: &Context<'_>,
    pool: &Pool,
    algorithm: PoolAlgorithm,
    members: &[&'a Member],
    rotation: &mut Rotation,
) -> (Vec<&'a Member>, u8) {
    let (client, _) = client_address(ctx.service, ctx.question);
    let fallback = || match pool.fallback_algorithm {
        Some(PoolAlgorithm::ConsistentHash) => PoolAlgorithm::ConsistentHash,
        _ => PoolAlgorithm::RoundRobin,
    };
    let state_key = (ctx.service.uuid.clone(), pool.name.clone());
    match algorithm {
        PoolAlgorithm::RoundRobin => (
            by_round_robin(members, rotation.weights.entry(state_key).or_default()),
            0,
        ),
        PoolAlgorithm::ConsistentHash => by_consistent_hash(members, pool, client),
        PoolAlgorithm::PreferenceOrder => {
            let best = members.iter().map(|m| m.preference_order).min();
            let (top, mut rest): (Vec<&Member>, Vec<&Member>) = members
                .iter()
                .partition(|m| Some(m.preference_order) == best);
            let mut ordered = by_round_robin(&top, rotation.weights.entry(state_key).or_default());
            rest.sort_by_key(|m| m.preference_order);
            ordered.extend(rest);
            (ordered, 0)
        }
        PoolAlgorithm::Geo => {
            let client_location = ctx.geo.locate(client);
            let located = members.iter().all(|m| m.location.is_some());
            match client_location {
                Some(at) if located && !members.is_empty() => {
                    let mut ordered = members.to_vec();
                    ordered.sort_by(|a, b| {
                        let da = a.location.map_or(f64::MAX, |l| distance_km(at, l));
                        let db = b.location.map_or(f64::MAX, |l| distance_km(at, l));
                        da.total_cmp(&db).then_with(|| a.key.cmp(&b.key))
                    });
                    (ordered, 0)
                }
                _ => order_members(ctx, pool, fallback(), members, rotation),
            }
        }
        // The simulator has no DNS VS topology policies: the fallback always decides.
        PoolAlgorithm::Topology => order_members(ctx, pool, fallback(), members, rotation),
    }
}

/// A pool's location: the centre of its eligible members' locations, when all have one.
fn pool_location(members: &[&Member]) -> Option<GeoPoint> {
    let points: Vec<GeoPoint> = members.iter().filter_map(|m| m.location).collect();
    if points.is_empty() || points.len() != members.len() {
        return None;
    }
    let n = points.len() as f64;
    Some(GeoPoint {
        latitude: points.iter().map(|p| p.latitude).sum::<f64>() / n,
        longitude: points.iter().map(|p| p.longitude).sum::<f64>() / n,
    })
}

/// The pool that takes the query: highest priority with enough eligible members, ties rotated;
/// with the geo service algorithm, the pool closest to the client (priority when unknown).
fn pick_pool<'s>(
    ctx: &Context<'s>,
    health: &HealthBook,
    rotation: &mut Rotation,
) -> Option<(&'s Pool, Vec<&'s Member>)> {
    let service = ctx.service;
    let qualifying: Vec<(&Pool, Vec<&Member>)> = candidate_pools(service)
        .map(|p| (p, eligible(p, health, ctx.question.qtype)))
        .filter(|(_, members)| qualifies(members.len(), service))
        .collect();
    if qualifying.is_empty() {
        return None;
    }
    if service.algorithm == ServiceAlgorithm::Geo {
        let (client, _) = client_address(service, ctx.question);
        if let Some(at) = ctx.geo.locate(client) {
            let located: Vec<(f64, usize)> = qualifying
                .iter()
                .enumerate()
                .filter_map(|(i, (_, m))| pool_location(m).map(|l| (distance_km(at, l), i)))
                .collect();
            if located.len() == qualifying.len() {
                let closest = located
                    .iter()
                    .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
                    .map(|(_, i)| *i);
                if let Some(i) = closest {
                    return qualifying.into_iter().nth(i);
                }
            }
        }
    }
    let top = qualifying.iter().map(|(p, _)| p.priority).max()?;
    let mut tied: Vec<(&Pool, Vec<&Member>)> = qualifying
        .into_iter()
        .filter(|(p, _)| p.priority == top)
        .collect();
    let index = if tied.len() > 1 {
        let turn = rotation.pool_turns.entry(service.uuid.clone()).or_insert(0);
        let index = *turn % tied.len();
        *turn = turn.wrapping_add(1);
        index
    } else {
        0
    };
    Some(tied.swap_remove(index))
}

/// Records of the down response, when nothing is eligible.
fn down_answer(service: &Service, qtype: QueryType) -> Decision {
    let ttl = service.effective_ttl();
    let records = match (&service.down_response, qtype) {
        (DownResponse::None, _) => return Decision::Drop,
        (_, QueryType::Other) | (DownResponse::Empty, _) => Vec::new(),
        (DownResponse::AllRecords, _) => {
            let mut pools: Vec<&Pool> = service.pools.iter().collect();
            pools.sort_by_key(|p| std::cmp::Reverse(p.priority));
            let mut seen = HashSet::new();
            pools
                .iter()
                .flat_map(|p| p.members.iter())
                .filter(|m| matches!(m.target, MemberTarget::Ip(_)) && fits(m, qtype))
                .filter(|m| seen.insert(m.key.clone()))
                .filter_map(|m| match m.target {
                    MemberTarget::Ip(ip) => Some(Rdata::Addr(ip)),
                    MemberTarget::Fqdn(_) => None,
                })
                .collect()
        }
        (DownResponse::FallbackIp { v4, .. }, QueryType::A) => {
            v4.map(Rdata::Addr).into_iter().collect()
        }
        (DownResponse::FallbackIp { v6, .. }, QueryType::Aaaa) => {
            v6.map(Rdata::Addr).into_iter().collect()
        }
        (DownResponse::Cname(target), _) => target.clone().map(Rdata::Cname).into_iter().collect(),
    };
    Decision::Answer {
        ttl,
        records,
        scope_prefix: 0,
    }
}

/// The service is up while some candidate pool has an eligible member of any record type.
fn service_up(service: &Service, health: &HealthBook) -> bool {
    candidate_pools(service).any(|p| {
        let count = p
            .members
            .iter()
            .filter(|m| serviceable(p, m, health))
            .count();
        qualifies(count, service)
    })
}

/// The answer the GSLB DNS virtual service gives to `question`.
pub fn decide(
    catalog: &Catalog,
    health: &HealthBook,
    geo: &GeoDb,
    rotation: &mut Rotation,
    question: &Question,
) -> Decision {
    let service = match catalog.lookup(&question.name) {
        NameMatch::Service(index) => &catalog.services[index],
        NameMatch::Unknown => return Decision::NxDomain,
        NameMatch::NotOurs => return Decision::Refused,
    };
    let ttl = service.effective_ttl();
    if !service.enabled {
        return Decision::empty(ttl);
    }
    if !service_up(service, health) {
        return down_answer(service, question.qtype);
    }
    if question.qtype == QueryType::Other {
        return Decision::empty(ttl);
    }
    let ctx = Context {
        service,
        question,
        geo,
    };
    let Some((pool, members)) = pick_pool(&ctx, health, rotation) else {
        // Up, but nothing of this record type (e.g. AAAA for an IPv4-only service).
        return Decision::empty(ttl);
    };
    let (ordered, hash_prefix) = order_members(&ctx, pool, pool.algorithm, &members, rotation);
    let limit = match service.num_dns_ip {
        None => 1,
        Some(0) => usize::MAX,
        Some(n) => n as usize,
    };
    let (client, ecs_prefix) = client_address(service, question);
    let public = catalog.is_public_client(client);
    // A public client gets a member's NAT address when it has one of the asked family.
    let shown = |member: &Member, ip: IpAddr| match member.public_ip {
        Some(public_ip) if public && public_ip.is_ipv4() == ip.is_ipv4() => public_ip,
        _ => ip,
    };
    let records: Vec<Rdata> = match ordered.first().map(|m| &m.target) {
        // A CNAME cannot share its name with address records: an FQDN member answers alone.
        Some(MemberTarget::Fqdn(target)) => vec![Rdata::Cname(target.clone())],
        _ => ordered
            .iter()
            .filter_map(|m| match m.target {
                MemberTarget::Ip(ip) => Some(Rdata::Addr(shown(m, ip))),
                MemberTarget::Fqdn(_) => None,
            })
            .take(limit)
            .collect(),
    };
    Decision::Answer {
        ttl,
        records,
        scope_prefix: ecs_prefix.map_or(0, |p| p.min(hash_prefix)),
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
