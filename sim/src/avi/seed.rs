//! What a fresh controller holds (the admin tenant, Default-Cloud, the cluster, the GSLB
//! configuration, the `System-*` health monitors and persistence profiles) plus the optional
//! JSON seed file with extra tenants and fixtures. Seeds go through the normal write path, so
//! they are validated and their references resolved like any POST.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::controller::{Controller, Origin};
use super::error::AviSimError;
use super::store::{ADMIN_TENANT, TenantView};
use super::types::ObjType;

/// The seed file: `{"tenants": [...], "objects": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeedFile {
    /// Tenant bodies (at least `name`), or plain names.
    #[serde(default)]
    pub tenants: Vec<SeedTenant>,
    /// Objects created in order, after the tenants.
    #[serde(default)]
    pub objects: Vec<SeedObject>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SeedTenant {
    Name(String),
    Body(Value),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedObject {
    /// Object type path, e.g. `healthmonitor`.
    #[serde(rename = "type")]
    pub obj_type: String,
    /// Tenant name; default admin.
    #[serde(default)]
    pub tenant: Option<String>,
    pub body: Value,
}

impl SeedFile {
    pub fn from_path(path: &Path) -> Result<SeedFile, AviSimError> {
        let text = std::fs::read_to_string(path).map_err(|source| AviSimError::SeedRead {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| AviSimError::SeedParse {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Identity of the simulated GSLB federation.
#[derive(Clone, Debug)]
pub struct SeedIdentity {
    pub controller_address: String,
    pub username: String,
    pub dns_domains: Vec<String>,
}

fn system(ctrl: &Controller, obj_type: ObjType, body: Value) -> Result<(), AviSimError> {
    let what = format!(
        "{} {}",
        obj_type.path(),
        body.get("name").and_then(Value::as_str).unwrap_or("?")
    );
    ctrl.create(
        obj_type,
        body,
        &TenantView::One(ADMIN_TENANT.into()),
        None,
        Origin::Seed { system: true },
    )
    .map(|_| ())
    .map_err(|e| AviSimError::SeedObject {
        what,
        reason: e.to_string(),
    })
}

/// The objects every fresh controller has.
pub fn seed_system(ctrl: &Controller, identity: &SeedIdentity) -> Result<(), AviSimError> {
    system(
        ctrl,
        ObjType::Tenant,
        json!({"uuid": ADMIN_TENANT, "name": "admin", "local": true, "description": "Default tenant"}),
    )?;
    system(
        ctrl,
        ObjType::Cloud,
        json!({"name": "Default-Cloud", "vtype": "CLOUD_NONE"}),
    )?;
    system(
        ctrl,
        ObjType::Cluster,
        json!({
            "name": "cluster-0-1",
            "nodes": [{"name": "node-1", "ip": {"addr": "127.0.0.1", "type": "V4"}}],
            "rejoin_nodes_automatically": true,
            "tenant_uuid": ADMIN_TENANT,
        }),
    )?;

    let follower_cluster = format!("cluster-{}", super::ids::uuid4());
    let dns_configs: Vec<Value> = identity
        .dns_domains
        .iter()
        .map(|d| json!({"domain_name": d}))
        .collect();
    system(
        ctrl,
        ObjType::Gslb,
        json!({
            "name": "Default",
            "leader_cluster_uuid": ctrl.cluster_uuid(),
            "dns_configs": dns_configs,
            "sites": [
                {
                    "name": "site-leader",
                    "cluster_uuid": ctrl.cluster_uuid(),
                    "member_type": "GSLB_ACTIVE_MEMBER",
                    "address": identity.controller_address,
                    "ip_addresses": [{"addr": "127.0.0.1", "type": "V4"}],
                    "username": identity.username,
                    "password": super::ids::token(),
                    "enabled": true,
                },
                {
                    "name": "site-follower",
                    "cluster_uuid": follower_cluster,
                    "member_type": "GSLB_ACTIVE_MEMBER",
                    "address": "127.0.0.2",
                    "ip_addresses": [{"addr": "127.0.0.2", "type": "V4"}],
                    "username": identity.username,
                    "password": super::ids::token(),
                    "enabled": true,
                }
            ],
        }),
    )?;

    for hm in system_health_monitors() {
        system(ctrl, ObjType::HealthMonitor, hm)?;
    }
    for (name, kind) in [
        (
            "System-Persistence-Client-IP",
            "PERSISTENCE_TYPE_CLIENT_IP_ADDRESS",
        ),
        (
            "System-Persistence-Http-Cookie",
            "PERSISTENCE_TYPE_HTTP_COOKIE",
        ),
        (
            "System-Persistence-Custom-Http-Header",
            "PERSISTENCE_TYPE_CUSTOM_HTTP_HEADER",
        ),
        (
            "System-Persistence-App-Cookie",
            "PERSISTENCE_TYPE_APP_COOKIE",
        ),
        ("System-Persistence-TLS", "PERSISTENCE_TYPE_TLS"),
    ] {
        let mut body = json!({"name": name, "persistence_type": kind, "is_federated": false});
        match kind {
            "PERSISTENCE_TYPE_HTTP_COOKIE" => {
                body["http_cookie_persistence_profile"] =
                    json!({"cookie_name": "AVI-PERSIST", "always_send_cookie": false});
            }
            "PERSISTENCE_TYPE_CUSTOM_HTTP_HEADER" => {
                body["hdr_persistence_profile"] = json!({"prst_hdr_name": "X-Persist"});
            }
            "PERSISTENCE_TYPE_APP_COOKIE" => {
                body["app_cookie_persistence_profile"] =
                    json!({"prst_hdr_name": "JSESSIONID", "timeout": 20});
            }
            _ => {}
        }
        system(ctrl, ObjType::ApplicationPersistenceProfile, body)?;
    }
    Ok(())
}

fn system_health_monitors() -> Vec<Value> {
    vec![
        json!({"name": "System-Ping", "type": "HEALTH_MONITOR_PING"}),
        json!({"name": "System-TCP", "type": "HEALTH_MONITOR_TCP", "tcp_monitor": {"tcp_half_open": false}}),
        json!({"name": "System-HTTP", "type": "HEALTH_MONITOR_HTTP",
               "http_monitor": {"http_request": "HEAD / HTTP/1.0", "http_response_code": ["HTTP_2XX", "HTTP_3XX"]}}),
        json!({"name": "System-HTTPS", "type": "HEALTH_MONITOR_HTTPS",
               "https_monitor": {"http_request": "HEAD / HTTP/1.0", "http_response_code": ["HTTP_2XX", "HTTP_3XX"]}}),
        json!({"name": "System-UDP", "type": "HEALTH_MONITOR_UDP"}),
        json!({"name": "System-DNS", "type": "HEALTH_MONITOR_DNS", "dns_monitor": {"query_name": "www.google.com"}}),
        json!({"name": "System-Xternal-Perl", "type": "HEALTH_MONITOR_EXTERNAL",
               "external_monitor": {"command_code": "#!/usr/bin/perl\nexit 0;\n"}}),
        json!({"name": "System-Xternal-Shell", "type": "HEALTH_MONITOR_EXTERNAL",
               "external_monitor": {"command_code": "#!/bin/sh\nexit 0\n"}}),
        json!({"name": "System-Xternal-Python", "type": "HEALTH_MONITOR_EXTERNAL",
               "external_monitor": {"command_code": "#!/usr/bin/python3\nimport sys\nsys.exit(0)\n"}}),
        json!({"name": "System-PingAccessAgent", "type": "HEALTH_MONITOR_HTTP",
               "http_monitor": {"http_request": "GET /pa/heartbeat.ping HTTP/1.0", "http_response_code": ["HTTP_2XX"]}}),
        json!({"name": "System-GSLB-Ping", "type": "HEALTH_MONITOR_PING", "is_federated": true}),
        json!({"name": "System-GSLB-TCP", "type": "HEALTH_MONITOR_TCP", "is_federated": true,
               "monitor_port": 80, "tcp_monitor": {"tcp_half_open": false}}),
        json!({"name": "System-GSLB-HTTP", "type": "HEALTH_MONITOR_HTTP", "is_federated": true,
               "monitor_port": 80, "successful_checks": 3, "failed_checks": 3,
               "http_monitor": {"http_request": "HEAD / HTTP/1.0", "http_response_code": ["HTTP_2XX", "HTTP_3XX"]}}),
        json!({"name": "System-GSLB-HTTPS", "type": "HEALTH_MONITOR_HTTPS", "is_federated": true,
               "monitor_port": 443, "successful_checks": 3, "failed_checks": 3,
               "https_monitor": {"http_request": "HEAD / HTTP/1.0", "http_response_code": ["HTTP_2XX", "HTTP_3XX"]}}),
        json!({"name": "System-GSLB-UDP", "type": "HEALTH_MONITOR_UDP", "is_federated": true, "monitor_port": 443}),
    ]
}

/// Applies a seed file: tenants first, then objects in order.
pub fn apply_seed(ctrl: &Controller, seed: &SeedFile) -> Result<(), AviSimError> {
    for tenant in &seed.tenants {
        let body = match tenant {
            SeedTenant::Name(name) => json!({"name": name}),
            SeedTenant::Body(body) => body.clone(),
        };
        let what = format!("tenant {}", name_of(&body));
        let admin = TenantView::One(ADMIN_TENANT.into());
        create_seeded(ctrl, ObjType::Tenant, body, &admin, what)?;
    }
    for object in &seed.objects {
        let what = format!("{} {}", object.obj_type, name_of(&object.body));
        let obj_type =
            ObjType::from_path(&object.obj_type).ok_or_else(|| AviSimError::SeedObject {
                what: what.clone(),
                reason: format!("unknown object type '{}'", object.obj_type),
            })?;
        let view = ctrl
            .tenant_view(object.tenant.as_deref(), None)
            .map_err(|e| AviSimError::SeedObject {
                what: what.clone(),
                reason: e.to_string(),
            })?;
        create_seeded(ctrl, obj_type, object.body.clone(), &view, what)?;
    }
    Ok(())
}

/// The `name` of a seed object's body, `?` without one.
fn name_of(body: &Value) -> &str {
    body.get("name").and_then(Value::as_str).unwrap_or("?")
}

/// Creates one seeded (non-system) object; `what` names it in the error.
fn create_seeded(
    ctrl: &Controller,
    obj_type: ObjType,
    body: Value,
    view: &TenantView,
    what: String,
) -> Result<(), AviSimError> {
    ctrl.create(obj_type, body, view, None, Origin::Seed { system: false })
        .map(drop)
        .map_err(|e| AviSimError::SeedObject {
            what,
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded() -> Controller {
        let ctrl = Controller::new("cluster-test".into());
        seed_system(
            &ctrl,
            &SeedIdentity {
                controller_address: "127.0.0.1".into(),
                username: "admin".into(),
                dns_domains: vec![],
            },
        )
        .unwrap();
        ctrl
    }

    #[test]
    fn fresh_controller_has_system_objects() {
        let ctrl = seeded();
        assert!(ctrl.is_leader());
        assert!(!ctrl.in_maintenance());
        assert_eq!(ctrl.count(ObjType::HealthMonitor), 15);
        assert_eq!(ctrl.count(ObjType::ApplicationPersistenceProfile), 5);
        let store = ctrl.read();
        let gslb_hm = store
            .by_name(ObjType::HealthMonitor, ADMIN_TENANT, "System-GSLB-HTTP")
            .unwrap();
        assert_eq!(gslb_hm.body["is_federated"], true);
        assert!(gslb_hm.system);
    }

    #[test]
    fn seed_file_adds_tenants_and_fixtures() {
        let ctrl = seeded();
        let seed: SeedFile = serde_json::from_value(json!({
            "tenants": ["team-a", {"name": "team-b", "description": "B"}],
            "objects": [{"type": "healthmonitor", "tenant": "team-a",
                         "body": {"name": "hm-a", "type": "HEALTH_MONITOR_TCP", "is_federated": true}}]
        }))
        .unwrap();
        apply_seed(&ctrl, &seed).unwrap();
        let view = ctrl.tenant_view(Some("team-a"), None).unwrap();
        let TenantView::One(team_a) = view else {
            panic!("expected one tenant")
        };
        assert!(
            ctrl.read()
                .by_name(ObjType::HealthMonitor, &team_a, "hm-a")
                .is_some()
        );
        let path = std::env::temp_dir().join(format!("avisim-seed-{}.json", std::process::id()));
        std::fs::write(&path, r#"{"tenants": ["team-c"]}"#).unwrap();
        let from_file = SeedFile::from_path(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(from_file.tenants, vec![SeedTenant::Name("team-c".into())]);
        assert!(SeedFile::from_path(&path).is_err());
        let bad: SeedFile = serde_json::from_value(json!({
            "objects": [{"type": "pool", "body": {"name": "p"}}]
        }))
        .unwrap();
        assert!(apply_seed(&ctrl, &bad).is_err());
    }
}
