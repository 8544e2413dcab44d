//! The object store: every object by type, with the indexes that keep each request O(1) or
//! O(log n): uuid -> object, (tenant, name) -> uuid, creation order for paging, GslbService FQDN
//! ownership and the reverse reference graph (who refers to whom) for delete protection and
//! `refers_to`. Pure data structure: no HTTP, no validation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::refs::RefTarget;
use super::types::{ObjType, TenantScope};

/// The uuid of the built-in admin tenant.
pub const ADMIN_TENANT: &str = "admin";

/// One stored object. `body` holds the canonical form: references as `/api/<type>/<uuid>`,
/// `uuid`, `name`, `tenant_ref` and `_last_modified` included, `url` not.
#[derive(Clone, Debug)]
pub struct StoredObject {
    pub obj_type: ObjType,
    pub uuid: String,
    pub name: String,
    /// Tenant uuid (`admin` for controller-wide objects).
    pub tenant: String,
    /// Creation order; paging walks this.
    pub seq: u64,
    /// Seeded system default object (cannot be deleted).
    pub system: bool,
    pub last_modified: u64,
    pub body: Map<String, Value>,
    pub refs: Vec<RefTarget>,
    /// Lower-cased FQDNs a GslbService owns.
    pub domains: Vec<String>,
}

/// Which tenants a request sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantView {
    One(String),
    All,
}

impl TenantView {
    pub fn sees(&self, obj: &StoredObject) -> bool {
        match self {
            TenantView::All => true,
            TenantView::One(tenant) => match obj.obj_type.scope() {
                TenantScope::Global => true,
                TenantScope::Owned => &obj.tenant == tenant,
                TenantScope::SharedFromAdmin => &obj.tenant == tenant || obj.tenant == ADMIN_TENANT,
            },
        }
    }
}

#[derive(Debug, Default)]
struct Table {
    by_seq: BTreeMap<u64, Arc<StoredObject>>,
    seq_by_uuid: HashMap<String, u64>,
    uuid_by_name: HashMap<(String, String), String>,
}

#[derive(Debug, Default)]
pub struct Store {
    tables: [Table; ObjType::ALL.len()],
    next_seq: u64,
    /// Bumped by every change, so cached query results know when they went stale.
    generation: u64,
    domain_owner: HashMap<String, String>,
    referrers: HashMap<RefTarget, BTreeSet<RefTarget>>,
}

impl Store {
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn table(&self, obj_type: ObjType) -> &Table {
        &self.tables[obj_type.index()]
    }

    fn table_mut(&mut self, obj_type: ObjType) -> &mut Table {
        &mut self.tables[obj_type.index()]
    }

    pub fn get(&self, obj_type: ObjType, uuid: &str) -> Option<&Arc<StoredObject>> {
        let table = self.table(obj_type);
        table
            .seq_by_uuid
            .get(uuid)
            .and_then(|seq| table.by_seq.get(seq))
    }

    pub fn by_name(
        &self,
        obj_type: ObjType,
        tenant: &str,
        name: &str,
    ) -> Option<&Arc<StoredObject>> {
        let table = self.table(obj_type);
        let key = (tenant.to_string(), name.to_string());
        table
            .uuid_by_name
            .get(&key)
            .and_then(|uuid| self.get(obj_type, uuid))
    }

    /// Objects of a type in creation order.
    pub fn iter(&self, obj_type: ObjType) -> impl DoubleEndedIterator<Item = &Arc<StoredObject>> {
        self.table(obj_type).by_seq.values()
    }

    pub fn len(&self, obj_type: ObjType) -> usize {
        self.table(obj_type).by_seq.len()
    }

    pub fn name_of(&self, obj_type: ObjType, uuid: &str) -> Option<String> {
        self.get(obj_type, uuid).map(|o| o.name.clone())
    }

    /// The GslbService uuid that owns an FQDN, if any.
    pub fn domain_owner(&self, fqdn: &str) -> Option<&str> {
        self.domain_owner.get(fqdn).map(String::as_str)
    }

    /// Objects that hold a reference to `target`.
    pub fn referrers(&self, target: &RefTarget) -> impl Iterator<Item = &RefTarget> {
        self.referrers.get(target).into_iter().flatten()
    }

