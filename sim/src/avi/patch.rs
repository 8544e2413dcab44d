//! PATCH semantics: `{"add": {...}}`, `{"replace": {...}}`, `{"delete": {...}}` applied to the
//! top-level fields of a stored object. Lists: `add` appends or updates the entry with the same
//! key, `replace` swaps the whole list, `delete` removes matching entries; scalars: set or reset
//! (removed, so the defaults come back). Pure.

use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchOp {
    Add,
    Replace,
    Delete,
}

/// The operations of one PATCH body with the fields each one carries.
pub type PatchOps<'a> = Vec<(PatchOp, &'a Map<String, Value>)>;

/// Splits a PATCH body into its operations, in the order add, replace, delete.
pub fn parse_patch(body: &Map<String, Value>) -> Result<PatchOps<'_>, String> {
    let mut ops = Vec::new();
    for (key, value) in body {
        let op = match key.as_str() {
            "add" => PatchOp::Add,
            "replace" => PatchOp::Replace,
            "delete" => PatchOp::Delete,
            other => {
                return Err(format!(
                    "PATCH body key '{other}' is not one of add, replace, delete"
                ));
            }
        };
        let fields = value
            .as_object()
            .ok_or_else(|| format!("PATCH '{key}' must be an object of fields"))?;
        ops.push((op, fields));
    }
    if ops.is_empty() {
        return Err("PATCH body needs one of add, replace, delete".to_string());
    }
    ops.sort_by_key(|(op, _)| *op as u8);
    Ok(ops)
}

/// Identity of a list entry, so `add` can update and `delete` can remove it. Entries with a
/// `name` (GSLB pools) match by name; pool members by `ip.addr` or `fqdn`; plain values by
/// equality. The real controller's key fields for GslbService entries are undocumented.
fn entry_key(entry: &Value) -> Value {
    if let Value::Object(map) = entry {
        if let Some(name) = map.get("name") {
            return Value::Array(vec![Value::from("name"), name.clone()]);
        }
        if let Some(addr) = map.get("ip").and_then(|ip| ip.get("addr")) {
            return Value::Array(vec![Value::from("ip"), addr.clone()]);
        }
        if let Some(fqdn) = map.get("fqdn") {
            return Value::Array(vec![Value::from("fqdn"), fqdn.clone()]);
        }
    }
    entry.clone()
}

/// Applies one operation to `target` (the stored object, canonical refs already resolved in
/// `fields`).
pub fn apply(target: &mut Map<String, Value>, op: PatchOp, fields: &Map<String, Value>) {
    for (key, value) in fields {
        if key == "_last_modified" || key == "uuid" || key == "url" {
            continue;
        }
        match op {
            PatchOp::Replace => {
                target.insert(key.clone(), value.clone());
            }
            PatchOp::Add => match (target.get_mut(key), value) {
                (Some(Value::Array(existing)), Value::Array(additions)) => {
                    for addition in additions {
                        let key_of_addition = entry_key(addition);
                        match existing
                            .iter_mut()
                            .find(|e| entry_key(e) == key_of_addition)
                        {
                            Some(slot) => *slot = addition.clone(),
                            None => existing.push(addition.clone()),
                        }
                    }
                }
                _ => {
                    target.insert(key.clone(), value.clone());
                }
            },
            PatchOp::Delete => match (target.get_mut(key), value) {
                (Some(Value::Array(existing)), Value::Array(removals)) => {
                    let keys: Vec<Value> = removals.iter().map(entry_key).collect();
                    existing.retain(|e| !keys.contains(&entry_key(e)));
                }
                _ => {
                    target.remove(key);
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn add_appends_or_updates_by_key() {
        let mut gs = map(json!({"groups": [{"name": "a", "priority": 10}], "ttl": 30}));
        apply(
            &mut gs,
            PatchOp::Add,
            &map(json!({"groups": [{"name": "a", "priority": 20}, {"name": "b"}], "ttl": 5})),
        );
        assert_eq!(gs["groups"].as_array().unwrap().len(), 2);
        assert_eq!(gs["groups"][0]["priority"], 20);
        assert_eq!(gs["ttl"], 5);
    }

    #[test]
    fn delete_removes_entries_and_resets_scalars() {
        let mut gs = map(json!({"domain_names": ["a", "b"], "ttl": 30}));
        apply(
            &mut gs,
            PatchOp::Delete,
            &map(json!({"domain_names": ["a"], "ttl": 0})),
        );
        assert_eq!(gs["domain_names"], json!(["b"]));
        assert!(gs.get("ttl").is_none());
    }

    #[test]
    fn replace_swaps_lists_and_rejects_unknown_ops() {
        let mut gs = map(json!({"domain_names": ["a", "b"]}));
        apply(
            &mut gs,
            PatchOp::Replace,
            &map(json!({"domain_names": ["c"]})),
        );
        assert_eq!(gs["domain_names"], json!(["c"]));
        assert!(parse_patch(&map(json!({"merge": {}}))).is_err());
        assert!(parse_patch(&map(json!({}))).is_err());
    }
}
