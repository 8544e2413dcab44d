//! Planning controller writes: given the desired state of one GslbService and what the controller
//! holds, the ordered writes that converge it, and nothing when it is already in sync. Ownership
//! is enforced here: an object whose `created_by` (GslbService) or `created-by` marker (health
//! monitor) is not this instance's is never updated or deleted; a name clash with one is reported.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::build::DesiredGs;
use super::compare::{in_sync, ref_identity};
use super::health::{CREATED_BY_MARKER, MANAGED_HM_PREFIX};
use crate::vocab::GsKey;

/// An object as the controller returned it. The body is kept as compact JSON text (a parsed
/// `Value` of a GslbService is several times larger, and 20,000 of them dominated the operator's
/// memory); it is parsed when a plan or the debug endpoint reads it. The two fields that scans
/// over the whole cache read are extracted once, so those scans parse nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct ControllerObject {
    pub uuid: String,
    pub name: String,
    pub tenant: String,
    body: Box<str>,
    monitor_refs: Box<[String]>,
    made_for: Option<Box<str>>,
}

impl ControllerObject {
    /// Builds from a controller answer; `None` when uuid or name is missing.
    pub fn from_body(tenant: &str, body: Value) -> Option<Self> {
        Some(ControllerObject {
            uuid: body.get("uuid")?.as_str()?.to_owned(),
            name: body.get("name")?.as_str()?.to_owned(),
            tenant: tenant.to_owned(),
            monitor_refs: referenced_monitors(&body).into_boxed_slice(),
            made_for: monitor_gs_name(&body).map(Into::into),
            // `serde_json::to_string` writes into a buffer directly; `Value`'s `Display` goes
            // through a formatter per token, and this runs once per controller write.
            body: serde_json::to_string(&body).ok()?.into_boxed_str(),
        })
    }

    /// The body as the controller returned it.
    pub fn body(&self) -> Value {
        // The text was written by `Value`'s own serializer, so it always parses.
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Names of the health monitors this object (a GslbService) references.
    pub fn monitor_refs(&self) -> &[String] {
        &self.monitor_refs
    }

    /// The GslbService a managed monitor was made for (see [`monitor_gs_name`]).
    pub fn made_for(&self) -> Option<&str> {
        self.made_for.as_deref()
    }
}

/// What the controller holds of the two object types amko-rs writes, keyed by (tenant, name),
/// with two indexes kept in step with them: which managed monitors were made for a GslbService
/// and which GslbServices reference a monitor. Planning one GslbService asks both questions; a
/// scan over every cached object for each plan made a cold start of 40,000 GslbServices
/// quadratic (each plan slower as the cache filled).
#[derive(Clone, Debug, Default)]
pub struct ControllerState {
    gslb_services: BTreeMap<(String, String), ControllerObject>,
    health_monitors: BTreeMap<(String, String), ControllerObject>,
    /// (tenant, GslbService name) -> names of the monitors made for it.
    made_for: BTreeMap<(String, String), BTreeSet<String>>,
    /// (tenant, monitor name) -> names of the GslbServices referencing it.
    users: BTreeMap<(String, String), BTreeSet<String>>,
}

impl ControllerState {
    /// The cached GslbServices by (tenant, name).
    pub fn gslb_services(&self) -> &BTreeMap<(String, String), ControllerObject> {
        &self.gslb_services
    }

    /// The cached health monitors by (tenant, name).
    pub fn health_monitors(&self) -> &BTreeMap<(String, String), ControllerObject> {
        &self.health_monitors
    }

    /// Adds or replaces a GslbService (keyed by its tenant and name).
    pub fn insert_gslb_service(&mut self, object: ControllerObject) {
        let key = (object.tenant.clone(), object.name.clone());
        self.remove_gslb_service(&key.0, &key.1);
        for monitor in object.monitor_refs() {
            self.users
                .entry((key.0.clone(), monitor.clone()))
                .or_default()
                .insert(key.1.clone());
        }
        self.gslb_services.insert(key, object);
    }

