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

/// A parser's message about the members kubeconfig, safe to show in a status or a log: its first
/// line only (parsers append a snippet of the input below it) with every quoted piece of the input
/// replaced by `…`, since the kubeconfig holds tokens, passwords and keys.
fn without_content(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or_default();
    let mut out = String::with_capacity(first_line.len());
    let mut quote: Option<char> = None;
    for c in first_line.chars() {
        match quote {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None => {
                out.push(c);
                if matches!(c, '"' | '`' | '\'') {
                    quote = Some(c);
                }
            }
        }
    }
    if quote.is_some() {
        out.push('…');
    }
    out
}

/// The parsed members kubeconfig. Its Debug output names the contexts only: the rest holds
/// credentials.
#[derive(Clone)]
pub struct MembersKubeconfig {
    kubeconfig: Kubeconfig,
}

impl std::fmt::Debug for MembersKubeconfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MembersKubeconfig")
            .field("contexts", &self.contexts())
            .finish_non_exhaustive()
    }
}

impl MembersKubeconfig {
    /// Parses kubeconfig YAML text (the value of `GSLB_CONFIG`, or a file's content).
    pub fn parse(text: &str) -> Result<Self, MembersError> {
        let kubeconfig = Kubeconfig::from_yaml(text)
            .map_err(|e| MembersError::Parse(without_content(&e.to_string())))?;
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
                // Quoted one by one: a context name may itself hold ", ".
                available: self
                    .contexts()
                    .iter()
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
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

    /// Secrets planted in a members kubeconfig; none may appear in Debug output or an error.
    const SECRETS: [&str; 3] = ["pl4nted-t0ken", "pl4nted-passw0rd", "cGw0bnRlZC1rZXk="];

    fn with_secrets(tail: &str) -> String {
        format!(
            r#"
apiVersion: v1
kind: Config
clusters:
- name: east
  cluster: {{server: "https://127.0.0.1:18001"}}
users:
- name: u
  user: {{token: "{}", password: "{}", client-key-data: "{}"}}
contexts:
- name: east-admin
  context: {{cluster: east, user: u}}
{tail}"#,
            SECRETS[0], SECRETS[1], SECRETS[2]
        )
    }

    #[test]
    fn debug_output_names_contexts_but_no_secret() {
        let members = MembersKubeconfig::parse(&with_secrets("")).expect("valid kubeconfig");
        let shown = format!("{members:?}");
        assert!(shown.contains("east-admin"), "{shown}");
        for secret in SECRETS {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn a_parse_error_does_not_quote_the_kubeconfig() {
        let broken = [
            with_secrets("current-context: [unclosed"),
            with_secrets("contexts: 7"),
            format!(
                "{}
	- tab",
                with_secrets("")
            ),
            format!("users: {}", SECRETS[0]),
        ];
        for text in broken {
            let err = MembersKubeconfig::parse(&text).expect_err("not a kubeconfig");
            let shown = format!("{err} / {err:?}");
            for secret in SECRETS {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(
                shown.starts_with("members kubeconfig is not valid YAML kubeconfig: "),
                "{shown}"
            );
        }
    }

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
            "members kubeconfig has no context named \"north-admin\" (it has: \"east-admin\", \"west-admin\")"
        );
    }

    /// Context names may hold `, ` (any string is a kubeconfig context name): each name in the
    /// list is quoted, so the list still reads as the names it holds.
    #[tokio::test]
    async fn the_list_of_contexts_reads_back_whatever_the_names_hold() {
        let kubeconfig = TWO_CLUSTERS
            .replace("name: east-admin", "name: 'team a, east'")
            .replace(
                "current-context: east-admin",
                "current-context: 'team a, east'",
            );
        let members = MembersKubeconfig::parse(&kubeconfig).expect("valid kubeconfig");
        let err = members
            .config_for("team a")
            .await
            .expect_err("unknown context");
        assert_eq!(
            err.to_string(),
            "members kubeconfig has no context named \"team a\" (it has: \"team a, east\", \"west-admin\")"
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
