//! Parsing of API requests: the URL path into what it addresses, the query string (kube-rs sends
//! `?&…` with an empty first pair), and request bodies (JSON, YAML, protobuf).

use std::collections::HashMap;

use serde_json::Value;

use super::error::ApiError;
use super::protobuf;

/// What a request path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiPath {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    ResourceList {
        group: String,
        version: String,
    },
    OpenApiV2,
    OpenApiV3Root,
    OpenApiV3 {
        group: String,
        version: String,
    },
    /// A resource collection or object, e.g. `/apis/apps/v1/namespaces/ns/deployments/web/status`.
    Resource(ResourcePath),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The legacy `/watch/` path form.
    pub watch: bool,
}

fn decode_segment(s: &str) -> String {
    percent_decode(s)
}

/// `s` as one URL path segment: everything but letters, digits, `-._~` and the readable `:@`
/// percent-encoded (a cluster name under `/clusters/` may hold `/`, spaces, `%`, `?`, `#`).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A path segment `encode_segment` (or any client) wrote, decoded.
pub(crate) fn decode_path_segment(s: &str) -> String {
    percent_decode(s)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

pub fn parse_path(path: &str) -> Option<ApiPath> {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["version"] => Some(ApiPath::Version),
        ["healthz"] | ["livez"] | ["readyz"] => Some(ApiPath::Health),
        ["api"] => Some(ApiPath::CoreVersions),
        ["apis"] => Some(ApiPath::Groups),
        ["openapi", "v2"] | ["swagger.json"] => Some(ApiPath::OpenApiV2),
        ["openapi", "v3"] => Some(ApiPath::OpenApiV3Root),
        ["openapi", "v3", "api", v] => Some(ApiPath::OpenApiV3 {
            group: String::new(),
            version: v.to_string(),
        }),
        ["openapi", "v3", "apis", g, v] => Some(ApiPath::OpenApiV3 {
            group: g.to_string(),
            version: v.to_string(),
        }),
        ["api", v] => Some(ApiPath::ResourceList {
            group: String::new(),
            version: v.to_string(),
        }),
        ["apis", g] => Some(ApiPath::Group(g.to_string())),
        ["apis", g, v] => Some(ApiPath::ResourceList {
            group: g.to_string(),
            version: v.to_string(),
        }),
        ["api", v, rest @ ..] => resource_path("", v, rest).map(ApiPath::Resource),
        ["apis", g, v, rest @ ..] => resource_path(g, v, rest).map(ApiPath::Resource),
        _ => None,
    }
}

fn resource_path(group: &str, version: &str, rest: &[&str]) -> Option<ResourcePath> {
    let (watch, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let base = ResourcePath {
        group: group.into(),
        version: version.into(),
        watch,
        ..Default::default()
    };
    let s = |x: &str| Some(x.to_string());
    Some(match rest {
        // The Namespace object itself and its subresources.
        ["namespaces"] => ResourcePath {
            plural: "namespaces".into(),
            ..base
        },
        ["namespaces", name] => ResourcePath {
            plural: "namespaces".into(),
            name: s(name),
            ..base
        },
        ["namespaces", name, sub @ ("status" | "finalize")] => ResourcePath {
            plural: "namespaces".into(),
            name: s(name),
            subresource: s(sub),
            ..base
        },
        ["namespaces", ns, plural] => ResourcePath {
            namespace: s(ns),
            plural: plural.to_string(),
            ..base
        },
        ["namespaces", ns, plural, name] => ResourcePath {
            namespace: s(ns),
            plural: plural.to_string(),
            name: s(name),
            ..base
        },
        ["namespaces", ns, plural, name, sub] => ResourcePath {
            namespace: s(ns),
            plural: plural.to_string(),
            name: s(name),
            subresource: s(sub),
            ..base
        },
        [plural] => ResourcePath {
            plural: plural.to_string(),
            ..base
        },
        [plural, name] => ResourcePath {
            plural: plural.to_string(),
            name: s(name),
            ..base
        },
        [plural, name, sub] => ResourcePath {
            plural: plural.to_string(),
            name: s(name),
            subresource: s(sub),
            ..base
        },
        _ => return None,
    })
}

/// Query parameters; empty pairs (`?&limit=1`) are ignored.
#[derive(Clone, Debug, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(query: Option<&str>) -> Self {
        let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Query(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    pub fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::BadRequest(format!("invalid value for {key}: {v:?} is not a number"))
            }),
        }
    }
}

/// Decodes a request body by its Content-Type. An empty body is `null`.
pub fn decode_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media == "application/vnd.kubernetes.protobuf" {
        return protobuf::decode(body);
    }
    if media.ends_with("yaml") {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::BadRequest("the YAML body is not UTF-8".into()))?;
        return serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding the request body as JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("/apis/apps/v1/namespaces/ns/deployments/web/status"),
            Some(ApiPath::Resource(ResourcePath {
                group: "apps".into(),
                version: "v1".into(),
                namespace: Some("ns".into()),
                plural: "deployments".into(),
                name: Some("web".into()),
                subresource: Some("status".into()),
                watch: false,
            }))
        );
        match parse_path("/api/v1/namespaces/ns") {
            Some(ApiPath::Resource(p)) => assert_eq!(
                (p.plural.as_str(), p.name.as_deref(), p.namespace),
                ("namespaces", Some("ns"), None)
            ),
            other => panic!("{other:?}"),
        }
        match parse_path("/api/v1/watch/namespaces/ns/secrets") {
            Some(ApiPath::Resource(p)) => assert!(p.watch && p.plural == "secrets"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_path("/openapi/v3/apis/apps/v1"),
            Some(ApiPath::OpenApiV3 {
                group: "apps".into(),
                version: "v1".into()
            })
        );
        assert_eq!(parse_path("/nope"), None);
    }

    #[test]
    fn queries_skip_empty_pairs_and_decode() {
        let q = Query::parse(Some("&limit=2&labelSelector=app%3Dkr&watch=true"));
        assert_eq!(q.get("labelSelector"), Some("app=kr"));
        assert_eq!(q.number("limit").unwrap(), Some(2));
        assert!(q.flag("watch"));
        assert!(Query::parse(Some("limit=x")).number("limit").is_err());
    }

    #[test]
    fn bodies_by_content_type() {
        assert_eq!(
            decode_body("application/json", br#"{"a":1}"#).unwrap()["a"],
            1
        );
        assert_eq!(
            decode_body("application/apply-patch+yaml", b"a: 1\nb: [x]\n").unwrap()["b"][0],
            "x"
        );
        assert!(decode_body("application/json", b"{").is_err());
        assert!(decode_body("application/json", b"").unwrap().is_null());
    }
}