    pub fn remove_gslb_service(&mut self, tenant: &str, name: &str) -> Option<ControllerObject> {
        let key = (tenant.to_owned(), name.to_owned());
        let old = self.gslb_services.remove(&key)?;
        for monitor in old.monitor_refs() {
            let index = (key.0.clone(), monitor.clone());
            if let Some(users) = self.users.get_mut(&index) {
                users.remove(name);
                if users.is_empty() {
                    self.users.remove(&index);
                }
            }
        }
        Some(old)
    }

    /// Adds or replaces a health monitor (keyed by its tenant and name).
    pub fn insert_health_monitor(&mut self, object: ControllerObject) {
        let key = (object.tenant.clone(), object.name.clone());
        self.remove_health_monitor(&key.0, &key.1);
        if let Some(gs) = object.made_for() {
            self.made_for
                .entry((key.0.clone(), gs.to_owned()))
                .or_default()
                .insert(key.1.clone());
        }
        self.health_monitors.insert(key, object);
    }

    pub fn remove_health_monitor(&mut self, tenant: &str, name: &str) -> Option<ControllerObject> {
        let key = (tenant.to_owned(), name.to_owned());
        let old = self.health_monitors.remove(&key)?;
        if let Some(gs) = old.made_for() {
            let index = (key.0.clone(), gs.to_owned());
            if let Some(monitors) = self.made_for.get_mut(&index) {
                monitors.remove(name);
                if monitors.is_empty() {
                    self.made_for.remove(&index);
                }
            }
        }
        Some(old)
    }

    /// The (tenant, name) of the cached GslbServices named `name`, in every tenant: one look-up
    /// per tenant, not a scan of the cache.
    pub fn gslb_services_named(&self, name: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut next = self.gslb_services.keys().next();
        while let Some((tenant, _)) = next {
            let key = (tenant.clone(), name.to_owned());
            if self.gslb_services.contains_key(&key) {
                found.push(key);
            }
            // The smallest tenant after this one: `tenant` followed by NUL.
            let after = (format!("{tenant}\0"), String::new());
            next = self.gslb_services.range(after..).next().map(|(k, _)| k);
        }
        found
    }

    /// Names of the cached monitors made for the GslbService `tenant/gs` (see [`monitor_gs_name`]).
    pub fn monitors_made_for(&self, tenant: &str, gs: &str) -> impl Iterator<Item = &str> {
        self.made_for
            .get(&(tenant.to_owned(), gs.to_owned()))
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Names of the cached GslbServices of `tenant` that reference the monitor `monitor`.
    pub fn monitor_users(&self, tenant: &str, monitor: &str) -> impl Iterator<Item = &str> {
        self.users
            .get(&(tenant.to_owned(), monitor.to_owned()))
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
}

/// One controller write.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    CreateHealthMonitor {
        tenant: String,
        body: Value,
    },
    UpdateHealthMonitor {
        tenant: String,
        uuid: String,
        body: Value,
    },
    DeleteHealthMonitor {
        tenant: String,
        uuid: String,
        name: String,
    },
    CreateGslbService {
        tenant: String,
        body: Value,
    },
    UpdateGslbService {
        tenant: String,
        uuid: String,
        body: Value,
    },
    DeleteGslbService {
        tenant: String,
        uuid: String,
        name: String,
    },
}

/// The kind of a [`Write`], the label of the `avi_writes` metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WriteKind {
    CreateHealthMonitor,
    UpdateHealthMonitor,
    DeleteHealthMonitor,
    CreateGslbService,
    UpdateGslbService,
    DeleteGslbService,
}

/// What a write that no observation asked for (one of the periodic refresh) repaired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repair {
    /// An object someone changed on the controller was put back.
    Drift,
    /// An owned object nothing wants any more was deleted.
    Orphan,
}

impl WriteKind {
    pub fn label(self) -> &'static str {
        match self {
            WriteKind::CreateHealthMonitor => "create_healthmonitor",
            WriteKind::UpdateHealthMonitor => "update_healthmonitor",
            WriteKind::DeleteHealthMonitor => "delete_healthmonitor",
            WriteKind::CreateGslbService => "create_gslbservice",
            WriteKind::UpdateGslbService => "update_gslbservice",
            WriteKind::DeleteGslbService => "delete_gslbservice",
        }
    }

    /// What this write repaired when the refresh, not an observation, caused it (`by_refresh`):
    /// updates undo drift, deletes remove orphans, creates count as neither.
    pub fn repair(self, by_refresh: bool) -> Option<Repair> {
        match self {
            _ if !by_refresh => None,
            WriteKind::UpdateHealthMonitor | WriteKind::UpdateGslbService => Some(Repair::Drift),
            WriteKind::DeleteHealthMonitor | WriteKind::DeleteGslbService => Some(Repair::Orphan),
            WriteKind::CreateHealthMonitor | WriteKind::CreateGslbService => None,
        }
    }
}

