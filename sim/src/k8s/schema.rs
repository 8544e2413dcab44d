//! Validation of custom resources against their CRD's structural OpenAPI v3 schema, as a real API
//! server does it: defaulting, pruning of unknown fields, then type / required / enum / bounds /
//! length / pattern checks and `x-kubernetes-validations` CEL rules, reported with field paths.

use serde_json::{Map, Value};

use super::cel_rules::{self, Rule, RuleFailure};
use super::error::FieldCause;

/// What validation found: field errors, and the unknown fields it pruned.
#[derive(Debug, Default)]
pub struct Outcome {
    pub causes: Vec<FieldCause>,
    pub unknown_fields: Vec<String>,
}

/// Defaults, prunes and validates `object` (a whole custom resource) in place. `old` is the
/// stored object on update, for CEL transition rules.
pub fn validate_custom_resource(
    schema: &Value,
    object: &mut Value,
    old: Option<&Value>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let Some(root) = object.as_object_mut() else {
        outcome.causes.push(FieldCause::new(
            "FieldValueInvalid",
            "",
            "the object must be a JSON object",
        ));
        return outcome;
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    let preserve = preserves_unknown(schema);
    // apiVersion, kind and metadata are validated by the server itself, not by the schema.
    let keys: Vec<String> = root.keys().cloned().collect();
    for key in keys {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        let Some(prop_schema) = properties.and_then(|p| p.get(&key)) else {
            if !preserve {
                root.remove(&key);
                outcome.unknown_fields.push(key.clone());
            }
            continue;
        };
        let old_value = old.and_then(|o| o.get(&key));
        if let Some(value) = root.get_mut(&key) {
            if value.is_null() && !nullable(prop_schema) {
                root.remove(&key);
                continue;
            }
            walk(prop_schema, value, old_value, &key, &mut outcome);
        }
    }
    if let Some(props) = properties {
        for (key, prop_schema) in props {
            if !root.contains_key(key)
                && !matches!(key.as_str(), "apiVersion" | "kind" | "metadata")
                && let Some(default) = prop_schema.get("default")
            {
                let mut value = default.clone();
                walk(prop_schema, &mut value, None, key, &mut outcome);
                root.insert(key.clone(), value);
            }
        }
    }
    required(schema, root, "", &mut outcome);
    let whole = Value::Object(root.clone());
    rules(schema, &whole, old, "", &mut outcome);
    outcome
}

fn preserves_unknown(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

fn nullable(schema: &Value) -> bool {
    schema.get("nullable").and_then(Value::as_bool) == Some(true)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Object(_) => "\"object\"".into(),
        Value::Array(_) => "\"array\"".into(),
        other => other.to_string(),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Defaults, prunes and validates one value against its schema node.
fn walk(schema: &Value, value: &mut Value, old: Option<&Value>, path: &str, out: &mut Outcome) {
    if value.is_null() {
        if !nullable(schema) {
            out.causes.push(FieldCause::new(
                "FieldValueInvalid",
                path,
                format!(
                    "Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                    type_name(schema)
                ),
            ));
        }
        return;
    }
    if !type_matches(schema, value) {
        out.causes.push(FieldCause::new(
            "FieldValueInvalid",
            path,
            format!(
                "Invalid value: {}: {path} in body must be of type {}: \"{}\"",
                describe(value),
                type_name(schema),
                json_type(value)
            ),
        ));
        return;
    }
    match value {
        Value::Object(map) => walk_object(schema, map, old, path, out),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                let old_items = old.and_then(Value::as_array);
                for (i, item) in items.iter_mut().enumerate() {
                    let old_item = old_items.and_then(|o| o.get(i));
                    walk(item_schema, item, old_item, &format!("{path}[{i}]"), out);
                }
            }
            bounds_on_count(
                schema,
                "minItems",
                "maxItems",
                items.len(),
                path,
                "items",
                out,
            );
            list_type_uniqueness(schema, items, path, out);
        }
        Value::String(s) => {
            bounds_on_count(
                schema,
                "minLength",
                "maxLength",
                s.chars().count(),
                path,
                "chars long",
                out,
            );
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
                match regex::Regex::new(pattern) {
                    Ok(re) if !re.is_match(s) => out.causes.push(FieldCause::new(
                        "FieldValueInvalid",
                        path,
                        format!("Invalid value: {s:?}: {path} in body should match '{pattern}'"),
                    )),
                    Ok(_) => {}
                    Err(e) => out.causes.push(FieldCause::new(
                        "FieldValueInvalid",
                        path,
                        format!(
                            "the schema pattern '{pattern}' is not a valid regular expression: {e}"
                        ),
                    )),
                }
            }
        }
        Value::Number(n) => numeric_bounds(schema, n, path, out),
        _ => {}
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let supported: Vec<String> = allowed.iter().map(Value::to_string).collect();
        out.causes.push(FieldCause::new(
            "FieldValueNotSupported",
            path,
            format!(
                "Unsupported value: {}: supported values: {}",
                value,
                supported.join(", ")
            ),
        ));
    }
    rules(schema, value, old, path, out);
}

