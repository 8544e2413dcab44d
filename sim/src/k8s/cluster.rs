//! One simulated cluster: its spec, its state behind one lock, its faults, and what it holds at
//! start-up (the default namespaces and AKO's HostRule CRD).

use std::sync::{Mutex, MutexGuard};

use serde_json::{Value, json};

use super::config::{ClusterSpec, WatchSettings};
use super::error::ApiError;
use super::faults::Faults;
use super::ops::{self, Scope, WriteOptions};
use super::pod_logs::PodLogs;
use super::request_log::RequestLog;
use super::resources::{Registry, ResourceKey};
use super::store::ClusterState;

const HOSTRULE_CRD: &str = include_str!("crds/ako-hostrule.yaml");
const DEFAULT_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

pub struct Cluster {
    pub spec: ClusterSpec,
    state: Mutex<ClusterState>,
    pub faults: Faults,
    pub watch: WatchSettings,
    /// Every resource request served, in RBAC's terms.
    pub requests: RequestLog,
    /// What `pods/log` answers.
    pub logs: PodLogs,
}

impl Cluster {
    pub fn new(spec: ClusterSpec, watch: WatchSettings) -> Result<Self, ApiError> {
        let state = ClusterState::new(
            Registry::new(spec.openshift),
            &spec.name,
            watch.event_log_capacity,
            watch.watch_buffer,
        );
        let cluster = Cluster {
            spec,
            state: Mutex::new(state),
            faults: Faults::default(),
            watch,
            requests: RequestLog::default(),
            logs: PodLogs::default(),
        };
        cluster.seed()?;
        Ok(cluster)
    }

    /// The state, locked. A poisoned lock (a panic while holding it) still yields the state:
    /// every operation leaves it consistent before it can panic.
    pub fn lock(&self) -> MutexGuard<'_, ClusterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seed(&self) -> Result<(), ApiError> {
        let mut st = self.lock();
        let ns_scope = scope(&st, "", "namespaces")?;
        for ns in DEFAULT_NAMESPACES {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            ops::create(
                &mut st,
                &self.spec,
                &ns_scope,
                body,
                &WriteOptions::default(),
            )?;
        }
        let crd: Value = serde_saphyr::from_str(HOSTRULE_CRD).map_err(|e| {
            ApiError::Internal(format!("the built-in HostRule CRD does not parse: {e}"))
        })?;
        let crd_scope = scope(&st, "apiextensions.k8s.io", "customresourcedefinitions")?;
        ops::create(
            &mut st,
            &self.spec,
            &crd_scope,
            crd,
            &WriteOptions::default(),
        )?;
        Ok(())
    }
}

fn scope(st: &ClusterState, group: &str, plural: &str) -> Result<Scope, ApiError> {
    let resource = st
        .registry
        .find_by_key(&ResourceKey {
            group: group.into(),
            plural: plural.into(),
        })
        .ok_or_else(|| ApiError::Internal(format!("{plural} is not a built-in resource")))?;
    Ok(Scope {
        version: resource.storage_version().to_string(),
        namespace: None,
        resource,
    })
}
