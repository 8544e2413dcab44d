//! Table-driven tests of acceptance: every rejection message (each error path at least once), the
//! order in which problems are reported, and the compiled output of valid objects.

use super::config::{DEFAULT_REFRESH_INTERVAL, GslbConfigSettings, LogLevel};
use super::error::Problem;
use super::lookup::{ControllerSnapshot, HealthMonitorFacts};
use super::{accept_gdp, accept_gslb_config, accept_host_rule};
use crate::crd::common::{GeoFallbackSettings, LabelMatch, PoolAlgorithmSettings};
use crate::crd::gdp::{GdpTrafficSplit, MatchCluster};
use crate::crd::gslbhostrule::{
    HostRuleTrafficSplit, PublicIpSpec, SitePersistenceSettings, ThirdPartyMemberSpec,
};
use crate::crd::{
    GlobalDeploymentPolicy, GlobalDeploymentPolicySpec, GslbConfig, GslbHostRule, GslbHostRuleSpec,
};
use crate::vocab::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

const UUID: &str = "9b1f3c2e-1d2a-11ef-9c44-0a580a800001";
const FRESH_UUID: &str = "0f6c1b7e-4f7a-4c55-9d43-5d0c0d1e2f3a";

const GSLB_CONFIG: &str = r#"
apiVersion: amko.vmware.com/v1alpha1
kind: GSLBConfig
metadata:
  name: gc-1
  namespace: avi-system
  annotations:
    amko.vmware.com/amko-uuid: 9b1f3c2e-1d2a-11ef-9c44-0a580a800001
spec:
  gslbLeader:
    credentials: gslb-avi-secret
    controllerVersion: "31.1.1"
    controllerIP: 192.0.2.10
    tenant: admin
  memberClusters:
  - clusterContext: east-admin
  - clusterContext: west-admin
  refreshInterval: 900
  logLevel: WARN
  useCustomGlobalFqdn: true
"#;

const GDP: &str = r#"
apiVersion: amko.vmware.com/v1alpha2
kind: GlobalDeploymentPolicy
metadata:
  name: global-gdp
  namespace: avi-system
spec:
  matchRules:
    appSelector:
      label:
        gslb: "true"
        tier: web
    namespaceSelector:
      label:
        team: payments
  matchClusters:
  - cluster: east-admin
  - cluster: west-admin
    syncVipOnly: true
  trafficSplit:
  - cluster: east-admin
    weight: 15
    priority: 20
  - cluster: west-admin
    weight: 5
  ttl: 30
  sitePersistenceRef: cookie-profile
  pkiProfileRef: fed-pki
  poolAlgorithmSettings:
    lbAlgorithm: GSLB_ALGORITHM_GEO
    geoFallback:
      lbAlgorithm: GSLB_ALGORITHM_CONSISTENT_HASH
      hashMask: 24
  downResponse:
    type: GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP
    fallbackIP: 198.51.100.7
  controlPlaneHmOnly: false
  defaultDomain: apps.example.internal
"#;

const HOST_RULE: &str = r#"
apiVersion: amko.vmware.com/v1alpha1
kind: GSLBHostRule
metadata:
  name: shop-overrides
  namespace: shop
spec:
  fqdn: shop.example.com
  ttl: 15
  sitePersistence:
    enabled: true
    profileRef: cookie-profile
    pkiProfileRef: fed-pki
  thirdPartyMembers:
  - site: legacy-dc
    vip: 203.0.113.20
    publicIP: 198.51.100.20
  healthMonitorRefs:
  - fed-https-check
  trafficSplit:
  - cluster: east-admin
    weight: 10
    priority: 20
  - cluster: legacy-dc
    weight: 2
  publicIP:
  - cluster: east-admin
    ip: 198.51.100.30
  poolAlgorithmSettings:
    lbAlgorithm: GSLB_ALGORITHM_CONSISTENT_HASH
    hashMask: 28
  downResponse:
    type: GSLB_SERVICE_DOWN_RESPONSE_EMPTY
  controlPlaneHmOnly: true
"#;

fn gslb_config() -> GslbConfig {
    serde_saphyr::from_str(GSLB_CONFIG).expect("GSLBConfig fixture parses")
}

fn gdp() -> GlobalDeploymentPolicy {
    serde_saphyr::from_str(GDP).expect("GDP fixture parses")
}

fn host_rule() -> GslbHostRule {
    serde_saphyr::from_str(HOST_RULE).expect("GSLBHostRule fixture parses")
}

fn instance() -> InstanceSettings {
    InstanceSettings {
        created_by: format!("amko-{UUID}"),
        default_tenant: "admin".into(),
        use_custom_global_fqdn: false,
        member_clusters: ["east-admin", "west-admin"].map(String::from).into(),
    }
}

fn hm(monitor_type: &str, federated: Option<bool>, request: Option<&str>) -> HealthMonitorFacts {
    HealthMonitorFacts {
        monitor_type: monitor_type.into(),
        is_federated: federated,
        http_request: request.map(String::from),
        response_codes: vec!["HTTP_2XX".into(), "HTTP_3XX".into()],
    }
}

/// The controller as tests see it. Objects exist in tenants `admin` and `shop`.
fn controller() -> ControllerSnapshot {
    let mut snapshot = ControllerSnapshot::default();
    for tenant in ["admin", "shop"] {
        let monitors = [
            (
                "fed-https-check",
                hm("HEALTH_MONITOR_HTTPS", Some(true), None),
            ),
            ("fed-tcp", hm("HEALTH_MONITOR_TCP", None, None)),
            (
                "local-http",
                hm("HEALTH_MONITOR_HTTP", Some(false), Some("GET / HTTP/1.1")),
            ),
            (
                "http-template",
                hm(
                    "HEALTH_MONITOR_HTTP",
                    Some(true),
                    Some("HEAD /healthz HTTP/1.0"),
                ),
            ),
            (
                "bad-request-template",
                hm("HEALTH_MONITOR_HTTPS", Some(true), Some("GET /healthz")),
            ),
        ];
        for (name, facts) in monitors {
            snapshot
                .health_monitors
                .insert((tenant.into(), name.into()), facts);
        }
        snapshot
            .persistence_profiles
            .insert((tenant.into(), "cookie-profile".into()));
        snapshot
            .persistence_profiles
            .insert((tenant.into(), "client-ip-profile".into()));
        snapshot.unusable_persistence_profiles.insert(
            (tenant.into(), "client-ip-profile".into()),
            crate::policy::ProfileDefect::NotFederated,
        );
        snapshot
            .pki_profiles
            .insert((tenant.into(), "fed-pki".into()));
    }
    snapshot.third_party_sites.insert("legacy-dc".into());
    snapshot
}

// ---------------------------------------------------------------- GSLBConfig

