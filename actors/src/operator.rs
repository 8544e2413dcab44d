//! The operator's supervisor (`amko run`): finds and accepts the single GSLBConfig, reads the
//! credentials Secret and the members kubeconfig, checks that the controller is the GSLB leader,
//! then runs the actor pipeline on its own arbiter. An edit of the GSLBConfig (other than its
//! logLevel, which applies live) or of the Secret restarts the pipeline in-process.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use amko::avi::{
    AviClient, AviClientError, AviError, AviErrorKind, RateBudget, RequestObserver, avi_connection,
};
use amko::crd::GslbConfig;
use amko::crd::gslbconfig::{
    AMKO_UUID_ANNOTATION, STATE_ACCEPTED, STATE_NOT_LEADER, STATE_SYNCING,
};
use amko::members::{MembersError, MembersKubeconfig};
use amko::policy::config::{
    ControllerAddressError, choose_gslb_config, controller_base_url, others_than_running,
};
use amko::policy::{GslbConfigSettings, LogLevel, Problem, accept_gslb_config};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::avi_writer::{AviActor, IsBooted, WriterConfig};
use crate::cluster::ClusterActor;
use crate::http::{Endpoints, Pipeline, WatchedActor, WatchedThread};
use crate::policy::PolicyActor;
use crate::selection::{RegisterDomainListener, SelectionActor};
use crate::status::{EventSink, RecordEvent, SetStatus, StatusActor, StatusTarget};
use crate::telemetry::{AviRequestLabels, Inbox, Metrics, Outbox};

/// Tunables of `amko run` that are not in the GSLBConfig. Debug output leaves the members
/// kubeconfig out: it holds the member clusters' credentials.
#[derive(Clone)]
pub struct OperatorOptions {
    pub namespace: String,
    /// Members kubeconfig text (env `GSLB_CONFIG` or `--members-kubeconfig`).
    pub members_kubeconfig: Option<String>,
    pub boot_timeout: Duration,
    pub coalesce_window: Duration,
    pub rate: RateBudget,
    pub max_in_flight: usize,
    /// Overrides the GSLBConfig's refreshInterval (for tests and benchmarks).
    pub refresh_interval: Option<Duration>,
    pub reporter: String,
    /// `--allow-insecure-http`: an `http://` controller address is used instead of refused.
    pub allow_insecure_http: bool,
    /// `--max-retry-after-secs`: the longest a 429's `Retry-After` may hold writes.
    pub max_rate_limit_hold: Duration,
}

impl std::fmt::Debug for OperatorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members = self
            .members_kubeconfig
            .as_ref()
            .map(|text| format!("<{} bytes, not shown>", text.len()));
        f.debug_struct("OperatorOptions")
            .field("namespace", &self.namespace)
            .field("members_kubeconfig", &members)
            .field("boot_timeout", &self.boot_timeout)
            .field("coalesce_window", &self.coalesce_window)
            .field("rate", &self.rate)
            .field("max_in_flight", &self.max_in_flight)
            .field("refresh_interval", &self.refresh_interval)
            .field("reporter", &self.reporter)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

/// Why the pipeline cannot run with a GSLBConfig. [`ConfigError::state`] is the GSLBConfig's
/// `status.state`, which users and scripts read.
#[derive(Debug, thiserror::Error)]
enum ConfigError {
    #[error("{problem}")]
    Invalid {
        gslbconfig: String,
        problem: Problem,
    },
    #[error("cannot record the instance uuid in annotation {AMKO_UUID_ANNOTATION}: {cause}")]
    RecordUuid {
        gslbconfig: String,
        #[source]
        cause: kube::Error,
    },
    #[error("cannot read secret {secret}: {cause}")]
    ReadSecret {
        secret: String,
        #[source]
        cause: kube::Error,
    },
    #[error("secret object doesn't exist {secret}")]
    NoSecret { secret: String },
    #[error("secret {secret} has no {field}")]
    SecretField { secret: String, field: &'static str },
    #[error(transparent)]
    ControllerAddress(#[from] ControllerAddressError),
    #[error(transparent)]
    AviClient(#[from] AviClientError),
    #[error(
        "issue in connecting to the controller API, invalid credentials; tried again in 5 minutes, or at once when the credentials Secret changes"
    )]
    InvalidCredentials,
    #[error("issue in connecting to the controller API, {0}")]
    Controller(#[source] AviError),
    #[error(
        "provided kubeconfig has an error: no members kubeconfig (set GSLB_CONFIG or --members-kubeconfig)"
    )]
    NoMembersKubeconfig,
    #[error("provided kubeconfig has an error: {0}")]
    MembersKubeconfig(#[source] MembersError),
    #[error("controller not a leader")]
    NotLeader,
}

impl ConfigError {
    /// How long to wait for the GSLBConfig or its Secret to change before trying again anyway.
    /// Refused credentials wait long: logging in with them again and again would look like an
    /// attack and can lock the account; fixing the Secret is what helps, and that is seen at once.
    fn recheck_after(&self) -> Duration {
        match self {
            ConfigError::InvalidCredentials => Duration::from_secs(300),
            _ => Duration::from_secs(30),
        }
    }