    /// Inserts or replaces (same uuid) an object, keeping every index in step.
    pub fn put(&mut self, obj: impl Into<Arc<StoredObject>>) {
        let obj: Arc<StoredObject> = obj.into();
        self.generation += 1;
        if let Some(old) = self.remove(obj.obj_type, &obj.uuid) {
            debug_assert_eq!(old.seq, obj.seq, "replacement keeps the creation order");
        }
        let me = RefTarget {
            obj_type: obj.obj_type,
            uuid: obj.uuid.clone(),
        };
        for target in &obj.refs {
            self.referrers
                .entry(target.clone())
                .or_default()
                .insert(me.clone());
        }
        for domain in &obj.domains {
            self.domain_owner.insert(domain.clone(), obj.uuid.clone());
        }
        let table = self.table_mut(obj.obj_type);
        table
            .uuid_by_name
            .insert((obj.tenant.clone(), obj.name.clone()), obj.uuid.clone());
        table.seq_by_uuid.insert(obj.uuid.clone(), obj.seq);
        table.by_seq.insert(obj.seq, obj);
    }

    pub fn remove(&mut self, obj_type: ObjType, uuid: &str) -> Option<Arc<StoredObject>> {
        self.generation += 1;
        let table = self.table_mut(obj_type);
        let seq = table.seq_by_uuid.remove(uuid)?;
        let obj = table.by_seq.remove(&seq)?;
        table
            .uuid_by_name
            .remove(&(obj.tenant.clone(), obj.name.clone()));
        let me = RefTarget {
            obj_type,
            uuid: uuid.to_string(),
        };
        for target in &obj.refs {
            if let Some(set) = self.referrers.get_mut(target) {
                set.remove(&me);
                if set.is_empty() {
                    self.referrers.remove(target);
                }
            }
        }
        for domain in &obj.domains {
            if self.domain_owner.get(domain).map(String::as_str) == Some(uuid) {
                self.domain_owner.remove(domain);
            }
        }
        Some(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(store: &mut Store, obj_type: ObjType, uuid: &str, name: &str) -> StoredObject {
        StoredObject {
            obj_type,
            uuid: uuid.into(),
            name: name.into(),
            tenant: ADMIN_TENANT.into(),
            seq: store.next_seq(),
            system: false,
            last_modified: 1,
            body: Map::new(),
            refs: Vec::new(),
            domains: Vec::new(),
        }
    }

    #[test]
    fn indexes_follow_put_replace_remove() {
        let mut store = Store::default();
        let hm = object(&mut store, ObjType::HealthMonitor, "hm-1", "hm");
        store.put(hm);
        let mut gs = object(&mut store, ObjType::GslbService, "gs-1", "gs");
        gs.refs = vec![RefTarget {
            obj_type: ObjType::HealthMonitor,
            uuid: "hm-1".into(),
        }];
        gs.domains = vec!["a.example.com".into()];
        store.put(gs.clone());
        let hm_target = RefTarget {
            obj_type: ObjType::HealthMonitor,
            uuid: "hm-1".into(),
        };
        assert_eq!(store.referrers(&hm_target).count(), 1);
        assert_eq!(store.domain_owner("a.example.com"), Some("gs-1"));

        // Rename and drop the reference and the domain.
        gs.name = "gs2".into();
        gs.refs.clear();
        gs.domains = vec!["b.example.com".into()];
        store.put(gs);
        assert!(
            store
                .by_name(ObjType::GslbService, ADMIN_TENANT, "gs")
                .is_none()
        );
        assert!(
            store
                .by_name(ObjType::GslbService, ADMIN_TENANT, "gs2")
                .is_some()
        );
        assert_eq!(store.referrers(&hm_target).count(), 0);
        assert_eq!(store.domain_owner("a.example.com"), None);

        store.remove(ObjType::GslbService, "gs-1");
        assert_eq!(store.len(ObjType::GslbService), 0);
        assert_eq!(store.domain_owner("b.example.com"), None);
    }

    #[test]
    fn tenant_view_shares_admin_monitors_only() {
        let mut store = Store::default();
        let hm = object(&mut store, ObjType::HealthMonitor, "hm-1", "hm");
        let gs = object(&mut store, ObjType::GslbService, "gs-1", "gs");
        let view = TenantView::One("tenant-x".into());
        assert!(view.sees(&hm));
        assert!(!view.sees(&gs));
        assert!(TenantView::All.sees(&gs));
    }
}
