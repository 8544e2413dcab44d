//! What the DNS virtual service knows, read once per store change: every GslbService as typed
//! pools and members, indexed by FQDN (exact and wildcard), plus the GSLB sites and the
//! `Gslb.dns_configs` subdomains. Pure: built from the stored JSON bodies, no I/O.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::{Map, Value};

/// Profile TTL of the DNS virtual service when a GslbService sets none (avi-api.md §5.6).
pub const DEFAULT_TTL: u32 = 30;

/// `GslbService.pool_algorithm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceAlgorithm {
    Priority,
    Geo,
}

/// `GslbPool.algorithm` / `fallback_algorithm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolAlgorithm {
    RoundRobin,
    ConsistentHash,
    Geo,
    Topology,
    PreferenceOrder,
}

impl PoolAlgorithm {
    fn parse(text: &str) -> Option<PoolAlgorithm> {
        Some(match text {
            "GSLB_ALGORITHM_ROUND_ROBIN" => PoolAlgorithm::RoundRobin,
            "GSLB_ALGORITHM_CONSISTENT_HASH" => PoolAlgorithm::ConsistentHash,
            "GSLB_ALGORITHM_GEO" => PoolAlgorithm::Geo,
            "GSLB_ALGORITHM_TOPOLOGY" => PoolAlgorithm::Topology,
            "GSLB_ALGORITHM_PREFERENCE_ORDER" => PoolAlgorithm::PreferenceOrder,
            _ => return None,
        })
    }
}

/// `GslbServiceDownResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownResponse {
    None,
    AllRecords,
    FallbackIp {
        v4: Option<IpAddr>,
        v6: Option<IpAddr>,
    },
    Empty,
    Cname(Option<String>),
}

/// A latitude/longitude pair in degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

/// What a member answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberTarget {
    Ip(IpAddr),
    /// An FQDN member: answered with a CNAME.
    Fqdn(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The member's address (or FQDN) as text: its key for health and rotation state.
    pub key: String,
    pub target: MemberTarget,
    pub public_ip: Option<IpAddr>,
    pub enabled: bool,
    /// Effective weight: the site's ratio when the site sets one, else the member's (1–20).
    pub ratio: u32,
    pub preference_order: u32,
    pub cluster_uuid: Option<String>,
    /// False when the member's site is disabled in `Gslb.sites`.
    pub site_enabled: bool,
    pub location: Option<GeoPoint>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub name: String,
    pub enabled: bool,
    pub priority: u32,
    pub algorithm: PoolAlgorithm,
    pub fallback_algorithm: Option<PoolAlgorithm>,
    pub consistent_hash_mask: Option<u8>,
    pub consistent_hash_mask6: Option<u8>,
    pub manual_resume: bool,
    pub members: Vec<Member>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub uuid: String,
    pub name: String,
    pub domain_names: Vec<String>,
    pub enabled: bool,
    pub algorithm: ServiceAlgorithm,
    pub ttl: Option<u32>,
    pub num_dns_ip: Option<u32>,
    pub min_members: u32,
    pub use_edns_client_subnet: bool,
    pub wildcard_match: bool,
    pub topology_policy_enabled: bool,
    pub down_response: DownResponse,
    pub pools: Vec<Pool>,
}

impl Service {
    /// `ttl` if set, else the profile default.
    pub fn effective_ttl(&self) -> u32 {
        self.ttl.unwrap_or(DEFAULT_TTL)
    }
}

/// One `Gslb.sites[]` entry, as far as DNS answers care.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub name: String,
    pub cluster_uuid: String,
    pub enabled: bool,
    pub ratio: Option<u32>,
    pub location: Option<GeoPoint>,
}

