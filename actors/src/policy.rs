//! The PolicyActor: watches the GlobalDeploymentPolicies (home namespace) and GSLBHostRules (any
//! namespace) of the cluster amko-rs runs in, validates them against the controller (read by name
//! through the Avi client), and carries out what `amko::policy::in_force` decides: the statuses,
//! Events and accepted-spec annotations to write, and the policy and overrides to hand to the
//! SelectionActor. Its watches relist after a gap; objects missing from a relist are handled as
//! deleted (decided by `InForce`).

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use amko::avi::lookup::{References, fetch_snapshot};
use amko::avi::{AviClient, AviError};
use amko::crd::{GlobalDeploymentPolicy, GslbHostRule};
use amko::ingest::annotations::TENANT_NAME;
use amko::policy::in_force::{
    ACCEPTED_SPEC_ANNOTATION, Checked, Checks, Decision, InForce, OverridesChange, PolicyObject,
    Publication, RuleKey, ToCheck, last_accepted, rule_key, version,
};
use amko::policy::{accept_gdp, accept_host_rule};
use amko::vocab::{HostRuleOverrides, InstanceSettings, Policy};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::avi_writer::WriteProblem;
use crate::selection::{ChangeOverrides, SelectionActor, SetOverrides, SetPolicy};
use crate::status::{ForgetStatus, RecordEvent, SetStatus, StatusActor, StatusTarget};
use crate::telemetry::{Mailbox, Metrics, Outbox, OwnMailbox};

#[derive(Message)]
#[rtype(result = "()")]
enum Watched {
    Gdp(Result<Event<GlobalDeploymentPolicy>, watcher::Error>),
    HostRule(Result<Event<GslbHostRule>, watcher::Error>),
}

/// An object whose references could not be checked: unknown, not invalid, so it is validated
/// again shortly.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckError {
    #[error("GlobalDeploymentPolicy {name}: cannot check references on the controller: {cause}")]
    Gdp { name: String, cause: AviError },
    #[error("GSLBHostRule {namespace}/{name}: cannot check references on the controller: {cause}")]
    HostRule {
        namespace: String,
        name: String,
        cause: AviError,
    },
}

/// Result of validating the changed objects (validation reads the controller, so it is async).
pub(crate) struct Evaluated {
    pub(crate) checks: Checks,
    /// Objects that could not be checked (controller unreachable): retried shortly.
    pub(crate) transient: Vec<CheckError>,
}
impl Message for Evaluated {
    type Result = ();
}

pub struct PolicyActor {
    client: Client,
    avi: Arc<AviClient>,
    settings: Arc<InstanceSettings>,
    home_namespace: String,
    selection: Outbox<SelectionActor>,
    status: Outbox<StatusActor>,
    mailbox: OwnMailbox,
    in_force: InForce,
    metrics: Arc<Metrics>,
}