    /// The GSLBConfig's `status.state` for this error.
    fn state(&self) -> String {
        match self {
            ConfigError::NotLeader => STATE_NOT_LEADER.to_owned(),
            other => format!("error: {other}"),
        }
    }
}

/// Applies a new log level to the running subscriber.
pub type SetLogLevel = Arc<dyn Fn(LogLevel) + Send + Sync>;

struct MetricsObserver(Arc<Metrics>);

impl RequestObserver for MetricsObserver {
    fn observed(&self, method: &str, object_type: &str, status: Option<u16>, waited: Duration) {
        self.0
            .avi_requests
            .get_or_create(&AviRequestLabels {
                method: method.to_owned(),
                object: object_type.to_owned(),
                status: status.map_or_else(|| "error".to_owned(), |s| s.to_string()),
            })
            .inc();
        self.0.rate_limiter_wait.observe(waited.as_secs_f64());
        self.0.observe_controller_answer(status);
    }
}

/// Everything the pipeline was started from; a change of any of it restarts the pipeline.
#[derive(Clone, PartialEq)]
struct Inputs {
    config_spec: serde_json::Value,
    uuid: String,
    secret_version: String,
}

pub struct Operator {
    client: Client,
    options: OperatorOptions,
    metrics: Arc<Metrics>,
    endpoints: Endpoints,
    status: Outbox<StatusActor>,
    set_log_level: SetLogLevel,
}

impl Operator {
    pub fn new(
        client: Client,
        options: OperatorOptions,
        metrics: Arc<Metrics>,
        endpoints: Endpoints,
        set_log_level: SetLogLevel,
    ) -> Self {
        let status_actor = StatusActor::new(client.clone(), &metrics, options.reporter.clone());
        let status_mailbox = status_actor.mailbox();
        Operator {
            status: status_mailbox.outbox(status_actor.start()),
            client,
            options,
            metrics,
            endpoints,
            set_log_level,
        }
    }

    fn set_gc_state(&self, gc: &GslbConfig, state: impl Into<String>) {
        let state = state.into();
        self.endpoints.set_phase(state.clone());
        self.status.do_send(SetStatus {
            target: StatusTarget::GslbConfig {
                namespace: gc.namespace().unwrap_or_default(),
                name: gc.name_any(),
            },
            status: json!({ "state": state }),
        });
    }

    fn event(&self, gc: &GslbConfig, warning: bool, reason: &str, message: impl Into<String>) {
        self.status.do_send(RecordEvent {
            target: StatusTarget::GslbConfig {
                namespace: gc.namespace().unwrap_or_default(),
                name: gc.name_any(),
            },
            warning,
            reason: reason.to_owned(),
            message: message.into(),
        });
    }

    /// Runs until the process is stopped.
    pub async fn run(self) {
        loop {
            let Some(gc) = self.choose_gslb_config().await else {
                self.endpoints
                    .set_phase("waiting for a GSLBConfig in ".to_owned() + &self.options.namespace);
                tokio::time::sleep(Duration::from_secs(3)).await;
                continue;
            };
            match self.run_config(&gc).await {
                Ok(()) => {}
                Err(e) => {
                    let state = e.state();
                    tracing::error!(gslbconfig = %gc.name_any(), "{state}");
                    self.set_gc_state(&gc, state);
                    self.wait_for_change(&gc, e.recheck_after()).await;
                }
            }
        }
    }