#[test]
fn gslb_config_compiles_to_settings() {
    let settings = accept_gslb_config(&gslb_config(), FRESH_UUID).expect("accepted");
    assert_eq!(
        settings,
        GslbConfigSettings {
            source: "avi-system/gc-1".into(),
            instance: InstanceSettings {
                created_by: format!("amko-{UUID}"),
                default_tenant: "admin".into(),
                use_custom_global_fqdn: true,
                member_clusters: ["east-admin", "west-admin"].map(String::from).into(),
            },
            controller: super::ControllerSettings {
                address: "192.0.2.10".into(),
                version: "31.1.1".into(),
                credentials_secret: "gslb-avi-secret".into(),
                insecure_skip_verify: false,
            },
            refresh_interval: Duration::from_secs(900),
            log_level: LogLevel::Warn,
            instance_uuid: UUID.into(),
            uuid_needs_annotation: false,
        }
    );
}

#[test]
fn gslb_config_defaults_apply() {
    let mut config = gslb_config();
    config.metadata.annotations = None;
    config.spec.refresh_interval = Some(0);
    config.spec.log_level = None;
    config.spec.gslb_leader.tenant = None;
    config.spec.use_custom_global_fqdn = None;
    config.spec.gslb_leader.insecure_skip_verify = true;
    let settings = accept_gslb_config(&config, FRESH_UUID).expect("accepted");
    assert_eq!(settings.instance_uuid, FRESH_UUID);
    assert!(settings.uuid_needs_annotation);
    assert_eq!(settings.instance.created_by, format!("amko-{FRESH_UUID}"));
    assert_eq!(settings.refresh_interval, DEFAULT_REFRESH_INTERVAL);
    assert_eq!(settings.log_level, LogLevel::Info);
    assert_eq!(settings.instance.default_tenant, "admin");
    assert!(!settings.instance.use_custom_global_fqdn);
    assert!(settings.controller.insecure_skip_verify);

    config.spec.refresh_interval = None;
    config.spec.gslb_leader.tenant = Some("tenant-a".into());
    let settings = accept_gslb_config(&config, FRESH_UUID).expect("accepted");
    assert_eq!(settings.refresh_interval, DEFAULT_REFRESH_INTERVAL);
    assert_eq!(settings.instance.default_tenant, "tenant-a");
}

#[test]
fn log_levels_map_to_filters() {
    for (text, filter) in [
        ("DEBUG", "debug"),
        ("INFO", "info"),
        ("WARN", "warn"),
        ("ERROR", "error"),
    ] {
        let level = LogLevel::parse(text).expect("valid level");
        assert_eq!(level.as_filter(), filter);
    }
    assert_eq!(LogLevel::parse("info"), None);
}

type Mutation<T> = fn(&mut T);

#[test]
fn gslb_config_rejections() {
    let cases: Vec<(Mutation<GslbConfig>, &str)> = vec![
        (
            |c| c.metadata.namespace = Some("default".into()),
            "GSLBConfig default/gc-1: namespace must be avi-system, not default",
        ),
        (
            |c| c.spec.log_level = Some("VERBOSE".into()),
            "GSLBConfig avi-system/gc-1: logLevel VERBOSE is invalid, expected one of DEBUG, INFO, WARN, ERROR",
        ),
        (
            |c| {
                c.metadata.annotations = Some(BTreeMap::from([(
                    "amko.vmware.com/amko-uuid".into(),
                    "not-a-uuid".into(),
                )]))
            },
            "GSLBConfig avi-system/gc-1: annotation amko.vmware.com/amko-uuid not-a-uuid is not a valid UUID",
        ),
        (
            |c| c.spec.gslb_leader.controller_ip = " ".into(),
            "GSLBConfig avi-system/gc-1: gslbLeader.controllerIP must not be empty",
        ),
        (
            |c| c.spec.gslb_leader.credentials = String::new(),
            "GSLBConfig avi-system/gc-1: gslbLeader.credentials must not be empty",
        ),
        (
            |c| c.spec.gslb_leader.controller_version = String::new(),
            "GSLBConfig avi-system/gc-1: gslbLeader.controllerVersion must not be empty",
        ),
        (
            |c| c.spec.member_clusters[1].cluster_context = String::new(),
            "GSLBConfig avi-system/gc-1: memberClusters[1].clusterContext must not be empty",
        ),
        (
            |c| c.spec.member_clusters[1].cluster_context = "east-admin".into(),
            "GSLBConfig avi-system/gc-1: cluster east-admin appears more than once in memberClusters",
        ),
        // Order: the namespace is reported before the log level (AMKO reported either, depending on map order).
        (
            |c| {
                c.metadata.namespace = Some("default".into());
                c.spec.log_level = Some("VERBOSE".into());
            },
            "GSLBConfig default/gc-1: namespace must be avi-system, not default",
        ),
        // Order: controllerIP before credentials.
        (
            |c| c.spec.gslb_leader = Default::default(),
            "GSLBConfig avi-system/gc-1: gslbLeader.controllerIP must not be empty",
        ),
    ];
    for (mutate, expected) in cases {
        let mut config = gslb_config();
        mutate(&mut config);
        let err = accept_gslb_config(&config, FRESH_UUID).expect_err(expected);
        assert_eq!(err.to_string(), expected);
    }
}

#[test]
fn gslb_config_accepts_valid_log_levels_and_uuid_spellings() {
    for level in ["DEBUG", "INFO", "WARN", "ERROR"] {
        let mut config = gslb_config();
        config.spec.log_level = Some(level.into());
        assert!(accept_gslb_config(&config, FRESH_UUID).is_ok(), "{level}");
    }
    let upper = UUID.to_uppercase();
    let mut config = gslb_config();
    config
        .metadata
        .annotations
        .get_or_insert_default()
        .insert("amko.vmware.com/amko-uuid".into(), upper.clone());
    let settings = accept_gslb_config(&config, FRESH_UUID).expect("accepted");
    assert_eq!(settings.instance.created_by, format!("amko-{upper}"));
}

// ---------------------------------------------------------------- GlobalDeploymentPolicy