impl PolicyActor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        avi: Arc<AviClient>,
        settings: Arc<InstanceSettings>,
        home_namespace: String,
        selection: Outbox<SelectionActor>,
        status: Outbox<StatusActor>,
        mailbox: &Mailbox,
        metrics: Arc<Metrics>,
    ) -> Self {
        PolicyActor {
            client,
            avi,
            settings,
            home_namespace,
            selection,
            status,
            mailbox: mailbox.owned_by_actor(),
            in_force: InForce::new(),
            metrics,
        }
    }

    /// Exports how many policy objects are rejected (after every change of what is known).
    fn publish_rejections(&self) {
        let rejections = self.in_force.rejections();
        self.metrics
            .set_policies_rejected(rejections.gdps, rejections.rules);
    }

    /// Validates every object whose version has no verdict yet; the verdicts come back as
    /// [`Evaluated`].
    fn evaluate(&mut self, ctx: &mut Context<Self>) {
        let Some(to_check) = self.in_force.begin_check() else {
            return;
        };
        let (avi, settings, client) =
            (self.avi.clone(), self.settings.clone(), self.client.clone());
        let addr = self.mailbox.outbox(ctx.address());
        actix::spawn(async move {
            addr.do_send(check(to_check, &avi, &settings, &client).await);
        });
    }

    fn target(&self, object: &PolicyObject) -> StatusTarget {
        match object {
            PolicyObject::Gdp(name) => StatusTarget::Gdp {
                namespace: self.home_namespace.clone(),
                name: name.clone(),
            },
            PolicyObject::HostRule((namespace, name)) => StatusTarget::HostRule {
                namespace: namespace.clone(),
                name: name.clone(),
            },
        }
    }

    fn carry_out(&self, decision: Decision) {
        for (object, problem) in &decision.rejected {
            match object {
                PolicyObject::Gdp(name) => {
                    tracing::warn!(gdp = %name, reason = %problem, "GlobalDeploymentPolicy rejected");
                }
                PolicyObject::HostRule((namespace, name)) => {
                    tracing::warn!(%namespace, gslbhostrule = %name, reason = %problem, "GSLBHostRule rejected");
                }
            }
        }
        for warning in decision.warnings {
            self.status.do_send(RecordEvent {
                target: self.target(&warning.object),
                warning: true,
                reason: warning.reason.into(),
                message: warning.message,
            });
        }
        for record in decision.record_specs {
            self.record_accepted_spec(record.object, record.spec);
        }
        if let Some(publication) = decision.publication {
            self.publish(publication);
        }
        self.publish_rejections();
    }

    fn publish(&self, publication: Publication) {
        for (name, error_status) in publication.gdp_statuses {
            self.status.do_send(SetStatus {
                target: self.target(&PolicyObject::Gdp(name)),
                status: json!({ "errorStatus": error_status }),
            });
        }
        if let Some(policy) = publication.policy.to_send() {
            self.selection.do_send(SetPolicy(policy));
        }
        for (key, rule_status) in publication.rule_statuses {
            self.status.do_send(SetStatus {
                target: self.target(&PolicyObject::HostRule(key)),
                status: json!({ "status": rule_status.status, "error": rule_status.error }),
            });
        }
        match publication.overrides {
            Some(OverridesChange::Whole(all)) => {
                self.selection.do_send(SetOverrides(all));
            }
            Some(OverridesChange::Differences { upserts, removed }) => {
                self.selection.do_send(ChangeOverrides { upserts, removed });
            }
            None => {}
        }
    }

    /// Records the accepted spec on the object (a metadata patch: the generation does not change).
    fn record_accepted_spec(&self, object: PolicyObject, spec: String) {
        let patch =
            Patch::Merge(json!({"metadata": {"annotations": {ACCEPTED_SPEC_ANNOTATION: spec}}}));
        let client = self.client.clone();
        let home = self.home_namespace.clone();
        actix::spawn(async move {
            let (kind, namespace, name, result) = match object {
                PolicyObject::Gdp(name) => {
                    let api = Api::<GlobalDeploymentPolicy>::namespaced(client, &home);
                    let result = api.patch(&name, &PatchParams::default(), &patch).await;
                    ("GlobalDeploymentPolicy", home, name, result.map(|_| ()))
                }
                PolicyObject::HostRule((namespace, name)) => {
                    let api = Api::<GslbHostRule>::namespaced(client, &namespace);
                    let result = api.patch(&name, &PatchParams::default(), &patch).await;
                    ("GSLBHostRule", namespace, name, result.map(|_| ()))
                }
            };
            if let Err(e) = result {
                tracing::warn!(kind, %namespace, %name, error = %e, "could not record the accepted spec");
            }
        });
    }
}

