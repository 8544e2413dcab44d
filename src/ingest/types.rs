//! Observations: what the ingest functions extract from member-cluster objects. Plain data, no
//! Kubernetes types, so selection and model building can be tested with simple fixtures.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// The kind of member-cluster object a GslbService member comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    Ingress,
    Route,
    LbService,
}

impl ObjectKind {
    /// The token AMKO uses in member identities (`INGRESS/…`).
    pub fn token(self) -> &'static str {
        match self {
            ObjectKind::Ingress => "INGRESS",
            ObjectKind::Route => "ROUTE",
            ObjectKind::LbService => "LBSVC",
        }
    }
}

/// Identity of one observation. An Ingress yields one observation per host, so the host is part
/// of its identity; Routes and Services have one host and leave `host` empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObservationId {
    pub kind: ObjectKind,
    pub cluster: String,
    pub namespace: String,
    pub name: String,
    /// Ingress host; empty for Route and Service.
    pub host: String,
}

impl fmt::Display for ObservationId {
    /// The member identity (`INGRESS/cluster/ns/name/host`, `ROUTE/cluster/ns/name`); its format
    /// is `model::identity`'s, which also reads it back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::model::identity::write_identity(self, f)
    }
}

/// Transport protocol of a LoadBalancer Service or passthrough Route, for TCP/UDP monitors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// An object's labels, sorted by key, each key once. Held for every observation (200,000 at ten
/// times the load) and read only by label selectors, so it is one shared slice: a `BTreeMap`
/// cost a whole B-tree leaf (~544 bytes) per object even for one label, and a copy per host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Labels(Arc<[(Box<str>, Box<str>)]>);

impl Labels {
    /// The value of label `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|at| self.0[at].1.as_ref())
    }

    /// Every label, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These labels with `key` set to `value` (a new set: labels are shared between hosts).
    pub fn with(&self, key: &str, value: &str) -> Labels {
        self.iter()
            .filter(|(k, _)| *k != key)
            .chain([(key, value)])
            .collect()
    }

    /// These labels without `key` (a new set).
    pub fn without(&self, key: &str) -> Labels {
        self.iter().filter(|(k, _)| *k != key).collect()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Labels {
    /// Sorted by key; of repeated keys the last value wins, as in a map.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let map: BTreeMap<Box<str>, Box<str>> = pairs
            .into_iter()
            .map(|(k, v)| (k.as_ref().into(), v.as_ref().into()))
            .collect();
        Labels(map.into_iter().collect())
    }
}

impl From<&BTreeMap<String, String>> for Labels {
    fn from(map: &BTreeMap<String, String>) -> Self {
        Labels(
            map.iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect(),
        )
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Self {
        Labels::from(&map)
    }
}

/// One candidate member, as seen in one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub id: ObservationId,
    /// The object's host name (local FQDN).
    pub hostname: String,
    pub vip: IpAddr,
    pub labels: Labels,
    /// Sorted, de-duplicated HTTP paths (`/` when none). Empty for Services and passthrough Routes.
    pub paths: Vec<String>,
    pub tls: bool,
    pub passthrough: bool,
    /// Lowest port and its protocol, for Services and passthrough Routes.
    pub port: Option<(u16, Protocol)>,
    /// AKO's virtual service UUID for this host, when AKO annotated it.
    pub vs_uuid: Option<String>,
    /// AKO's controller cluster UUID, when AKO annotated it.
    pub controller_uuid: Option<String>,
    /// Tenant from the object's AKO annotation, if any.
    pub tenant: Option<String>,
}

/// A member-cluster Namespace: labels for the namespace selector, and its AKO tenant annotation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub cluster: String,
    pub name: String,
    pub labels: Labels,
    pub tenant: Option<String>,
}

/// An AKO HostRule as AMKO uses it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostRuleInfo {
    pub cluster: String,
    pub namespace: String,
    pub name: String,
    /// `spec.virtualhost.fqdn`.
    pub local_fqdn: String,
    /// `spec.virtualhost.gslb.fqdn` (custom global FQDN mode).
    pub global_fqdn: Option<String>,
    pub include_aliases: bool,
    /// Sorted, de-duplicated aliases.
    pub aliases: Vec<String>,
    /// A TLS certificate is configured: members with this host in this namespace are TLS.
    pub tls: bool,
    /// `status.status == Accepted`.
    pub accepted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_a_sorted_map_by_key() {
        let labels = Labels::from_iter([("tier", "web"), ("app", "a"), ("app", "gslb")]);
        assert_eq!(
            labels.iter().collect::<Vec<_>>(),
            [("app", "gslb"), ("tier", "web")],
            "sorted, the last of repeated keys wins"
        );
        assert_eq!(labels.get("app"), Some("gslb"));
        assert_eq!(labels.get("team"), None);
        let map = BTreeMap::from([
            ("app".to_owned(), "gslb".to_owned()),
            ("tier".into(), "web".into()),
        ]);
        assert_eq!(Labels::from(&map), labels);
        assert_eq!(labels.with("tier", "db").get("tier"), Some("db"));
        assert_eq!(
            labels.without("tier").iter().collect::<Vec<_>>(),
            [("app", "gslb")]
        );
        assert_eq!(labels.len(), 2, "with and without make new sets");
    }
}
