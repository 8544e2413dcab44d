//! Which API requests each simulated cluster served, as RBAC sees them: user, verb, API group,
//! resource (with its subresource), namespace and object name, each with a count. Tests compare it
//! with the rules a chart grants, so that the chart's RBAC is derived from what the operator really
//! does. The simulator authenticates nobody: a bearer token, when a client sends one, is taken as
//! the user's name (as a static token file maps a token to a user), so that a test can tell the
//! operator's requests from its own.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::http::Method;

use super::request::ResourcePath;

/// One kind of request, in RBAC's terms.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RbacRequest {
    /// The bearer token the client sent, standing for its user; `None` without one.
    pub user: Option<String>,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete` or `deletecollection`.
    pub verb: String,
    /// API group; `""` for the core group.
    pub group: String,
    /// Plural resource name, with `/subresource` when the request addresses one (`leases`,
    /// `gslbconfigs/status`).
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

/// The RBAC verb of a request on `path` with `method` (`watch_query`: `?watch=true`), as the API
/// server's authorizer derives it.
pub(crate) fn rbac_verb(method: &Method, path: &ResourcePath, watch_query: bool) -> &'static str {
    let named = path.name.is_some();
    match *method {
        Method::GET | Method::HEAD if path.watch || watch_query => "watch",
        Method::GET | Method::HEAD if named => "get",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    }
}

/// The requests a cluster served, counted; cheap enough to keep always on.
#[derive(Debug, Default)]
pub struct RequestLog {
    counts: Mutex<BTreeMap<RbacRequest, u64>>,
}

impl RequestLog {
    pub(crate) fn record(
        &self,
        user: Option<&str>,
        method: &Method,
        path: &ResourcePath,
        watch_query: bool,
    ) {
        let resource = match &path.subresource {
            Some(sub) => format!("{}/{sub}", path.plural),
            None => path.plural.clone(),
        };
        let request = RbacRequest {
            user: user.map(str::to_owned),
            verb: rbac_verb(method, path, watch_query).to_owned(),
            group: path.group.clone(),
            resource,
            namespace: path.namespace.clone(),
            name: path.name.clone(),
        };
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry(request).or_default() += 1;
    }

    /// Every kind of request served so far, with how often.
    pub fn snapshot(&self) -> BTreeMap<RbacRequest, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Forgets what was recorded (a test that wants only what follows a setup step).
    pub fn clear(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: Option<&str>, watch: bool) -> ResourcePath {
        ResourcePath {
            group: "coordination.k8s.io".into(),
            version: "v1".into(),
            namespace: Some("avi-system".into()),
            plural: "leases".into(),
            name: name.map(str::to_owned),
            subresource: None,
            watch,
        }
    }

    #[test]
    fn verbs_follow_the_authorizer() {
        let cases = [
            (Method::GET, None, false, false, "list"),
            (Method::GET, None, false, true, "watch"),
            (Method::GET, None, true, false, "watch"),
            (Method::GET, Some("l"), true, false, "watch"),
            (Method::GET, Some("l"), false, false, "get"),
            (Method::POST, None, false, false, "create"),
            (Method::PUT, Some("l"), false, false, "update"),
            (Method::PATCH, Some("l"), false, false, "patch"),
            (Method::DELETE, Some("l"), false, false, "delete"),
            (Method::DELETE, None, false, false, "deletecollection"),
        ];
        for (method, name, legacy_watch, watch_query, verb) in cases {
            assert_eq!(
                rbac_verb(&method, &path(name, legacy_watch), watch_query),
                verb,
                "{method} {name:?} watch={legacy_watch}/{watch_query}"
            );
        }
    }

    #[test]
    fn requests_are_counted_by_kind_with_subresources() {
        let log = RequestLog::default();
        let mut status = path(Some("l"), false);
        status.subresource = Some("status".into());
        log.record(Some("amko"), &Method::PATCH, &status, false);
        log.record(Some("amko"), &Method::PATCH, &status, false);
        log.record(None, &Method::GET, &path(None, false), true);
        let seen: Vec<(Option<String>, String, String, u64)> = log
            .snapshot()
            .into_iter()
            .map(|(r, n)| (r.user, r.verb, r.resource, n))
            .collect();
        assert_eq!(
            seen,
            [
                (None, "watch".into(), "leases".into(), 1),
                (
                    Some("amko".into()),
                    "patch".into(),
                    "leases/status".into(),
                    2
                ),
            ]
        );
        log.clear();
        assert!(log.snapshot().is_empty());
    }
}