/// Validates the objects against the controller; a rejected one is also tried in the version
/// recorded as last accepted, which after a restart is what stays in force. `amko plan` uses it
/// too, so that it validates exactly as the operator does.
pub(crate) async fn check(
    to_check: ToCheck,
    avi: &AviClient,
    settings: &InstanceSettings,
    client: &Client,
) -> Evaluated {
    let mut out = Evaluated {
        checks: Checks::default(),
        transient: Vec::new(),
    };
    for gdp in to_check.gdps {
        match check_gdp(&gdp, avi, settings).await {
            Ok(verdict) => {
                let recovered = match verdict {
                    Ok(_) => None,
                    Err(_) => previously_accepted_gdp(&gdp, avi, settings).await,
                };
                out.checks.gdps.insert(
                    gdp.name_any(),
                    Checked {
                        version: version(&gdp),
                        verdict,
                        recovered,
                    },
                );
            }
            Err(cause) => out.transient.push(CheckError::Gdp {
                name: gdp.name_any(),
                cause,
            }),
        }
    }
    for rule in to_check.rules {
        let key = rule_key(&rule);
        let tenant = namespace_tenant(client, &key.0)
            .await
            .unwrap_or_else(|| settings.default_tenant.clone());
        match check_rule(&rule, avi, &tenant, settings).await {
            Ok(verdict) => {
                let recovered = match verdict {
                    Ok(_) => None,
                    Err(_) => previously_accepted_rule(&rule, avi, &tenant, settings).await,
                };
                out.checks.rules.insert(
                    key,
                    Checked {
                        version: version(&rule),
                        verdict,
                        recovered,
                    },
                );
            }
            Err(cause) => {
                let (namespace, name) = key;
                out.transient.push(CheckError::HostRule {
                    namespace,
                    name,
                    cause,
                });
            }
        }
    }
    out
}

/// The verdict on `gdp`; `Err` when the controller could not be read.
async fn check_gdp(
    gdp: &GlobalDeploymentPolicy,
    avi: &AviClient,
    settings: &InstanceSettings,
) -> Result<Result<Policy, amko::policy::Problem>, AviError> {
    let snapshot = fetch_snapshot(avi, &settings.default_tenant, &References::of_gdp(gdp)).await?;
    Ok(accept_gdp(gdp, settings, &snapshot).map_err(|e| e.problem))
}

/// The verdict on `rule` for `tenant`; `Err` when the controller could not be read.
async fn check_rule(
    rule: &GslbHostRule,
    avi: &AviClient,
    tenant: &str,
    settings: &InstanceSettings,
) -> Result<Result<HostRuleOverrides, amko::policy::Problem>, AviError> {
    let snapshot = fetch_snapshot(avi, tenant, &References::of_host_rule(rule)).await?;
    Ok(accept_host_rule(rule, tenant, settings, &snapshot).map_err(|e| e.problem))
}

/// The rule's recorded last accepted spec, if it is still valid.
async fn previously_accepted_rule(
    rule: &GslbHostRule,
    avi: &AviClient,
    tenant: &str,
    settings: &InstanceSettings,
) -> Option<HostRuleOverrides> {
    let previous = last_accepted(rule)?;
    check_rule(&previous, avi, tenant, settings)
        .await
        .ok()?
        .ok()
}

/// The GDP's recorded last accepted spec, if it is still valid.
async fn previously_accepted_gdp(
    gdp: &GlobalDeploymentPolicy,
    avi: &AviClient,
    settings: &InstanceSettings,
) -> Option<Policy> {
    let previous = last_accepted(gdp)?;
    check_gdp(&previous, avi, settings).await.ok()?.ok()
}

