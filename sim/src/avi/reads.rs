//! Reads: which objects a request sees, collection selection (filters, sort, paging, with a
//! selection cache so paging through a large collection costs O(page_size) per page while
//! nothing changes), and rendering stored objects (refs as URLs, `#name`, masked secrets,
//! `fields=` projection).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::collection::{self, Filter, ListQuery};
use super::controller::{Controller, SENSITIVE, not_found};
use super::error::ApiError;
use super::refs;
use super::store::{ADMIN_TENANT, Store, StoredObject, TenantView};
use super::types::{ObjType, TenantScope};

/// How to render objects in a response.
#[derive(Clone, Debug)]
pub struct Render<'a> {
    /// `https://host:port`, prefix of every URL.
    pub base: &'a str,
    pub include_name: bool,
    pub fields: Option<&'a [String]>,
}

/// One remembered collection selection (see `Controller::select`).
#[derive(Debug)]
pub(super) struct CachedSelection {
    generation: u64,
    obj_type: ObjType,
    view: TenantView,
    key: String,
    matched: Arc<Vec<Arc<StoredObject>>>,
}

/// How many distinct selections are remembered.
const SELECTION_CACHE_SIZE: usize = 8;

impl Controller {
    /// Renders one stored object for a response.
    pub fn render(store: &Store, obj: &StoredObject, how: &Render<'_>) -> Value {
        let mut body = obj.body.clone();
        let url = if how.include_name {
            format!(
                "{}/api/{}/{}#{}",
                how.base,
                obj.obj_type.path(),
                obj.uuid,
                obj.name
            )
        } else {
            format!("{}/api/{}/{}", how.base, obj.obj_type.path(), obj.uuid)
        };
        body.insert("url".into(), Value::String(url));
        let include_name = how.include_name;
        refs::render_refs(&mut body, how.base, &|t, uuid| {
            if include_name {
                store.name_of(t, uuid)
            } else {
                None
            }
        });
        mask_secrets(obj.obj_type, &mut body);
        if let Some(fields) = how.fields {
            collection::project(&mut body, fields);
        }
        Value::Object(body)
    }

    pub fn get_item(
        &self,
        obj_type: ObjType,
        uuid: &str,
        view: &TenantView,
        how: &Render<'_>,
    ) -> Result<Value, ApiError> {
        let store = self.read();
        let obj = store
            .get(obj_type, uuid)
            .filter(|o| view.sees(o))
            .ok_or_else(|| not_found(obj_type))?;
        Ok(Self::render(&store, obj, how))
    }

    /// The single Cluster object (`GET /api/cluster` answers it bare).
    pub fn cluster(&self, how: &Render<'_>) -> Result<Value, ApiError> {
        let store = self.read();
        let obj = store
            .get(ObjType::Cluster, self.cluster_uuid())
            .ok_or_else(|| not_found(ObjType::Cluster))?;
        Ok(Self::render(&store, obj, how))
    }

