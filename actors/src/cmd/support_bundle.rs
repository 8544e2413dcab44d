//! `amko support-bundle`: one `.tar.gz` with what support needs about an amko-rs installation in
//! the home cluster: the amko-rs pods' logs (current and previous containers), the four CRs with
//! status, the namespace's Events, the operator's `/api/status`, `/metrics` and `/debug/*`,
//! the versions of amko-rs, Kubernetes and the Avi controller, and the chart values. Every step
//! is bounded in time; a failed step is recorded in `manifest.json` and the bundle goes on.
//! Everything passes through `amko::redact` (Secret data is never copied).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use amko::avi::{AviClient, AviConnection};
use amko::crd::{AmkoCluster, GlobalDeploymentPolicy, GslbConfig, GslbHostRule};
use amko::policy::accept_gslb_config;
use amko::policy::config::{choose_gslb_config, controller_base_url};
use amko::redact::{KnownSecrets, secret_summary};
use axum::http::Method;
use k8s_openapi::api::core::v1::{Event, Pod, Secret};
use kube::api::{ApiResource, DynamicObject, ListParams, LogParams};
use kube::{Api, Client, Resource};
use serde_json::{Value, json};

use super::bundle_archive::{
    Bundle, ReleaseError, decode_helm_release, release_summary, secret_strings,
};
use super::clusters::ClusterArgs;

/// Arguments of `amko support-bundle`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The home cluster and namespace, as for `amko run` (--members-kubeconfig is not used: the
    /// bundle reads only the home cluster).
    #[command(flatten)]
    pub clusters: ClusterArgs,
    /// Where to write the bundle (default: amko-support-<UTC time>.tar.gz in the current
    /// directory).
    #[arg(long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Base URL of the operator's HTTP endpoints, e.g. http://127.0.0.1:8080 after `kubectl
    /// port-forward`. Default: every amko-rs pod through the Kubernetes API server's pod proxy
    /// (pods/<pod>:<port>/proxy/…), which needs the `pods/proxy` permission.
    #[arg(long, value_name = "URL")]
    pub operator: Option<String>,
    /// The endpoints' port in the pods, for the pod proxy (default: the container port named
    /// `http`, else 8080).
    #[arg(long, value_name = "PORT")]
    pub operator_port: Option<u16>,
    /// Label selector of the amko-rs pods (the chart's).
    #[arg(long, default_value = "app.kubernetes.io/name=amko")]
    pub selector: String,
    /// Log lines kept of each container (the newest).
    #[arg(long, default_value_t = 20_000)]
    pub log_lines: i64,
    /// Pages read of each paged debug endpoint (/debug/gslbservices, …); more are left out and
    /// the step says so.
    #[arg(long, default_value_t = 20)]
    pub debug_max_pages: usize,
    /// Items per page asked of the debug endpoints (at most 1000, the most they give).
    #[arg(long, default_value_t = amko::page::MAX_LIMIT as u64,
          value_parser = clap::value_parser!(u64).range(1..=amko::page::MAX_LIMIT as u64))]
    pub debug_page_size: u64,
    /// The longest one collection step may take; a slower one is recorded as failed.
    #[arg(long, default_value_t = 30)]
    pub step_timeout_secs: u64,
    /// Accept an http:// controller address for the controller version (as `amko run
    /// --allow-insecure-http`): the login then sends the password unencrypted.
    #[arg(long)]
    pub allow_insecure_http: bool,
}

/// The operator's endpoints the bundle copies: (path, file name, is JSON).
const ENDPOINTS: &[(&str, &str, bool)] = &[
    ("/api/status", "api-status.json", true),
    ("/metrics", "metrics.txt", false),
    ("/debug/actors", "debug-actors.json", true),
    ("/debug/policy", "debug-policy.json", true),
    ("/debug/members", "debug-members.json", true),
    ("/debug/gslbservices", "debug-gslbservices.json", true),
];

/// The most one log or endpoint answer may take in the bundle.
const MAX_ANSWER_BYTES: i64 = 32 * 1024 * 1024;

