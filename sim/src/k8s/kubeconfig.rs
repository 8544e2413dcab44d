//! The kubeconfig describing the simulated clusters: one cluster, user and context per cluster,
//! named after it; the CA inline when the clusters serve TLS.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

/// One cluster as a kubeconfig (and `amko sim`) shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClusterEndpoint {
    pub name: String,
    pub server: String,
    pub openshift: bool,
}

/// The kubeconfig as a JSON value (YAML is a superset of JSON, so it can be written as is).
pub fn kubeconfig(endpoints: &[ClusterEndpoint], ca_pem: Option<&str>) -> Value {
    let clusters: Vec<Value> = endpoints
        .iter()
        .map(|e| {
            let mut cluster = json!({"server": e.server});
            if let Some(ca) = ca_pem {
                cluster["certificate-authority-data"] = json!(BASE64.encode(ca));
            }
            json!({"name": e.name, "cluster": cluster})
        })
        .collect();
    let users: Vec<Value> = endpoints
        .iter()
        .map(|e| json!({"name": e.name, "user": {}}))
        .collect();
    let contexts: Vec<Value> = endpoints
        .iter()
        .map(|e| json!({"name": e.name, "context": {"cluster": e.name, "user": e.name, "namespace": "default"}}))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": endpoints.first().map(|e| e.name.clone()).unwrap_or_default(),
        "preferences": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_context_per_cluster() {
        let eps = vec![
            ClusterEndpoint {
                name: "cluster1".into(),
                server: "http://127.0.0.1:1".into(),
                openshift: false,
            },
            ClusterEndpoint {
                name: "cluster2".into(),
                server: "http://127.0.0.1:2".into(),
                openshift: true,
            },
        ];
        let kc = kubeconfig(&eps, None);
        assert_eq!(kc["contexts"][1]["context"]["cluster"], "cluster2");
        assert_eq!(kc["current-context"], "cluster1");
        assert!(
            kc["clusters"][0]["cluster"]
                .get("certificate-authority-data")
                .is_none()
        );
        assert!(
            kubeconfig(&eps, Some("PEM"))["clusters"][0]["cluster"]["certificate-authority-data"]
                .is_string()
        );
    }
}