    /// The objects a collection query selects, in answer order (cached across pages).
    fn select(
        &self,
        store: &Store,
        obj_type: ObjType,
        view: &TenantView,
        query: &ListQuery,
    ) -> Arc<Vec<Arc<StoredObject>>> {
        let key = query.selection_key();
        let generation = store.generation();
        let mut cache = self.selections.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|c| c.generation == generation);
        if let Some(hit) = cache
            .iter()
            .find(|c| c.obj_type == obj_type && &c.view == view && c.key == key)
        {
            return Arc::clone(&hit.matched);
        }
        drop(cache);
        let refs_of = |t: ObjType, uuid: &str| store.get(t, uuid).map(|o| o.refs.clone());
        let name_of = |t: ObjType, uuid: &str| store.name_of(t, uuid);
        let keep = |o: &&Arc<StoredObject>| {
            view.sees(o) && collection::matches(o, query, &refs_of, &name_of)
        };
        let exact_name = query.filters.iter().find_map(|f| match f {
            Filter::Name(n) => Some(n.as_str()),
            _ => None,
        });
        let mut matched: Vec<&Arc<StoredObject>> = match exact_name {
            // Index lookup instead of a scan: one probe per tenant that could hold the name.
            Some(name) => {
                let tenants: Vec<String> = match (view, obj_type.scope()) {
                    (_, TenantScope::Global) => vec![ADMIN_TENANT.to_string()],
                    (TenantView::All, _) => store
                        .iter(ObjType::Tenant)
                        .map(|t| t.uuid.clone())
                        .collect(),
                    (TenantView::One(t), TenantScope::SharedFromAdmin) if t != ADMIN_TENANT => {
                        vec![t.clone(), ADMIN_TENANT.to_string()]
                    }
                    (TenantView::One(t), _) => vec![t.clone()],
                };
                let mut found: Vec<&Arc<StoredObject>> = tenants
                    .iter()
                    .filter_map(|t| store.by_name(obj_type, t, name))
                    .filter(keep)
                    .collect();
                found.sort_by_key(|o| o.seq);
                found
            }
            None => store.iter(obj_type).filter(keep).collect(),
        };
        if let Some((field, descending)) = &query.sort {
            if field == "name" {
                matched.sort_by(|a, b| a.name.cmp(&b.name));
            } else {
                matched.sort_by(|a, b| {
                    collection::sort_key(a, field)
                        .partial_cmp(&collection::sort_key(b, field))
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
            }
            if *descending {
                matched.reverse();
            }
        }
        if let Some(limit) = query.limit_by {
            matched.truncate(limit);
        }
        let matched: Arc<Vec<Arc<StoredObject>>> =
            Arc::new(matched.into_iter().map(Arc::clone).collect());
        let mut cache = self.selections.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= SELECTION_CACHE_SIZE {
            cache.remove(0);
        }
        cache.push(CachedSelection {
            generation,
            obj_type,
            view: view.clone(),
            key,
            matched: Arc::clone(&matched),
        });
        matched
    }

    /// `{count, results, next}` for a collection GET.
    pub fn list(
        &self,
        obj_type: ObjType,
        view: &TenantView,
        query: &ListQuery,
        base: &str,
    ) -> Value {
        let store = self.read();
        let matched = self.select(&store, obj_type, view, query);
        let count = matched.len();
        let start = (query.page - 1).saturating_mul(query.page_size);
        let how = Render {
            base,
            include_name: query.include_name,
            fields: query.fields.as_deref(),
        };
        let results: Vec<Value> = matched
            .iter()
            .skip(start)
            .take(query.page_size)
            .map(|o| Self::render(&store, o, &how))
            .collect();
        let mut answer = json!({"count": count, "results": results});
        if start.saturating_add(query.page_size) < count {
            answer["next"] = json!(collection::next_link(base, obj_type, query));
        }
        answer
    }

    /// Every object of every type, rendered with names (for `/sim/dump`).
    pub fn dump(&self, base: &str) -> Value {
        let store = self.read();
        let how = Render {
            base,
            include_name: true,
            fields: None,
        };
        let mut out = Map::new();
        for t in ObjType::ALL {
            let items: Vec<Value> = store
                .iter(t)
                .map(|o| Self::render(&store, o, &how))
                .collect();
            out.insert(t.path().to_string(), Value::Array(items));
        }
        Value::Object(out)
    }

    pub fn count(&self, obj_type: ObjType) -> usize {
        self.read().len(obj_type)
    }
}

fn mask_secrets(obj_type: ObjType, body: &mut Map<String, Value>) {
    match obj_type {
        ObjType::Gslb => {
            if let Some(Value::Array(sites)) = body.get_mut("sites") {
                for site in sites.iter_mut().filter_map(Value::as_object_mut) {
                    if site.contains_key("password") {
                        site.insert("password".into(), json!(SENSITIVE));
                    }
                }
            }
        }
        ObjType::HealthMonitor => {
            if let Some(Value::Object(auth)) = body.get_mut("authentication")
                && auth.contains_key("password")
            {
                auth.insert("password".into(), json!(SENSITIVE));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avi::collection::parse_list_query;
    use crate::avi::controller::Origin;
    use proptest::prelude::*;

    fn controller_with(monitors: &[(String, bool)]) -> Controller {
        let ctrl = Controller::new("cluster-test".into());
        let admin = TenantView::One(ADMIN_TENANT.into());
        ctrl.create(
            ObjType::Tenant,
            json!({"uuid": ADMIN_TENANT, "name": "admin"}),
            &admin,
            None,
            Origin::Seed { system: true },
        )
        .unwrap();
        for (name, federated) in monitors {
            ctrl.create(
                ObjType::HealthMonitor,
                json!({"name": name, "type": "HEALTH_MONITOR_PING", "is_federated": federated}),
                &admin,
                None,
                Origin::Seed { system: false },
            )
            .unwrap();
        }
        ctrl
    }

    fn names(page: &Value) -> Vec<String> {
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    }

    proptest! {
        /// Walking `next` visits every match exactly once, in creation order, and `count`
        /// is the number of matches on every page.
        #[test]
        fn pages_cover_every_match_once(
            flags in proptest::collection::vec(any::<bool>(), 0..40),
            page_size in 1usize..7,
        ) {
            let monitors: Vec<(String, bool)> =
                flags.iter().enumerate().map(|(i, f)| (format!("hm-{i:02}"), *f)).collect();
            let ctrl = controller_with(&monitors);
            let expected: Vec<String> =
                monitors.iter().filter(|(_, f)| *f).map(|(n, _)| n.clone()).collect();
            let view = TenantView::One(ADMIN_TENANT.into());
            let mut seen = Vec::new();
            let mut raw = format!("is_federated=true&page_size={page_size}");
            loop {
                let query = parse_list_query(Some(&raw), 25).unwrap();
                let page = ctrl.list(ObjType::HealthMonitor, &view, &query, "https://h");
                prop_assert_eq!(page["count"].as_u64().unwrap() as usize, expected.len());
                seen.extend(names(&page));
                match page.get("next").and_then(Value::as_str) {
                    Some(next) => raw = next.split_once('?').unwrap().1.to_string(),
                    None => break,
                }
            }
            prop_assert_eq!(seen, expected);
        }
    }
}