impl Write {
    pub fn kind(&self) -> WriteKind {
        match self {
            Write::CreateHealthMonitor { .. } => WriteKind::CreateHealthMonitor,
            Write::UpdateHealthMonitor { .. } => WriteKind::UpdateHealthMonitor,
            Write::DeleteHealthMonitor { .. } => WriteKind::DeleteHealthMonitor,
            Write::CreateGslbService { .. } => WriteKind::CreateGslbService,
            Write::UpdateGslbService { .. } => WriteKind::UpdateGslbService,
            Write::DeleteGslbService { .. } => WriteKind::DeleteGslbService,
        }
    }

    /// Short description for logs, audit and `amko plan` output.
    pub fn describe(&self) -> String {
        match self {
            Write::CreateHealthMonitor { tenant, body } => {
                format!("create healthmonitor {tenant}/{}", name_of(body))
            }
            Write::UpdateHealthMonitor { tenant, body, .. } => {
                format!("update healthmonitor {tenant}/{}", name_of(body))
            }
            Write::DeleteHealthMonitor { tenant, name, .. } => {
                format!("delete healthmonitor {tenant}/{name}")
            }
            Write::CreateGslbService { tenant, body } => {
                format!("create gslbservice {tenant}/{}", name_of(body))
            }
            Write::UpdateGslbService { tenant, body, .. } => {
                format!("update gslbservice {tenant}/{}", name_of(body))
            }
            Write::DeleteGslbService { tenant, name, .. } => {
                format!("delete gslbservice {tenant}/{name}")
            }
        }
    }
}

fn name_of(body: &Value) -> &str {
    body.get("name").and_then(Value::as_str).unwrap_or("?")
}

/// The writes for one GslbService plus the problems that block some of them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub writes: Vec<Write>,
    /// Objects in the way that this instance does not own (never touched).
    pub conflicts: Vec<String>,
}

impl Plan {
    /// The conflicts as one status problem, when there are any.
    pub fn conflict_problem(&self) -> Option<String> {
        (!self.conflicts.is_empty()).then(|| self.conflicts.join("; "))
    }
}

/// True when the GslbService body says this instance created it.
pub fn gs_is_owned(body: &Value, created_by: &str) -> bool {
    body.get("created_by").and_then(Value::as_str) == Some(created_by)
}

/// True when the health monitor carries this instance's `created-by` marker.
pub fn hm_is_owned(body: &Value, created_by: &str) -> bool {
    body.get("markers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|m| {
            m.get("key").and_then(Value::as_str) == Some(CREATED_BY_MARKER)
                && m.get("values")
                    .and_then(Value::as_array)
                    .is_some_and(|v| v.iter().any(|x| x.as_str() == Some(created_by)))
        })
}