/// Runs `amko support-bundle`: collects, redacts and writes the bundle; prints where it is.
/// Fails only when the bundle cannot be written; failed steps are in its manifest.
pub fn run(args: Args) -> Result<(), SupportBundleError> {
    let now = k8s_openapi::jiff::Timestamp::now();
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let root = format!("amko-support-{stamp}");
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{root}.tar.gz")));
    let runtime = tokio::runtime::Runtime::new().map_err(SupportBundleError::Runtime)?;
    let bundle = runtime.block_on(collect(&args, &root));
    let failed: Vec<String> = bundle
        .steps()
        .iter()
        .filter_map(|s| s.error.as_ref().map(|e| format!("  {}: {e}", s.step)))
        .collect();
    let about = json!({
        "tool": "amko support-bundle", "amkoVersion": env!("CARGO_PKG_VERSION"),
        "created": now.to_string(), "namespace": args.clusters.namespace,
        "context": args.clusters.context,
        "operatorEndpoints": match &args.operator {
            Some(_) => "--operator URL",
            None => "Kubernetes API pod proxy",
        },
    });
    let files = bundle
        .write(&output, about)
        .map_err(|source| SupportBundleError::Write {
            path: output.clone(),
            source,
        })?;
    println!("{}", output.display());
    eprintln!(
        "amko: support bundle {} written: {files} files; {} step(s) failed{}",
        output.display(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" (see manifest.json):\n{}", failed.join("\n"))
        }
    );
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum SupportBundleError {
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot write the support bundle {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A step's failure, as the manifest records it.
type StepResult = Result<(), String>;

/// Runs `step` within the step time limit and records it.
async fn step<F>(bundle: &mut Bundle, name: &str, limit: Duration, work: F)
where
    F: AsyncFnOnce(&mut Bundle) -> StepResult,
{
    let started = Instant::now();
    let result = tokio::time::timeout(limit, work(bundle))
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "gave up after {} s (--step-timeout-secs)",
                limit.as_secs()
            ))
        });
    bundle.record(name, result.err(), started.elapsed());
}

