//! Object references (`*_ref` / `*_refs` fields): parsing what clients send (full URLs, paths,
//! `?name=` lookups, `#name` suffixes), the canonical stored form `/api/<type>/<uuid>`, and
//! rendering back to absolute URLs with optional `#<name>`.

use serde_json::{Map, Value};

use super::types::ObjType;

/// What a client-supplied reference asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefSpec {
    ByUuid { obj_type: ObjType, uuid: String },
    ByName { obj_type: ObjType, name: String },
}

/// A resolved reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefTarget {
    pub obj_type: ObjType,
    pub uuid: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefField {
    Single,
    List,
}

/// Reference fields follow the controller's naming convention.
pub fn ref_field(key: &str) -> Option<RefField> {
    if key.ends_with("_refs") {
        Some(RefField::List)
    } else if key.ends_with("_ref") {
        Some(RefField::Single)
    } else {
        None
    }
}

pub fn internal_ref(obj_type: ObjType, uuid: &str) -> String {
    format!("/api/{}/{}", obj_type.path(), uuid)
}

/// Splits a stored `/api/<type>/<uuid>` back into its parts.
pub fn parse_internal(stored: &str) -> Option<(ObjType, &str)> {
    let rest = stored.strip_prefix("/api/")?;
    let (type_segment, uuid) = rest.split_once('/')?;
    Some((ObjType::from_path(type_segment)?, uuid))
}

/// Parses any reference form the controller accepts.
pub fn parse_ref(raw: &str) -> Result<RefSpec, String> {
    let without_fragment = raw.split('#').next().unwrap_or_default();
    let path_and_query = match without_fragment.find("://") {
        // The host is ignored (AMKO even sends `https:///api/...`).
        Some(scheme_end) => {
            let after_scheme = &without_fragment[scheme_end + 3..];
            match after_scheme.find('/') {
                Some(slash) => &after_scheme[slash..],
                None => return Err(format!("reference '{raw}' has no /api/ path")),
            }
        }
        None => without_fragment,
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let rest = path
        .trim_start_matches('/')
        .strip_prefix("api/")
        .ok_or_else(|| format!("reference '{raw}' is not an /api/ URL"))?;
    let mut segments = rest.split('/').filter(|s| !s.is_empty());
    let type_segment = segments
        .next()
        .ok_or_else(|| format!("reference '{raw}' names no object type"))?;
    let obj_type = ObjType::from_path(type_segment).ok_or_else(|| {
        format!("reference '{raw}' points to object type '{type_segment}', which this controller does not serve")
    })?;
    if let Some(uuid) = segments.next() {
        return Ok(RefSpec::ByUuid {
            obj_type,
            uuid: uuid.to_string(),
        });
    }
    let name = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v.into_owned())
    });
    match name {
        Some(name) if !name.is_empty() => Ok(RefSpec::ByName { obj_type, name }),
        _ => Err(format!("reference '{raw}' has neither a uuid nor ?name=")),
    }
}

/// Rewrites every reference in `body` (at any depth) with `resolve`, returning the targets.
/// `resolve` gets the field name (for messages) and the parsed reference.
pub fn resolve_refs(
    body: &mut Map<String, Value>,
    resolve: &mut dyn FnMut(&str, &RefSpec) -> Result<RefTarget, String>,
) -> Result<Vec<RefTarget>, String> {
    let mut targets = Vec::new();
    resolve_map(body, resolve, &mut targets)?;
    targets.sort();
    targets.dedup();
    Ok(targets)
}

fn resolve_one(
    key: &str,
    value: &mut Value,
    resolve: &mut dyn FnMut(&str, &RefSpec) -> Result<RefTarget, String>,
    targets: &mut Vec<RefTarget>,
) -> Result<(), String> {
    let Value::String(raw) = value else {
        return Err(format!("field '{key}' must be a reference string"));
    };
    let spec = parse_ref(raw).map_err(|e| format!("field '{key}': {e}"))?;
    let target = resolve(key, &spec)?;
    *raw = internal_ref(target.obj_type, &target.uuid);
    targets.push(target);
    Ok(())
}