/// Names of the health monitors a controller GslbService references.
pub fn referenced_monitors(gs_body: &Value) -> Vec<String> {
    gs_body
        .get("health_monitor_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|r| ref_identity(r).1)
        .collect()
}

/// Plans the writes that make the controller hold `desired` for `key` (`None`: the GslbService
/// must go). `hm_used_elsewhere(tenant, name)` tells whether another GslbService still needs a
/// monitor, so shared monitors are deleted only after their last user.
pub fn plan_gslb_service(
    key: &GsKey,
    desired: Option<&DesiredGs>,
    state: &ControllerState,
    created_by: &str,
    hm_used_elsewhere: &dyn Fn(&str, &str) -> bool,
) -> Plan {
    let mut plan = Plan::default();
    let tenant = &key.tenant;
    let existing = state
        .gslb_services
        .get(&(key.tenant.clone(), key.fqdn.clone()));
    let existing_body = existing.map(ControllerObject::body);
    if let Some(body) = &existing_body
        && !gs_is_owned(body, created_by)
    {
        plan.conflicts.push(format!(
            "gslbservice {}/{} exists with created_by {:?}, which is not this instance ({created_by}); it is left alone",
            key.tenant,
            key.fqdn,
            body.get("created_by").and_then(Value::as_str).unwrap_or("")
        ));
        return plan;
    }
    let previously_referenced: Vec<String> = existing
        .map(|gs| gs.monitor_refs().to_vec())
        .unwrap_or_default();

    let Some(desired) = desired else {
        if let Some(gs) = existing {
            plan.writes.push(Write::DeleteGslbService {
                tenant: tenant.clone(),
                uuid: gs.uuid.clone(),
                name: gs.name.clone(),
            });
        }
        let stale = with_stale_monitors(state, key, previously_referenced);
        delete_unused_monitors(
            &mut plan,
            state,
            tenant,
            &stale,
            &[],
            created_by,
            hm_used_elsewhere,
        );
        return plan;
    };

    // Monitors first: the GslbService may only reference monitors that exist.
    for hm in &desired.health_monitors {
        let body = serde_json::to_value(hm).unwrap_or(Value::Null);
        let current = state
            .health_monitors
            .get(&(tenant.clone(), hm.name.clone()));
        match current.map(|c| (c, c.body())) {
            None => plan.writes.push(Write::CreateHealthMonitor { tenant: tenant.clone(), body }),
            Some((_, current_body)) if !hm_is_owned(&current_body, created_by) => plan.conflicts.push(format!(
                "healthmonitor {tenant}/{} exists without this instance's created-by marker; it is left alone",
                hm.name
            )),
            Some((current, current_body)) if !in_sync(&body, &current_body) => plan.writes.push(Write::UpdateHealthMonitor {
                tenant: tenant.clone(),
                uuid: current.uuid.clone(),
                body,
            }),
            Some(_) => {}
        }
    }
    if !plan.conflicts.is_empty() {
        // Writing the GslbService would reference monitors we do not control.
        return plan;
    }
    let body = serde_json::to_value(&desired.gslb_service).unwrap_or(Value::Null);
    match existing.zip(existing_body.as_ref()) {
        None => plan.writes.push(Write::CreateGslbService {
            tenant: tenant.clone(),
            body,
        }),
        Some((current, current_body)) if !in_sync(&body, current_body) => {
            plan.writes.push(Write::UpdateGslbService {
                tenant: tenant.clone(),
                uuid: current.uuid.clone(),
                body,
            })
        }
        Some(_) => {}
    }
    let still_needed: Vec<String> = desired
        .health_monitors
        .iter()
        .map(|h| h.name.clone())
        .collect();
    let stale = with_stale_monitors(state, key, previously_referenced);
    delete_unused_monitors(
        &mut plan,
        state,
        tenant,
        &stale,
        &still_needed,
        created_by,
        hm_used_elsewhere,
    );
    plan
}

/// The GslbService a managed monitor was made for, from its description
/// (`created by: amko, gsname: <gs>[, path: ...]`); `None` for the shared passthrough monitor.
pub fn monitor_gs_name(hm_body: &Value) -> Option<&str> {
    let rest = hm_body
        .get("description")
        .and_then(Value::as_str)?
        .strip_prefix("created by: amko, gsname: ")?;
    Some(rest.split(", ").next().unwrap_or(rest))
}

/// `referenced` plus the managed monitors on the controller that were made for this GslbService
/// but that it does not reference: left behind when the controller refused the GslbService after
/// they were created, or by an interrupted run. Only owned ones are deleted (see below).
fn with_stale_monitors(
    state: &ControllerState,
    key: &GsKey,
    mut referenced: Vec<String>,
) -> Vec<String> {
    for name in state.monitors_made_for(&key.tenant, &key.fqdn) {
        if name.starts_with(MANAGED_HM_PREFIX) && !referenced.iter().any(|r| r == name) {
            referenced.push(name.to_owned());
        }
    }
    referenced
}

/// Deletes monitors this GslbService referenced and no longer needs, when we own them, they are
/// managed (`amko--…`) and no other GslbService uses them.
fn delete_unused_monitors(
    plan: &mut Plan,
    state: &ControllerState,
    tenant: &str,
    previously_referenced: &[String],
    still_needed: &[String],
    created_by: &str,
    hm_used_elsewhere: &dyn Fn(&str, &str) -> bool,
) {
    for name in previously_referenced {
        if still_needed.contains(name)
            || !name.starts_with(MANAGED_HM_PREFIX)
            || hm_used_elsewhere(tenant, name)
        {
            continue;
        }
        if let Some(hm) = state
            .health_monitors
            .get(&(tenant.to_owned(), name.clone()))
            && hm_is_owned(&hm.body(), created_by)
        {
            plan.writes.push(Write::DeleteHealthMonitor {
                tenant: tenant.to_owned(),
                uuid: hm.uuid.clone(),
                name: name.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::payload::ref_by_name;
    use serde_json::json;

    const ME: &str = "amko-me";

    fn desired(hms: &[&str]) -> DesiredGs {
        let gs: super::super::payload::GslbServicePayload = serde_json::from_value(json!({
            "name": "a.example.com", "tenant_ref": "/api/tenant?name=admin", "created_by": ME,
            "description": "", "domain_names": ["a.example.com"], "enabled": true, "is_federated": true,
            "controller_health_status_enabled": true, "health_monitor_scope": "GSLB_SERVICE_HEALTH_MONITOR_ALL_MEMBERS",
            "min_members": 0, "pool_algorithm": "GSLB_SERVICE_ALGORITHM_PRIORITY", "resolve_cname": false,
            "use_edns_client_subnet": true, "wildcard_match": false, "site_persistence_enabled": false,
            "health_monitor_refs": hms.iter().map(|h| ref_by_name("healthmonitor", h)).collect::<Vec<_>>(),
            "groups": []
        }))
        .expect("payload");
        let health_monitors = hms
            .iter()
            .map(|h| {
                serde_json::from_value(json!({
                    "name": h, "type": "HEALTH_MONITOR_TCP", "tenant_ref": "/api/tenant?name=admin",
                    "description": "created by: amko", "is_federated": true, "allow_duplicate_monitors": true,
                    "send_interval": 10, "receive_timeout": 4, "successful_checks": 3, "failed_checks": 3,
                    "monitor_port": 80, "markers": [{"key": "created-by", "values": [ME]}],
                    "tcp_monitor": {"tcp_half_open": false}
                }))
                .expect("hm")
            })
            .collect();
        DesiredGs {
            key: key(),
            gslb_service: gs,
            health_monitors,
        }
    }

    #[test]
    fn write_kinds_label_metrics_and_name_repairs() {
        use WriteKind::*;
        let cases = [
            (CreateHealthMonitor, "create_healthmonitor", None),
            (
                UpdateHealthMonitor,
                "update_healthmonitor",
                Some(Repair::Drift),
            ),
            (
                DeleteHealthMonitor,
                "delete_healthmonitor",
                Some(Repair::Orphan),
            ),
            (CreateGslbService, "create_gslbservice", None),
            (UpdateGslbService, "update_gslbservice", Some(Repair::Drift)),
            (
                DeleteGslbService,
                "delete_gslbservice",
                Some(Repair::Orphan),
            ),
        ];
        for (kind, label, by_refresh) in cases {
            assert_eq!(kind.label(), label);
            assert_eq!(kind.repair(true), by_refresh, "{label}");
            assert_eq!(
                kind.repair(false),
                None,
                "{label}: an observation caused it"
            );
        }
        let tenant = "admin".to_owned();
        let writes = [
            Write::CreateHealthMonitor {
                tenant: tenant.clone(),
                body: json!({}),
            },
            Write::DeleteGslbService {
                tenant,
                uuid: "u".into(),
                name: "n".into(),
            },
        ];
        assert_eq!(
            writes.map(|w| w.kind()),
            [CreateHealthMonitor, DeleteGslbService]
        );
    }

    fn key() -> GsKey {
        GsKey {
            tenant: "admin".into(),
            fqdn: "a.example.com".into(),
        }
    }

    fn echo(body: Value, uuid: &str) -> ControllerObject {
        let mut body = body;
        body["uuid"] = json!(uuid);
        ControllerObject::from_body("admin", body).expect("object")
    }

    fn state_with(d: &DesiredGs) -> ControllerState {
        let mut state = ControllerState::default();
        let gs = serde_json::to_value(&d.gslb_service).expect("json");
        state.insert_gslb_service(echo(gs, "gs-1"));
        for (i, hm) in d.health_monitors.iter().enumerate() {
            let body = serde_json::to_value(hm).expect("json");
            state.insert_health_monitor(echo(body, &format!("hm-{i}")));
        }
        state
    }

    fn kinds(plan: &Plan) -> Vec<String> {
        plan.writes.iter().map(Write::describe).collect()
    }

    #[test]
    fn create_monitors_before_the_service() {
        let d = desired(&["amko--h1", "amko--h2"]);
        let plan = plan_gslb_service(
            &key(),
            Some(&d),
            &ControllerState::default(),
            ME,
            &|_, _| false,
        );
        assert_eq!(
            kinds(&plan),
            vec![
                "create healthmonitor admin/amko--h1",
                "create healthmonitor admin/amko--h2",
                "create gslbservice admin/a.example.com"
            ]
        );
    }

    #[test]
    fn in_sync_means_no_writes() {
        let d = desired(&["amko--h1"]);
        let plan = plan_gslb_service(&key(), Some(&d), &state_with(&d), ME, &|_, _| false);
        assert_eq!(plan, Plan::default());
    }

    #[test]
    fn changed_monitors_update_service_then_delete_old_monitor() {
        let old = desired(&["amko--h1"]);
        let new = desired(&["amko--h2"]);
        let plan = plan_gslb_service(&key(), Some(&new), &state_with(&old), ME, &|_, _| false);
        assert_eq!(
            kinds(&plan),
            vec![
                "create healthmonitor admin/amko--h2",
                "update gslbservice admin/a.example.com",
                "delete healthmonitor admin/amko--h1"
            ]
        );
        let shared = plan_gslb_service(&key(), Some(&new), &state_with(&old), ME, &|_, name| {
            name == "amko--h1"
        });
        assert!(
            !kinds(&shared).iter().any(|k| k.starts_with("delete")),
            "a monitor another GS uses stays"
        );
    }

    #[test]
    fn delete_service_and_its_monitors() {
        let old = desired(&["amko--h1", "user-hm"]);
        let mut state = state_with(&old);
        // A user monitor the GS referenced is never deleted, even if it carries no marker.
        let hm = state
            .health_monitors
            .get_mut(&("admin".into(), "user-hm".into()))
            .expect("hm");
        let mut body = hm.body();
        body["markers"] = json!([]);
        *hm = ControllerObject::from_body("admin", body).expect("hm");
        let plan = plan_gslb_service(&key(), None, &state, ME, &|_, _| false);
        assert_eq!(
            kinds(&plan),
            vec![
                "delete gslbservice admin/a.example.com",
                "delete healthmonitor admin/amko--h1"
            ]
        );
    }

    #[test]
    fn monitors_left_without_their_gslb_service_are_deleted() {
        let mut state = ControllerState::default();
        for (name, description, owner) in [
            (
                "amko--left",
                "created by: amko, gsname: a.example.com, path: /, protocol: http",
                ME,
            ),
            (
                "amko--other-gs",
                "created by: amko, gsname: b.example.com",
                ME,
            ),
            (
                "amko--foreign",
                "created by: amko, gsname: a.example.com",
                "amko-someone-else",
            ),
        ] {
            let body = json!({"name": name, "description": description,
                              "markers": [{"key": "created-by", "values": [owner]}]});
            state.insert_health_monitor(echo(body, name));
        }
        let gone = plan_gslb_service(&key(), None, &state, ME, &|_, _| false);
        assert_eq!(kinds(&gone), vec!["delete healthmonitor admin/amko--left"]);

        let d = desired(&["amko--h1"]);
        let plan = plan_gslb_service(&key(), Some(&d), &state, ME, &|_, _| false);
        assert_eq!(
            kinds(&plan),
            vec![
                "create healthmonitor admin/amko--h1",
                "create gslbservice admin/a.example.com",
                "delete healthmonitor admin/amko--left"
            ]
        );
        assert_eq!(
            monitor_gs_name(&json!({"description": "created by: amko, gsname: a.example.com"})),
            Some("a.example.com")
        );
        assert_eq!(
            monitor_gs_name(&json!({"description": "created by: amko"})),
            None
        );
    }

    #[test]
    fn objects_of_others_are_never_touched() {
        let d = desired(&["amko--h1"]);
        let mut state = state_with(&d);
        let gs = state
            .gslb_services
            .get_mut(&("admin".into(), "a.example.com".into()))
            .expect("gs");
        let mut body = gs.body();
        body["created_by"] = json!("amko-someone-else");
        *gs = ControllerObject::from_body("admin", body).expect("gs");
        let plan = plan_gslb_service(&key(), None, &state, ME, &|_, _| false);
        assert!(plan.writes.is_empty());
        assert!(
            plan.conflicts[0].contains("not this instance"),
            "{:?}",
            plan.conflicts
        );

        let mut state = ControllerState::default();
        let mut hm = serde_json::to_value(&d.health_monitors[0]).expect("json");
        hm["markers"] = json!([{"key": "created-by", "values": ["amko-someone-else"]}]);
        state.insert_health_monitor(echo(hm, "hm-x"));
        let plan = plan_gslb_service(&key(), Some(&d), &state, ME, &|_, _| false);
        assert!(
            plan.writes.is_empty(),
            "no GS may reference a monitor we do not own"
        );
        assert_eq!(plan.conflicts.len(), 1);
    }

    #[test]
    fn the_cache_indexes_follow_replacements_and_removals() {
        let gs = |name: &str, monitors: &[&str]| {
            let refs: Vec<String> = monitors
                .iter()
                .map(|m| format!("/api/healthmonitor/hm-{m}#{m}"))
                .collect();
            echo(json!({"name": name, "health_monitor_refs": refs}), name)
        };
        let hm = |name: &str, made_for: &str| {
            let description = format!("created by: amko, gsname: {made_for}");
            echo(json!({"name": name, "description": description}), name)
        };
        let users = |state: &ControllerState, m: &str| -> Vec<String> {
            state.monitor_users("admin", m).map(str::to_owned).collect()
        };
        let made_for = |state: &ControllerState, g: &str| -> Vec<String> {
            state
                .monitors_made_for("admin", g)
                .map(str::to_owned)
                .collect()
        };
        let mut state = ControllerState::default();
        state.insert_gslb_service(gs("a", &["amko--1", "amko--2"]));
        state.insert_gslb_service(gs("b", &["amko--2"]));
        state.insert_health_monitor(hm("amko--1", "a"));
        state.insert_health_monitor(hm("amko--2", "a"));
        assert_eq!(users(&state, "amko--2"), ["a", "b"]);
        let mut other = gs("a", &[]);
        other.tenant = "admin0".into();
        state.insert_gslb_service(other);
        assert_eq!(
            state.gslb_services_named("a"),
            [("admin".into(), "a".into()), ("admin0".into(), "a".into())]
        );
        assert!(state.remove_gslb_service("admin0", "a").is_some());
        assert_eq!(made_for(&state, "a"), ["amko--1", "amko--2"]);

        // A replacement drops what the old copy referenced.
        state.insert_gslb_service(gs("a", &["amko--1"]));
        state.insert_health_monitor(hm("amko--2", "b"));
        assert_eq!(users(&state, "amko--1"), ["a"]);
        assert_eq!(users(&state, "amko--2"), ["b"]);
        assert_eq!(made_for(&state, "a"), ["amko--1"]);
        assert_eq!(made_for(&state, "b"), ["amko--2"]);

        // Removals leave nothing behind.
        assert!(state.remove_gslb_service("admin", "b").is_some());
        assert!(state.remove_health_monitor("admin", "amko--2").is_some());
        assert!(state.remove_gslb_service("admin", "b").is_none());
        assert!(users(&state, "amko--2").is_empty());
        assert!(made_for(&state, "b").is_empty());
        assert_eq!(state.users.len(), 1);
        assert_eq!(state.made_for.len(), 1);
    }
}
