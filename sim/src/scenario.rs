//! Installing amko-rs's objects into a simulated home cluster the way the helm chart does (CRDs,
//! namespace, credentials Secret, GSLBConfig `gc-1`, GDP `global-gdp`), and creating the member
//! objects it watches (Ingress, LoadBalancer Service, OpenShift Route). Shared by `amko demo` and
//! the end-to-end test harness so both start from the same state.

use std::path::Path;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use serde_json::{Value, json};

use amko::crd::{GlobalDeploymentPolicy, GslbConfig, all_crds};

/// Names the chart gives its objects.
pub const GSLB_CONFIG_NAME: &str = "gc-1";
pub const GDP_NAME: &str = "global-gdp";
pub const AVI_SECRET_NAME: &str = "gslb-avi-secret";

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read kubeconfig {path}: {reason}")]
    Kubeconfig { path: String, reason: String },
    #[error("cannot build a client for context {context}: {reason}")]
    Client { context: String, reason: String },
    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{what} is not a valid object: {source}")]
    Object {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("CRDs do not generate: {0}")]
    Crds(String),
}

fn kube_error(what: impl Into<String>) -> impl FnOnce(kube::Error) -> ScenarioError {
    let what = what.into();
    move |source| ScenarioError::Kube { what, source }
}

fn typed<T: serde::de::DeserializeOwned>(what: &str, value: Value) -> Result<T, ScenarioError> {
    serde_json::from_value(value).map_err(|source| ScenarioError::Object {
        what: what.to_owned(),
        source,
    })
}

/// A kube client for `context` of the kubeconfig file at `path`.
pub async fn client_for(path: &Path, context: &str) -> Result<Client, ScenarioError> {
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| ScenarioError::Kubeconfig {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let options = KubeConfigOptions {
        context: Some(context.to_owned()),
        ..KubeConfigOptions::default()
    };
    let client_error = |reason: String| ScenarioError::Client {
        context: context.to_owned(),
        reason,
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| client_error(e.to_string()))?;
    Client::try_from(config).map_err(|e| client_error(e.to_string()))
}

/// The Avi controller the GSLBConfig points at, and its credentials.
#[derive(Clone)]
pub struct Leader {
    pub url: String,
    pub version: String,
    pub username: String,
    pub password: String,
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for Leader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leader")
            .field("url", &self.url)
            .field("version", &self.version)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Leader {
    pub fn of(avi: &super::avi::AviSimHandle) -> Self {
        Leader {
            url: avi.base_url().to_owned(),
            version: avi.version().to_owned(),
            username: avi.username().to_owned(),
            password: avi.password().to_owned(),
            ca_pem: avi.ca_pem().map(str::to_owned),
        }
    }
}

/// What the chart installs, as parameters.
#[derive(Clone, Debug)]
pub struct ChartInstall {
    pub namespace: String,
    /// `amko.vmware.com/amko-uuid` of gc-1 (the chart's `configs.amkoUUID`).
    pub uuid: String,
    pub leader: Leader,
    /// Contexts of the members kubeconfig to watch.
    pub members: Vec<String>,
    pub refresh_interval_secs: u64,
    pub gdp_spec: Value,
}

/// Installs the CRDs, the namespace, the credentials Secret, gc-1 and global-gdp into `client`'s
/// cluster.
pub async fn install_like_chart(
    client: &Client,
    install: &ChartInstall,
) -> Result<(), ScenarioError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in all_crds().map_err(|e| ScenarioError::Crds(e.to_string()))? {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.create(&PostParams::default(), &crd)
            .await
            .map_err(kube_error(format!("creating CRD {name}")))?;
    }
    ensure_namespace(client, &install.namespace).await?;
    let ns = install.namespace.as_str();
    let mut secret_data = json!({
        "username": install.leader.username,
        "password": install.leader.password,
    });
    if let Some(ca) = &install.leader.ca_pem {
        secret_data["certificateAuthorityData"] = json!(ca);
    }
    let secret: Secret = typed(
        "Secret gslb-avi-secret",
        json!({"metadata": {"name": AVI_SECRET_NAME, "namespace": ns}, "stringData": secret_data}),
    )?;
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .map_err(kube_error(format!(
            "creating Secret {ns}/{AVI_SECRET_NAME}"
        )))?;
    let members: Vec<Value> = install
        .members
        .iter()
        .map(|n| json!({"clusterContext": n}))
        .collect();
    let gc: GslbConfig = typed(
        "GSLBConfig gc-1",
        json!({
            "apiVersion": "amko.vmware.com/v1alpha1", "kind": "GSLBConfig",
            "metadata": {"name": GSLB_CONFIG_NAME, "namespace": ns,
                         "annotations": {"amko.vmware.com/amko-uuid": install.uuid}},
            "spec": {
                "gslbLeader": {"credentials": AVI_SECRET_NAME,
                               "controllerVersion": install.leader.version,
                               "controllerIP": install.leader.url},
                "memberClusters": members,
                "refreshInterval": install.refresh_interval_secs,
                "logLevel": "INFO"
            }
        }),
    )?;
    Api::<GslbConfig>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &gc)
        .await
        .map_err(kube_error(format!(
            "creating GSLBConfig {ns}/{GSLB_CONFIG_NAME}"
        )))?;
    apply_gdp(client, ns, install.gdp_spec.clone()).await
}

