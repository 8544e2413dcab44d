//! Collection queries: parsing the query string (`page`, `page_size`, `name`, `name.contains`,
//! `name.in`, `uuid.in`, `fields`, `include_name`, `refers_to`, `referred_by`, `sort`,
//! `limit_by`, any `field=value`), matching stored objects, and paging. Duplicate parameters:
//! the first one wins (controller 30.2.1 behaviour).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::error::ApiError;
use super::refs::{RefTarget, parse_internal, slug};
use super::store::StoredObject;
use super::types::ObjType;

/// Largest page the controller serves.
pub const MAX_PAGE_SIZE: usize = 200;

/// Query parameters that shape the answer rather than filter it.
const SHAPING: &[&str] = &[
    "page",
    "page_size",
    "fields",
    "include_name",
    "sort",
    "limit_by",
    "skip_default",
];

/// Query parameters of the real API this simulator does not implement; refusing them beats
/// silently treating them as field filters.
const UNSUPPORTED: &[&str] = &[
    "search",
    "isearch",
    "exclude",
    "label_key",
    "label_value",
    "join_subresources",
    "depth",
];

#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Name(String),
    NameContains(String),
    NameIContains(String),
    NameIn(HashSet<String>),
    UuidIn(HashSet<String>),
    /// Objects referring to one of these (type, uuid or None for "any").
    RefersTo(Vec<(ObjType, Option<String>)>),
    /// Objects referred to by this object.
    ReferredBy(ObjType, String),
    Field {
        path: Vec<String>,
        value: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ListQuery {
    pub page: usize,
    pub page_size: usize,
    pub include_name: bool,
    pub fields: Option<Vec<String>>,
    pub filters: Vec<Filter>,
    /// Field to sort by and whether descending.
    pub sort: Option<(String, bool)>,
    pub limit_by: Option<usize>,
    /// The query's own `&`-separated items minus `page`, to build `next`.
    pub passthrough: Vec<String>,
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

fn parse_type_uuid_list(
    key: &str,
    value: &str,
) -> Result<Vec<(ObjType, Option<String>)>, ApiError> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (type_segment, uuid) = item
                .split_once(':')
                .ok_or_else(|| bad(format!("{key} value '{item}' must look like <type>:<uuid>")))?;
            let obj_type = ObjType::from_path(type_segment)
                .ok_or_else(|| bad(format!("{key}: unknown object type '{type_segment}'")))?;
            let uuid = match uuid {
                "any" => None,
                other => Some(slug(other).to_string()),
            };
            Ok((obj_type, uuid))
        })
        .collect()
}

/// Parses the raw query string of a collection GET.
pub fn parse_list_query(
    raw: Option<&str>,
    default_page_size: usize,
) -> Result<ListQuery, ApiError> {
    let raw = raw.unwrap_or_default();
    let mut query = ListQuery {
        page: 1,
        page_size: default_page_size,
        include_name: false,
        fields: None,
        filters: Vec::new(),
        sort: None,
        limit_by: None,
        passthrough: Vec::new(),
    };
    let mut seen = HashSet::new();
    for item in raw.split('&').filter(|s| !s.is_empty()) {
        let mut pairs = form_urlencoded::parse(item.as_bytes());
        let Some((key, value)) = pairs.next() else {
            continue;
        };
        let (key, value) = (key.into_owned(), value.into_owned());
        if key != "page" {
            query.passthrough.push(item.to_string());
        }
        if !seen.insert(key.clone()) {
            continue;
        }
        if UNSUPPORTED.contains(&key.as_str()) {
            return Err(bad(format!(
                "query parameter '{key}' is not supported by this simulator"
            )));
        }
        match key.as_str() {
            "page" => {
                query.page = value
                    .parse::<usize>()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or_else(|| bad(format!("page '{value}' must be a positive integer")))?;
            }
            "page_size" => {
                let size = value
                    .parse::<usize>()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or_else(|| {
                        bad(format!("page_size '{value}' must be a positive integer"))
                    })?;
                if size > MAX_PAGE_SIZE {
                    return Err(bad(format!(
                        "page_size cannot be more than {MAX_PAGE_SIZE} (got {size})"
                    )));
                }
                query.page_size = size;
            }
            "include_name" => query.include_name = value.is_empty() || value != "false",
            "fields" => {
                query.fields = Some(
                    value
                        .split(',')
                        .filter(|f| !f.is_empty())
                        .map(str::to_string)
                        .collect(),
                );
            }
            "sort" => {
                query.sort = Some(match value.strip_prefix('-') {
                    Some(field) => (field.to_string(), true),
                    None => (value.clone(), false),
                });
            }
            "limit_by" => {
                query.limit_by = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| bad(format!("limit_by '{value}' must be an integer")))?,
                );
            }
            "skip_default" => {}
            "name" => query.filters.push(Filter::Name(value)),
            "name.contains" => query.filters.push(Filter::NameContains(value)),
            "name.icontains" => query
                .filters
                .push(Filter::NameIContains(value.to_lowercase())),
            "name.in" => query.filters.push(Filter::NameIn(
                value.split(',').map(str::to_string).collect(),
            )),
            "uuid.in" => query.filters.push(Filter::UuidIn(
                value.split(',').map(|u| slug(u).to_string()).collect(),
            )),
            "uuid" => query.filters.push(Filter::UuidIn(
                std::iter::once(slug(&value).to_string()).collect(),
            )),
            "refers_to" => query
                .filters
                .push(Filter::RefersTo(parse_type_uuid_list("refers_to", &value)?)),
            "referred_by" => {
                let mut list = parse_type_uuid_list("referred_by", &value)?;
                match (list.pop(), list.is_empty()) {
                    (Some((obj_type, Some(uuid))), true) => {
                        query.filters.push(Filter::ReferredBy(obj_type, uuid));
                    }
                    _ => {
                        return Err(bad(
                            "referred_by takes exactly one <type>:<uuid>".to_string()
                        ));
                    }
                }
            }
            other if !SHAPING.contains(&other) => query.filters.push(Filter::Field {
                path: other.split('.').map(str::to_string).collect(),
                value,
            }),
            _ => {}
        }
    }
    Ok(query)
}

