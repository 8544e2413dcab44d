//! The controller's object logic on top of the store: tenants, the GSLB leader and maintenance
//! modes, and writes (reference resolution, validation, uniqueness, FQDN ownership,
//! `_last_modified` preconditions, delete protection, GSLB guards). Reads live in `reads.rs`.
//! HTTP-free: handlers translate requests into these calls.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::ids::{self, ModClock};
use super::patch;
use super::reads::CachedSelection;
use super::refs::{self, RefSpec, RefTarget, internal_ref};
use super::store::{ADMIN_TENANT, Store, StoredObject, TenantView};
use super::types::{ObjType, TenantScope};
use super::validate::{self, ValidationContext};

/// Masked value for secrets in responses.
pub const SENSITIVE: &str = "<sensitive>";

/// Whether a write comes from a client (guards apply) or from seeding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Api,
    Seed { system: bool },
}

/// The object a write is about.
struct WriteTarget<'e> {
    obj_type: ObjType,
    uuid: String,
    existing: Option<&'e StoredObject>,
    origin: Origin,
}

#[derive(Debug)]
pub struct Controller {
    store: RwLock<Store>,
    /// Paging through a large collection asks for the same selection once per page; while
    /// nothing changes in between, the selection is reused and a page costs O(page_size).
    pub(super) selections: std::sync::Mutex<Vec<CachedSelection>>,
    clock: ModClock,
    cluster_uuid: String,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

pub(super) fn not_found(obj_type: ObjType) -> ApiError {
    ApiError::NotFound(format!("{} object not found!", obj_type.model()))
}

impl Controller {
    pub fn new(cluster_uuid: String) -> Controller {
        Controller {
            store: RwLock::new(Store::default()),
            selections: std::sync::Mutex::new(Vec::new()),
            clock: ModClock::default(),
            cluster_uuid,
        }
    }

    pub fn cluster_uuid(&self) -> &str {
        &self.cluster_uuid
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|p| p.into_inner())
    }

    // ----- tenants -------------------------------------------------------------------------

    /// Resolves the tenant headers: uuid wins over name; `*` means all tenants.
    pub fn tenant_view(
        &self,
        name: Option<&str>,
        uuid: Option<&str>,
    ) -> Result<TenantView, ApiError> {
        let store = self.read();
        if let Some(uuid) = uuid.filter(|u| !u.is_empty()) {
            if uuid == "*" {
                return Ok(TenantView::All);
            }
            return store
                .get(ObjType::Tenant, uuid)
                .map(|t| TenantView::One(t.uuid.clone()))
                .ok_or_else(|| ApiError::Forbidden(format!("Tenant '{uuid}' does not exist!")));
        }
        match name.filter(|n| !n.is_empty()) {
            None => Ok(TenantView::One(ADMIN_TENANT.to_string())),
            Some("*") => Ok(TenantView::All),
            Some(name) => store
                .by_name(ObjType::Tenant, ADMIN_TENANT, name)
                .map(|t| TenantView::One(t.uuid.clone()))
                .ok_or_else(|| ApiError::Forbidden(format!("Tenant '{name}' does not exist!"))),
        }
    }

    pub fn tenant_name(&self, tenant_uuid: &str) -> String {
        self.read()
            .name_of(ObjType::Tenant, tenant_uuid)
            .unwrap_or_else(|| tenant_uuid.to_string())
    }

    /// `[{url, uuid, name, local}]` for the login answer.
    pub fn tenant_summaries(&self, base: &str) -> Vec<Value> {
        let store = self.read();
        store
            .iter(ObjType::Tenant)
            .map(|t| {
                json!({
                    "url": format!("{base}/api/tenant/{}", t.uuid),
                    "uuid": t.uuid,
                    "name": t.name,
                    "local": t.body.get("local").cloned().unwrap_or(Value::Bool(true)),
                })
            })
            .collect()
    }

    // ----- GSLB leader / maintenance -------------------------------------------------------

    fn gslb_object(store: &Store) -> Option<&Arc<StoredObject>> {
        store.iter(ObjType::Gslb).next()
    }

    pub fn is_leader(&self) -> bool {
        Self::gslb_object(&self.read()).is_some_and(|g| {
            g.body.get("leader_cluster_uuid").and_then(Value::as_str) == Some(&self.cluster_uuid)
        })
    }