fn resolve_map(
    map: &mut Map<String, Value>,
    resolve: &mut dyn FnMut(&str, &RefSpec) -> Result<RefTarget, String>,
    targets: &mut Vec<RefTarget>,
) -> Result<(), String> {
    for (key, value) in map.iter_mut() {
        match (ref_field(key), value) {
            (_, Value::Null) => {}
            (Some(RefField::Single), value) => resolve_one(key, value, resolve, targets)?,
            (Some(RefField::List), Value::Array(items)) => {
                for item in items {
                    resolve_one(key, item, resolve, targets)?;
                }
            }
            (Some(RefField::List), _) => {
                return Err(format!("field '{key}' must be a list of references"));
            }
            (None, Value::Object(inner)) => resolve_map(inner, resolve, targets)?,
            (None, Value::Array(items)) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        resolve_map(inner, resolve, targets)?;
                    }
                }
            }
            (None, _) => {}
        }
    }
    Ok(())
}

/// Turns stored references into absolute URLs (`<base>/api/<type>/<uuid>[#name]`).
pub fn render_refs(
    map: &mut Map<String, Value>,
    base: &str,
    name_of: &dyn Fn(ObjType, &str) -> Option<String>,
) {
    for (key, value) in map.iter_mut() {
        match (ref_field(key), value) {
            (Some(_), Value::String(s)) => render_one(s, base, name_of),
            (Some(_), Value::Array(items)) => {
                for item in items {
                    if let Value::String(s) = item {
                        render_one(s, base, name_of);
                    }
                }
            }
            (None, Value::Object(inner)) => render_refs(inner, base, name_of),
            (None, Value::Array(items)) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        render_refs(inner, base, name_of);
                    }
                }
            }
            _ => {}
        }
    }
}

fn render_one(stored: &mut String, base: &str, name_of: &dyn Fn(ObjType, &str) -> Option<String>) {
    let Some((obj_type, uuid)) = parse_internal(stored) else {
        return;
    };
    let rendered = match name_of(obj_type, uuid) {
        Some(name) => format!("{base}{stored}#{name}"),
        None => format!("{base}{stored}"),
    };
    *stored = rendered;
}

/// The uuid a (client-side) ref or filter value names: last path segment without `#...`.
pub fn slug(value: &str) -> &str {
    let no_fragment = value.split('#').next().unwrap_or_default();
    let no_query = no_fragment.split('?').next().unwrap_or_default();
    no_query
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_accepted_form() {
        let by_uuid = RefSpec::ByUuid {
            obj_type: ObjType::HealthMonitor,
            uuid: "healthmonitor-1".into(),
        };
        assert_eq!(
            parse_ref("https://10.0.0.1/api/healthmonitor/healthmonitor-1#hm").unwrap(),
            by_uuid
        );
        assert_eq!(
            parse_ref("/api/healthmonitor/healthmonitor-1").unwrap(),
            by_uuid
        );
        let by_name = RefSpec::ByName {
            obj_type: ObjType::Tenant,
            name: "admin".into(),
        };
        assert_eq!(
            parse_ref("https:///api/tenant/?name=admin").unwrap(),
            by_name
        );
        assert_eq!(parse_ref("/api/tenant?name=admin").unwrap(), by_name);
        assert!(parse_ref("/api/pool?name=x").is_err());
        assert!(parse_ref("/api/healthmonitor").is_err());
        assert!(parse_ref("healthmonitor-1").is_err());
    }

    #[test]
    fn resolves_and_renders_nested_refs() {
        let mut body = json!({
            "health_monitor_refs": ["/api/healthmonitor?name=a"],
            "inner": {"pki_profile_ref": "/api/pkiprofile/pkiprofile-9"},
            "name": "x"
        });
        let map = body.as_object_mut().unwrap();
        let targets = resolve_refs(map, &mut |_, spec| match spec {
            RefSpec::ByName { obj_type, .. } => Ok(RefTarget {
                obj_type: *obj_type,
                uuid: "healthmonitor-1".into(),
            }),
            RefSpec::ByUuid { obj_type, uuid } => Ok(RefTarget {
                obj_type: *obj_type,
                uuid: uuid.clone(),
            }),
        })
        .unwrap();
        assert_eq!(targets.len(), 2);
        render_refs(map, "https://h", &|_, uuid| Some(format!("n-{uuid}")));
        assert_eq!(
            map["health_monitor_refs"][0],
            "https://h/api/healthmonitor/healthmonitor-1#n-healthmonitor-1"
        );
    }

    #[test]
    fn slug_strips_path_and_fragment() {
        assert_eq!(slug("https://h/api/tenant/admin#admin"), "admin");
        assert_eq!(slug("healthmonitor-1"), "healthmonitor-1");
    }
}