/// Creates or replaces `global-gdp`'s spec (server-side apply).
pub async fn apply_gdp(client: &Client, namespace: &str, spec: Value) -> Result<(), ScenarioError> {
    let gdp = json!({
        "apiVersion": "amko.vmware.com/v1alpha2", "kind": "GlobalDeploymentPolicy",
        "metadata": {"name": GDP_NAME, "namespace": namespace},
        "spec": spec
    });
    Api::<GlobalDeploymentPolicy>::namespaced(client.clone(), namespace)
        .patch(
            GDP_NAME,
            &PatchParams::apply("amko-scenario").force(),
            &Patch::Apply(&gdp),
        )
        .await
        .map_err(kube_error(format!("applying GDP {namespace}/{GDP_NAME}")))?;
    Ok(())
}

/// Creates namespace `name` unless it exists.
pub async fn ensure_namespace(client: &Client, name: &str) -> Result<(), ScenarioError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let existing = api
        .get_opt(name)
        .await
        .map_err(kube_error(format!("reading namespace {name}")))?;
    if existing.is_none() {
        let ns: Namespace = typed("Namespace", json!({"metadata": {"name": name}}))?;
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            // Created concurrently: fine.
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(kube_error(format!("creating namespace {name}"))(e)),
        }
    }
    Ok(())
}

/// Creates one namespaced object of kind `gvk` from its JSON form, after its namespace.
async fn create_object(
    client: &Client,
    namespace: &str,
    gvk: GroupVersionKind,
    body: Value,
) -> Result<(), ScenarioError> {
    ensure_namespace(client, namespace).await?;
    let name = body["metadata"]["name"].as_str().unwrap_or_default();
    let what = format!("{} {namespace}/{name}", gvk.kind);
    let resource = ApiResource::from_gvk(&gvk);
    let mut object: DynamicObject = typed(&what, body)?;
    object.types = Some(kube::api::TypeMeta {
        api_version: resource.api_version.clone(),
        kind: resource.kind.clone(),
    });
    Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource)
        .create(&PostParams::default(), &object)
        .await
        .map_err(kube_error(format!("creating {what}")))?;
    Ok(())
}

/// Creates an Ingress `namespace/name` with one rule for `host` (backend Service `web:80`).
pub async fn create_ingress(
    client: &Client,
    namespace: &str,
    name: &str,
    host: &str,
    labels: Value,
) -> Result<(), ScenarioError> {
    let body = json!({
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    });
    let gvk = GroupVersionKind::gvk("networking.k8s.io", "v1", "Ingress");
    create_object(client, namespace, gvk, body).await
}

/// Creates a LoadBalancer Service `namespace/name` on TCP `port`, named `host` through the
/// external-dns annotation AKO honours.
pub async fn create_lb_service(
    client: &Client,
    namespace: &str,
    name: &str,
    host: &str,
    port: u16,
    labels: Value,
) -> Result<(), ScenarioError> {
    let body = json!({
        "metadata": {"name": name, "namespace": namespace, "labels": labels,
                     "annotations": {"external-dns.alpha.kubernetes.io/hostname": host}},
        "spec": {"type": "LoadBalancer", "selector": {"app": name},
                 "ports": [{"name": "tcp", "port": port, "protocol": "TCP"}]}
    });
    create_object(
        client,
        namespace,
        GroupVersionKind::gvk("", "v1", "Service"),
        body,
    )
    .await
}

/// Creates an OpenShift Route `namespace/name` for `host` (to Service `web`).
pub async fn create_route(
    client: &Client,
    namespace: &str,
    name: &str,
    host: &str,
    labels: Value,
) -> Result<(), ScenarioError> {
    let body = json!({
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"host": host, "to": {"kind": "Service", "name": "web"}}
    });
    let gvk = GroupVersionKind::gvk("route.openshift.io", "v1", "Route");
    create_object(client, namespace, gvk, body).await
}