#[test]
fn gdp_compiles_to_policy() {
    let policy = accept_gdp(&gdp(), &instance(), &controller()).expect("accepted");
    let expected = Policy {
        name: "global-gdp".into(),
        app_selector: Some(LabelSelector(BTreeMap::from([
            ("gslb".into(), "true".into()),
            ("tier".into(), "web".into()),
        ]))),
        namespace_selector: Some(LabelSelector(BTreeMap::from([(
            "team".into(),
            "payments".into(),
        )]))),
        match_clusters: BTreeMap::from([
            (
                "east-admin".into(),
                ClusterMatch {
                    sync_vip_only: false,
                },
            ),
            (
                "west-admin".into(),
                ClusterMatch {
                    sync_vip_only: true,
                },
            ),
        ]),
        traffic_split: BTreeMap::from([
            (
                "east-admin".into(),
                Split {
                    weight: 15,
                    priority: 20,
                },
            ),
            (
                "west-admin".into(),
                Split {
                    weight: 5,
                    priority: 10,
                },
            ),
        ]),
        properties: GsProperties {
            ttl: Some(30),
            health_monitoring: None,
            site_persistence: Some(Some(SitePersistence {
                profile_ref: "cookie-profile".into(),
                pki_profile_ref: Some("fed-pki".into()),
            })),
            pki_profile_ref: None,
            pool_algorithm: Some(PoolAlgorithm::Geo {
                fallback: GeoFallback::ConsistentHash { hash_mask: 24 },
            }),
            down_response: Some(DownResponse::FallbackIp(
                "198.51.100.7".parse().expect("ip"),
            )),
            control_plane_hm_only: Some(false),
        },
        default_domain: Some("apps.example.internal".into()),
    };
    assert_eq!(policy, expected);
}

#[test]
fn empty_gdp_is_valid_and_selects_nothing() {
    let mut empty = gdp();
    empty.spec = GlobalDeploymentPolicySpec::default();
    let policy = accept_gdp(&empty, &instance(), &controller()).expect("accepted");
    assert_eq!(
        policy,
        Policy {
            name: "global-gdp".into(),
            ..Policy::default()
        }
    );
}

#[test]
fn gdp_compiles_each_alternative() {
    let accept = |mutate: Mutation<GlobalDeploymentPolicy>| {
        let mut object = gdp();
        mutate(&mut object);
        accept_gdp(&object, &instance(), &controller()).expect("accepted")
    };
    let template = accept(|g| g.spec.health_monitor_template = Some("http-template".into()));
    assert_eq!(
        template.properties.health_monitoring,
        Some(HealthMonitoring::Template(HmTemplate {
            name: "http-template".into(),
            method: "HEAD".into(),
            http_version: "HTTP/1.0".into(),
            response_codes: vec!["HTTP_2XX".into(), "HTTP_3XX".into()],
        }))
    );
    let refs =
        accept(|g| g.spec.health_monitor_refs = vec!["fed-https-check".into(), "fed-tcp".into()]);
    assert_eq!(
        refs.properties.health_monitoring,
        Some(HealthMonitoring::Refs(vec![
            "fed-https-check".into(),
            "fed-tcp".into()
        ]))
    );
    let pki_alone = accept(|g| g.spec.site_persistence_ref = None);
    assert_eq!(pki_alone.properties.site_persistence, None);
    assert_eq!(pki_alone.properties.pki_profile_ref, Some("fed-pki".into()));

    let algorithms: [(PoolAlgorithmSettings, PoolAlgorithm); 4] = [
        (
            settings("GSLB_ALGORITHM_ROUND_ROBIN", None, None),
            PoolAlgorithm::RoundRobin,
        ),
        (
            settings("GSLB_ALGORITHM_TOPOLOGY", None, None),
            PoolAlgorithm::Topology,
        ),
        (
            settings("GSLB_ALGORITHM_CONSISTENT_HASH", Some(31), None),
            PoolAlgorithm::ConsistentHash { hash_mask: 31 },
        ),
        (
            settings(
                "GSLB_ALGORITHM_GEO",
                None,
                Some(("GSLB_ALGORITHM_ROUND_ROBIN", None)),
            ),
            PoolAlgorithm::Geo {
                fallback: GeoFallback::RoundRobin,
            },
        ),
    ];
    for (given, expected) in algorithms {
        let mut object = gdp();
        object.spec.pool_algorithm_settings = Some(given);
        let policy = accept_gdp(&object, &instance(), &controller()).expect("accepted");
        assert_eq!(policy.properties.pool_algorithm, Some(expected));
    }

    for (down_type, expected) in [
        ("GSLB_SERVICE_DOWN_RESPONSE_NONE", DownResponse::None),
        (
            "GSLB_SERVICE_DOWN_RESPONSE_ALL_RECORDS",
            DownResponse::AllRecords,
        ),
        ("GSLB_SERVICE_DOWN_RESPONSE_EMPTY", DownResponse::Empty),
        (
            "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP",
            DownResponse::FallbackIp("2001:db8::7".parse().expect("ip")),
        ),
    ] {
        let mut object = gdp();
        let down = object.spec.down_response.get_or_insert_default();
        down.type_ = down_type.into();
        down.fallback_ip = (expected != DownResponse::None
            && expected != DownResponse::AllRecords
            && expected != DownResponse::Empty)
            .then(|| "2001:db8::7".into());
        let policy = accept_gdp(&object, &instance(), &controller()).expect("accepted");
        assert_eq!(policy.properties.down_response, Some(expected));
    }
}

fn settings(
    algorithm: &str,
    hash_mask: Option<i64>,
    fallback: Option<(&str, Option<i64>)>,
) -> PoolAlgorithmSettings {
    PoolAlgorithmSettings {
        lb_algorithm: algorithm.into(),
        hash_mask,
        geo_fallback: fallback.map(|(algorithm, hash_mask)| GeoFallbackSettings {
            lb_algorithm: algorithm.into(),
            hash_mask,
        }),
    }
}

