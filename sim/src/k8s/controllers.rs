//! Controllers that run right after each write, inside the same lock: CRD registration and
//! status, the Deployment/StatefulSet controllers (status, ReplicaSet for `helm --wait`) and AKO.

use serde_json::{Value, json};

use super::ako;
use super::config::ClusterSpec;
use super::crd;
use super::error::ApiError;
use super::ids::digest;
use super::json_util;
use super::ops::{self, Scope, Subresource, WriteOptions};
use super::resources::ResourceKey;
use super::store::ClusterState;

/// Reacts to a change of `resource` `namespace/name` (created, updated or deleted). Controller
/// errors are logged, not returned: the user's write already succeeded.
pub fn react(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    resource: &ResourceKey,
    namespace: &str,
    name: &str,
) {
    let result = match (resource.group.as_str(), resource.plural.as_str()) {
        ("apiextensions.k8s.io", "customresourcedefinitions") => crd_changed(st, spec, name),
        ("apps", "deployments") => deployment_changed(st, spec, namespace, name),
        ("apps", "statefulsets") => statefulset_changed(st, spec, namespace, name),
        _ => ako::react(st, spec, resource, namespace, name),
    };
    if let Err(err) = result {
        tracing::warn!(cluster = %spec.name, %namespace, %name, resource = %resource.plural, "controller failed: {err}");
    }
}

fn scope_for(
    st: &ClusterState,
    group: &str,
    plural: &str,
    namespace: &str,
) -> Result<Scope, ApiError> {
    let resource = st
        .registry
        .find_by_key(&ResourceKey {
            group: group.into(),
            plural: plural.into(),
        })
        .ok_or_else(|| {
            ApiError::Internal(format!("resource {plural}.{group} is not registered"))
        })?;
    Ok(Scope {
        version: resource.storage_version().to_string(),
        namespace: resource.namespaced.then(|| namespace.to_string()),
        resource,
    })
}

fn write_status(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    scope: &Scope,
    object: &Value,
    status: Value,
) -> Result<(), ApiError> {
    if object.get("status") == Some(&status) {
        return Ok(());
    }
    let mut body = object.clone();
    json_util::set(&mut body, &["status"], status);
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ops::update(
        st,
        spec,
        scope,
        &name,
        body,
        Subresource::Status,
        &WriteOptions::default(),
    )?;
    Ok(())
}

/// Registers (or re-registers) the CRD's resource and writes its Established status.
fn crd_changed(st: &mut ClusterState, spec: &ClusterSpec, name: &str) -> Result<(), ApiError> {
    let scope = scope_for(st, "apiextensions.k8s.io", "customresourcedefinitions", "")?;
    let Some(stored) = st.get(&scope.resource.key(), "", name) else {
        return Ok(());
    };
    let object = stored.value()?;
    if object["metadata"].get("deletionTimestamp").is_some() {
        return Ok(());
    }
    let Some(resource) = crd::resource_type(&object) else {
        return Ok(());
    };
    let taken_by_other = st.registry.all().any(|r| {
        r.group == resource.group
            && r.plural == resource.plural
            && !(r.custom && format!("{}.{}", r.plural, r.group) == name)
    });
    let conflict = taken_by_other.then(|| format!("{:?} is already in use", resource.plural));
    if conflict.is_none() {
        st.registry.register_custom(name, resource);
    }
    let status = crd::established_status(&object, conflict);
    write_status(st, spec, &scope, &object, status)
}

/// Unregisters a deleted CRD and deletes its custom resources (as the apiextensions finalizer does).
pub fn crd_deleted(st: &mut ClusterState, spec: &ClusterSpec, name: &str) -> Result<(), ApiError> {
    let Some(resource) = st.registry.unregister_custom(name) else {
        return Ok(());
    };
    let key = resource.key();
    for (ns, obj_name) in st.keys(&key, None) {
        st.remove(&key, &ns, &obj_name)?;
    }
    let _ = spec;
    Ok(())
}

