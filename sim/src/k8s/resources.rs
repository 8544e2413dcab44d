//! The kinds a simulated cluster serves: the built-in catalogue and the per-cluster registry that
//! CustomResourceDefinitions add to and remove from.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::error::Target;

/// Storage key of a resource: group and plural (one storage for all served versions).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    pub group: String,
    pub plural: String,
}

/// One served version of a resource, with its validation schema and printer columns (CRDs only).
#[derive(Clone, Debug, Default)]
pub struct ServedVersion {
    pub name: String,
    /// `openAPIV3Schema` of the CRD version, when there is one.
    pub schema: Option<Arc<Value>>,
    pub status_subresource: bool,
    pub printer_columns: Vec<Value>,
}

/// Everything the server needs to know about one resource.
#[derive(Clone, Debug)]
pub struct ResourceType {
    pub group: String,
    /// Served versions; the first is the preferred (storage) version.
    pub versions: Vec<ServedVersion>,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// `metadata.generation` is kept and bumped on spec changes.
    pub has_generation: bool,
    /// Defined by a CustomResourceDefinition (merge patch only; schema validation applies).
    pub custom: bool,
}

impl ResourceType {
    pub fn key(&self) -> ResourceKey {
        ResourceKey {
            group: self.group.clone(),
            plural: self.plural.clone(),
        }
    }

    pub fn version(&self, name: &str) -> Option<&ServedVersion> {
        self.versions.iter().find(|v| v.name == name)
    }

    pub fn storage_version(&self) -> &str {
        self.versions
            .first()
            .map(|v| v.name.as_str())
            .unwrap_or("v1")
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    pub fn has_status_subresource(&self, version: &str) -> bool {
        self.version(version).is_some_and(|v| v.status_subresource)
    }

    pub fn target(&self, name: &str) -> Target {
        Target {
            group: self.group.clone(),
            plural: self.plural.clone(),
            kind: self.kind.clone(),
            name: name.to_string(),
        }
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    status: bool,
    generation: bool,
}

#[allow(clippy::too_many_arguments)]
const fn b(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    status: bool,
    generation: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        short_names,
        namespaced,
        status,
        generation,
    }
}

/// Kinds every simulated cluster serves.
const BUILTINS: &[Builtin] = &[
    b(
        "",
        "v1",
        "Namespace",
        "namespaces",
        &["ns"],
        false,
        true,
        false,
    ),
    b("", "v1", "Service", "services", &["svc"], true, true, false),
    b("", "v1", "Secret", "secrets", &[], true, false, false),
    b(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        &["cm"],
        true,
        false,
        false,
    ),
    b("", "v1", "Event", "events", &["ev"], true, false, false),
    b(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        &["sa"],
        true,
        false,
        false,
    ),
    b("", "v1", "Pod", "pods", &["po"], true, true, false),
    b(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        &["ep"],
        true,
        false,
        false,
    ),
    b(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        &[],
        true,
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        &[],
        false,
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        &[],
        false,
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        &[],
        true,
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        &[],
        true,
        false,
        false,
    ),
    b(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        &["deploy"],
        true,
        true,
        true,
    ),
    b(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        &["sts"],
        true,
        true,
        true,
    ),
    b(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        &["rs"],
        true,
        true,
        true,
    ),
    b(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        &["ing"],
        true,
        true,
        true,
    ),
    b(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        &[],
        false,
        false,
        true,
    ),
    b(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        &["ev"],
        true,
        false,
        false,
    ),
    b(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        &["crd", "crds"],
        false,
        true,
        true,
    ),
];

/// Served only by OpenShift-flavoured clusters (by the OpenShift API server, not a CRD).
const OPENSHIFT: &[Builtin] = &[b(
    "route.openshift.io",
    "v1",
    "Route",
    "routes",
    &[],
    true,
    true,
    true,
)];

fn from_builtin(def: &Builtin) -> ResourceType {
    ResourceType {
        group: def.group.to_string(),
        versions: vec![ServedVersion {
            name: def.version.to_string(),
            schema: None,
            status_subresource: def.status,
            printer_columns: Vec::new(),
        }],
        kind: def.kind.to_string(),
        list_kind: format!("{}List", def.kind),
        plural: def.plural.to_string(),
        singular: def.kind.to_lowercase(),
        short_names: def.short_names.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        namespaced: def.namespaced,
        has_generation: def.generation,
        custom: false,
    }
}

/// The resources one cluster serves right now: built-ins plus established CRDs.
#[derive(Clone, Debug)]
pub struct Registry {
    builtin: Vec<Arc<ResourceType>>,
    /// CRD name (`<plural>.<group>`) → its resource.
    custom: BTreeMap<String, Arc<ResourceType>>,
    /// Bumped whenever the set of served resources changes (discovery and OpenAPI hashes use it).
    pub generation: u64,
}

impl Registry {
    pub fn new(openshift: bool) -> Self {
        let mut builtin: Vec<Arc<ResourceType>> =
            BUILTINS.iter().map(|d| Arc::new(from_builtin(d))).collect();
        if openshift {
            builtin.extend(OPENSHIFT.iter().map(|d| Arc::new(from_builtin(d))));
        }
        Registry {
            builtin,
            custom: BTreeMap::new(),
            generation: 1,
        }
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.builtin.iter().chain(self.custom.values())
    }

    /// The resource served at `/apis/<group>/<version>/<plural>`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.all()
            .find(|r| r.group == group && r.plural == plural && r.version(version).is_some())
            .cloned()
    }

    pub fn find_by_key(&self, key: &ResourceKey) -> Option<Arc<ResourceType>> {
        self.all()
            .find(|r| r.group == key.group && r.plural == key.plural)
            .cloned()
    }

    /// The resource for an `apiVersion` + `kind` pair (ownerReferences, apply bodies).
    pub fn find_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = split_api_version(api_version);
        self.all()
            .find(|r| r.group == group && r.kind == kind && r.version(version).is_some())
            .cloned()
    }

    pub fn register_custom(&mut self, crd_name: &str, resource: ResourceType) {
        self.custom.insert(crd_name.to_string(), Arc::new(resource));
        self.generation += 1;
    }

    pub fn unregister_custom(&mut self, crd_name: &str) -> Option<Arc<ResourceType>> {
        let removed = self.custom.remove(crd_name);
        if removed.is_some() {
            self.generation += 1;
        }
        removed
    }

    /// Group → versions served in it, in a stable order (core group under "").
    pub fn group_versions(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in self.all() {
            let versions = out.entry(r.group.clone()).or_default();
            for v in &r.versions {
                if !versions.contains(&v.name) {
                    versions.push(v.name.clone());
                }
            }
        }
        out
    }
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_only_on_openshift() {
        assert!(
            Registry::new(false)
                .find("route.openshift.io", "v1", "routes")
                .is_none()
        );
        let reg = Registry::new(true);
        let route = reg.find("route.openshift.io", "v1", "routes");
        assert!(route.is_some_and(|r| r.has_status_subresource("v1")));
    }

    #[test]
    fn find_kind_handles_core_group() {
        let reg = Registry::new(false);
        assert_eq!(
            reg.find_kind("v1", "Secret").map(|r| r.plural.clone()),
            Some("secrets".into())
        );
        assert_eq!(
            reg.find_kind("apps/v1", "Deployment").map(|r| r.namespaced),
            Some(true)
        );
    }
}