async fn collect(args: &Args, root: &str) -> Bundle {
    let mut bundle = Bundle::new(root);
    let limit = Duration::from_secs(args.step_timeout_secs);
    let namespace = args.clusters.namespace.as_str();

    let client = match tokio::time::timeout(limit, args.clusters.home_client()).await {
        Ok(Ok(client)) => Some(client),
        Ok(Err(e)) => {
            bundle.record("kubernetes client", Some(e.to_string()), Duration::ZERO);
            None
        }
        Err(_) => {
            bundle.record("kubernetes client", Some("timed out".into()), limit);
            None
        }
    };

    // First what must be known before anything is written: the secret values to redact.
    let mut secret_values: Vec<Vec<u8>> = Vec::new();
    let mut releases: Vec<Result<Value, ReleaseError>> = Vec::new();
    if let Some(client) = &client {
        step(&mut bundle, "secrets", limit, async |b: &mut Bundle| {
            let secrets = Api::<Secret>::namespaced(client.clone(), namespace)
                .list(&ListParams::default())
                .await
                .map_err(|e| format!("cannot list Secrets in {namespace}: {e}"))?
                .items;
            let mut summaries = Vec::new();
            for secret in &secrets {
                let name = secret.metadata.name.clone().unwrap_or_default();
                let is_release = secret.type_.as_deref() == Some("helm.sh/release.v1");
                // A release is no secret as it is stored (compressed); its values' secrets are
                // added below, its rendered Secrets are read as themselves.
                if !is_release {
                    for value in secret.data.iter().flat_map(|d| d.values()) {
                        secret_values.push(value.0.clone());
                    }
                    for value in secret.string_data.iter().flat_map(|d| d.values()) {
                        secret_values.push(value.as_bytes().to_vec());
                    }
                }
                if is_release {
                    let release = match secret.data.as_ref().and_then(|d| d.get("release")) {
                        Some(data) => decode_helm_release(&name, &data.0),
                        None => Err(ReleaseError::NoRelease { secret: name.clone() }),
                    };
                    releases.push(release);
                }
                summaries.push(secret_summary(&serde_json::to_value(secret).unwrap_or_default()));
            }
            b.add_json("kubernetes/secrets.json", json!({"note": "names and keys only: Secret values are never copied", "items": summaries}));
            Ok(())
        })
        .await;
    }
    // The chart values' secrets (a password given with --set) may appear in logs as well.
    for release in releases.iter().flatten() {
        secret_strings(&release["config"], &mut secret_values);
    }
    bundle.set_known(KnownSecrets::from_values(
        secret_values.iter().map(Vec::as_slice),
    ));
    drop(secret_values);

    step(&mut bundle, "chart values", limit, async |b: &mut Bundle| {
        if client.is_none() {
            return Err("no Kubernetes client".into());
        }
        if releases.is_empty() {
            return Err(format!(
                "no helm release Secret (type helm.sh/release.v1) in {namespace}: installed without helm, or Secrets cannot be listed"
            ));
        }
        // The newest revision of each release.
        let mut newest: std::collections::BTreeMap<String, &Value> = Default::default();
        for release in releases.iter().flatten() {
            let name = release["name"].as_str().unwrap_or_default().to_owned();
            let revision = release["version"].as_i64().unwrap_or(0);
            let keep = newest
                .get(&name)
                .is_none_or(|r| r["version"].as_i64().unwrap_or(0) < revision);
            if keep {
                newest.insert(name, release);
            }
        }
        for (name, release) in newest {
            b.add_json(&format!("chart/{name}/release.json"), release_summary(release));
            b.add_json(
                &format!("chart/{name}/values.json"),
                release["config"].clone(),
            );
        }
        let unreadable: Vec<String> = releases
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        if unreadable.is_empty() { Ok(()) } else { Err(unreadable.join("; ")) }
    })
    .await;

    let mut versions = json!({"amkoSupportBundle": env!("CARGO_PKG_VERSION")});
    let mut pods: Vec<Pod> = Vec::new();
    if let Some(client) = &client {
        step(
            &mut bundle,
            "custom resources",
            limit,
            async |b: &mut Bundle| {
                let mut errors = Vec::new();
                let kinds = [
                    (ApiResource::erase::<GslbConfig>(&()), true),
                    (ApiResource::erase::<GlobalDeploymentPolicy>(&()), true),
                    // GSLBHostRules live in the applications' namespaces.
                    (ApiResource::erase::<GslbHostRule>(&()), false),
                    (ApiResource::erase::<AmkoCluster>(&()), true),
                ];
                for (resource, in_namespace) in kinds {
                    let api: Api<DynamicObject> = if in_namespace {
                        Api::namespaced_with(client.clone(), namespace, &resource)
                    } else {
                        Api::all_with(client.clone(), &resource)
                    };
                    match api.list(&ListParams::default()).await {
                        Ok(list) => {
                            let items: Vec<Value> = list
                                .items
                                .into_iter()
                                .map(|mut o| {
                                    o.types = Some(kube::api::TypeMeta {
                                        api_version: resource.api_version.clone(),
                                        kind: resource.kind.clone(),
                                    });
                                    serde_json::to_value(o).unwrap_or_default()
                                })
                                .collect();
                            b.add_object(
                                &format!("crs/{}.json", resource.plural),
                                Value::Array(items),
                            );
                        }
                        Err(e) => errors.push(format!("cannot list {}: {e}", resource.plural)),
                    }
                }
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(errors.join("; "))
                }
            },
        )
        .await;

        step(&mut bundle, "events", limit, async |b: &mut Bundle| {
            let events = Api::<Event>::namespaced(client.clone(), namespace)
                .list(&ListParams::default())
                .await
                .map_err(|e| format!("cannot list Events in {namespace}: {e}"))?;
            let items: Vec<Value> = events
                .items
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or_default())
                .collect();
            b.add_object("kubernetes/events.json", Value::Array(items));
            Ok(())
        })
        .await;

        step(
            &mut bundle,
            "kubernetes version",
            limit,
            async |_: &mut Bundle| {
                let info = client
                    .apiserver_version()
                    .await
                    .map_err(|e| format!("cannot read /version: {e}"))?;
                versions["kubernetes"] = serde_json::to_value(info).unwrap_or_default();
                Ok(())
            },
        )
        .await;

        step(&mut bundle, "pods", limit, async |b: &mut Bundle| {
            let list = Api::<Pod>::namespaced(client.clone(), namespace)
                .list(&ListParams::default().labels(&args.selector))
                .await
                .map_err(|e| format!("cannot list Pods ({}) in {namespace}: {e}", args.selector))?;
            pods = list.items;
            let items: Vec<Value> = pods
                .iter()
                .map(|p| serde_json::to_value(p).unwrap_or_default())
                .collect();
            b.add_object("kubernetes/pods.json", Value::Array(items));
            versions["amkoPods"] =
                pods.iter()
                    .flat_map(|p| {
                        let pod = p.metadata.name.clone().unwrap_or_default();
                        p.spec.iter().flat_map(|s| s.containers.iter()).map(
                            move |c| json!({"pod": pod, "container": c.name, "image": c.image}),
                        )
                    })
                    .collect();
            if pods.is_empty() {
                return Err(format!("no pod matches {} in {namespace}", args.selector));
            }
            Ok(())
        })
        .await;

        for pod in &pods {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let containers: Vec<String> = pod
                .spec
                .iter()
                .flat_map(|s| s.containers.iter())
                .map(|c| c.name.clone())
                .collect();
            for container in containers {
                for previous in [false, true] {
                    let which = if previous { "previous" } else { "current" };
                    let name = format!("logs {pod_name}/{container} ({which})");
                    step(&mut bundle, &name, limit, async |b: &mut Bundle| {
                        let params = LogParams {
                            container: Some(container.clone()),
                            previous,
                            tail_lines: Some(args.log_lines),
                            limit_bytes: Some(MAX_ANSWER_BYTES),
                            ..LogParams::default()
                        };
                        let text = Api::<Pod>::namespaced(client.clone(), namespace)
                            .logs(&pod_name, &params)
                            .await
                            .map_err(|e| format!("cannot read the log: {e}"))?;
                        let suffix = if previous { ".previous" } else { "" };
                        b.add_text(&format!("logs/{pod_name}/{container}{suffix}.log"), &text);
                        Ok(())
                    })
                    .await;
                }
            }
        }
    }

    // The operator's own endpoints: at --operator, else each pod through the pod proxy.
    let targets: Vec<(String, Target)> = match &args.operator {
        Some(url) => vec![(
            "operator".to_owned(),
            Target::Url(url.trim_end_matches('/').to_owned()),
        )],
        None => pods
            .iter()
            .filter_map(|p| {
                let name = p.metadata.name.clone()?;
                let port = args.operator_port.or_else(|| http_port(p)).unwrap_or(8080);
                Some((name.clone(), Target::PodProxy { pod: name, port }))
            })
            .collect(),
    };
    let http = reqwest::Client::builder()
        .timeout(limit)
        .build()
        .map_err(|e| e.to_string());
    let reader = EndpointReader {
        http: &http,
        client: client.as_ref(),
        namespace,
    };
    for (label, target) in &targets {
        for (path, file, is_json) in ENDPOINTS {
            let name = format!("operator {label} {path}");
            step(&mut bundle, &name, limit, async |b: &mut Bundle| {
                let stem = file.trim_end_matches(".json");
                if !path.starts_with("/debug/") {
                    let text = reader.read(target, path).await?;
                    add_answer(b, &format!("operator/{label}/{file}"), &text, *is_json);
                    return Ok(());
                }
                // The debug endpoints answer a page at a time: every page, up to the limit.
                let mut token: Option<String> = None;
                for page in 1..=args.debug_max_pages {
                    let query = match &token {
                        Some(t) => format!("?limit={}&continue={t}", args.debug_page_size),
                        None => format!("?limit={}", args.debug_page_size),
                    };
                    let text = reader.read(target, &format!("{path}{query}")).await?;
                    let next = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|v| v["next"].as_str().map(str::to_owned));
                    let name = match page {
                        1 => format!("operator/{label}/{file}"),
                        n => format!("operator/{label}/{stem}.page-{n}.json"),
                    };
                    add_answer(b, &name, &text, true);
                    match next {
                        Some(next) => token = Some(next),
                        None => return Ok(()),
                    }
                }
                Err(format!(
                    "stopped after {} pages of {} (--debug-max-pages): the rest is not in the bundle",
                    args.debug_max_pages, args.debug_page_size
                ))
            })
            .await;
        }
    }

    step(
        &mut bundle,
        "controller version",
        limit,
        async |_: &mut Bundle| {
            let client = client.as_ref().ok_or("no Kubernetes client")?;
            versions["aviController"] =
                controller_version(client, namespace, args.allow_insecure_http).await?;
            Ok(())
        },
    )
    .await;

    bundle.add_json("versions.json", versions);
    bundle.record("versions", None, Duration::ZERO);
    bundle
}

