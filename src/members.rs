//! Member clusters: parsing the members kubeconfig (env `GSLB_CONFIG` or a file) and building a
//! kube client configuration for each context the GSLBConfig names.

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Why a member cluster's client could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum MembersError {
    #[error("members kubeconfig is not valid YAML kubeconfig: {0}")]
    Parse(String),
    #[error("members kubeconfig has no context named {context:?} (it has: {available})")]
    UnknownContext { context: String, available: String },
    #[error("context {context:?} of the members kubeconfig cannot be used: {reason}")]
    BadContext { context: String, reason: String },
}

/// The parsed members kubeconfig.
#[derive(Clone, Debug)]
pub struct MembersKubeconfig {
    kubeconfig: Kubeconfig,
}

impl MembersKubeconfig {
    /// Parses kubeconfig YAML text (the value of `GSLB_CONFIG`, or a file's content).
    pub fn parse(text: &str) -> Result<Self, MembersError> {
        let kubeconfig =
            Kubeconfig::from_yaml(text).map_err(|e| MembersError::Parse(e.to_string()))?;
        Ok(MembersKubeconfig { kubeconfig })
    }

    /// Context names, in file order.
    pub fn contexts(&self) -> Vec<String> {
        self.kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    /// Client configuration for `context`.
    pub async fn config_for(&self, context: &str) -> Result<kube::Config, MembersError> {
        if !self.kubeconfig.contexts.iter().any(|c| c.name == context) {
            return Err(MembersError::UnknownContext {
                context: context.to_owned(),
                available: self.contexts().join(", "),
            });
        }
        let options = KubeConfigOptions {
            context: Some(context.to_owned()),
            ..KubeConfigOptions::default()
        };
        kube::Config::from_custom_kubeconfig(self.kubeconfig.clone(), &options)
            .await
            .map_err(|e| MembersError::BadContext {
                context: context.to_owned(),
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_CLUSTERS: &str = r#"
apiVersion: v1
kind: Config
clusters:
- name: east
  cluster: {server: "http://127.0.0.1:18001"}
- name: west
  cluster: {server: "http://127.0.0.1:18002/prefix"}
users:
- name: u
  user: {token: "t0ken"}
contexts:
- name: east-admin
  context: {cluster: east, user: u}
- name: west-admin
  context: {cluster: west, user: u, namespace: avi-system}
current-context: east-admin
"#;

    #[tokio::test]
    async fn builds_a_config_per_context() {
        let members = MembersKubeconfig::parse(TWO_CLUSTERS).expect("valid kubeconfig");
        assert_eq!(members.contexts(), vec!["east-admin", "west-admin"]);
        let west = members.config_for("west-admin").await.expect("west config");
        assert_eq!(
            west.cluster_url.to_string(),
            "http://127.0.0.1:18002/prefix"
        );
        assert_eq!(west.default_namespace, "avi-system");
        let err = members
            .config_for("north-admin")
            .await
            .expect_err("unknown context");
        assert_eq!(
            err.to_string(),
            "members kubeconfig has no context named \"north-admin\" (it has: east-admin, west-admin)"
        );
    }

    #[test]
    fn invalid_yaml_is_reported() {
        let err = MembersKubeconfig::parse("clusters: [").expect_err("invalid");
        assert!(
            err.to_string()
                .starts_with("members kubeconfig is not valid"),
            "{err}"
        );
    }
}
