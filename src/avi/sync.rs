//! Reading what this instance owns on the controller, and carrying out planned writes with the
//! recoveries the API calls for: 409 on create (the object exists: adopt it if it is ours), 404 on
//! update (it vanished: create it), 412 (stale: re-read and write again).

use serde_json::Value;

use super::client::AviClient;
use super::error::{AviError, AviErrorKind};
use crate::model::compare::ref_identity;
use crate::model::plan::{ControllerObject, ControllerState, Write, gs_is_owned, hm_is_owned};

/// The two object types amko-rs writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectType {
    GslbService,
    HealthMonitor,
}

impl ObjectType {
    pub fn api_name(self) -> &'static str {
        match self {
            ObjectType::GslbService => "gslbservice",
            ObjectType::HealthMonitor => "healthmonitor",
        }
    }
}

/// How a successful write changes the cache.
#[derive(Clone, Debug, PartialEq)]
pub enum CacheChange {
    Upsert(ObjectType, ControllerObject),
    Remove(ObjectType, String, String),
}

impl CacheChange {
    pub fn apply(self, state: &mut ControllerState) {
        match self {
            CacheChange::Upsert(ObjectType::GslbService, object) => {
                state.insert_gslb_service(object);
            }
            CacheChange::Upsert(ObjectType::HealthMonitor, object) => {
                state.insert_health_monitor(object);
            }
            CacheChange::Remove(ObjectType::GslbService, tenant, name) => {
                state.remove_gslb_service(&tenant, &name);
            }
            CacheChange::Remove(ObjectType::HealthMonitor, tenant, name) => {
                state.remove_health_monitor(&tenant, &name);
            }
        }
    }
}

/// The tenant an object lives in, from its `tenant_ref` (`…/tenant/<uuid>#<name>`).
pub fn tenant_of(body: &Value, fallback: &str) -> String {
    body.get("tenant_ref")
        .and_then(Value::as_str)
        .map(|r| ref_identity(r).1)
        .filter(|t| !t.is_empty() && !t.starts_with("tenant-"))
        .unwrap_or_else(|| fallback.to_owned())
}

/// Every GslbService this instance owns and every managed (`amko--`) health monitor, in all tenants.
pub async fn load_state(
    client: &AviClient,
    created_by: &str,
    default_tenant: &str,
) -> Result<ControllerState, AviError> {
    let mut state = ControllerState::default();
    list_owned(client, created_by, default_tenant, |t, objects| {
        for object in objects {
            CacheChange::Upsert(t, object).apply(&mut state);
        }
    })
    .await?;
    Ok(state)
}

/// Lists what [`load_state`] reads, handing each page to `visit` as it arrives, compacted: only
/// one page is ever held as parsed JSON, and the caller decides where the objects go (the writer
/// merges them into its cache; a second cache of 80,000 objects cost ~270 MB).
pub async fn list_owned(
    client: &AviClient,
    created_by: &str,
    default_tenant: &str,
    mut visit: impl FnMut(ObjectType, Vec<ControllerObject>),
) -> Result<(), AviError> {
    let collections = [
        (
            ObjectType::GslbService,
            [("created_by", created_by), ("include_name", "true")],
        ),
        (
            ObjectType::HealthMonitor,
            [("name.contains", "amko--"), ("include_name", "true")],
        ),
    ];
    for (t, query) in collections {
        client
            .for_each_page(t.api_name(), &query, Some("*"), |page| {
                let objects = page
                    .into_iter()
                    .filter_map(|body| {
                        let tenant = tenant_of(&body, default_tenant);
                        ControllerObject::from_body(&tenant, body)
                    })
                    .collect();
                visit(t, objects);
            })
            .await?;
    }
    Ok(())
}