fn gdp_rejection_cases() -> Vec<(Mutation<GlobalDeploymentPolicy>, &'static str)> {
    vec![
        (
            |g| g.metadata.namespace = Some("team-a".into()),
            "namespace must be avi-system, not team-a",
        ),
        (
            |g| label(g, "app", "", "gslb"),
            "label key is missing for value gslb in matchRules.appSelector.label",
        ),
        (
            |g| label(g, "app", "gslb", ""),
            "label value is missing for key gslb in matchRules.appSelector.label",
        ),
        (
            |g| label(g, "ns", "", "payments"),
            "label key is missing for value payments in matchRules.namespaceSelector.label",
        ),
        (
            |g| label(g, "ns", "team", ""),
            "label value is missing for key team in matchRules.namespaceSelector.label",
        ),
        (
            |g| g.spec.match_clusters.push(match_cluster("north-admin")),
            "cluster context north-admin in matchClusters not present in GSLBConfig",
        ),
        (
            |g| g.spec.match_clusters.push(match_cluster("")),
            "matchClusters[2].cluster must not be empty",
        ),
        (
            |g| g.spec.match_clusters.push(match_cluster("east-admin")),
            "cluster east-admin appears more than once in matchClusters",
        ),
        (
            |g| g.spec.traffic_split.push(gdp_split("north-admin", 1, 10)),
            "cluster north-admin in trafficSplit not present in GSLBConfig",
        ),
        (
            |g| g.spec.traffic_split.push(gdp_split("", 1, 10)),
            "trafficSplit[2].cluster must not be empty",
        ),
        (
            |g| g.spec.traffic_split.push(gdp_split("west-admin", 1, 10)),
            "cluster west-admin appears more than once in trafficSplit",
        ),
        (
            |g| g.spec.traffic_split[0].weight = 25,
            "traffic weight 25 for cluster east-admin in trafficSplit must be between 1 and 20",
        ),
        (
            |g| g.spec.traffic_split[1].weight = 0,
            "traffic weight 0 for cluster west-admin in trafficSplit must be between 1 and 20",
        ),
        (
            |g| g.spec.traffic_split[0].priority = 101,
            "priority 101 for cluster east-admin in trafficSplit must be between 0 and 100",
        ),
        (
            |g| g.spec.traffic_split[0].priority = -1,
            "priority -1 for cluster east-admin in trafficSplit must be between 0 and 100",
        ),
        (
            |g| g.spec.ttl = Some(-1),
            "ttl -1 must be between 0 and 86400",
        ),
        (
            |g| g.spec.ttl = Some(86_401),
            "ttl 86401 must be between 0 and 86400",
        ),
        (
            |g| {
                g.spec.health_monitor_refs = vec!["fed-https-check".into()];
                g.spec.health_monitor_template = Some("http-template".into());
            },
            "healthMonitorRefs and healthMonitorTemplate cannot be specified together",
        ),
        (
            |g| g.spec.health_monitor_refs = vec![String::new()],
            "empty string as a health monitor reference in healthMonitorRefs not supported",
        ),
        (
            |g| g.spec.health_monitor_refs = vec!["fed-https-check".into(); 7],
            "healthMonitorRefs lists 7 monitors; a GslbService takes at most 6",
        ),
        (
            |g| g.spec.health_monitor_refs = vec!["fed-https-check".into(), "missing".into()],
            "health monitor ref missing in healthMonitorRefs not found",
        ),
        (
            |g| g.spec.health_monitor_refs = vec!["local-http".into()],
            "health monitor ref local-http in healthMonitorRefs is not federated",
        ),
        (
            |g| g.spec.health_monitor_template = Some("missing".into()),
            "health monitor template missing in healthMonitorTemplate not found",
        ),
        (
            |g| g.spec.health_monitor_template = Some("local-http".into()),
            "health monitor template local-http in healthMonitorTemplate is not federated",
        ),
        (
            |g| g.spec.health_monitor_template = Some("fed-tcp".into()),
            "health monitor template fed-tcp in healthMonitorTemplate has type HEALTH_MONITOR_TCP; only HTTP and HTTPS monitors can be templates",
        ),
        (
            |g| g.spec.health_monitor_template = Some("bad-request-template".into()),
            "client request header \"GET /healthz\" in health monitor template bad-request-template is invalid, expected \"<METHOD> <path> <HTTP version>\"",
        ),
        (
            |g| g.spec.health_monitor_template = Some("fed-https-check".into()),
            "client request header \"\" in health monitor template fed-https-check is invalid, expected \"<METHOD> <path> <HTTP version>\"",
        ),
        (
            |g| {
                g.spec.pool_algorithm_settings = Some(settings("GSLB_ALGORITHM_RANDOM", None, None))
            },
            "invalid pool algorithm: unsupported lbAlgorithm \"GSLB_ALGORITHM_RANDOM\"",
        ),
        (
            |g| {
                g.spec.pool_algorithm_settings = Some(settings(
                    "GSLB_ALGORITHM_ROUND_ROBIN",
                    None,
                    Some(("GSLB_ALGORITHM_ROUND_ROBIN", None)),
                ))
            },
            "invalid pool algorithm: geoFallback not allowed for GSLB_ALGORITHM_ROUND_ROBIN",
        ),
        (
            |g| {
                g.spec.pool_algorithm_settings =
                    Some(settings("GSLB_ALGORITHM_TOPOLOGY", Some(24), None))
            },
            "invalid pool algorithm: hashMask not allowed for GSLB_ALGORITHM_TOPOLOGY",
        ),
        (
            |g| {
                g.spec.pool_algorithm_settings = Some(settings(
                    "GSLB_ALGORITHM_CONSISTENT_HASH",
                    Some(24),
                    Some(("GSLB_ALGORITHM_ROUND_ROBIN", None)),
                ))
            },
            "invalid pool algorithm: geoFallback not allowed for GSLB_ALGORITHM_CONSISTENT_HASH",
        ),
        (
            |g| {
                g.spec.pool_algorithm_settings =
                    Some(settings("GSLB_ALGORITHM_CONSISTENT_HASH", None, None))
            },
            "invalid pool algorithm: hashMask is required for GSLB_ALGORITHM_CONSISTENT_HASH",
        ),
        (
            |g| {
                g.spec.pool_algorithm_settings =
                    Some(settings("GSLB_ALGORITHM_CONSISTENT_HASH", Some(32), None))
            },
            "invalid pool algorithm: hashMask 32 must be between 1 and 31",
        ),
        (
            |g| g.spec.pool_algorithm_settings = Some(settings("GSLB_ALGORITHM_GEO", None, None)),
            "invalid pool algorithm: geoFallback has to be set for GSLB_ALGORITHM_GEO, available choices: GSLB_ALGORITHM_ROUND_ROBIN, GSLB_ALGORITHM_CONSISTENT_HASH",
        ),
        (
            |g| {
                g.spec.pool_algorithm_settings = Some(settings(
                    "GSLB_ALGORITHM_GEO",
                    Some(24),
                    Some(("GSLB_ALGORITHM_ROUND_ROBIN", None)),
                ))
            },
            "invalid pool algorithm: hashMask not allowed for GSLB_ALGORITHM_GEO",
        ),
        (
            |g| {
                g.spec.pool_algorithm_settings = Some(settings(
                    "GSLB_ALGORITHM_GEO",
                    None,
                    Some(("GSLB_ALGORITHM_ROUND_ROBIN", Some(24))),
                ))
            },
            "invalid pool algorithm: geoFallback.hashMask is not allowed with GSLB_ALGORITHM_ROUND_ROBIN as geoFallback algorithm",
        ),
        (
            |g| {
                g.spec.pool_algorithm_settings = Some(settings(
                    "GSLB_ALGORITHM_GEO",
                    None,
                    Some(("GSLB_ALGORITHM_CONSISTENT_HASH", None)),
                ))
            },
            "invalid pool algorithm: geoFallback.hashMask is required for GSLB_ALGORITHM_CONSISTENT_HASH as the geoFallback algorithm",
        ),
        (
            |g| {
                g.spec.pool_algorithm_settings = Some(settings(
                    "GSLB_ALGORITHM_GEO",
                    None,
                    Some(("GSLB_ALGORITHM_CONSISTENT_HASH", Some(0))),
                ))
            },
            "invalid pool algorithm: geoFallback.hashMask 0 must be between 1 and 31",
        ),
        (
            |g| {
                g.spec.pool_algorithm_settings = Some(settings(
                    "GSLB_ALGORITHM_GEO",
                    None,
                    Some(("GSLB_ALGORITHM_TOPOLOGY", None)),
                ))
            },
            "invalid pool algorithm: unsupported algorithm \"GSLB_ALGORITHM_TOPOLOGY\" for geoFallback",
        ),
        (
            |g| g.spec.site_persistence_ref = Some(String::new()),
            "empty string as sitePersistenceRef not supported",
        ),
        (
            |g| g.spec.site_persistence_ref = Some("missing".into()),
            "site persistence profile missing in sitePersistenceRef not present",
        ),
        (
            |g| g.spec.site_persistence_ref = Some("client-ip-profile".into()),
            "site persistence profile client-ip-profile in sitePersistenceRef cannot be used: it is not federated",
        ),
        (
            |g| g.spec.pki_profile_ref = Some(String::new()),
            "empty string as pkiProfileRef not supported",
        ),
        (
            |g| g.spec.pki_profile_ref = Some("missing".into()),
            "pki profile missing in pkiProfileRef not present",
        ),
        (
            |g| down(g, "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP", None),
            "invalid down response configuration: fallbackIP is required for GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP",
        ),
        (
            |g| down(g, "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP", Some("")),
            "invalid down response configuration: fallbackIP is required for GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP",
        ),
        (
            |g| {
                down(
                    g,
                    "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP",
                    Some("198.51.100.300"),
                )
            },
            "invalid down response configuration: fallbackIP 198.51.100.300 is not valid",
        ),
        (
            |g| down(g, "GSLB_SERVICE_DOWN_RESPONSE_NONE", Some("198.51.100.7")),
            "invalid down response configuration: fallbackIP is not allowed for GSLB_SERVICE_DOWN_RESPONSE_NONE",
        ),
        (
            |g| down(g, "", None),
            "invalid down response configuration: unsupported type \"\"",
        ),
        // AMKO's order of GDP checks: selectors, clusters, trafficSplit, HM, pool algorithm, persistence, PKI,
        // down response. Each case breaks two things and expects the earlier one.
        (
            |g| {
                label(g, "ns", "team", "");
                g.spec.match_clusters.push(match_cluster("north-admin"));
            },
            "label value is missing for key team in matchRules.namespaceSelector.label",
        ),
        (
            |g| {
                g.spec.match_clusters.push(match_cluster("north-admin"));
                g.spec.traffic_split[0].weight = 25;
            },
            "cluster context north-admin in matchClusters not present in GSLBConfig",
        ),
        (
            |g| {
                g.spec.traffic_split[0].priority = 101;
                g.spec.health_monitor_template = Some("missing".into());
            },
            "priority 101 for cluster east-admin in trafficSplit must be between 0 and 100",
        ),
        (
            |g| {
                g.spec.health_monitor_template = Some("missing".into());
                g.spec.pool_algorithm_settings = Some(settings("GSLB_ALGORITHM_GEO", None, None));
            },
            "health monitor template missing in healthMonitorTemplate not found",
        ),
        (
            |g| {
                g.spec.pool_algorithm_settings = Some(settings("GSLB_ALGORITHM_GEO", None, None));
                g.spec.site_persistence_ref = Some("missing".into());
            },
            "invalid pool algorithm: geoFallback has to be set for GSLB_ALGORITHM_GEO, available choices: GSLB_ALGORITHM_ROUND_ROBIN, GSLB_ALGORITHM_CONSISTENT_HASH",
        ),
        (
            |g| {
                g.spec.site_persistence_ref = Some("missing".into());
                g.spec.pki_profile_ref = Some("missing".into());
            },
            "site persistence profile missing in sitePersistenceRef not present",
        ),
        (
            |g| {
                g.spec.pki_profile_ref = Some("missing".into());
                down(g, "", None);
            },
            "pki profile missing in pkiProfileRef not present",
        ),
    ]
}

