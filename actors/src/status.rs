//! The StatusActor: writes the status of amko-rs's own custom resources (GSLBConfig, GDP,
//! GSLBHostRule) and Kubernetes Events, off the data path. Which status to write when is decided
//! by `amko::state::StatusBook` (coalesced per object, failed writes retried unless stale).

use std::time::Duration;

use actix::prelude::*;
use amko::crd::{GlobalDeploymentPolicy, GslbConfig, GslbHostRule};
use amko::state::{StatusBook, StatusWrite, StatusWriteOutcome};
use k8s_openapi::api::core::v1::{Event as K8sEvent, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::telemetry::{Inbox, Mailbox, Metrics, OwnMailbox};

/// Which custom resource a status belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusTarget {
    GslbConfig { namespace: String, name: String },
    Gdp { namespace: String, name: String },
    HostRule { namespace: String, name: String },
}

impl StatusTarget {
    fn parts(&self) -> (&'static str, &str, &str) {
        match self {
            StatusTarget::GslbConfig { namespace, name } => ("GSLBConfig", namespace, name),
            StatusTarget::Gdp { namespace, name } => ("GlobalDeploymentPolicy", namespace, name),
            StatusTarget::HostRule { namespace, name } => ("GSLBHostRule", namespace, name),
        }
    }
}

/// Sets the whole `status` of a target.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct SetStatus {
    pub target: StatusTarget,
    pub status: Value,
}

/// A Kubernetes Event about one of our objects.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct RecordEvent {
    pub target: StatusTarget,
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// Where an actor records Events about the instance (on the GSLBConfig).
#[derive(Clone)]
pub struct EventSink {
    pub recipient: Inbox<RecordEvent>,
    pub target: StatusTarget,
}

impl EventSink {
    pub fn emit(&self, warning: bool, reason: &str, message: impl Into<String>) {
        self.recipient.do_send(RecordEvent {
            target: self.target.clone(),
            warning,
            reason: reason.to_owned(),
            message: message.into(),
        });
    }
}

/// The object was deleted: forget what was written for it, so that a new object of the same
/// name gets its status written too.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct ForgetStatus(pub StatusTarget);

/// A status write the API server refused or did not answer; it is retried.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the status of {kind} {namespace}/{name}: {cause}")]
struct WriteError {
    kind: &'static str,
    namespace: String,
    name: String,
    #[source]
    cause: kube::Error,
}

struct Written {
    write: StatusWrite<StatusTarget, Value>,
    /// `Ok(false)`: the object was gone, nothing was written.
    result: Result<bool, WriteError>,
}
impl Message for Written {
    type Result = ();
}

pub struct StatusActor {
    client: Client,
    mailbox: OwnMailbox,
    book: StatusBook<StatusTarget, Value>,
    reporter: String,
}

impl StatusActor {
    pub fn new(client: Client, metrics: &std::sync::Arc<Metrics>, reporter: String) -> Self {
        StatusActor {
            client,
            mailbox: metrics.mailbox("status", "writer").owned_by_actor(),
            book: StatusBook::default(),
            reporter,
        }
    }

    /// The mailbox its senders count in (`StatusActor::mailbox().outbox(addr)`).
    pub fn mailbox(&self) -> Mailbox {
        self.mailbox.clone()
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        for write in self.book.start_writes() {
            let client = self.client.clone();
            let addr = self.mailbox.outbox(ctx.address());
            actix::spawn(async move {
                let result = write_status(client, &write.target, &write.status).await;
                addr.do_send(Written { write, result });
            });
        }
    }
}

async fn write_status(
    client: Client,
    target: &StatusTarget,
    status: &Value,
) -> Result<bool, WriteError> {
    let patch = Patch::Merge(json!({ "status": status }));
    let params = PatchParams::default();
    let result = match target {
        StatusTarget::GslbConfig { namespace, name } => {
            Api::<GslbConfig>::namespaced(client, namespace)
                .patch_status(name, &params, &patch)
                .await
                .map(|_| ())
        }
        StatusTarget::Gdp { namespace, name } => {
            Api::<GlobalDeploymentPolicy>::namespaced(client, namespace)
                .patch_status(name, &params, &patch)
                .await
                .map(|_| ())
        }
        StatusTarget::HostRule { namespace, name } => {
            Api::<GslbHostRule>::namespaced(client, namespace)
                .patch_status(name, &params, &patch)
                .await
                .map(|_| ())
        }
    };
    match result {
        Ok(()) => Ok(true),
        // The object is gone: nothing to report on.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(cause) => {
            let (kind, namespace, name) = target.parts();
            Err(WriteError {
                kind,
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                cause,
            })
        }
    }
}

impl Actor for StatusActor {
    type Context = Context<Self>;
}

impl Handler<SetStatus> for StatusActor {
    type Result = ();

    fn handle(&mut self, msg: SetStatus, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            self.book.set(msg.target, msg.status);
            self.pump(ctx);
        })
    }
}

impl Handler<Written> for StatusActor {
    type Result = ();

    fn handle(&mut self, msg: Written, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            let outcome = match &msg.result {
                Ok(true) => StatusWriteOutcome::Written,
                Ok(false) => StatusWriteOutcome::ObjectGone,
                Err(error) => {
                    tracing::warn!(kind = error.kind, namespace = %error.namespace, name = %error.name, reason = %error.cause, "status write failed; retrying");
                    StatusWriteOutcome::Failed
                }
            };
            if let Some(retry) = self.book.finished(msg.write, outcome) {
                self.mailbox.clone().run_later(
                    ctx,
                    Duration::from_secs(2),
                    move |act, ctx| {
                        act.book.retry(retry);
                        act.pump(ctx);
                    },
                );
            }
            self.pump(ctx);
        })
    }
}

impl Handler<ForgetStatus> for StatusActor {
    type Result = ();

    fn handle(&mut self, msg: ForgetStatus, _: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            self.book.forget(&msg.0);
        })
    }
}

impl Handler<RecordEvent> for StatusActor {
    type Result = ();

    fn handle(&mut self, msg: RecordEvent, _: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            let (kind, namespace, name) = msg.target.parts();
            let api_version = match msg.target {
                StatusTarget::Gdp { .. } => "amko.vmware.com/v1alpha2",
                _ => "amko.vmware.com/v1alpha1",
            };
            let now = k8s_openapi::jiff::Timestamp::now();
            let event = K8sEvent {
                metadata: ObjectMeta {
                    generate_name: Some(format!("{name}.")),
                    namespace: Some(namespace.to_owned()),
                    ..ObjectMeta::default()
                },
                involved_object: ObjectReference {
                    api_version: Some(api_version.to_owned()),
                    kind: Some(kind.to_owned()),
                    name: Some(name.to_owned()),
                    namespace: Some(namespace.to_owned()),
                    ..ObjectReference::default()
                },
                reason: Some(msg.reason.clone()),
                message: Some(msg.message.clone()),
                type_: Some(if msg.warning { "Warning" } else { "Normal" }.to_owned()),
                first_timestamp: Some(Time(now)),
                last_timestamp: Some(Time(now)),
                event_time: Some(MicroTime(now)),
                count: Some(1),
                reporting_component: Some("amko-rs".to_owned()),
                reporting_instance: Some(self.reporter.clone()),
                action: Some(msg.reason.clone()),
                ..K8sEvent::default()
            };
            let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
            actix::spawn(async move {
                if let Err(e) = api.create(&PostParams::default(), &event).await {
                    tracing::debug!(error = %e, "could not record event");
                }
            });
        })
    }
}