/// Names of federated PKI profiles, for GslbServices with site persistence and no PKI profile.
pub async fn federated_pki_profiles(client: &AviClient) -> Result<Vec<String>, AviError> {
    let profiles = client
        .list("pkiprofile", &[("is_federated", "true")], Some("*"))
        .await?;
    let mut names: Vec<String> = profiles
        .iter()
        .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// Carries out one planned write. On success returns the cache change; errors are classified.
pub async fn execute(
    client: &AviClient,
    write: &Write,
    created_by: &str,
) -> Result<CacheChange, AviError> {
    match write {
        Write::CreateHealthMonitor { tenant, body } => {
            create(client, ObjectType::HealthMonitor, tenant, body, created_by).await
        }
        Write::CreateGslbService { tenant, body } => {
            create(client, ObjectType::GslbService, tenant, body, created_by).await
        }
        Write::UpdateHealthMonitor { tenant, uuid, body } => {
            update(
                client,
                ObjectType::HealthMonitor,
                tenant,
                uuid,
                body,
                created_by,
            )
            .await
        }
        Write::UpdateGslbService { tenant, uuid, body } => {
            update(
                client,
                ObjectType::GslbService,
                tenant,
                uuid,
                body,
                created_by,
            )
            .await
        }
        Write::DeleteHealthMonitor { tenant, uuid, name } => {
            delete(client, ObjectType::HealthMonitor, tenant, uuid, name).await
        }
        Write::DeleteGslbService { tenant, uuid, name } => {
            delete(client, ObjectType::GslbService, tenant, uuid, name).await
        }
    }
}

fn owned(t: ObjectType, body: &Value, created_by: &str) -> bool {
    match t {
        ObjectType::GslbService => gs_is_owned(body, created_by),
        ObjectType::HealthMonitor => hm_is_owned(body, created_by),
    }
}

fn name_in(body: &Value) -> String {
    body.get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn cached(t: ObjectType, tenant: &str, body: Value) -> Result<CacheChange, AviError> {
    ControllerObject::from_body(tenant, body)
        .map(|o| CacheChange::Upsert(t, o))
        .ok_or_else(|| AviError {
            kind: AviErrorKind::BadResponse,
            method: "POST/PUT".into(),
            path: format!("/api/{}", t.api_name()),
            status: None,
            message: "controller answered without uuid or name".into(),
        })
}

async fn create(
    client: &AviClient,
    t: ObjectType,
    tenant: &str,
    body: &Value,
    created_by: &str,
) -> Result<CacheChange, AviError> {
    match client.create(t.api_name(), body, Some(tenant)).await {
        Ok(created) => cached(t, tenant, created),
        // It exists already (a lost response, or a restart): adopt it only if it is ours.
        Err(err) if err.kind == AviErrorKind::Conflict => {
            overwrite_if_owned(client, t, tenant, body, created_by, err).await
        }
        Err(err) => Err(err),
    }
}

async fn update(
    client: &AviClient,
    t: ObjectType,
    tenant: &str,
    uuid: &str,
    body: &Value,
    created_by: &str,
) -> Result<CacheChange, AviError> {
    match client.update(t.api_name(), uuid, body, Some(tenant)).await {
        Ok(updated) => cached(t, tenant, updated),
        Err(err) if err.kind == AviErrorKind::NotFound => {
            create(client, t, tenant, body, created_by).await
        }
        // Stale: re-read and write again.
        Err(err) if err.kind == AviErrorKind::PreconditionFailed => {
            overwrite_if_owned(client, t, tenant, body, created_by, err).await
        }
        Err(err) => Err(err),
    }
}

/// Re-reads the object named in `body` and replaces it, if it is ours; otherwise `err` stands.
async fn overwrite_if_owned(
    client: &AviClient,
    t: ObjectType,
    tenant: &str,
    body: &Value,
    created_by: &str,
    err: AviError,
) -> Result<CacheChange, AviError> {
    match client
        .get_by_name(t.api_name(), &name_in(body), Some(tenant))
        .await?
    {
        Some(existing) if owned(t, &existing, created_by) => {
            let uuid = existing
                .get("uuid")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let updated = client
                .update(t.api_name(), uuid, body, Some(tenant))
                .await?;
            cached(t, tenant, updated)
        }
        _ => Err(err),
    }
}

async fn delete(
    client: &AviClient,
    t: ObjectType,
    tenant: &str,
    uuid: &str,
    name: &str,
) -> Result<CacheChange, AviError> {
    match client.delete(t.api_name(), uuid, Some(tenant)).await {
        Ok(()) => Ok(CacheChange::Remove(t, tenant.to_owned(), name.to_owned())),
        Err(err) if err.kind == AviErrorKind::NotFound => {
            Ok(CacheChange::Remove(t, tenant.to_owned(), name.to_owned()))
        }
        Err(err) => Err(err),
    }
}
