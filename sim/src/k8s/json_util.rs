//! Writing into nested JSON taken from requests without panicking on unexpected shapes
//! (`serde_json`'s `IndexMut` panics when a step is not an object).

use serde_json::{Map, Value};

/// The object at `path` below `value`, turning `value` and every step into an object when it is
/// something else.
pub fn object_at<'a>(value: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    let mut current = value;
    for key in path {
        if !current.is_object() {
            *current = Value::Object(Map::new());
        }
        current = match current {
            Value::Object(map) => map.entry(key.to_string()).or_insert(Value::Null),
            other => other,
        };
    }
    if !current.is_object() {
        *current = Value::Object(Map::new());
    }
    match current {
        Value::Object(map) => map,
        // Made an object just above; this arm only satisfies the type checker.
        _ => unreachable!("value was just made an object"),
    }
}

/// Sets `path` (the last element is the key) to `new`.
pub fn set(value: &mut Value, path: &[&str], new: Value) {
    if let Some((last, parents)) = path.split_last() {
        object_at(value, parents).insert(last.to_string(), new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replaces_non_objects_on_the_way() {
        let mut v = json!({"spec": "oops", "keep": 1});
        set(&mut v, &["spec", "template", "labels", "x"], json!("y"));
        assert_eq!(
            v,
            json!({"spec": {"template": {"labels": {"x": "y"}}}, "keep": 1})
        );
        let mut n = json!(5);
        object_at(&mut n, &[]).insert("a".into(), json!(1));
        assert_eq!(n, json!({"a": 1}));
    }
}