    pub fn in_maintenance(&self) -> bool {
        Self::gslb_object(&self.read())
            .is_some_and(|g| g.body.get("maintenance_mode") == Some(&Value::Bool(true)))
    }

    /// Rewrites a field of the GSLB configuration outside the API (fault injection).
    fn update_gslb(
        &self,
        edit: impl FnOnce(&mut Map<String, Value>, &str),
    ) -> Result<(), ApiError> {
        let mut store = self.write();
        let gslb = Self::gslb_object(&store)
            .ok_or_else(|| bad("this controller has no GSLB configuration"))?;
        let mut updated = StoredObject::clone(gslb);
        edit(&mut updated.body, &self.cluster_uuid);
        updated.last_modified = self.clock.next();
        updated.body.insert(
            "_last_modified".into(),
            json!(updated.last_modified.to_string()),
        );
        store.put(updated);
        Ok(())
    }

    /// Follower: the GSLB leader becomes another site; leader: this controller's cluster.
    pub fn set_follower(&self, follower: bool) -> Result<(), ApiError> {
        self.update_gslb(|body, local| {
            let other = body
                .get("sites")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.get("cluster_uuid").and_then(Value::as_str))
                .find(|c| *c != local)
                .map(str::to_string);
            let leader = match (follower, other) {
                (false, _) => local.to_string(),
                (true, Some(other)) => other,
                (true, None) => format!("cluster-{}", ids::uuid4()),
            };
            body.insert("leader_cluster_uuid".into(), json!(leader));
        })
    }

    pub fn set_maintenance(&self, on: bool) -> Result<(), ApiError> {
        self.update_gslb(|body, _| {
            body.insert("maintenance_mode".into(), json!(on));
        })
    }

    fn gslb_guard(&self, store: &Store, obj_type: ObjType) -> Result<(), ApiError> {
        let gslb = Self::gslb_object(store);
        let leader = gslb.is_some_and(|g| {
            g.body.get("leader_cluster_uuid").and_then(Value::as_str) == Some(&self.cluster_uuid)
        });
        if !leader {
            return Err(bad("Config Operations can be done ONLY on leader"));
        }
        let maintenance =
            gslb.is_some_and(|g| g.body.get("maintenance_mode") == Some(&Value::Bool(true)));
        // The GSLB configuration itself stays writable so maintenance can be switched off.
        if maintenance && obj_type != ObjType::Gslb {
            return Err(bad("GSLB system is in maintenance mode."));
        }
        Ok(())
    }

    fn is_federated_write(
        obj_type: ObjType,
        body: &Map<String, Value>,
        existing: Option<&StoredObject>,
    ) -> bool {
        let flagged = |m: &Map<String, Value>| {
            matches!(m.get("is_federated"), Some(Value::Bool(true)))
                || m.get("is_federated").and_then(Value::as_str) == Some("true")
        };
        obj_type.always_federated()
            || (obj_type.may_be_federated()
                && (flagged(body) || existing.is_some_and(|e| flagged(&e.body))))
    }

    // ----- writes --------------------------------------------------------------------------

    /// Resolves every reference in `map` as seen from `tenant`.
    fn resolve_refs_in(
        store: &Store,
        tenant: &str,
        map: &mut Map<String, Value>,
    ) -> Result<Vec<RefTarget>, ApiError> {
        let view = TenantView::One(tenant.to_string());
        refs::resolve_refs(map, &mut |field, spec| match spec {
            RefSpec::ByUuid { obj_type, uuid } => store
                .get(*obj_type, uuid)
                .filter(|o| view.sees(o))
                .map(|o| RefTarget {
                    obj_type: *obj_type,
                    uuid: o.uuid.clone(),
                })
                .ok_or_else(|| {
                    format!(
                        "field '{field}': {} object with uuid '{uuid}' does not exist",
                        obj_type.model()
                    )
                }),
            RefSpec::ByName { obj_type, name } => {
                let candidates: Vec<&str> = match obj_type.scope() {
                    TenantScope::Global => vec![ADMIN_TENANT],
                    TenantScope::Owned => vec![tenant],
                    TenantScope::SharedFromAdmin => vec![tenant, ADMIN_TENANT],
                };
                candidates
                    .into_iter()
                    .find_map(|t| store.by_name(*obj_type, t, name))
                    .map(|o| RefTarget {
                        obj_type: *obj_type,
                        uuid: o.uuid.clone(),
                    })
                    .ok_or_else(|| {
                        format!(
                            "field '{field}': {} object with name '{name}' does not exist",
                            obj_type.model()
                        )
                    })
            }
        })
        .map_err(ApiError::BadRequest)
    }

    /// The tenant a written object belongs to: its `tenant_ref`, else the existing object's,
    /// else the request's tenant (admin for `*`).
    fn owning_tenant(
        store: &Store,
        obj_type: ObjType,
        body: &Map<String, Value>,
        view: &TenantView,
        existing: Option<&StoredObject>,
    ) -> Result<String, ApiError> {
        if obj_type.scope() == TenantScope::Global {
            return Ok(ADMIN_TENANT.to_string());
        }
        if let Some(raw) = body.get("tenant_ref").and_then(Value::as_str) {
            let spec = refs::parse_ref(raw).map_err(|e| bad(format!("field 'tenant_ref': {e}")))?;
            let tenant = match &spec {
                RefSpec::ByUuid {
                    obj_type: ObjType::Tenant,
                    uuid,
                } => store.get(ObjType::Tenant, uuid),
                RefSpec::ByName {
                    obj_type: ObjType::Tenant,
                    name,
                } => store.by_name(ObjType::Tenant, ADMIN_TENANT, name),
                _ => {
                    return Err(bad(format!(
                        "field 'tenant_ref' '{raw}' does not point to a tenant"
                    )));
                }
            };
            return tenant
                .map(|t| t.uuid.clone())
                .ok_or_else(|| bad(format!("field 'tenant_ref': tenant '{raw}' does not exist")));
        }
        if let Some(existing) = existing {
            return Ok(existing.tenant.clone());
        }
        Ok(match view {
            TenantView::One(t) => t.clone(),
            TenantView::All => ADMIN_TENANT.to_string(),
        })
    }

    /// Everything between a client body and a storable object.
    fn prepare(
        &self,
        store: &Store,
        target: WriteTarget<'_>,
        mut body: Map<String, Value>,
        view: &TenantView,
    ) -> Result<StoredObject, ApiError> {
        let WriteTarget {
            obj_type,
            uuid,
            existing,
            origin,
        } = target;
        body.remove("url");
        body.remove("_last_modified");
        if origin == Origin::Api && Self::is_federated_write(obj_type, &body, existing) {
            self.gslb_guard(store, obj_type)?;
        }
        let tenant = Self::owning_tenant(store, obj_type, &body, view, existing)?;
        if obj_type.has_tenant_ref() {
            body.insert(
                "tenant_ref".into(),
                json!(internal_ref(ObjType::Tenant, &tenant)),
            );
        } else {
            body.remove("tenant_ref");
        }
        let refs = Self::resolve_refs_in(store, &tenant, &mut body)?;

        if let Some(existing) = existing {
            restore_masked_secrets(obj_type, &mut body, &existing.body);
        }
        let ctx = ValidationContext {
            dns_domains: Self::gslb_object(store)
                .map(|g| validate::dns_domains_of(&g.body))
                .unwrap_or_default(),
        };
        let lookup = |t: ObjType, u: &str| store.get(t, u).map(|o| &o.body);
        validate::validate(obj_type, &mut body, &lookup, &ctx).map_err(ApiError::BadRequest)?;

        let name = body
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(other) = store.by_name(obj_type, &tenant, &name)
            && other.uuid != uuid
        {
            return Err(ApiError::Conflict(format!(
                "{} with this Name and Tenant ref already exists.",
                obj_type.verbose()
            )));
        }
        let mut domains = Vec::new();
        if obj_type == ObjType::GslbService {
            for fqdn in body
                .get("domain_names")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let fqdn = fqdn.to_ascii_lowercase();
                if let Some(owner) = store.domain_owner(&fqdn)
                    && owner != uuid
                {
                    let owner_name = store
                        .name_of(ObjType::GslbService, owner)
                        .unwrap_or_else(|| owner.to_string());
                    return Err(bad(format!(
                        "domain name conflicting with existing domain name {fqdn} in GslbService {owner_name}"
                    )));
                }
                domains.push(fqdn);
            }
        }

        let version = existing
            .and_then(|e| e.body.get("configpb_attributes"))
            .and_then(|c| c.get("version"))
            .and_then(Value::as_u64)
            .map_or(1, |v| v + 1);
        body.insert("configpb_attributes".into(), json!({"version": version}));
        let last_modified = self.clock.next();
        body.insert("_last_modified".into(), json!(last_modified.to_string()));
        body.insert("uuid".into(), json!(uuid));
        Ok(StoredObject {
            obj_type,
            uuid,
            name,
            tenant,
            seq: existing.map_or(0, |e| e.seq),
            system: existing.is_some_and(|e| e.system) || origin == Origin::Seed { system: true },
            last_modified,
            body,
            refs,
            domains,
        })
    }

    fn parse_body(body: Value) -> Result<Map<String, Value>, ApiError> {
        match body {
            Value::Object(map) => Ok(map),
            other => Err(bad(format!(
                "request body must be a JSON object, got {other}"
            ))),
        }
    }

    /// POST: a new object. `slug` forces its uuid (the `Slug` header).
    pub fn create(
        &self,
        obj_type: ObjType,
        body: Value,
        view: &TenantView,
        slug: Option<&str>,
        origin: Origin,
    ) -> Result<Arc<StoredObject>, ApiError> {
        let body = Self::parse_body(body)?;
        let mut store = self.write();
        match obj_type {
            ObjType::Cluster if origin == Origin::Api => {
                return Err(ApiError::MethodNotAllowed(
                    "Method 'POST' not allowed".into(),
                ));
            }
            ObjType::Gslb if Self::gslb_object(&store).is_some() => {
                return Err(ApiError::Conflict(
                    "A GSLB configuration already exists; a controller has only one".into(),
                ));
            }
            _ => {}
        }
        let uuid = match slug.filter(|s| !s.is_empty()) {
            Some(s) => s.to_string(),
            None if obj_type == ObjType::Cluster => self.cluster_uuid.clone(),
            None => match (origin, body.get("uuid").and_then(Value::as_str)) {
                // Seeds may pin uuids (the admin tenant is literally "admin").
                (Origin::Seed { .. }, Some(u)) => u.to_string(),
                _ => ids::object_uuid(obj_type),
            },
        };
        if store.get(obj_type, &uuid).is_some() {
            return Err(ApiError::Conflict(format!(
                "{} with uuid {uuid} already exists.",
                obj_type.model()
            )));
        }
        let mut obj = self.prepare(
            &store,
            WriteTarget {
                obj_type,
                uuid,
                existing: None,
                origin,
            },
            body,
            view,
        )?;
        obj.seq = store.next_seq();
        let obj = Arc::new(obj);
        store.put(Arc::clone(&obj));
        Ok(obj)
    }

    fn writable<'s>(
        store: &'s Store,
        obj_type: ObjType,
        uuid: &str,
        view: &TenantView,
    ) -> Result<&'s Arc<StoredObject>, ApiError> {
        store
            .get(obj_type, uuid)
            .filter(|o| match view {
                TenantView::All => true,
                TenantView::One(t) => obj_type.scope() == TenantScope::Global || &o.tenant == t,
            })
            .ok_or_else(|| not_found(obj_type))
    }

    fn check_precondition(
        obj_type: ObjType,
        existing: &StoredObject,
        sent: Option<&Value>,
    ) -> Result<(), ApiError> {
        let Some(sent) = sent else {
            return Ok(());
        };
        let sent = match sent {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(bad("field '_last_modified' must be a string")),
        };
        if sent == existing.last_modified.to_string() {
            Ok(())
        } else {
            Err(ApiError::PreconditionFailed(format!(
                "Need to reload object data {}",
                obj_type.model()
            )))
        }
    }

    /// PUT: full replacement; fields left out return to their defaults.
    pub fn replace(
        &self,
        obj_type: ObjType,
        uuid: &str,
        body: Value,
        view: &TenantView,
    ) -> Result<Arc<StoredObject>, ApiError> {
        let body = Self::parse_body(body)?;
        let mut store = self.write();
        let existing = Arc::clone(Self::writable(&store, obj_type, uuid, view)?);
        if let Some(sent) = body.get("uuid").and_then(Value::as_str)
            && sent != uuid
        {
            return Err(bad(format!(
                "uuid '{sent}' in the body does not match '{uuid}' in the URL"
            )));
        }
        Self::check_precondition(obj_type, &existing, body.get("_last_modified"))?;
        self.replace_stored(&mut store, obj_type, &existing, body, view)
    }

    /// Validates `body` as the new version of `existing` (an API write) and stores it.
    fn replace_stored(
        &self,
        store: &mut Store,
        obj_type: ObjType,
        existing: &StoredObject,
        body: Map<String, Value>,
        view: &TenantView,
    ) -> Result<Arc<StoredObject>, ApiError> {
        let obj = self.prepare(
            store,
            WriteTarget {
                obj_type,
                uuid: existing.uuid.clone(),
                existing: Some(existing),
                origin: Origin::Api,
            },
            body,
            view,
        )?;
        let obj = Arc::new(obj);
        store.put(Arc::clone(&obj));
        Ok(obj)
    }

    /// PATCH with add / replace / delete.
    pub fn patch(
        &self,
        obj_type: ObjType,
        uuid: &str,
        body: Value,
        view: &TenantView,
    ) -> Result<Arc<StoredObject>, ApiError> {
        let mut body = Self::parse_body(body)?;
        let mut store = self.write();
        let existing = Arc::clone(Self::writable(&store, obj_type, uuid, view)?);
        let top_level_stamp = body.remove("_last_modified");
        let ops = patch::parse_patch(&body).map_err(ApiError::BadRequest)?;
        let stamp = top_level_stamp.as_ref().or_else(|| {
            ops.iter()
                .find_map(|(_, fields)| fields.get("_last_modified"))
        });
        Self::check_precondition(obj_type, &existing, stamp)?;
        let mut merged = existing.body.clone();
        for (op, fields) in ops {
            let mut fields = fields.clone();
            Self::resolve_refs_in(&store, &existing.tenant, &mut fields)?;
            patch::apply(&mut merged, op, &fields);
        }
        self.replace_stored(&mut store, obj_type, &existing, merged, view)
    }

    /// DELETE; refuses system objects and objects still referred to.
    pub fn delete(
        &self,
        obj_type: ObjType,
        uuid: &str,
        view: &TenantView,
    ) -> Result<Arc<StoredObject>, ApiError> {
        let mut store = self.write();
        let existing = Arc::clone(Self::writable(&store, obj_type, uuid, view)?);
        if obj_type == ObjType::Cluster {
            return Err(ApiError::MethodNotAllowed(
                "Method 'DELETE' not allowed".into(),
            ));
        }
        if Self::is_federated_write(obj_type, &existing.body, None) {
            self.gslb_guard(&store, obj_type)?;
        }
        if existing.system {
            return Err(bad("Cannot delete system default object"));
        }
        let me = RefTarget {
            obj_type,
            uuid: uuid.to_string(),
        };
        let referrers: Vec<String> = store
            .referrers(&me)
            .map(|r| {
                let name = store
                    .name_of(r.obj_type, &r.uuid)
                    .unwrap_or_else(|| r.uuid.clone());
                format!("'{} {}'", r.obj_type.model(), name)
            })
            .collect();
        if !referrers.is_empty() {
            return Err(bad(format!(
                "Cannot delete, object is referred by: [{}]",
                referrers.join(", ")
            )));
        }
        store.remove(obj_type, uuid);
        Ok(existing)
    }
}