/// `Gslb.client_ip_addr_group`: which clients are public (they get a member's `public_ip`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientGroup {
    /// `GSLB_IP_PUBLIC` (the default): the listed clients are public, the rest private;
    /// `GSLB_IP_PRIVATE`: the listed clients are private, the rest public.
    pub listed_are_public: bool,
    pub addrs: Vec<IpAddr>,
    pub prefixes: Vec<(IpAddr, u8)>,
    pub ranges: Vec<(IpAddr, IpAddr)>,
}

impl ClientGroup {
    fn lists(&self, client: IpAddr) -> bool {
        self.addrs.contains(&client)
            || self.prefixes.iter().any(|(network, prefix)| {
                network.is_ipv4() == client.is_ipv4()
                    && super::decide::mask_ip(client, *prefix)
                        == super::decide::mask_ip(*network, *prefix)
            })
            || self.ranges.iter().any(|(begin, end)| {
                begin.is_ipv4() == client.is_ipv4() && *begin <= client && client <= *end
            })
    }

    pub fn is_public(&self, client: IpAddr) -> bool {
        self.lists(client) == self.listed_are_public
    }
}

/// Everything the answer decision reads about configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    pub services: Vec<Service>,
    /// Lower-cased FQDN (no trailing dot) → index into `services`.
    exact: HashMap<String, usize>,
    /// (suffix after `*`, e.g. `.example.com`, service index), of services with `wildcard_match`.
    wildcards: Vec<(String, usize)>,
    /// `Gslb.dns_configs[].domain_name`, lower-cased; empty = every name is ours.
    pub dns_domains: Vec<String>,
    pub sites: Vec<Site>,
    /// `Gslb.client_ip_addr_group`; `None` = every client is private (members answer `ip`).
    pub client_group: Option<ClientGroup>,
}

/// Which service a query name falls to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameMatch {
    Service(usize),
    /// Under one of our subdomains, but no GslbService has it.
    Unknown,
    /// Outside every `Gslb.dns_configs` subdomain: not ours to answer.
    NotOurs,
}

/// Lower-cases and drops one trailing dot.
pub fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

fn u32_field(body: &Map<String, Value>, key: &str) -> Option<u32> {
    body.get(key)
        .and_then(Value::as_f64)
        .filter(|n| *n >= 0.0 && *n <= f64::from(u32::MAX))
        .map(|n| n as u32)
}

fn bool_field(body: &Map<String, Value>, key: &str, default: bool) -> bool {
    body.get(key).and_then(Value::as_bool).unwrap_or(default)
}

fn str_field<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

/// Avi `IpAddr` `{addr, type}`; `type: DNS` or an unparsable address is not an address.
fn ip_addr(value: Option<&Value>) -> Option<IpAddr> {
    let obj = value?.as_object()?;
    let addr: IpAddr = obj.get("addr")?.as_str()?.trim().parse().ok()?;
    match obj.get("type").and_then(Value::as_str) {
        Some("V4") if addr.is_ipv4() => Some(addr),
        Some("V6") if addr.is_ipv6() => Some(addr),
        None => Some(addr),
        _ => None,
    }
}

/// `GslbGeoLocation` → a point, when it carries coordinates.
fn geo_location(value: Option<&Value>) -> Option<GeoPoint> {
    let location = value?.as_object()?.get("location")?.as_object()?;
    let latitude = location.get("latitude")?.as_f64()?;
    let longitude = location.get("longitude")?.as_f64()?;
    ((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)).then_some(
        GeoPoint {
            latitude,
            longitude,
        },
    )
}

fn inherits_site_location(value: Option<&Value>) -> bool {
    value
        .and_then(Value::as_object)
        .and_then(|o| o.get("source"))
        .and_then(Value::as_str)
        == Some("GSLB_LOCATION_SRC_INHERIT_FROM_SITE")
}

fn mask(body: &Map<String, Value>, key: &str, max: u32) -> Option<u8> {
    u32_field(body, key).map(|m| m.min(max) as u8)
}