fn walk_object(
    schema: &Value,
    map: &mut Map<String, Value>,
    old: Option<&Value>,
    path: &str,
    out: &mut Outcome,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    let preserve =
        preserves_unknown(schema) || schema.get("additionalProperties") == Some(&Value::Bool(true));
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let child_path = join(path, &key);
        let child_schema = properties.and_then(|p| p.get(&key)).or(additional);
        let Some(child_schema) = child_schema else {
            if !preserve
                && (properties.is_some()
                    || schema.get("type").and_then(Value::as_str) == Some("object"))
            {
                map.remove(&key);
                out.unknown_fields.push(child_path);
            }
            continue;
        };
        let old_child = old.and_then(|o| o.get(&key));
        if map.get(&key).is_some_and(Value::is_null) && !nullable(child_schema) {
            map.remove(&key);
            continue;
        }
        if let Some(child) = map.get_mut(&key) {
            walk(child_schema, child, old_child, &child_path, out);
        }
    }
    if let Some(props) = properties {
        for (key, prop_schema) in props {
            if !map.contains_key(key)
                && let Some(default) = prop_schema.get("default")
            {
                let mut value = default.clone();
                walk(prop_schema, &mut value, None, &join(path, key), out);
                map.insert(key.clone(), value);
            }
        }
    }
    required(schema, map, path, out);
    bounds_on_count(
        schema,
        "minProperties",
        "maxProperties",
        map.len(),
        path,
        "properties",
        out,
    );
}

/// `x-kubernetes-list-type: set` items, and `map` items' `x-kubernetes-list-map-keys`, must be
/// unique, as a real API server enforces.
fn list_type_uniqueness(schema: &Value, items: &[Value], path: &str, out: &mut Outcome) {
    let identity = |item: &Value| -> Option<Value> {
        match schema
            .get("x-kubernetes-list-type")
            .and_then(Value::as_str)?
        {
            "set" => Some(item.clone()),
            "map" => {
                let keys = schema.get("x-kubernetes-list-map-keys")?.as_array()?;
                let mut id = Map::new();
                for key in keys.iter().filter_map(Value::as_str) {
                    id.insert(
                        key.to_owned(),
                        item.get(key).cloned().unwrap_or(Value::Null),
                    );
                }
                Some(Value::Object(id))
            }
            _ => None,
        }
    };
    let mut seen: Vec<Value> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(id) = identity(item) else { return };
        if seen.contains(&id) {
            out.causes.push(FieldCause::new(
                "FieldValueDuplicate",
                format!("{path}[{i}]"),
                format!("Duplicate value: {id}"),
            ));
        } else {
            seen.push(id);
        }
    }
}

fn required(schema: &Value, map: &Map<String, Value>, path: &str, out: &mut Outcome) {
    for field in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = field.as_str()
            && !map.contains_key(name)
        {
            out.causes.push(FieldCause::new(
                "FieldValueRequired",
                join(path, name),
                "Required value",
            ));
        }
    }
}

fn rules(schema: &Value, value: &Value, old: Option<&Value>, path: &str, out: &mut Outcome) {
    for entry in schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(rule) = Rule::from_schema(entry) else {
            continue;
        };
        let field = match &rule.field_path {
            Some(rel) => format!("{path}{rel}"),
            None => path.to_string(),
        };
        match cel_rules::check(&rule, value, old) {
            Ok(()) => {}
            Err(RuleFailure::Failed(message)) => out.causes.push(FieldCause::new(
                "FieldValueInvalid",
                field,
                format!("Invalid value: {}: {message}", describe(value)),
            )),
            Err(RuleFailure::Error(message)) => {
                out.causes
                    .push(FieldCause::new("FieldValueInvalid", field, message))
            }
        }
    }
}