/// A client that read `<sensitive>` and sends it back means "unchanged".
fn restore_masked_secrets(
    obj_type: ObjType,
    body: &mut Map<String, Value>,
    old: &Map<String, Value>,
) {
    match obj_type {
        ObjType::Gslb => {
            let old_sites = old.get("sites").and_then(Value::as_array);
            if let (Some(Value::Array(sites)), Some(old_sites)) = (body.get_mut("sites"), old_sites)
            {
                for site in sites.iter_mut().filter_map(Value::as_object_mut) {
                    if site.get("password").and_then(Value::as_str) != Some(SENSITIVE) {
                        continue;
                    }
                    let cluster = site.get("cluster_uuid").cloned();
                    if let Some(previous) = old_sites
                        .iter()
                        .find(|s| s.get("cluster_uuid") == cluster.as_ref())
                        .and_then(|s| s.get("password"))
                    {
                        site.insert("password".into(), previous.clone());
                    }
                }
            }
        }
        ObjType::HealthMonitor => {
            let previous = old
                .get("authentication")
                .and_then(|a| a.get("password"))
                .cloned();
            if let (Some(Value::Object(auth)), Some(previous)) =
                (body.get_mut("authentication"), previous)
                && auth.get("password").and_then(Value::as_str) == Some(SENSITIVE)
            {
                auth.insert("password".into(), previous);
            }
        }
        _ => {}
    }
}
