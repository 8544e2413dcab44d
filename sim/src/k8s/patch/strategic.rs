//! Strategic merge patch for the built-in kinds: maps merge, `null` deletes, lists of objects merge
//! by their merge key (containers by name, ports by containerPort/port, ...), and the directives
//! `$patch`, `$setElementOrder/<list>`, `$retainKeys` and `$deleteFromPrimitiveList/<list>`.

use serde_json::{Map, Value};

const SET_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE: &str = "$deleteFromPrimitiveList/";
const RETAIN_KEYS: &str = "$retainKeys";
const PATCH: &str = "$patch";

/// How a list field merges, decided by its name (and, for `ports`, by what its elements hold).
enum ListStrategy {
    ByKey(&'static str),
    PrimitiveUnion,
    Replace,
}

fn list_strategy(field: &str, patch_items: &[Value], live_items: &[Value]) -> ListStrategy {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => ListStrategy::ByKey("name"),
        "volumeMounts" => ListStrategy::ByKey("mountPath"),
        "volumeDevices" => ListStrategy::ByKey("devicePath"),
        "hostAliases" => ListStrategy::ByKey("ip"),
        "conditions" => ListStrategy::ByKey("type"),
        "ownerReferences" => ListStrategy::ByKey("uid"),
        "topologySpreadConstraints" => ListStrategy::ByKey("topologyKey"),
        "readinessGates" => ListStrategy::ByKey("conditionType"),
        "ports" => {
            let has_container_port = patch_items
                .iter()
                .chain(live_items)
                .any(|item| item.get("containerPort").is_some());
            ListStrategy::ByKey(if has_container_port {
                "containerPort"
            } else {
                "port"
            })
        }
        "finalizers" => ListStrategy::PrimitiveUnion,
        _ => ListStrategy::Replace,
    }
}

/// Applies a strategic merge patch to `doc` in place.
pub fn strategic_merge(doc: &mut Value, patch: &Value) {
    match (doc.as_object_mut(), patch.as_object()) {
        (Some(live), Some(patch)) => merge_map(live, patch),
        _ => *doc = strip_directives(patch),
    }
}

fn merge_map(live: &mut Map<String, Value>, patch: &Map<String, Value>) {
    if patch.get(PATCH).and_then(Value::as_str) == Some("replace") {
        *live = match strip_directives(&Value::Object(patch.clone())) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        return;
    }
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                live.remove(key);
            }
            Value::Object(patch_map) => {
                if patch_map.get(PATCH).and_then(Value::as_str) == Some("delete") {
                    live.remove(key);
                    continue;
                }
                match live.get_mut(key) {
                    Some(Value::Object(live_map)) => merge_map(live_map, patch_map),
                    _ => {
                        let mut fresh = Map::new();
                        merge_map(&mut fresh, patch_map);
                        live.insert(key.clone(), Value::Object(fresh));
                    }
                }
            }
            Value::Array(patch_items) => {
                let live_items = match live.get(key) {
                    Some(Value::Array(items)) => items.clone(),
                    _ => Vec::new(),
                };
                let merged = merge_list(key, live_items, patch_items);
                live.insert(key.clone(), Value::Array(merged));
            }
            scalar => {
                live.insert(key.clone(), scalar.clone());
            }
        }
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE)
            && let (Some(Value::Array(items)), Some(remove)) =
                (live.get_mut(field), value.as_array())
        {
            items.retain(|item| !remove.contains(item));
        }
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(SET_ORDER)
            && let (Some(Value::Array(items)), Some(order)) =
                (live.get_mut(field), value.as_array())
        {
            reorder(field, items, order);
        }
    }
    if let Some(Value::Array(retain)) = patch.get(RETAIN_KEYS) {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        live.retain(|k, _| keep.contains(&k.as_str()));
    }
}