fn label(g: &mut GlobalDeploymentPolicy, which: &str, key: &str, value: &str) {
    let rules = g.spec.match_rules.get_or_insert_default();
    let selector = if which == "app" {
        &mut rules.app_selector
    } else {
        &mut rules.namespace_selector
    };
    selector
        .get_or_insert_with(LabelMatch::default)
        .label
        .insert(key.into(), value.into());
}

fn match_cluster(cluster: &str) -> MatchCluster {
    MatchCluster {
        cluster: cluster.into(),
        sync_vip_only: false,
    }
}

fn gdp_split(cluster: &str, weight: i64, priority: i64) -> GdpTrafficSplit {
    GdpTrafficSplit {
        cluster: cluster.into(),
        weight,
        priority,
    }
}

fn down(g: &mut GlobalDeploymentPolicy, down_type: &str, fallback: Option<&str>) {
    let down = g.spec.down_response.get_or_insert_default();
    down.type_ = down_type.into();
    down.fallback_ip = fallback.map(String::from);
}

#[test]
fn gdp_rejections() {
    for (mutate, expected) in gdp_rejection_cases() {
        let mut object = gdp();
        mutate(&mut object);
        let err = accept_gdp(&object, &instance(), &controller()).expect_err(expected);
        let namespace = object.metadata.namespace.clone().unwrap_or_default();
        assert_eq!(
            err.to_string(),
            format!("GlobalDeploymentPolicy {namespace}/global-gdp: {expected}")
        );
    }
}

#[test]
fn gdp_lookups_use_the_default_tenant() {
    let mut other_tenant = instance();
    other_tenant.default_tenant = "tenant-b".into();
    let err = accept_gdp(&gdp(), &other_tenant, &controller()).expect_err("no profile in tenant-b");
    assert_eq!(
        err.problem,
        Problem::PersistenceProfileNotFound {
            field: "sitePersistenceRef",
            name: "cookie-profile".into()
        }
    );
}

// ---------------------------------------------------------------- GSLBHostRule

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test IP")
}