    /// The one GSLBConfig to use: the accepted one, else the oldest. Others get an error status.
    async fn choose_gslb_config(&self) -> Option<GslbConfig> {
        let api: Api<GslbConfig> = Api::namespaced(self.client.clone(), &self.options.namespace);
        let all = match api.list(&ListParams::default()).await {
            Ok(list) => list.items,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list GSLBConfigs");
                return None;
            }
        };
        let (chosen, others) = choose_gslb_config(all)?;
        self.refuse(others);
        Some(chosen)
    }

    /// Tells each GSLBConfig that is not in force why (the StatusActor writes it only once).
    fn refuse(&self, others: Vec<(GslbConfig, Problem)>) {
        for (other, problem) in others {
            self.status.do_send(SetStatus {
                target: StatusTarget::GslbConfig {
                    namespace: other.namespace().unwrap_or_default(),
                    name: other.name_any(),
                },
                status: json!({ "state": format!("error: {problem}") }),
            });
        }
    }

    /// Waits until the GSLBConfig or its Secret changes, or `at_most` passes (a controller that
    /// was not the leader, or unreachable, is checked again).
    async fn wait_for_change(&self, gc: &GslbConfig, at_most: Duration) {
        let before = self.inputs_of(gc).await;
        let deadline = tokio::time::Instant::now() + at_most;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let api: Api<GslbConfig> =
                Api::namespaced(self.client.clone(), &self.options.namespace);
            match api.get_opt(&gc.name_any()).await {
                Ok(Some(current)) => {
                    if current.spec != gc.spec
                        || current.annotations() != gc.annotations()
                        || self.inputs_of(&current).await != before
                    {
                        return;
                    }
                }
                Ok(None) => return,
                Err(_) => {}
            }
        }
    }

    async fn inputs_of(&self, gc: &GslbConfig) -> Option<Inputs> {
        let secret_name = &gc.spec.gslb_leader.credentials;
        let secret_version =
            Api::<Secret>::namespaced(self.client.clone(), &self.options.namespace)
                .get_opt(secret_name)
                .await
                .ok()
                .flatten()
                .and_then(|s| s.resource_version())
                .unwrap_or_default();
        Some(Inputs {
            config_spec: serde_json::to_value(&gc.spec).ok()?,
            uuid: gc
                .annotations()
                .get(AMKO_UUID_ANNOTATION)
                .cloned()
                .unwrap_or_default(),
            secret_version,
        })
    }

    /// Accepts `gc`, runs the pipeline until the inputs change.
    async fn run_config(&self, gc: &GslbConfig) -> Result<(), ConfigError> {
        let fresh = uuid::Uuid::new_v4().to_string();
        let settings = accept_gslb_config(gc, &fresh).map_err(|e| ConfigError::Invalid {
            gslbconfig: e.object.to_string(),
            problem: e.problem,
        })?;
        (self.set_log_level)(settings.log_level);
        if settings.uuid_needs_annotation {
            let api: Api<GslbConfig> =
                Api::namespaced(self.client.clone(), &self.options.namespace);
            let patch = json!({"metadata": {"annotations": {AMKO_UUID_ANNOTATION: settings.instance_uuid}}});
            api.patch(
                &gc.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(|cause| ConfigError::RecordUuid {
                gslbconfig: gc.name_any(),
                cause,
            })?;
            tracing::info!(uuid = %settings.instance_uuid, "generated this instance's uuid");
            // The annotation edit comes back as a change; start from the annotated object.
            return Ok(());
        }
        let avi = Arc::new(self.avi_client(&settings).await?);
        let members = self.members_kubeconfig()?;
        match avi.is_gslb_leader().await {
            Ok(true) => {}
            Ok(false) => return Err(ConfigError::NotLeader),
            Err(e) => return Err(ConfigError::Controller(e)),
        }
        let started = self.inputs_of(gc).await;
        self.set_gc_state(gc, STATE_SYNCING);
        let arbiter = StopOnDrop(Arbiter::new());
        let policy_arbiter = StopOnDrop(Arbiter::new());
        let writer_arbiter = StopOnDrop(Arbiter::new());
        let pipeline = self
            .start_pipeline(
                [&arbiter.0, &policy_arbiter.0, &writer_arbiter.0],
                &settings,
                avi,
                &members,
            )
            .await;
        // Dropped before the arbiters: the liveness watchdog sees the pipeline retired before
        // its threads stop.
        let _published = self.endpoints.publish(pipeline.clone());

        let mut accepted = false;
        let mut level = settings.log_level;
        let api: Api<GslbConfig> = Api::namespaced(self.client.clone(), &self.options.namespace);
        loop {
            tokio::time::sleep(Duration::from_millis(if accepted { 2000 } else { 200 })).await;
            if !accepted && pipeline.avi.send(IsBooted).await.unwrap_or(false) {
                accepted = true;
                self.set_gc_state(gc, STATE_ACCEPTED);
                self.event(
                    gc,
                    false,
                    "GSLBConfigValidation",
                    "GSLB Configuration validated and accepted; initial sync done.",
                );
            }
            let all = match api.list(&ListParams::default()).await {
                Ok(list) => list.items,
                Err(_) => continue,
            };
            let Some((current, others)) = others_than_running(&gc.name_any(), all) else {
                break Ok(());
            };
            self.refuse(others);
            // logLevel applies live; anything else restarts the pipeline.
            let mut comparable = current.spec.clone();
            comparable.log_level = gc.spec.log_level.clone();
            if comparable == gc.spec
                && current.annotations() == gc.annotations()
                && self.inputs_of(&current).await.map(|i| i.secret_version)
                    == started.as_ref().map(|i| i.secret_version.clone())
            {
                if let Some(new_level) = current.spec.log_level.as_deref().and_then(LogLevel::parse)
                    && new_level != level
                {
                    level = new_level;
                    (self.set_log_level)(new_level);
                    tracing::info!(?new_level, "log level changed");
                }
                continue;
            }
            tracing::info!("GSLBConfig or its Secret changed: restarting the actors");
            self.event(
                gc,
                false,
                "GSLBConfigChanged",
                "GSLBConfig edited: amko-rs restarts its actors in-process",
            );
            self.set_gc_state(gc, "gslb config edited, restarting amko-rs actors");
            break Ok(());
        }
    }

    async fn avi_client(&self, settings: &GslbConfigSettings) -> Result<AviClient, ConfigError> {
        // Decided before the Secret is read: no credentials for a refused address.
        let base_url = controller_base_url(
            &settings.controller.address,
            self.options.allow_insecure_http,
        )?;
        if base_url.starts_with("http://") {
            tracing::warn!(
                "the controller is reached over plain HTTP (--allow-insecure-http): its credentials cross the network unencrypted"
            );
        }
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.options.namespace);
        let name = &settings.controller.credentials_secret;
        let secret = secrets
            .get_opt(name)
            .await
            .map_err(|cause| ConfigError::ReadSecret {
                secret: name.clone(),
                cause,
            })?
            .ok_or_else(|| ConfigError::NoSecret {
                secret: name.clone(),
            })?;
        let conn = avi_connection(settings, base_url, &secret).map_err(|missing| {
            ConfigError::SecretField {
                secret: missing.secret,
                field: missing.field,
            }
        })?;
        let client = AviClient::new(conn)?
            .with_budget(self.options.rate)
            .with_observer(Arc::new(MetricsObserver(self.metrics.clone())));
        client.login().await.map_err(|e| match e.kind {
            AviErrorKind::InvalidCredentials => ConfigError::InvalidCredentials,
            _ => ConfigError::Controller(e),
        })?;
        Ok(client)
    }

    fn members_kubeconfig(&self) -> Result<MembersKubeconfig, ConfigError> {
        let text = self
            .options
            .members_kubeconfig
            .as_deref()
            .ok_or(ConfigError::NoMembersKubeconfig)?;
        MembersKubeconfig::parse(text).map_err(ConfigError::MembersKubeconfig)
    }

    async fn start_pipeline(
        &self,
        [arbiter, policy_arbiter, writer_arbiter]: [&Arbiter; 3],
        settings: &GslbConfigSettings,
        avi: Arc<AviClient>,
        members: &MembersKubeconfig,
    ) -> Pipeline {
        let handle = arbiter.handle();
        let metrics = self.metrics.clone();
        let instance = Arc::new(settings.instance.clone());
        let writer_config = WriterConfig {
            created_by: settings.instance.created_by.clone(),
            default_tenant: settings.instance.default_tenant.clone(),
            refresh_interval: self
                .options
                .refresh_interval
                .unwrap_or(settings.refresh_interval),
            max_in_flight: self.options.max_in_flight,
            max_rate_limit_hold: self.options.max_rate_limit_hold,
        };

        // The PolicyActor reports write problems; it is created after the writer, so the
        // writer talks to it through a forwarding actor started first.
        let events = EventSink {
            recipient: self.status.recipient(),
            target: StatusTarget::GslbConfig {
                namespace: self.options.namespace.clone(),
                name: settings
                    .source
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            },
        };
        let forward = ProblemForward::default().start();
        // Each actor's mailbox is made here, so that the actor and every sender share it.
        let avi_mailbox = metrics.mailbox("avi", "writer");
        let selection_mailbox = metrics.mailbox("selection", "world");
        let policy_mailbox = metrics.mailbox("policy", "watcher");
        let avi_actor = {
            let (avi, metrics, forward, events, mailbox) = (
                avi.clone(),
                metrics.clone(),
                forward.clone(),
                events.clone(),
                avi_mailbox.clone(),
            );
            // Its own thread: planning and the requests' work run beside selection and the
            // GslbService actors instead of queueing behind them (a 200,000-object cold start
            // keeps both busy).
            AviActor::start_in_arbiter(&writer_arbiter.handle(), move |_| {
                AviActor::new(
                    avi,
                    writer_config,
                    metrics,
                    &mailbox,
                    forward.recipient(),
                    events,
                )
            })
        };
        let selection = {
            let (instance, avi_outbox, mailbox, metrics) = (
                (*instance).clone(),
                avi_mailbox.outbox(avi_actor.clone()),
                selection_mailbox.clone(),
                metrics.clone(),
            );
            let (window, boot_timeout) = (self.options.coalesce_window, self.options.boot_timeout);
            let events = events.clone();
            SelectionActor::start_in_arbiter(&handle, move |_| {
                SelectionActor::new(
                    instance,
                    avi_outbox,
                    &mailbox,
                    metrics,
                    window,
                    boot_timeout,
                    events,
                )
            })
        };
        let selection_outbox = selection_mailbox.outbox(selection.clone());
        let policy = {
            let (client, avi, instance, selection, status, mailbox) = (
                self.client.clone(),
                avi.clone(),
                instance.clone(),
                selection_outbox.clone(),
                self.status.clone(),
                policy_mailbox.clone(),
            );
            let namespace = self.options.namespace.clone();
            let metrics = self.metrics.clone();
            // Validating and publishing policy objects is the heaviest work at thousands of
            // GSLBHostRules: on its own thread it does not delay the data path.
            PolicyActor::start_in_arbiter(&policy_arbiter.handle(), move |_| {
                PolicyActor::new(
                    client, avi, instance, namespace, selection, status, &mailbox, metrics,
                )
            })
        };
        forward.do_send(SetTarget(policy_mailbox.outbox(policy.clone()).recipient()));

        let mut clusters: BTreeMap<String, Addr<ClusterActor>> = BTreeMap::new();
        let wanted: BTreeSet<String> = settings.instance.member_clusters.clone();
        for context in wanted {
            let config = match members.config_for(&context).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(cluster = %context, error = %e, "member cluster skipped; boot waits for it until the boot timeout");
                    continue;
                }
            };
            let client = match Client::try_from(config) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(cluster = %context, error = %e, "cannot build a client for member cluster");
                    continue;
                }
            };
            let cluster_mailbox = metrics.mailbox("cluster", &context);
            let (selection, mailbox) = (selection_outbox.clone(), cluster_mailbox.clone());
            let name = context.clone();
            let addr = ClusterActor::start_in_arbiter(&handle, move |_| {
                ClusterActor::new(name, client, selection, &mailbox)
            });
            selection_outbox.do_send(RegisterDomainListener(
                cluster_mailbox.outbox(addr.clone()).recipient(),
            ));
            clusters.insert(context, addr);
        }
        tracing::info!(clusters = clusters.len(), created_by = %settings.instance.created_by, "pipeline started");
        // What the liveness watchdog watches: both threads, and every actor that lives as long
        // as the pipeline (GslbService actors come and go with their keys; they share the
        // pipeline thread, whose heartbeat covers them).
        let mut actors = vec![
            WatchedActor::new("selection/world", PIPELINE_THREAD, selection.clone()),
            WatchedActor::new("avi/writer", WRITER_THREAD, avi_actor.clone()),
            WatchedActor::new("policy/watcher", POLICY_THREAD, policy),
            WatchedActor::new("status/writer", "main", self.status.watch_only()),
        ];
        for (name, addr) in clusters {
            actors.push(WatchedActor::new(
                &format!("cluster/{name}"),
                PIPELINE_THREAD,
                addr,
            ));
        }
        Pipeline {
            selection: selection_outbox,
            avi: avi_mailbox.outbox(avi_actor),
            threads: vec![
                WatchedThread {
                    name: PIPELINE_THREAD.to_owned(),
                    handle,
                },
                WatchedThread {
                    name: POLICY_THREAD.to_owned(),
                    handle: policy_arbiter.handle(),
                },
                WatchedThread {
                    name: WRITER_THREAD.to_owned(),
                    handle: writer_arbiter.handle(),
                },
            ],
            actors,
        }
    }
}

