//! Where amko-rs finds its clusters: the flags `amko run` and `amko federate` share (the home
//! cluster's kubeconfig, context and namespace; the members kubeconfig) and the clients they give.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::error::CmdError;

/// The home cluster (where amko-rs's own objects live) and the member clusters.
#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    /// Kubeconfig of the cluster amko-rs runs in (default: in-cluster, then ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Context to use: of --kubeconfig, else of KUBECONFIG / ~/.kube/config.
    #[arg(long)]
    pub context: Option<String>,
    /// Namespace of amko-rs's objects: the GSLBConfig, the GDP, the credentials Secret and the
    /// AMKOCluster (the same namespace in follower clusters).
    #[arg(long, env = "POD_NAMESPACE", default_value = "avi-system")]
    pub namespace: String,
    /// Members kubeconfig file (otherwise the kubeconfig text in env GSLB_CONFIG).
    #[arg(long)]
    pub members_kubeconfig: Option<PathBuf>,
}

impl ClusterArgs {
    /// The members kubeconfig text: the file's, else env `GSLB_CONFIG`'s, else none.
    pub fn members_kubeconfig_text(&self) -> Result<Option<String>, CmdError> {
        Ok(match &self.members_kubeconfig {
            Some(path) => Some(std::fs::read_to_string(path).map_err(CmdError::read(path))?),
            None => std::env::var("GSLB_CONFIG")
                .ok()
                .filter(|s| !s.trim().is_empty()),
        })
    }

    /// A client of the home cluster.
    pub async fn home_client(&self) -> Result<kube::Client, CmdError> {
        let config = match &self.kubeconfig {
            Some(path) => {
                let kubeconfig =
                    Kubeconfig::read_from(path).map_err(|source| CmdError::ReadKubeconfig {
                        path: path.clone(),
                        source,
                    })?;
                let options = KubeConfigOptions {
                    context: self.context.clone(),
                    ..KubeConfigOptions::default()
                };
                kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
            }
            // A context names a kubeconfig context, so it means KUBECONFIG / ~/.kube/config
            // rather than in-cluster; kubectl users (and `kubectl amko`) give it alone.
            None => match &self.context {
                Some(context) => {
                    kube::Config::from_kubeconfig(&KubeConfigOptions {
                        context: Some(context.clone()),
                        ..KubeConfigOptions::default()
                    })
                    .await?
                }
                None => kube::Config::infer().await?,
            },
        };
        Ok(kube::Client::try_from(config)?)
    }
}