#[test]
fn host_rule_compiles_to_overrides() {
    let overrides =
        accept_host_rule(&host_rule(), "shop", &instance(), &controller()).expect("accepted");
    let expected = HostRuleOverrides {
        source: "shop/shop-overrides".into(),
        fqdn: "shop.example.com".into(),
        tenant: "shop".into(),
        properties: GsProperties {
            ttl: Some(15),
            health_monitoring: Some(HealthMonitoring::Refs(vec!["fed-https-check".into()])),
            site_persistence: Some(Some(SitePersistence {
                profile_ref: "cookie-profile".into(),
                pki_profile_ref: Some("fed-pki".into()),
            })),
            pki_profile_ref: None,
            pool_algorithm: Some(PoolAlgorithm::ConsistentHash { hash_mask: 28 }),
            down_response: Some(DownResponse::Empty),
            control_plane_hm_only: Some(true),
        },
        traffic_split: BTreeMap::from([
            (
                "east-admin".into(),
                Split {
                    weight: 10,
                    priority: 20,
                },
            ),
            // GSLBHostRule priority defaults to 1 (AMKO's CRD), not the GDP's 10.
            (
                "legacy-dc".into(),
                Split {
                    weight: 2,
                    priority: 1,
                },
            ),
        ]),
        public_ips: BTreeMap::from([("east-admin".into(), ip("198.51.100.30"))]),
        third_party_members: BTreeSet::from([ThirdPartyMember {
            site: "legacy-dc".into(),
            vip: ip("203.0.113.20"),
            public_ip: Some(ip("198.51.100.20")),
        }]),
    };
    assert_eq!(overrides, expected);
}

#[test]
fn host_rule_site_persistence_variants() {
    let mut rule = host_rule();
    rule.spec.site_persistence = Some(SitePersistenceSettings {
        enabled: false,
        profile_ref: String::new(),
        pki_profile_ref: None,
    });
    let overrides = accept_host_rule(&rule, "shop", &instance(), &controller()).expect("accepted");
    assert_eq!(overrides.properties.site_persistence, Some(None));

    rule.spec.site_persistence = None;
    let overrides = accept_host_rule(&rule, "shop", &instance(), &controller()).expect("accepted");
    assert_eq!(overrides.properties.site_persistence, None);

    let mut minimal = host_rule();
    minimal.spec = GslbHostRuleSpec {
        fqdn: "shop.example.com".into(),
        ..Default::default()
    };
    let overrides =
        accept_host_rule(&minimal, "shop", &instance(), &controller()).expect("accepted");
    assert_eq!(overrides.properties, GsProperties::default());
    assert!(overrides.traffic_split.is_empty());
}

fn host_rule_rejection_cases() -> Vec<(Mutation<GslbHostRule>, &'static str)> {
    vec![
        (|r| r.spec.fqdn = " ".into(), "fqdn is missing"),
        (
            |r| persistence(r, true, "", None),
            "empty string as sitePersistence.profileRef not supported",
        ),
        (
            |r| persistence(r, true, "missing", None),
            "site persistence profile missing in sitePersistence.profileRef not present",
        ),
        (
            |r| persistence(r, true, "client-ip-profile", None),
            "site persistence profile client-ip-profile in sitePersistence.profileRef cannot be used: it is not federated",
        ),
        (
            |r| persistence(r, false, "", Some("")),
            "empty string as sitePersistence.pkiProfileRef not supported",
        ),
        (
            |r| persistence(r, false, "", Some("missing")),
            "pki profile missing in sitePersistence.pkiProfileRef not present",
        ),
        (
            |r| {
                r.spec.pool_algorithm_settings =
                    Some(settings("GSLB_ALGORITHM_CONSISTENT_HASH", None, None))
            },
            "invalid pool algorithm: hashMask is required for GSLB_ALGORITHM_CONSISTENT_HASH",
        ),
        (
            |r| third_party(r, "", "203.0.113.21", None),
            "thirdPartyMembers[1].site must not be empty",
        ),
        (
            |r| third_party(r, "legacy-dc", "not-an-ip", None),
            "invalid vip not-an-ip for thirdPartyMembers site legacy-dc (expecting IP address)",
        ),
        (
            |r| third_party(r, "legacy-dc", "203.0.113.21", Some("nat")),
            "invalid publicIP nat for thirdPartyMembers site legacy-dc (expecting IP address)",
        ),
        (
            |r| third_party(r, "other-dc", "203.0.113.21", None),
            "thirdPartyMembers site other-dc does not exist on the GSLB leader",
        ),
        (
            |r| public_ip(r, "", "198.51.100.31"),
            "publicIP[1].cluster must not be empty",
        ),
        (
            |r| public_ip(r, "north-admin", "198.51.100.31"),
            "cluster north-admin in publicIP not present in GSLBConfig",
        ),
        (
            |r| public_ip(r, "east-admin", "198.51.100.31"),
            "cluster east-admin appears more than once in publicIP",
        ),
        (
            |r| public_ip(r, "west-admin", "198.51.100"),
            "invalid IP 198.51.100 in publicIP for cluster west-admin (expecting IP address)",
        ),
        (
            |r| r.spec.ttl = Some(90_000),
            "ttl 90000 must be between 0 and 86400",
        ),
        (
            |r| host_split(r, "", 1, 1),
            "trafficSplit[2].cluster must not be empty",
        ),
        (
            |r| host_split(r, "north-admin", 1, 1),
            "cluster north-admin in trafficSplit is neither a GSLBConfig member cluster nor a thirdPartyMembers site",
        ),
        (
            |r| host_split(r, "legacy-dc", 1, 1),
            "cluster legacy-dc appears more than once in trafficSplit",
        ),
        (
            |r| host_split(r, "west-admin", 21, 1),
            "traffic weight 21 for cluster west-admin in trafficSplit must be between 1 and 20",
        ),
        (
            |r| host_split(r, "west-admin", 1, 200),
            "priority 200 for cluster west-admin in trafficSplit must be between 0 and 100",
        ),
        (
            |r| r.spec.health_monitor_template = Some("http-template".into()),
            "healthMonitorRefs and healthMonitorTemplate cannot be specified together",
        ),
        (
            |r| r.spec.health_monitor_refs = vec!["missing".into()],
            "health monitor ref missing in healthMonitorRefs not found",
        ),
        (
            |r| {
                r.spec.health_monitor_refs.clear();
                r.spec.health_monitor_template = Some("fed-tcp".into());
            },
            "health monitor template fed-tcp in healthMonitorTemplate has type HEALTH_MONITOR_TCP; only HTTP and HTTPS monitors can be templates",
        ),
        (
            |r| {
                r.spec.down_response.get_or_insert_default().fallback_ip =
                    Some("198.51.100.7".into())
            },
            "invalid down response configuration: fallbackIP is not allowed for GSLB_SERVICE_DOWN_RESPONSE_EMPTY",
        ),
        // AMKO's order of GSLBHostRule checks: fqdn, persistence/PKI, pool algorithm, third-party members, public IPs,
        // (ttl, trafficSplit), HM exclusivity and existence, down response.
        (
            |r| {
                r.spec.fqdn = String::new();
                persistence(r, true, "missing", None);
            },
            "fqdn is missing",
        ),
        (
            |r| {
                persistence(r, true, "missing", None);
                r.spec.pool_algorithm_settings = Some(settings("GSLB_ALGORITHM_GEO", None, None));
            },
            "site persistence profile missing in sitePersistence.profileRef not present",
        ),
        (
            |r| {
                r.spec.pool_algorithm_settings = Some(settings("GSLB_ALGORITHM_GEO", None, None));
                third_party(r, "other-dc", "203.0.113.21", None);
            },
            "invalid pool algorithm: geoFallback has to be set for GSLB_ALGORITHM_GEO, available choices: GSLB_ALGORITHM_ROUND_ROBIN, GSLB_ALGORITHM_CONSISTENT_HASH",
        ),
        (
            |r| {
                third_party(r, "other-dc", "bad", None);
                public_ip(r, "north-admin", "198.51.100.31");
            },
            "invalid vip bad for thirdPartyMembers site other-dc (expecting IP address)",
        ),
        (
            |r| {
                public_ip(r, "north-admin", "198.51.100.31");
                r.spec.health_monitor_template = Some("http-template".into());
            },
            "cluster north-admin in publicIP not present in GSLBConfig",
        ),
        (
            |r| {
                r.spec.health_monitor_template = Some("http-template".into());
                r.spec.down_response.get_or_insert_default().type_ = "bogus".into();
            },
            "healthMonitorRefs and healthMonitorTemplate cannot be specified together",
        ),
    ]
}

