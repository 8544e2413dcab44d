//! The chart repository as a user meets it: charts/publish.sh builds it, a static HTTP server in
//! the test serves it, and real helm v3 runs the AMKO documentation's steps against it (`repo
//! add`, `search repo`, `show values`, `install --generate-name --version … --set
//! configs.gsllbLeaderController=…`) into a simulated cluster; then a second release is published
//! with `--merge` and `repo update` + `upgrade` pick it up.

mod harness;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use harness::{Env, EnvOptions, HOME};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

const REPO: &str = "amko-rs";

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/amko")
}

fn publish_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/publish.sh")
}

fn helm_binary() -> PathBuf {
    PathBuf::from(harness::tools::helm().get_program())
}

/// The chart's version, read from Chart.yaml (so a release bump needs no test edit).
fn chart_version(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("Chart.yaml")).expect("Chart.yaml");
    let chart: Value = serde_saphyr::from_str(&text).expect("Chart.yaml is YAML");
    chart["version"]
        .as_str()
        .expect("Chart.yaml version")
        .to_owned()
}

/// The next patch version: what the test publishes as "the next release".
fn next_patch(version: &str) -> String {
    let mut parts: Vec<u64> = version
        .split('.')
        .map(|p| p.parse().expect("a numeric x.y.z chart version"))
        .collect();
    let last = parts.last_mut().expect("a version part");
    *last += 1;
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Runs charts/publish.sh as docs/helm.md says, with the test's helm; `chart` overrides
/// charts/amko (CHART_DIR) for a bumped copy.
async fn publish(chart: Option<&Path>, out: &Path, url: &str, previous_index: Option<&Path>) {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg(publish_script())
        .arg(out)
        .arg(url)
        .args(previous_index)
        .env("HELM", helm_binary())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(chart) = chart {
        command.env("CHART_DIR", chart);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("publish.sh did not finish")
        .expect("publish.sh runs");
    assert!(
        output.status.success(),
        "publish.sh failed: {}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A static file server for one directory (what GitHub Pages or any web server would be), and
/// the paths it was asked for, so that the test can tell helm really fetched from it.
struct StaticRepo {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Served {
    root: PathBuf,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn serve_file(State(served): State<Served>, uri: Uri) -> (StatusCode, Vec<u8>) {
    let name = uri.path().trim_start_matches('/').to_owned();
    served
        .requests
        .lock()
        .expect("request log")
        .push(name.clone());
    // Flat repository: plain file names only.
    if name.is_empty() || name.contains('/') || name.contains("..") {
        return (StatusCode::NOT_FOUND, Vec::new());
    }
    match tokio::fs::read(served.root.join(&name)).await {
        Ok(bytes) => (StatusCode::OK, bytes),
        Err(_) => (StatusCode::NOT_FOUND, Vec::new()),
    }
}

impl StaticRepo {
    async fn start(root: &Path) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the chart repository server");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().fallback(serve_file).with_state(Served {
            root: root.to_path_buf(),
            requests: requests.clone(),
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("static server");
        });
        StaticRepo {
            url: format!("http://127.0.0.1:{port}/"),
            requests,
            task,
        }
    }

    fn requested(&self, name: &str) -> bool {
        self.requests
            .lock()
            .expect("request log")
            .iter()
            .any(|r| r == name)
    }
}

impl Drop for StaticRepo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// helm with its config, cache and data in the test's directory (no user repositories leak in).
struct Helm {
    env: Vec<(&'static str, PathBuf)>,
}

impl Helm {
    fn new(dir: &Path, kubeconfig: &Path) -> Self {
        Helm {
            env: vec![
                ("KUBECONFIG", kubeconfig.to_path_buf()),
                ("HELM_KUBECONTEXT", PathBuf::from("cluster1")),
                ("KUBECACHEDIR", dir.join("kube-cache")),
                ("HELM_CACHE_HOME", dir.join("helm-cache")),
                ("HELM_CONFIG_HOME", dir.join("helm-config")),
                ("HELM_DATA_HOME", dir.join("helm-data")),
            ],
        }
    }

    /// Runs helm (bounded); fails the test with its output unless it succeeds.
    async fn run(&self, args: &[&str]) -> String {
        let mut command = tokio::process::Command::from(harness::tools::helm());
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_os_str())))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .unwrap_or_else(|_| panic!("helm {args:?} did not finish"))
            .expect("helm runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "helm {args:?} failed: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    async fn releases(&self) -> Vec<Value> {
        let text = self.run(&["list", "-n", HOME, "-o", "json"]).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("helm list -o json ({e}): {text}"))
    }
}

/// `helm search repo`'s table rows as (chart, version) pairs.
fn search_rows(table: &str) -> Vec<(String, String)> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut columns = line.split_whitespace();
            Some((columns.next()?.to_owned(), columns.next()?.to_owned()))
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copied chart directory");
    for entry in std::fs::read_dir(from).expect("read the chart directory") {
        let entry = entry.expect("chart directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a chart file");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_repository_serves_the_documented_repo_add_search_show_values_install_steps() {
    let env = Env::start("chart-repo", EnvOptions::clusters(1)).await;
    let home = env.home().await;
    let helm = Helm::new(&env.dir, &env.kubeconfig);

    // Release 1: publish into the directory the static server serves.
    let served = env.dir.join("served");
    let repo = StaticRepo::start(&served).await;
    let version = chart_version(&chart_dir());
    publish(None, &served, &repo.url, None).await;
    let package = format!("amko-{version}.tgz");
    assert!(
        served.join(&package).is_file(),
        "publish.sh wrote {package}"
    );

    // The documentation's steps, against the repository.
    helm.run(&["repo", "add", REPO, &repo.url]).await;
    assert!(
        repo.requested("index.yaml"),
        "helm repo add fetched index.yaml"
    );
    let table = helm.run(&["search", "repo", "amko"]).await;
    assert_eq!(
        search_rows(&table),
        [(format!("{REPO}/amko"), version.clone())],
        "helm search repo amko:\n{table}"
    );

    let shown = helm
        .run(&[
            "show",
            "values",
            &format!("{REPO}/amko"),
            "--version",
            &version,
        ])
        .await;
    let values_yaml =
        std::fs::read_to_string(chart_dir().join("values.yaml")).expect("charts/amko/values.yaml");
    // helm prints the file followed by one newline.
    assert_eq!(
        shown.strip_suffix('\n'),
        Some(values_yaml.as_str()),
        "helm show values is the chart's values.yaml"
    );
    assert!(
        repo.requested(&package),
        "helm fetched {package} from the repository"
    );

    // The user edits the shown values for their clusters (the controller comes from --set, with
    // the documentation's misspelt key, as its install command writes it).
    let mut values: Value = serde_saphyr::from_str(&shown).expect("shown values are YAML");
    assert_eq!(values["configs"]["gslbLeaderController"], "");
    values["configs"]["federation"]["currentCluster"] = json!("cluster1");
    values["configs"]["federation"]["currentClusterIsLeader"] = json!(true);
    values["configs"]["memberClusters"] = json!([{"clusterContext": "cluster1"}]);
    values["configs"]["controllerVersion"] = json!(env.avi.version());
    values["gslbLeaderCredentials"]["username"] = json!(env.avi.username());
    values["gslbLeaderCredentials"]["password"] = json!(env.avi.password());
    let values_file = env.dir.join("values.yaml");
    std::fs::write(&values_file, values.to_string()).expect("values.yaml");

    harness::ensure_namespace(&home, HOME).await;
    let members = std::fs::read_to_string(&env.kubeconfig).expect("kubeconfig");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "gslb-config-secret", "namespace": HOME},
        "stringData": {"gslb-members": members}
    }))
    .expect("secret");
    Api::<Secret>::namespaced(home.clone(), HOME)
        .create(&PostParams::default(), &secret)
        .await
        .expect("gslb-config-secret created");

    let controller = env.avi.base_url();
    helm.run(&[
        "install",
        &format!("{REPO}/amko"),
        "--generate-name",
        "--version",
        &version,
        "-f",
        &values_file.display().to_string(),
        "--set",
        &format!("configs.gsllbLeaderController={controller}"),
        &format!("--namespace={HOME}"),
    ])
    .await;
    let releases = helm.releases().await;
    assert_eq!(releases.len(), 1, "{releases:?}");
    let release = releases[0]["name"]
        .as_str()
        .expect("release name")
        .to_owned();
    assert!(release.starts_with("amko-"), "generated name {release}");
    assert_eq!(releases[0]["status"], "deployed", "{releases:?}");
    assert_eq!(
        releases[0]["chart"],
        format!("amko-{version}"),
        "{releases:?}"
    );
    let config = Api::<amko::crd::GslbConfig>::namespaced(home.clone(), HOME)
        .get("gc-1")
        .await
        .expect("the chart's GSLBConfig gc-1");
    assert_eq!(
        config.spec.gslb_leader.controller_ip, controller,
        "--set configs.gsllbLeaderController reached gc-1"
    );
    let deployment = Api::<Deployment>::namespaced(home.clone(), HOME)
        .get("amko")
        .await
        .expect("the chart's Deployment");
    assert_eq!(
        deployment
            .metadata
            .labels
            .unwrap_or_default()
            .get("app.kubernetes.io/instance"),
        Some(&release),
        "the Deployment belongs to the generated release"
    );

    // Release 2, published as docs/helm.md says: package into a fresh directory, merge the
    // index.yaml already online, upload the new package and index.
    let next = next_patch(&version);
    let bumped_chart = env.dir.join("chart-next");
    copy_dir(&chart_dir(), &bumped_chart);
    let chart_yaml = bumped_chart.join("Chart.yaml");
    let text = std::fs::read_to_string(&chart_yaml).expect("copied Chart.yaml");
    let bumped = text.replacen(
        &format!("\nversion: {version}\n"),
        &format!("\nversion: {next}\n"),
        1,
    );
    assert_ne!(bumped, text, "Chart.yaml has a `version: {version}` line");
    std::fs::write(&chart_yaml, bumped).expect("bumped Chart.yaml");
    let staging = env.dir.join("release-2");
    publish(
        Some(&bumped_chart),
        &staging,
        &repo.url,
        Some(&served.join("index.yaml")),
    )
    .await;
    for file in [format!("amko-{next}.tgz"), "index.yaml".to_owned()] {
        std::fs::copy(staging.join(&file), served.join(&file)).expect("upload");
    }

    helm.run(&["repo", "update"]).await;
    let table = helm.run(&["search", "repo", "amko", "--versions"]).await;
    assert_eq!(
        search_rows(&table),
        [
            (format!("{REPO}/amko"), next.clone()),
            (format!("{REPO}/amko"), version.clone())
        ],
        "both releases listed after the merge:\n{table}"
    );
    helm.run(&[
        "upgrade",
        &release,
        &format!("{REPO}/amko"),
        "--version",
        &next,
        "--reuse-values",
        "-n",
        HOME,
    ])
    .await;
    let releases = helm.releases().await;
    assert_eq!(releases[0]["chart"], format!("amko-{next}"), "{releases:?}");
    assert_eq!(releases[0]["revision"], "2", "{releases:?}");
    assert_eq!(releases[0]["status"], "deployed", "{releases:?}");

    drop(repo);
    harness::remove_dir(&env.dir);
}