async fn namespace_tenant(client: &Client, namespace: &str) -> Option<String> {
    let ns = Api::<Namespace>::all(client.clone())
        .get_opt(namespace)
        .await
        .ok()
        .flatten()?;
    ns.annotations()
        .get(TENANT_NAME)
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

impl Actor for PolicyActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Both kinds are exported from the start: an alert on them sees 0, not nothing.
        self.publish_rejections();
        let config = watcher::Config::default();
        let gdps =
            Api::<GlobalDeploymentPolicy>::namespaced(self.client.clone(), &self.home_namespace);
        ctx.add_stream(
            self.mailbox.counted(
                watcher::watcher(gdps, config.clone())
                    .default_backoff()
                    .map(Watched::Gdp),
            ),
        );
        let rules = Api::<GslbHostRule>::all(self.client.clone());
        ctx.add_stream(
            self.mailbox.counted(
                watcher::watcher(rules, config)
                    .default_backoff()
                    .map(Watched::HostRule),
            ),
        );
        // Referenced controller objects may appear later: re-validate rejected objects now and then.
        let mailbox = self.mailbox.clone();
        mailbox.run_interval(ctx, Duration::from_secs(60), |act, ctx| {
            act.in_force.forget_rejections();
            act.evaluate(ctx);
        });
    }

    /// A pipeline that stops leaves no rejections behind in the metrics: another instance (or
    /// the next pipeline) reports them.
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.metrics.set_policies_rejected(0, 0);
    }
}

impl StreamHandler<Watched> for PolicyActor {
    fn handle(&mut self, item: Watched, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            match item {
                Watched::Gdp(Ok(event)) => match event {
                    Event::Init => self.in_force.gdps_list_started(),
                    Event::InitApply(gdp) | Event::Apply(gdp) => self.in_force.gdp_applied(gdp),
                    Event::Delete(gdp) => {
                        let name = gdp.name_any();
                        self.status
                            .do_send(ForgetStatus(self.target(&PolicyObject::Gdp(name.clone()))));
                        self.in_force.gdp_deleted(&name);
                        self.publish_rejections();
                    }
                    Event::InitDone => {
                        // GDPs deleted while the watch was down are gone from the relist.
                        let gone = self.in_force.gdps_listed();
                        self.publish_rejections();
                        for name in gone {
                            tracing::info!(gdp = %name, "GlobalDeploymentPolicy gone at the relist");
                            self.status
                                .do_send(ForgetStatus(self.target(&PolicyObject::Gdp(name))));
                        }
                    }
                },
                Watched::HostRule(Ok(event)) => match event {
                    Event::Init => self.in_force.rules_list_started(),
                    Event::InitApply(rule) | Event::Apply(rule) => {
                        if !self.in_force.rule_applied(rule) {
                            return;
                        }
                    }
                    Event::Delete(rule) => {
                        let key: RuleKey = rule_key(&rule);
                        self.status.do_send(ForgetStatus(
                            self.target(&PolicyObject::HostRule(key.clone())),
                        ));
                        self.in_force.rule_deleted(&key);
                        self.publish_rejections();
                    }
                    Event::InitDone => {
                        let gone = self.in_force.rules_listed();
                        self.publish_rejections();
                        for key in gone {
                            tracing::info!(namespace = %key.0, gslbhostrule = %key.1, "GSLBHostRule gone at the relist");
                            self.status
                                .do_send(ForgetStatus(self.target(&PolicyObject::HostRule(key))));
                        }
                    }
                },
                Watched::Gdp(Err(e)) | Watched::HostRule(Err(e)) => {
                    tracing::warn!(error = %e, "watching policy objects failed; retrying");
                    return;
                }
            }
            self.evaluate(ctx);
        })
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl Handler<Evaluated> for PolicyActor {
    type Result = ();

    fn handle(&mut self, msg: Evaluated, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            let decision = self.in_force.checked(msg.checks);
            let check_again = decision.check_again;
            self.carry_out(decision);
            if !msg.transient.is_empty() {
                for problem in &msg.transient {
                    tracing::warn!("{problem}; retrying");
                }
                self.mailbox
                    .clone()
                    .run_later(ctx, Duration::from_secs(3), |act, ctx| act.evaluate(ctx));
            }
            if check_again {
                self.evaluate(ctx);
            }
        })
    }
}

impl Handler<WriteProblem> for PolicyActor {
    type Result = ();

    fn handle(&mut self, msg: WriteProblem, _: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            let decision = self.in_force.write_problem(msg.key, msg.message);
            self.carry_out(decision);
        })
    }
}