fn persistence(r: &mut GslbHostRule, enabled: bool, profile: &str, pki: Option<&str>) {
    r.spec.site_persistence = Some(SitePersistenceSettings {
        enabled,
        profile_ref: profile.into(),
        pki_profile_ref: pki.map(String::from),
    });
}

fn third_party(r: &mut GslbHostRule, site: &str, vip: &str, public_ip: Option<&str>) {
    r.spec.third_party_members.push(ThirdPartyMemberSpec {
        vip: vip.into(),
        site: site.into(),
        public_ip: public_ip.map(String::from),
    });
}

fn public_ip(r: &mut GslbHostRule, cluster: &str, ip: &str) {
    r.spec.public_ip.push(PublicIpSpec {
        cluster: cluster.into(),
        ip: ip.into(),
    });
}

fn host_split(r: &mut GslbHostRule, cluster: &str, weight: i64, priority: i64) {
    r.spec.traffic_split.push(HostRuleTrafficSplit {
        cluster: cluster.into(),
        weight,
        priority,
    });
}

#[test]
fn host_rule_rejections() {
    for (mutate, expected) in host_rule_rejection_cases() {
        let mut rule = host_rule();
        mutate(&mut rule);
        let err = accept_host_rule(&rule, "shop", &instance(), &controller()).expect_err(expected);
        assert_eq!(
            err.to_string(),
            format!("GSLBHostRule shop/shop-overrides: {expected}")
        );
    }
}

#[test]
fn host_rule_lookups_use_the_rule_tenant() {
    let err = accept_host_rule(&host_rule(), "tenant-b", &instance(), &controller())
        .expect_err("no profile in tenant-b");
    assert_eq!(
        err.problem,
        Problem::PersistenceProfileNotFound {
            field: "sitePersistence.profileRef",
            name: "cookie-profile".into()
        }
    );
}

// ---------------------------------------------------------------- coverage of the message set

/// Exhaustive on purpose: a new `Problem` variant does not compile until it is named here, and
/// `every_problem_is_reachable_or_operator_only` then demands a test case for it.
fn variant(problem: &Problem) -> &'static str {
    match problem {
        Problem::WrongNamespace { .. } => "WrongNamespace",
        Problem::GdpAlreadyExists { .. } => "GdpAlreadyExists",
        Problem::GslbConfigAlreadyExists { .. } => "GslbConfigAlreadyExists",
        Problem::FqdnAlreadyClaimed { .. } => "FqdnAlreadyClaimed",
        Problem::InvalidLogLevel { .. } => "InvalidLogLevel",
        Problem::InvalidUuid { .. } => "InvalidUuid",
        Problem::EmptyField { .. } => "EmptyField",
        Problem::LabelKeyMissing { .. } => "LabelKeyMissing",
        Problem::LabelValueMissing { .. } => "LabelValueMissing",
        Problem::MatchClusterUnknown { .. } => "MatchClusterUnknown",
        Problem::DuplicateCluster { .. } => "DuplicateCluster",
        Problem::TrafficSplitClusterUnknown { .. } => "TrafficSplitClusterUnknown",
        Problem::HostRuleSplitTargetUnknown { .. } => "HostRuleSplitTargetUnknown",
        Problem::WeightOutOfRange { .. } => "WeightOutOfRange",
        Problem::PriorityOutOfRange { .. } => "PriorityOutOfRange",
        Problem::TtlOutOfRange { .. } => "TtlOutOfRange",
        Problem::HealthMonitorRefsAndTemplate => "HealthMonitorRefsAndTemplate",
        Problem::HealthMonitorRefEmpty => "HealthMonitorRefEmpty",
        Problem::HealthMonitorRefsTooMany { .. } => "HealthMonitorRefsTooMany",
        Problem::HealthMonitorRefNotFound { .. } => "HealthMonitorRefNotFound",
        Problem::HealthMonitorRefNotFederated { .. } => "HealthMonitorRefNotFederated",
        Problem::HealthMonitorTemplateNotFound { .. } => "HealthMonitorTemplateNotFound",
        Problem::HealthMonitorTemplateNotFederated { .. } => "HealthMonitorTemplateNotFederated",
        Problem::HealthMonitorTemplateType { .. } => "HealthMonitorTemplateType",
        Problem::HealthMonitorTemplateRequest { .. } => "HealthMonitorTemplateRequest",
        Problem::EmptyReference { .. } => "EmptyReference",
        Problem::PersistenceProfileNotFound { .. } => "PersistenceProfileNotFound",
        Problem::PersistenceProfileUnusable { .. } => "PersistenceProfileUnusable",
        Problem::PkiProfileNotFound { .. } => "PkiProfileNotFound",
        Problem::FqdnMissing => "FqdnMissing",
        Problem::ThirdPartyVipInvalid { .. } => "ThirdPartyVipInvalid",
        Problem::ThirdPartyPublicIpInvalid { .. } => "ThirdPartyPublicIpInvalid",
        Problem::ThirdPartySiteUnknown { .. } => "ThirdPartySiteUnknown",
        Problem::PublicIpClusterUnknown { .. } => "PublicIpClusterUnknown",
        Problem::PublicIpInvalid { .. } => "PublicIpInvalid",
        Problem::PoolAlgorithm(detail) => match detail {
            super::PoolAlgorithmProblem::Unsupported { .. } => "PoolAlgorithm::Unsupported",
            super::PoolAlgorithmProblem::GeoFallbackNotAllowed { .. } => {
                "PoolAlgorithm::GeoFallbackNotAllowed"
            }
            super::PoolAlgorithmProblem::HashMaskNotAllowed { .. } => {
                "PoolAlgorithm::HashMaskNotAllowed"
            }
            super::PoolAlgorithmProblem::HashMaskRequired => "PoolAlgorithm::HashMaskRequired",
            super::PoolAlgorithmProblem::HashMaskOutOfRange { .. } => {
                "PoolAlgorithm::HashMaskOutOfRange"
            }
            super::PoolAlgorithmProblem::GeoFallbackRequired => {
                "PoolAlgorithm::GeoFallbackRequired"
            }
            super::PoolAlgorithmProblem::UnsupportedFallback { .. } => {
                "PoolAlgorithm::UnsupportedFallback"
            }
            super::PoolAlgorithmProblem::FallbackHashMaskNotAllowed { .. } => {
                "PoolAlgorithm::FallbackHashMaskNotAllowed"
            }
            super::PoolAlgorithmProblem::FallbackHashMaskRequired { .. } => {
                "PoolAlgorithm::FallbackHashMaskRequired"
            }
        },
        Problem::DownResponse(detail) => match detail {
            super::DownResponseProblem::UnsupportedType { .. } => "DownResponse::UnsupportedType",
            super::DownResponseProblem::FallbackIpRequired { .. } => {
                "DownResponse::FallbackIpRequired"
            }
            super::DownResponseProblem::FallbackIpInvalid { .. } => {
                "DownResponse::FallbackIpInvalid"
            }
            super::DownResponseProblem::FallbackIpNotAllowed { .. } => {
                "DownResponse::FallbackIpNotAllowed"
            }
        },
    }
}