fn parse_down_response(value: Option<&Value>) -> DownResponse {
    let Some(obj) = value.and_then(Value::as_object) else {
        return DownResponse::None;
    };
    match str_field(obj, "type") {
        Some("GSLB_SERVICE_DOWN_RESPONSE_ALL_RECORDS") => DownResponse::AllRecords,
        Some("GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP") => DownResponse::FallbackIp {
            v4: ip_addr(obj.get("fallback_ip")).filter(IpAddr::is_ipv4),
            v6: ip_addr(obj.get("fallback_ip6")).filter(IpAddr::is_ipv6),
        },
        Some("GSLB_SERVICE_DOWN_RESPONSE_EMPTY") => DownResponse::Empty,
        Some("GSLB_SERVICE_DOWN_RESPONSE_CNAME") => {
            DownResponse::Cname(str_field(obj, "fallback_cname").map(normalize))
        }
        _ => DownResponse::None,
    }
}

fn parse_client_group(value: Option<&Value>) -> Option<ClientGroup> {
    let group = value?.as_object()?;
    let list = |key: &str| {
        group
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
    };
    Some(ClientGroup {
        listed_are_public: str_field(group, "type") != Some("GSLB_IP_PRIVATE"),
        addrs: group
            .get("addrs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| ip_addr(Some(a)))
            .collect(),
        prefixes: list("prefixes")
            .filter_map(|p| {
                let network = ip_addr(p.get("ip_addr"))?;
                let max = if network.is_ipv4() { 32 } else { 128 };
                Some((network, u32_field(p, "mask")?.min(max) as u8))
            })
            .collect(),
        ranges: list("ranges")
            .filter_map(|r| Some((ip_addr(r.get("begin"))?, ip_addr(r.get("end"))?)))
            .collect(),
    })
}

fn parse_site(body: &Map<String, Value>) -> Option<Site> {
    Some(Site {
        name: str_field(body, "name").unwrap_or_default().to_owned(),
        cluster_uuid: str_field(body, "cluster_uuid")?.to_owned(),
        enabled: bool_field(body, "enabled", true),
        ratio: u32_field(body, "ratio").filter(|r| *r > 0),
        location: geo_location(body.get("location")),
    })
}

fn parse_member(body: &Map<String, Value>, sites: &[Site]) -> Option<Member> {
    let fqdn = str_field(body, "fqdn")
        .map(normalize)
        .filter(|f| !f.is_empty());
    let (key, target) = match (fqdn, ip_addr(body.get("ip"))) {
        (Some(fqdn), _) => (fqdn.clone(), MemberTarget::Fqdn(fqdn)),
        (None, Some(ip)) => (ip.to_string(), MemberTarget::Ip(ip)),
        (None, None) => return None,
    };
    let cluster_uuid = str_field(body, "cluster_uuid").map(str::to_owned);
    let site = cluster_uuid
        .as_deref()
        .and_then(|uuid| sites.iter().find(|s| s.cluster_uuid == uuid));
    let location = if inherits_site_location(body.get("location")) {
        site.and_then(|s| s.location)
    } else {
        geo_location(body.get("location"))
    };
    Some(Member {
        key,
        target,
        public_ip: body
            .get("public_ip")
            .and_then(Value::as_object)
            .and_then(|p| ip_addr(p.get("ip"))),
        enabled: bool_field(body, "enabled", true),
        ratio: site
            .and_then(|s| s.ratio)
            .or_else(|| u32_field(body, "ratio"))
            .unwrap_or(1)
            .clamp(1, 20),
        preference_order: u32_field(body, "preference_order").unwrap_or(1),
        cluster_uuid,
        site_enabled: site.is_none_or(|s| s.enabled),
        location,
    })
}

fn parse_pool(body: &Map<String, Value>, sites: &[Site]) -> Pool {
    Pool {
        name: str_field(body, "name").unwrap_or_default().to_owned(),
        enabled: bool_field(body, "enabled", true),
        priority: u32_field(body, "priority").unwrap_or(10),
        algorithm: str_field(body, "algorithm")
            .and_then(PoolAlgorithm::parse)
            .unwrap_or(PoolAlgorithm::RoundRobin),
        fallback_algorithm: str_field(body, "fallback_algorithm").and_then(PoolAlgorithm::parse),
        consistent_hash_mask: mask(body, "consistent_hash_mask", 32),
        consistent_hash_mask6: mask(body, "consistent_hash_mask6", 128),
        manual_resume: bool_field(body, "manual_resume", false),
        members: body
            .get("members")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .filter_map(|m| parse_member(m, sites))
            .collect(),
    }
}

fn parse_service(uuid: &str, body: &Map<String, Value>, sites: &[Site]) -> Service {
    Service {
        uuid: uuid.to_owned(),
        name: str_field(body, "name").unwrap_or_default().to_owned(),
        domain_names: body
            .get("domain_names")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(normalize)
            .collect(),
        enabled: bool_field(body, "enabled", true),
        algorithm: match str_field(body, "pool_algorithm") {
            Some("GSLB_SERVICE_ALGORITHM_GEO") => ServiceAlgorithm::Geo,
            _ => ServiceAlgorithm::Priority,
        },
        ttl: u32_field(body, "ttl"),
        num_dns_ip: u32_field(body, "num_dns_ip"),
        min_members: u32_field(body, "min_members").unwrap_or(0),
        use_edns_client_subnet: bool_field(body, "use_edns_client_subnet", true),
        wildcard_match: bool_field(body, "wildcard_match", false),
        topology_policy_enabled: bool_field(body, "topology_policy_enabled", false),
        down_response: parse_down_response(body.get("down_response")),
        pools: body
            .get("groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .map(|p| parse_pool(p, sites))
            .collect(),
    }
}

impl Catalog {
    /// Builds the catalog from the stored GslbService bodies (uuid, body) and the `Gslb`
    /// object's body, if any.
    pub fn build<'a>(
        services: impl IntoIterator<Item = (&'a str, &'a Map<String, Value>)>,
        gslb: Option<&Map<String, Value>>,
    ) -> Catalog {
        let sites: Vec<Site> = gslb
            .and_then(|g| g.get("sites"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .filter_map(parse_site)
            .collect();
        let dns_domains = gslb
            .and_then(|g| g.get("dns_configs"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("domain_name").and_then(Value::as_str))
            .map(normalize)
            .filter(|d| !d.is_empty())
            .collect();
        let mut catalog = Catalog {
            client_group: parse_client_group(gslb.and_then(|g| g.get("client_ip_addr_group"))),
            dns_domains,
            ..Catalog::default()
        };
        for (uuid, body) in services {
            let service = parse_service(uuid, body, &sites);
            let index = catalog.services.len();
            for name in &service.domain_names {
                match name.strip_prefix('*') {
                    Some(suffix) if service.wildcard_match && suffix.starts_with('.') => {
                        catalog.wildcards.push((suffix.to_owned(), index));
                    }
                    Some(_) => {}
                    None => {
                        catalog.exact.entry(name.clone()).or_insert(index);
                    }
                }
            }
            catalog.services.push(service);
        }
        // Longest suffix first, so the first hit is the longest wildcard match.
        catalog
            .wildcards
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        catalog.sites = sites;
        catalog
    }

    /// Exact name first, then the longest wildcard; `NotOurs` outside every DNS subdomain.
    pub fn lookup(&self, name: &str) -> NameMatch {
        let name = normalize(name);
        if let Some(index) = self.exact.get(&name) {
            return NameMatch::Service(*index);
        }
        if let Some((_, index)) = self
            .wildcards
            .iter()
            .find(|(suffix, _)| name.len() > suffix.len() && name.ends_with(suffix.as_str()))
        {
            return NameMatch::Service(*index);
        }
        let ours = self.dns_domains.is_empty()
            || self
                .dns_domains
                .iter()
                .any(|d| name == *d || name.ends_with(&format!(".{d}")));
        if ours {
            NameMatch::Unknown
        } else {
            NameMatch::NotOurs
        }
    }

    /// Whether `client` gets members' `public_ip` (see `ClientGroup`).
    pub fn is_public_client(&self, client: IpAddr) -> bool {
        self.client_group
            .as_ref()
            .is_some_and(|g| g.is_public(client))
    }

    /// The cluster uuid of the site with this name.
    pub fn site_cluster(&self, site_name: &str) -> Option<&str> {
        self.sites
            .iter()
            .find(|s| s.name == site_name)
            .map(|s| s.cluster_uuid.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn parses_defaults_and_site_overrides() {
        let gslb = obj(json!({
            "dns_configs": [{"domain_name": "Example.com"}],
            "sites": [{"name": "east", "cluster_uuid": "cluster-e", "ratio": 7, "enabled": false}]
        }));
        let gs = obj(json!({
            "name": "gs", "domain_names": ["Shop.Example.com."],
            "groups": [{"name": "p", "members": [
                {"ip": {"addr": "10.0.0.1", "type": "V4"}, "cluster_uuid": "cluster-e", "ratio": 2},
                {"ip": {"addr": "2001:db8::1", "type": "V6"}, "ratio": 40},
                {"fqdn": "Alias.Example.net"},
                {"ip": {"addr": "10.0.0.9", "type": "V6"}}
            ]}]
        }));
        let catalog = Catalog::build([("gs-1", &gs)], Some(&gslb));
        let service = &catalog.services[0];
        assert_eq!(service.effective_ttl(), 30);
        assert_eq!(service.num_dns_ip, None);
        assert!(service.enabled && service.use_edns_client_subnet && !service.wildcard_match);
        assert_eq!(service.down_response, DownResponse::None);
        let pool = &service.pools[0];
        assert_eq!(
            (pool.priority, pool.algorithm),
            (10, PoolAlgorithm::RoundRobin)
        );
        let members = &pool.members;
        assert_eq!(members.len(), 3, "the V6-typed IPv4 address is dropped");
        assert_eq!((members[0].ratio, members[0].site_enabled), (7, false));
        assert_eq!(members[1].ratio, 20, "ratio is clamped to 1-20");
        assert_eq!(
            members[2].target,
            MemberTarget::Fqdn("alias.example.net".into())
        );
        assert_eq!(catalog.lookup("SHOP.example.com."), NameMatch::Service(0));
        assert_eq!(catalog.lookup("other.example.com"), NameMatch::Unknown);
        assert_eq!(catalog.lookup("shop.example.org"), NameMatch::NotOurs);
        assert_eq!(catalog.site_cluster("east"), Some("cluster-e"));
    }

    #[test]
    fn exact_beats_wildcard_and_longest_wildcard_wins() {
        let wide =
            obj(json!({"name": "wide", "domain_names": ["*.example.com"], "wildcard_match": true}));
        let narrow = obj(
            json!({"name": "narrow", "domain_names": ["*.eu.example.com"], "wildcard_match": true}),
        );
        let exact = obj(json!({"name": "exact", "domain_names": ["a.eu.example.com"]}));
        let off = obj(json!({"name": "off", "domain_names": ["*.off.example.org"]}));
        let catalog = Catalog::build(
            [("w", &wide), ("n", &narrow), ("e", &exact), ("o", &off)],
            None,
        );
        assert_eq!(catalog.lookup("a.eu.example.com"), NameMatch::Service(2));
        assert_eq!(catalog.lookup("b.eu.example.com"), NameMatch::Service(1));
        assert_eq!(catalog.lookup("b.us.example.com"), NameMatch::Service(0));
        assert_eq!(
            catalog.lookup("example.com"),
            NameMatch::Unknown,
            "a wildcard needs a label"
        );
        assert_eq!(
            catalog.lookup("x.off.example.org"),
            NameMatch::Unknown,
            "wildcard_match false"
        );
    }
}