/// Where the operator's endpoints are read.
enum Target {
    Url(String),
    PodProxy { pod: String, port: u16 },
}

const NOT_SERVED: &str = "not served (the operator runs without --debug-endpoints, or with --debug-listen: port-forward to that address and use --operator)";

/// Reads the operator's endpoints, directly or through the pod proxy.
struct EndpointReader<'a> {
    http: &'a Result<reqwest::Client, String>,
    client: Option<&'a Client>,
    namespace: &'a str,
}

impl EndpointReader<'_> {
    /// The answer to GET `path_and_query` (at most `MAX_ANSWER_BYTES` of it).
    async fn read(&self, target: &Target, path_and_query: &str) -> Result<String, String> {
        let debug = path_and_query.starts_with("/debug/");
        match target {
            Target::Url(base) => {
                let http = self.http.as_ref().map_err(Clone::clone)?;
                let url = format!("{base}{path_and_query}");
                let mut response = http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| format!("cannot reach {url}: {e}"))?;
                if response.status() == reqwest::StatusCode::NOT_FOUND && debug {
                    return Err(NOT_SERVED.into());
                }
                // A non-2xx answer is kept too: /api/status says why the operator is dead.
                let mut body = Vec::new();
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| format!("cannot read {url}: {e}"))?
                {
                    body.extend_from_slice(&chunk);
                    if body.len() as i64 > MAX_ANSWER_BYTES {
                        return Err(format!(
                            "{url}: answer larger than {MAX_ANSWER_BYTES} bytes"
                        ));
                    }
                }
                Ok(String::from_utf8_lossy(&body).into_owned())
            }
            Target::PodProxy { pod, port } => {
                let client = self.client.ok_or("no Kubernetes client")?;
                let namespace = self.namespace;
                let uri = format!(
                    "/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy{path_and_query}"
                );
                let request = axum::http::Request::builder()
                    .method(Method::GET)
                    .uri(&uri)
                    .body(Vec::new())
                    .map_err(|e| format!("{uri}: {e}"))?;
                client.request_text(request).await.map_err(|e| match &e {
                    kube::Error::Api(status) if status.code == 404 && debug => {
                        NOT_SERVED.to_owned()
                    }
                    _ => format!("cannot read {uri}: {e}"),
                })
            }
        }
    }
}