/// Problems only the operator can detect (they need the other objects of the cluster).
fn operator_only_problems() -> Vec<(Problem, &'static str)> {
    vec![
        (
            Problem::GdpAlreadyExists {
                existing: "avi-system/global-gdp".into(),
            },
            "a GlobalDeploymentPolicy (avi-system/global-gdp) already exists, can't add another",
        ),
        (
            Problem::GslbConfigAlreadyExists {
                existing: "avi-system/gc-1".into(),
            },
            "a GSLBConfig (avi-system/gc-1) is already in use, can't add another",
        ),
        (
            Problem::FqdnAlreadyClaimed {
                fqdn: "shop.example.com".into(),
                existing: "shop/first".into(),
            },
            "there's an existing GSLBHostRule (shop/first) for the same fqdn shop.example.com",
        ),
    ]
}

#[test]
fn operator_only_messages() {
    for (problem, expected) in operator_only_problems() {
        assert_eq!(problem.to_string(), expected);
    }
}

#[test]
fn every_problem_is_reachable_or_operator_only() {
    let mut seen = BTreeSet::new();
    let mut record = |err: super::PolicyError| seen.insert(variant(&err.problem));
    for (mutate, _) in gdp_rejection_cases() {
        let mut object = gdp();
        mutate(&mut object);
        if let Err(err) = accept_gdp(&object, &instance(), &controller()) {
            record(err);
        }
    }
    for (mutate, _) in host_rule_rejection_cases() {
        let mut rule = host_rule();
        mutate(&mut rule);
        if let Err(err) = accept_host_rule(&rule, "shop", &instance(), &controller()) {
            record(err);
        }
    }
    let mut config = gslb_config();
    config.spec.log_level = Some("LOUD".into());
    record(accept_gslb_config(&config, FRESH_UUID).expect_err("bad level"));
    config.spec.log_level = None;
    config
        .metadata
        .annotations
        .get_or_insert_default()
        .insert("amko.vmware.com/amko-uuid".into(), "x".into());
    record(accept_gslb_config(&config, FRESH_UUID).expect_err("bad uuid"));
    for (problem, _) in operator_only_problems() {
        seen.insert(variant(&problem));
    }
    let all = [
        "WrongNamespace",
        "GdpAlreadyExists",
        "GslbConfigAlreadyExists",
        "FqdnAlreadyClaimed",
        "InvalidLogLevel",
        "InvalidUuid",
        "EmptyField",
        "LabelKeyMissing",
        "LabelValueMissing",
        "MatchClusterUnknown",
        "DuplicateCluster",
        "TrafficSplitClusterUnknown",
        "HostRuleSplitTargetUnknown",
        "WeightOutOfRange",
        "PriorityOutOfRange",
        "TtlOutOfRange",
        "HealthMonitorRefsAndTemplate",
        "HealthMonitorRefEmpty",
        "HealthMonitorRefsTooMany",
        "HealthMonitorRefNotFound",
        "HealthMonitorRefNotFederated",
        "HealthMonitorTemplateNotFound",
        "HealthMonitorTemplateNotFederated",
        "HealthMonitorTemplateType",
        "HealthMonitorTemplateRequest",
        "EmptyReference",
        "PersistenceProfileNotFound",
        "PersistenceProfileUnusable",
        "PkiProfileNotFound",
        "FqdnMissing",
        "ThirdPartyVipInvalid",
        "ThirdPartyPublicIpInvalid",
        "ThirdPartySiteUnknown",
        "PublicIpClusterUnknown",
        "PublicIpInvalid",
        "PoolAlgorithm::Unsupported",
        "PoolAlgorithm::GeoFallbackNotAllowed",
        "PoolAlgorithm::HashMaskNotAllowed",
        "PoolAlgorithm::HashMaskRequired",
        "PoolAlgorithm::HashMaskOutOfRange",
        "PoolAlgorithm::GeoFallbackRequired",
        "PoolAlgorithm::UnsupportedFallback",
        "PoolAlgorithm::FallbackHashMaskNotAllowed",
        "PoolAlgorithm::FallbackHashMaskRequired",
        "DownResponse::UnsupportedType",
        "DownResponse::FallbackIpRequired",
        "DownResponse::FallbackIpInvalid",
        "DownResponse::FallbackIpNotAllowed",
    ];
    let missing: Vec<_> = all.iter().filter(|name| !seen.contains(*name)).collect();
    assert!(missing.is_empty(), "no test case produces {missing:?}");
}

#[test]
fn label_selectors_use_and_semantics() {
    let policy = accept_gdp(&gdp(), &instance(), &controller()).expect("accepted");
    let selector = policy.app_selector.expect("app selector");
    let both = BTreeMap::from([
        ("gslb".to_string(), "true".to_string()),
        ("tier".to_string(), "web".to_string()),
        ("extra".to_string(), "x".to_string()),
    ]);
    let one = BTreeMap::from([("gslb".to_string(), "true".to_string())]);
    assert!(selector.matches(&both.into()));
    assert!(!selector.matches(&one.into()));
}