fn merge_list(field: &str, mut live: Vec<Value>, patch: &[Value]) -> Vec<Value> {
    if patch
        .iter()
        .any(|p| p.get(PATCH).and_then(Value::as_str) == Some("replace"))
    {
        return patch
            .iter()
            .filter(|p| p.get(PATCH).and_then(Value::as_str) != Some("replace"))
            .map(strip_directives)
            .collect();
    }
    match list_strategy(field, patch, &live) {
        ListStrategy::Replace => patch.iter().map(strip_directives).collect(),
        ListStrategy::PrimitiveUnion => {
            for item in patch {
                if !live.contains(item) {
                    live.push(item.clone());
                }
            }
            live
        }
        ListStrategy::ByKey(merge_key) => {
            for item in patch {
                let Some(item_map) = item.as_object() else {
                    live.push(item.clone());
                    continue;
                };
                let key_value = item_map.get(merge_key);
                let position =
                    key_value.and_then(|kv| live.iter().position(|l| l.get(merge_key) == Some(kv)));
                let directive = item_map.get(PATCH).and_then(Value::as_str);
                match (position, directive) {
                    (Some(_), Some("delete")) => {
                        live.retain(|l| l.get(merge_key) != key_value);
                    }
                    (None, Some("delete")) => {}
                    (Some(i), _) => {
                        if let Some(live_map) = live[i].as_object_mut() {
                            merge_map(live_map, item_map);
                        }
                    }
                    (None, _) => {
                        let mut fresh = Map::new();
                        merge_map(&mut fresh, item_map);
                        live.push(Value::Object(fresh));
                    }
                }
            }
            live
        }
    }
}

/// Orders `items` as `order` lists them (by merge key, or by value for primitives); items the
/// order does not mention keep their relative order after the listed ones.
fn reorder(field: &str, items: &mut Vec<Value>, order: &[Value]) {
    let merge_key = match list_strategy(field, order, items) {
        ListStrategy::ByKey(k) => Some(k),
        _ => None,
    };
    let rank = |item: &Value| -> usize {
        order
            .iter()
            .position(|o| match merge_key {
                Some(k) => o.get(k).is_some() && o.get(k) == item.get(k),
                None => o == item,
            })
            .unwrap_or(usize::MAX)
    };
    let mut ranked: Vec<(usize, usize, Value)> = items
        .drain(..)
        .enumerate()
        .map(|(i, v)| (rank(&v), i, v))
        .collect();
    ranked.sort_by_key(|(r, i, _)| (*r, *i));
    items.extend(ranked.into_iter().map(|(_, _, v)| v));
}

/// A copy of `value` without patch directives (for values that are inserted, not merged).
fn strip_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "busybox:1.36"}
        ]}}}})
    }

    #[test]
    fn containers_merge_by_name_with_set_element_order() {
        let mut doc = deployment();
        strategic_merge(
            &mut doc,
            &json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"web"}],
                "containers":[{"image":"nginx:1.27","name":"web"}]}}}}),
        );
        let containers = &doc["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["name"], "sidecar");
        assert_eq!(containers[1]["image"], "nginx:1.27");
        assert_eq!(containers[1]["ports"][0]["containerPort"], 80);
    }

    #[test]
    fn delete_directive_and_null_fields() {
        let mut doc = deployment();
        strategic_merge(
            &mut doc,
            &json!({"spec":{"template":{"spec":{"containers":[
                {"env": null, "name": "web", "ports": [{"containerPort": 8080}]},
                {"$patch": "delete", "name": "sidecar"}]}}}}),
        );
        let containers = doc["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1);
        assert!(containers[0].get("env").is_none());
        let ports = containers[0]["ports"].as_array().unwrap();
        assert_eq!(ports.len(), 2, "ports merge by containerPort");
    }

    #[test]
    fn service_ports_merge_by_port_and_other_lists_replace() {
        let mut doc = json!({"spec": {"ports": [{"port": 80, "name": "http"}], "externalIPs": ["1.1.1.1"]},
                             "metadata": {"finalizers": ["a"]}});
        strategic_merge(
            &mut doc,
            &json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}], "externalIPs": ["2.2.2.2"]},
                    "metadata": {"finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]}}),
        );
        assert_eq!(
            doc["spec"]["ports"],
            json!([{"port": 80, "name": "http", "targetPort": 8080}])
        );
        assert_eq!(doc["spec"]["externalIPs"], json!(["2.2.2.2"]));
        assert_eq!(doc["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn replace_and_retain_keys() {
        let mut doc = json!({"data": {"a": "1", "b": "2"}, "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        strategic_merge(
            &mut doc,
            &json!({"data": {"$patch": "replace", "c": "3"},
                    "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
        );
        assert_eq!(doc["data"], json!({"c": "3"}));
        assert_eq!(doc["spec"]["strategy"], json!({"type": "Recreate"}));
    }
}