fn pod_template_hash(template: &Value) -> String {
    let d = digest(&template.to_string());
    // Kubernetes uses a short "safe" encoding; 10 characters from [b-df-hj-np-tv-z2-9] look alike.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    d.iter()
        .take(10)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Deployment controller: one ReplicaSet per pod template (older ones scaled to zero), and a
/// status that says every replica is ready, so `helm --wait` and `kubectl rollout status` finish.
fn deployment_changed(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let scope = scope_for(st, "apps", "deployments", namespace)?;
    let Some(stored) = st.get(&scope.resource.key(), namespace, name) else {
        return Ok(());
    };
    let deployment = stored.value()?;
    if deployment["metadata"].get("deletionTimestamp").is_some() {
        return Ok(());
    }
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let template = deployment["spec"]["template"].clone();
    let hash = pod_template_hash(&template);
    let rs_name = format!("{name}-{hash}");
    let rs_scope = scope_for(st, "apps", "replicasets", namespace)?;
    let uid = deployment["metadata"]["uid"].clone();

    // Scale down ReplicaSets of older templates.
    for (_, other) in st.keys(&rs_scope.resource.key(), Some(namespace)) {
        if other == rs_name {
            continue;
        }
        let Some(rs) = st.get(&rs_scope.resource.key(), namespace, &other) else {
            continue;
        };
        let rs = rs.value()?;
        let owned = rs["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|o| o.iter().any(|r| r["uid"] == uid));
        if owned && rs["spec"]["replicas"].as_i64() != Some(0) {
            let body = json!({"spec": {"replicas": 0}});
            ops::patch(
                st,
                spec,
                &rs_scope,
                &other,
                super::patch::PatchType::Merge,
                &body,
                Subresource::Main,
                &WriteOptions::default(),
            )?;
            if let Some(rs) = st.get(&rs_scope.resource.key(), namespace, &other) {
                let rs = rs.value()?;
                let generation = rs["metadata"]["generation"].clone();
                write_status(
                    st,
                    spec,
                    &rs_scope,
                    &rs,
                    json!({"replicas": 0, "observedGeneration": generation}),
                )?;
            }
        }
    }

    let mut rs_template = template.clone();
    json_util::set(
        &mut rs_template,
        &["metadata", "labels", "pod-template-hash"],
        json!(hash),
    );
    let mut selector = deployment["spec"]["selector"].clone();
    json_util::set(
        &mut selector,
        &["matchLabels", "pod-template-hash"],
        json!(hash),
    );
    let mut labels = template["metadata"]["labels"].clone();
    json_util::set(&mut labels, &["pod-template-hash"], json!(hash));
    let desired = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {"deployment.kubernetes.io/desired-replicas": replicas.to_string(), "deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": rs_template},
    });
    let opts = WriteOptions::default();
    match st.get(&rs_scope.resource.key(), namespace, &rs_name) {
        None => {
            ops::create(st, spec, &rs_scope, desired, &opts)?;
        }
        Some(_) => {
            let patch = json!({"metadata": {"annotations": desired["metadata"]["annotations"].clone()}, "spec": {"replicas": replicas}});
            ops::patch(
                st,
                spec,
                &rs_scope,
                &rs_name,
                super::patch::PatchType::Merge,
                &patch,
                Subresource::Main,
                &opts,
            )?;
        }
    }
    if let Some(rs) = st.get(&rs_scope.resource.key(), namespace, &rs_name) {
        let rs = rs.value()?;
        let status = json!({
            "replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
            "availableReplicas": replicas, "observedGeneration": rs["metadata"]["generation"].clone(),
        });
        write_status(st, spec, &rs_scope, &rs, status)?;
    }

    let Some(stored) = st.get(&scope.resource.key(), namespace, name) else {
        return Ok(());
    };
    let deployment = stored.value()?;
    let since = deployment["status"]["conditions"][0]["lastTransitionTime"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(super::ids::now_rfc3339);
    let status = json!({
        "observedGeneration": deployment["metadata"]["generation"].clone(),
        "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastTransitionTime": since, "lastUpdateTime": since},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{rs_name}\" has successfully progressed."), "lastTransitionTime": since, "lastUpdateTime": since},
        ],
    });
    write_status(st, spec, &scope, &deployment, status)
}

/// StatefulSet controller: every replica current and ready.
fn statefulset_changed(
    st: &mut ClusterState,
    spec: &ClusterSpec,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let scope = scope_for(st, "apps", "statefulsets", namespace)?;
    let Some(stored) = st.get(&scope.resource.key(), namespace, name) else {
        return Ok(());
    };
    let sts = stored.value()?;
    let replicas = sts["spec"]["replicas"].as_i64().unwrap_or(1);
    let revision = format!("{name}-{}", pod_template_hash(&sts["spec"]["template"]));
    let status = json!({
        "observedGeneration": sts["metadata"]["generation"].clone(),
        "replicas": replicas, "readyReplicas": replicas, "currentReplicas": replicas, "updatedReplicas": replicas,
        "availableReplicas": replicas, "currentRevision": revision, "updateRevision": revision, "collisionCount": 0,
    });
    write_status(st, spec, &scope, &sts, status)
}