impl ListQuery {
    /// Identifies which objects (and in which order) the query selects, ignoring paging and
    /// output shaping, so consecutive pages of one listing can share a cached selection.
    pub fn selection_key(&self) -> String {
        self.passthrough
            .iter()
            .filter(|item| {
                let key = item.split('=').next().unwrap_or_default();
                !matches!(
                    key,
                    "page_size" | "fields" | "include_name" | "skip_default"
                )
            })
            .cloned()
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Does a stored JSON value equal a query-string value?
fn value_matches(stored: &Value, wanted: &str) -> bool {
    match stored {
        Value::String(s) => {
            s == wanted || parse_internal(s).is_some_and(|(_, uuid)| uuid == slug(wanted))
        }
        Value::Bool(b) => wanted.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Number(n) => n.to_string() == wanted,
        Value::Array(items) => items.iter().any(|item| value_matches(item, wanted)),
        Value::Null | Value::Object(_) => false,
    }
}

/// Walks a dotted path; `x_ref.uuid` / `x_ref.name` address a reference's target.
fn field_matches(
    body: &Map<String, Value>,
    path: &[String],
    wanted: &str,
    name_of: &dyn Fn(ObjType, &str) -> Option<String>,
) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let Some(value) = body.get(first) else {
        return false;
    };
    match (value, rest) {
        (v, []) => value_matches(v, wanted),
        (Value::Object(inner), rest) => field_matches(inner, rest, wanted, name_of),
        (Value::Array(items), rest) => items.iter().any(|item| match item {
            Value::Object(inner) => field_matches(inner, rest, wanted, name_of),
            other => ref_attribute_matches(other, rest, wanted, name_of),
        }),
        (other, rest) => ref_attribute_matches(other, rest, wanted, name_of),
    }
}

fn ref_attribute_matches(
    value: &Value,
    rest: &[String],
    wanted: &str,
    name_of: &dyn Fn(ObjType, &str) -> Option<String>,
) -> bool {
    let Some((obj_type, uuid)) = value.as_str().and_then(parse_internal) else {
        return false;
    };
    match rest {
        [attr] if attr == "uuid" => uuid == wanted,
        [attr] if attr == "name" => name_of(obj_type, uuid).as_deref() == Some(wanted),
        _ => false,
    }
}

/// Does `obj` pass every filter?
pub fn matches(
    obj: &StoredObject,
    query: &ListQuery,
    refs_of: &dyn Fn(ObjType, &str) -> Option<Vec<RefTarget>>,
    name_of: &dyn Fn(ObjType, &str) -> Option<String>,
) -> bool {
    query.filters.iter().all(|filter| match filter {
        Filter::Name(name) => &obj.name == name,
        Filter::NameContains(part) => obj.name.contains(part.as_str()),
        Filter::NameIContains(part) => obj.name.to_lowercase().contains(part.as_str()),
        Filter::NameIn(names) => names.contains(&obj.name),
        Filter::UuidIn(uuids) => uuids.contains(&obj.uuid),
        Filter::RefersTo(targets) => targets.iter().any(|(obj_type, uuid)| {
            obj.refs
                .iter()
                .any(|r| r.obj_type == *obj_type && uuid.as_ref().is_none_or(|u| &r.uuid == u))
        }),
        Filter::ReferredBy(obj_type, uuid) => refs_of(*obj_type, uuid).is_some_and(|refs| {
            refs.iter()
                .any(|r| r.obj_type == obj.obj_type && r.uuid == obj.uuid)
        }),
        Filter::Field { path, value } => field_matches(&obj.body, path, value, name_of),
    })
}

/// Sort key for `sort=<field>`: strings and numbers compare naturally, missing sorts first.
pub fn sort_key(obj: &StoredObject, field: &str) -> (u8, String, f64) {
    match obj.body.get(field) {
        Some(Value::Number(n)) => (1, String::new(), n.as_f64().unwrap_or(0.0)),
        Some(Value::String(s)) => (2, s.clone(), 0.0),
        Some(Value::Bool(b)) => (1, String::new(), if *b { 1.0 } else { 0.0 }),
        Some(other) => (3, other.to_string(), 0.0),
        None => (0, String::new(), 0.0),
    }
}

/// Keeps only the requested fields (plus the ones the controller always returns).
pub fn project(body: &mut Map<String, Value>, fields: &[String]) {
    body.retain(|key, _| {
        matches!(key.as_str(), "name" | "url" | "uuid") || fields.iter().any(|f| f == key)
    });
}

/// `next` for page `page + 1`: the original query with `page` replaced.
pub fn next_link(base: &str, obj_type: ObjType, query: &ListQuery) -> String {
    let mut items = vec![format!("page={}", query.page + 1)];
    items.extend(query.passthrough.iter().cloned());
    format!("{base}/api/{}?{}", obj_type.path(), items.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(name: &str, body: Value) -> StoredObject {
        StoredObject {
            obj_type: ObjType::HealthMonitor,
            uuid: format!("healthmonitor-{name}"),
            name: name.into(),
            tenant: "admin".into(),
            seq: 1,
            system: false,
            last_modified: 1,
            body: body.as_object().cloned().unwrap(),
            refs: Vec::new(),
            domains: Vec::new(),
        }
    }

    fn hit(obj: &StoredObject, raw: &str) -> bool {
        let query = parse_list_query(Some(raw), 25).unwrap();
        matches(obj, &query, &|_, _| None, &|_, _| Some("cloud-a".into()))
    }

    #[test]
    fn parses_paging_and_flags() {
        let q =
            parse_list_query(Some("page=2&page_size=3&include_name&fields=name,type"), 25).unwrap();
        assert_eq!((q.page, q.page_size, q.include_name), (2, 3, true));
        assert_eq!(
            q.fields.as_deref(),
            Some(&["name".to_string(), "type".to_string()][..])
        );
        assert_eq!(
            next_link("https://h", ObjType::Tenant, &q),
            "https://h/api/tenant?page=3&page_size=3&include_name&fields=name,type"
        );
        assert_eq!(q.selection_key(), "");
        let filtered = parse_list_query(Some("created_by=x&page_size=3&sort=name"), 25).unwrap();
        assert_eq!(filtered.selection_key(), "created_by=x&sort=name");
        assert!(parse_list_query(Some("page_size=201"), 25).is_err());
        assert!(parse_list_query(Some("search=x"), 25).is_err());
        // First duplicate wins.
        let q = parse_list_query(Some("name=a&name=b"), 25).unwrap();
        assert_eq!(q.filters, vec![Filter::Name("a".into())]);
    }

    #[test]
    fn filters_match_fields_refs_and_names() {
        let o = obj(
            "web-hm",
            json!({"is_federated": true, "monitor_port": 80, "created_by": "amko-1",
                   "cloud_ref": "/api/cloud/cloud-1", "http_monitor": {"http_request": "HEAD /"}}),
        );
        assert!(hit(&o, "is_federated=true"));
        assert!(hit(&o, "is_federated=True"));
        assert!(!hit(&o, "is_federated=false"));
        assert!(hit(&o, "created_by=amko-1&monitor_port=80"));
        assert!(hit(&o, "http_monitor.http_request=HEAD%20%2F"));
        assert!(hit(&o, "cloud_ref.uuid=cloud-1"));
        assert!(hit(&o, "cloud_ref.name=cloud-a"));
        assert!(hit(&o, "name.contains=web"));
        assert!(hit(&o, "name.icontains=WEB"));
        assert!(hit(&o, "name.in=x,web-hm"));
        assert!(hit(&o, "uuid.in=healthmonitor-web-hm"));
        assert!(!hit(&o, "missing_field=1"));
    }
}