/// An endpoint's answer into the bundle: as JSON when it is, else as text.
fn add_answer(bundle: &mut Bundle, path: &str, text: &str, is_json: bool) {
    match serde_json::from_str::<Value>(text) {
        Ok(value) if is_json => bundle.add_json(path, value),
        _ => bundle.add_text(path, text),
    }
}

/// The pod's container port named `http` (the chart's name for the endpoints' port).
fn http_port(pod: &Pod) -> Option<u16> {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some("http"))
        .and_then(|p| u16::try_from(p.container_port).ok())
}

/// The controller's version as it reports it (`/api/initial-data`), reached as `amko run` does:
/// the GSLBConfig's address and the credentials Secret it names.
async fn controller_version(
    client: &Client,
    namespace: &str,
    allow_insecure_http: bool,
) -> Result<Value, String> {
    let configs = Api::<GslbConfig>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("cannot list GSLBConfigs: {e}"))?
        .items;
    let (gc, _) =
        choose_gslb_config(configs).ok_or_else(|| format!("no GSLBConfig in {namespace}"))?;
    let gc_name = gc.meta().name.clone().unwrap_or_default();
    let settings = accept_gslb_config(&gc, "support-bundle")
        .map_err(|e| format!("GSLBConfig {gc_name}: {}", e.problem))?;
    let address = controller_base_url(&settings.controller.address, allow_insecure_http)
        .map_err(|e| e.to_string())?;
    let secret_name = &settings.controller.credentials_secret;
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get(secret_name)
        .await
        .map_err(|e| format!("cannot read Secret {secret_name}: {e}"))?;
    let field = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .filter(|v| !v.is_empty())
    };
    let conn = AviConnection {
        base_url: address.clone(),
        username: field("username")
            .ok_or_else(|| format!("Secret {secret_name} has no username"))?,
        password: field("password")
            .ok_or_else(|| format!("Secret {secret_name} has no password"))?,
        version: settings.controller.version.clone(),
        tenant: settings.instance.default_tenant.clone(),
        ca_pem: field("certificateAuthorityData"),
        insecure_skip_verify: settings.controller.insecure_skip_verify,
        timeout: Duration::from_secs(20),
    };
    let avi = AviClient::new(conn).map_err(|e| format!("controller {address}: {e}"))?;
    avi.login()
        .await
        .map_err(|e| format!("controller {address}: {e}"))?;
    let data = avi
        .call(reqwest::Method::GET, "/api/initial-data", None, None)
        .await
        .map_err(|e| format!("controller {address} /api/initial-data: {e}"))?
        .unwrap_or(Value::Null);
    Ok(json!({
        "address": address,
        "configuredVersion": settings.controller.version,
        "version": data.get("version").cloned().unwrap_or(data),
    }))
}