/// The thread of the selection, GslbService and cluster actors, that of the PolicyActor and that
/// of the AviActor (the writer), as liveness causes name them.
const PIPELINE_THREAD: &str = "pipeline";
const POLICY_THREAD: &str = "policy";
const WRITER_THREAD: &str = "writer";

/// Stops the pipeline's arbiter however `run_config` ends, also when the operator is dropped
/// because this instance stopped leading (see `cmd/run.rs`): no actor of it writes afterwards.
struct StopOnDrop(Arbiter);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Forwards write problems from the AviActor to the PolicyActor (created later).
#[derive(Default)]
struct ProblemForward {
    target: Option<Inbox<crate::avi_writer::WriteProblem>>,
    early: Vec<crate::avi_writer::WriteProblem>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct SetTarget(Inbox<crate::avi_writer::WriteProblem>);

impl Actor for ProblemForward {
    type Context = Context<Self>;
}

impl Handler<SetTarget> for ProblemForward {
    type Result = ();
    fn handle(&mut self, msg: SetTarget, _: &mut Context<Self>) {
        for problem in self.early.drain(..) {
            msg.0.do_send(problem);
        }
        self.target = Some(msg.0);
    }
}

impl Handler<crate::avi_writer::WriteProblem> for ProblemForward {
    type Result = ();
    fn handle(&mut self, msg: crate::avi_writer::WriteProblem, _: &mut Context<Self>) {
        match &self.target {
            Some(t) => t.do_send(msg),
            None => self.early.push(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_the_members_kubeconfig_out() {
        let options = OperatorOptions {
            namespace: "avi-system".into(),
            members_kubeconfig: Some("users: [{name: u, user: {token: pl4nted-t0ken}}]".into()),
            boot_timeout: Duration::from_secs(60),
            coalesce_window: Duration::from_millis(100),
            rate: RateBudget::DEFAULT,
            max_in_flight: 8,
            refresh_interval: None,
            reporter: "amko-rs".into(),
            allow_insecure_http: false,
            max_rate_limit_hold: amko::avi::retry::MAX_RATE_LIMIT_HOLD,
        };
        let shown = format!("{options:?}");
        assert!(!shown.contains("pl4nted-t0ken"), "{shown}");
        assert!(
            shown.contains("avi-system") && shown.contains("bytes, not shown"),
            "{shown}"
        );
    }

    #[test]
    fn a_config_error_becomes_the_gslbconfig_state_users_know() {
        let cases = [
            (ConfigError::NotLeader, "error: controller not a leader"),
            (
                ConfigError::Invalid {
                    gslbconfig: "GSLBConfig avi-system/gc-1".into(),
                    problem: Problem::InvalidLogLevel {
                        level: "LOUD".into(),
                    },
                },
                "error: logLevel LOUD is invalid, expected one of DEBUG, INFO, WARN, ERROR",
            ),
            (
                ConfigError::NoSecret {
                    secret: "gslb-avi-secret".into(),
                },
                "error: secret object doesn't exist gslb-avi-secret",
            ),
            (
                ConfigError::SecretField {
                    secret: "gslb-avi-secret".into(),
                    field: "password",
                },
                "error: secret gslb-avi-secret has no password",
            ),
            (
                ConfigError::InvalidCredentials,
                "error: issue in connecting to the controller API, invalid credentials; tried again in 5 minutes, or at once when the credentials Secret changes",
            ),
            (
                ConfigError::NoMembersKubeconfig,
                "error: provided kubeconfig has an error: no members kubeconfig (set GSLB_CONFIG or --members-kubeconfig)",
            ),
        ];
        for (error, state) in cases {
            assert_eq!(error.state(), state, "{error:?}");
        }
    }
}