fn type_name(schema: &Value) -> &str {
    schema.get("type").and_then(Value::as_str).unwrap_or("any")
}

fn type_matches(schema: &Value, value: &Value) -> bool {
    if schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return matches!(json_type(value), "integer" | "string");
    }
    match schema.get("type").and_then(Value::as_str) {
        None => true,
        Some("number") => value.is_number(),
        Some(expected) => json_type(value) == expected,
    }
}

fn bounds_on_count(
    schema: &Value,
    min_key: &str,
    max_key: &str,
    count: usize,
    path: &str,
    unit: &str,
    out: &mut Outcome,
) {
    if let Some(min) = schema.get(min_key).and_then(Value::as_u64)
        && (count as u64) < min
    {
        out.causes.push(FieldCause::new(
            "FieldValueInvalid",
            path,
            format!("Invalid value: {count}: {path} in body should have at least {min} {unit}"),
        ));
    }
    if let Some(max) = schema.get(max_key).and_then(Value::as_u64)
        && (count as u64) > max
    {
        out.causes.push(FieldCause::new(
            "FieldValueTooLong",
            path,
            format!("Too long: may not be more than {max} {unit}"),
        ));
    }
}

fn numeric_bounds(schema: &Value, n: &serde_json::Number, path: &str, out: &mut Outcome) {
    let Some(x) = n.as_f64() else { return };
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let exclusive = schema.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
        if x < min || (exclusive && x == min) {
            let relation = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            out.causes.push(FieldCause::new(
                "FieldValueInvalid",
                path,
                format!(
                    "Invalid value: {n}: {path} in body should be {relation} {}",
                    trim_float(min)
                ),
            ));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let exclusive = schema.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
        if x > max || (exclusive && x == max) {
            let relation = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            out.causes.push(FieldCause::new(
                "FieldValueInvalid",
                path,
                format!(
                    "Invalid value: {n}: {path} in body should be {relation} {}",
                    trim_float(max)
                ),
            ));
        }
    }
}

fn trim_float(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["size"],
        "x-kubernetes-validations": [{"rule": "!has(self.hashMask) || self.algo == 'HASH'", "message": "hashMask needs algo HASH"}],
        "properties": {
            "size": {"type": "integer", "minimum": 1, "maximum": 10},
            "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
            "algo": {"type": "string"},
            "hashMask": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }}}})
    }

    fn fields(outcome: &Outcome) -> Vec<String> {
        outcome.causes.iter().map(|c| c.field.clone()).collect()
    }

    #[test]
    fn defaults_prunes_and_accepts_a_valid_object() {
        let mut obj = json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 3, "extra": 1, "labels": {"a": "b"}, "free": {"x": {"y": 1}}}, "junk": true});
        let out = validate_custom_resource(&schema(), &mut obj, None);
        assert!(out.causes.is_empty(), "{:?}", out.causes);
        assert_eq!(obj["spec"]["color"], "red");
        assert!(obj["spec"].get("extra").is_none());
        assert!(obj.get("junk").is_none());
        assert_eq!(obj["spec"]["free"]["x"]["y"], 1);
        assert_eq!(
            out.unknown_fields,
            vec!["junk".to_string(), "spec.extra".to_string()]
        );
    }

    #[test]
    fn reports_every_violation_with_its_path() {
        let mut obj = json!({"spec": {"size": 11, "color": "pink", "tags": ["long-tag"], "hashMask": 8, "algo": "RR"}});
        let out = validate_custom_resource(&schema(), &mut obj, None);
        assert_eq!(
            fields(&out),
            vec!["spec.color", "spec.size", "spec.tags[0]", "spec"]
        );
        assert!(
            out.causes[1]
                .message
                .contains("should be less than or equal to 10")
        );
        assert!(out.causes[3].message.contains("hashMask needs algo HASH"));
        let mut missing = json!({"spec": {"size": "3"}});
        let out = validate_custom_resource(&schema(), &mut missing, None);
        assert!(
            out.causes[0].message.contains("must be of type integer"),
            "{:?}",
            out.causes
        );
        let mut empty = json!({"spec": {}});
        let out = validate_custom_resource(&schema(), &mut empty, None);
        assert_eq!(fields(&out), vec!["spec.size"]);
    }
}
