//! The object store of one simulated cluster: objects kept as serialized JSON, one resourceVersion
//! counter, a bounded event log for watch replay, and a broadcast channel feeding open watches.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::broadcast;

use super::error::ApiError;
use super::resources::{Registry, ResourceKey};
use super::selectors::{FieldSelector, LabelSelector};

/// Labels of an object, kept beside its JSON so selectors need no parsing.
pub type Labels = BTreeMap<String, String>;

/// (namespace, name); cluster-scoped objects use an empty namespace.
pub type ObjectKey = (String, String);

/// One stored object.
#[derive(Clone, Debug)]
pub struct StoredObject {
    pub rv: u64,
    pub labels: Arc<Labels>,
    /// The full object as JSON, with `metadata.resourceVersion` already set to `rv`.
    pub json: Bytes,
}

impl StoredObject {
    /// Parses the stored JSON (it was produced by this store, so it is valid).
    pub fn value(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(&self.json)
            .map_err(|e| ApiError::Internal(format!("stored object is corrupt: {e}")))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as it goes to watches (and stays in the replay log).
#[derive(Debug)]
pub struct StoredEvent {
    pub rv: u64,
    pub event_type: EventType,
    pub resource: ResourceKey,
    pub namespace: String,
    pub name: String,
    pub labels: Arc<Labels>,
    /// Labels before a modification, so selector watches can turn it into ADDED/DELETED.
    pub previous_labels: Option<Arc<Labels>>,
    pub json: Bytes,
}

/// Result of a list: matching objects in key order, and the key to continue after.
pub struct ListPage {
    pub items: Vec<StoredObject>,
    pub continue_after: Option<ObjectKey>,
    pub remaining: usize,
}

/// The mutable state of one cluster. Callers hold it under one mutex, so every operation sees
/// a consistent snapshot and events leave in resourceVersion order.
pub struct ClusterState {
    rv: u64,
    pub registry: Registry,
    objects: HashMap<ResourceKey, BTreeMap<ObjectKey, StoredObject>>,
    log: VecDeque<Arc<StoredEvent>>,
    log_capacity: usize,
    /// Oldest resourceVersion a watch may resume from; older ones get 410 Expired.
    compacted_through: u64,
    events: broadcast::Sender<Arc<StoredEvent>>,
    next_uid: u64,
    /// Distinguishes this cluster's uids from another's.
    uid_salt: String,
}

impl ClusterState {
    pub fn new(
        registry: Registry,
        uid_salt: &str,
        log_capacity: usize,
        watch_buffer: usize,
    ) -> Self {
        let (events, _) = broadcast::channel(watch_buffer.max(16));
        ClusterState {
            rv: 1,
            registry,
            objects: HashMap::new(),
            log: VecDeque::with_capacity(log_capacity.min(4096)),
            log_capacity: log_capacity.max(1),
            compacted_through: 0,
            events,
            next_uid: 1,
            uid_salt: uid_salt.to_string(),
        }
    }

    /// The current resourceVersion (of the last write).
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// A fresh uid in UUID form, unique within the process run and deterministic per cluster.
    pub fn new_uid(&mut self) -> String {
        self.next_uid += 1;
        super::ids::uuid_from(&format!("uid/{}/{}", self.uid_salt, self.next_uid))
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }

    pub fn get(
        &self,
        resource: &ResourceKey,
        namespace: &str,
        name: &str,
    ) -> Option<&StoredObject> {
        self.objects
            .get(resource)?
            .get(&(namespace.to_string(), name.to_string()))
    }

    pub fn count(&self, resource: &ResourceKey) -> usize {
        self.objects.get(resource).map_or(0, BTreeMap::len)
    }

    pub fn total_objects(&self) -> usize {
        self.objects.values().map(BTreeMap::len).sum()
    }

    /// Keys of every object of a resource in a namespace (or everywhere for `None`).
    pub fn keys(&self, resource: &ResourceKey, namespace: Option<&str>) -> Vec<ObjectKey> {
        let Some(map) = self.objects.get(resource) else {
            return Vec::new();
        };
        match namespace {
            None => map.keys().cloned().collect(),
            Some(ns) => map
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(k, _)| k.clone())
                .collect(),
        }
    }

    /// Every resource that has at least one object, for namespace cleanup and garbage collection.
    pub fn resources_with_objects(&self) -> Vec<ResourceKey> {
        self.objects
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Lists objects of `resource`, optionally in one namespace, filtered by selectors, starting
    /// after `start_after`, at most `limit` (0 = no limit).
    pub fn list(
        &self,
        resource: &ResourceKey,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        start_after: Option<&ObjectKey>,
        limit: usize,
    ) -> ListPage {
        let mut page = ListPage {
            items: Vec::new(),
            continue_after: None,
            remaining: 0,
        };
        let Some(map) = self.objects.get(resource) else {
            return page;
        };
        let lower = match (start_after, namespace) {
            (Some(key), _) => Bound::Excluded(key.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        for ((ns, name), obj) in map.range((lower, Bound::Unbounded)) {
            if let Some(wanted) = namespace
                && ns != wanted
            {
                break;
            }
            if !fields.matches(ns, name) || !labels.matches(&obj.labels) {
                continue;
            }
            if limit > 0 && page.items.len() == limit {
                page.remaining += 1;
                continue;
            }
            page.items.push(obj.clone());
            if limit > 0 && page.items.len() == limit {
                page.continue_after = Some((ns.clone(), name.clone()));
            }
        }
        if page.remaining == 0 {
            page.continue_after = None;
        }
        page
    }

    /// Stores `object` (its metadata already complete apart from resourceVersion), emits the
    /// event, and returns the stored copy.
    pub fn put(
        &mut self,
        resource: &ResourceKey,
        mut object: Value,
    ) -> Result<(Value, StoredObject), ApiError> {
        let (namespace, name) = object_key(&object);
        self.rv += 1;
        let rv = self.rv;
        set_resource_version(&mut object, rv);
        let labels = Arc::new(labels_of(&object));
        let json = Bytes::from(serialize(&object)?);
        let stored = StoredObject {
            rv,
            labels: labels.clone(),
            json: json.clone(),
        };
        let map = self.objects.entry(resource.clone()).or_default();
        let previous = map.insert((namespace.clone(), name.clone()), stored.clone());
        let event_type = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.emit(StoredEvent {
            rv,
            event_type,
            resource: resource.clone(),
            namespace,
            name,
            labels,
            previous_labels: previous.map(|p| p.labels),
            json,
        });
        Ok((object, stored))
    }

    /// Removes an object and emits DELETED carrying its last state (with a new resourceVersion,
    /// as a real server does).
    pub fn remove(
        &mut self,
        resource: &ResourceKey,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, ApiError> {
        let key = (namespace.to_string(), name.to_string());
        let Some(old) = self.objects.get_mut(resource).and_then(|m| m.remove(&key)) else {
            return Ok(None);
        };
        let mut object = old.value()?;
        self.rv += 1;
        let rv = self.rv;
        set_resource_version(&mut object, rv);
        let json = Bytes::from(serialize(&object)?);
        self.emit(StoredEvent {
            rv,
            event_type: EventType::Deleted,
            resource: resource.clone(),
            namespace: key.0,
            name: key.1,
            labels: old.labels,
            previous_labels: None,
            json,
        });
        Ok(Some(object))
    }

    fn emit(&mut self, event: StoredEvent) {
        let event = Arc::new(event);
        if self.log.len() == self.log_capacity
            && let Some(dropped) = self.log.pop_front()
        {
            self.compacted_through = dropped.rv;
        }
        self.log.push_back(event.clone());
        // No receivers is normal (no open watch); ignore that error.
        let _ = self.events.send(event);
    }

    /// Events for `resource` newer than `since`, or `Expired` when the log no longer reaches back.
    pub fn events_since(
        &self,
        resource: &ResourceKey,
        since: u64,
    ) -> Result<Vec<Arc<StoredEvent>>, ApiError> {
        if since < self.compacted_through {
            return Err(ApiError::Expired {
                requested: since,
                oldest: self.compacted_through + 1,
            });
        }
        let start = self.log.partition_point(|e| e.rv <= since);
        Ok(self
            .log
            .iter()
            .skip(start)
            .filter(|e| &e.resource == resource)
            .cloned()
            .collect())
    }

    /// Forgets the event log, so every resume from a resourceVersion issued so far gets 410.
    pub fn compact(&mut self) {
        self.log.clear();
        self.compacted_through = self.rv + 1;
    }
}

pub fn serialize(object: &Value) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(object)
        .map_err(|e| ApiError::Internal(format!("cannot serialize object: {e}")))
}

pub fn object_key(object: &Value) -> ObjectKey {
    let meta = &object["metadata"];
    (
        meta["namespace"].as_str().unwrap_or_default().to_string(),
        meta["name"].as_str().unwrap_or_default().to_string(),
    )
}

pub fn labels_of(object: &Value) -> Labels {
    object["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn set_resource_version(object: &mut Value, rv: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> ResourceKey {
        ResourceKey {
            group: "".into(),
            plural: "configmaps".into(),
        }
    }

    fn cm(ns: &str, name: &str, app: &str) -> Value {
        json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"namespace":ns,"name":name,"labels":{"app":app}}})
    }

    #[test]
    fn list_pages_in_key_order_and_filters() {
        let mut st = ClusterState::new(Registry::new(false), "t", 100, 16);
        for (ns, name, app) in [
            ("a", "x", "web"),
            ("a", "y", "db"),
            ("b", "x", "web"),
            ("b", "z", "web"),
        ] {
            st.put(&key(), cm(ns, name, app)).unwrap();
        }
        let web = LabelSelector::parse("app=web").unwrap();
        let all = FieldSelector::default();
        let first = st.list(&key(), None, &web, &all, None, 2);
        assert_eq!(first.items.len(), 2);
        assert_eq!(first.remaining, 1);
        let after = first.continue_after.clone().unwrap();
        assert_eq!(after, ("b".to_string(), "x".to_string()));
        let second = st.list(&key(), None, &web, &all, Some(&after), 2);
        assert_eq!(second.items.len(), 1);
        assert!(second.continue_after.is_none());
        let in_a = st.list(&key(), Some("a"), &LabelSelector::default(), &all, None, 0);
        assert_eq!(in_a.items.len(), 2);
    }

    #[test]
    fn event_log_expires_old_versions() {
        let mut st = ClusterState::new(Registry::new(false), "t", 2, 16);
        for i in 0..4 {
            st.put(&key(), cm("a", &format!("o{i}"), "x")).unwrap();
        }
        assert!(matches!(
            st.events_since(&key(), 1),
            Err(ApiError::Expired { .. })
        ));
        let recent = st.events_since(&key(), st.resource_version() - 1).unwrap();
        assert_eq!(recent.len(), 1);
        let removed = st.remove(&key(), "a", "o0").unwrap().unwrap();
        assert_eq!(
            removed["metadata"]["resourceVersion"],
            json!(st.resource_version().to_string())
        );
    }
}
