//! The PolicyActor: watches the GlobalDeploymentPolicies (home namespace) and GSLBHostRules (any
//! namespace) of the cluster amko-rs runs in, accepts them with `amko::policy` (controller facts
//! read by name through the Avi client), keeps the last good version of each in force when an
//! edit is invalid (recorded on the object, so across restarts too), writes their status, and
//! hands the accepted policy to the SelectionActor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use amko::avi::AviClient;
use amko::avi::lookup::{References, fetch_snapshot};
use amko::crd::gslbhostrule::{STATUS_ACCEPTED, STATUS_REJECTED};
use amko::crd::{GlobalDeploymentPolicy, GslbHostRule, gdp::STATUS_SUCCESS};
use amko::ingest::annotations::TENANT_NAME;
use amko::policy::{Problem, accept_gdp, accept_host_rule};
use amko::vocab::GsKey;
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
use crate::telemetry::{Mailbox, Metrics};

#[derive(Message)]
#[rtype(result = "()")]
enum Watched {
    Gdp(Result<Event<GlobalDeploymentPolicy>, String>),
    HostRule(Result<Event<GslbHostRule>, String>),
}

/// Result of validating the changed objects (validation reads the controller, so it is async).
struct Evaluated {
    gdps: BTreeMap<String, (String, Result<Policy, String>)>,
    rules: BTreeMap<(String, String), (String, Result<HostRuleOverrides, String>)>,
    /// Rejected GDPs whose previously accepted spec (recorded on the object) is still valid.
    recovered_gdps: BTreeMap<String, Policy>,
    /// Rejected rules whose previously accepted spec (recorded on the object) is still valid.
    recovered_rules: BTreeMap<(String, String), HostRuleOverrides>,
    /// Objects that could not be checked (controller unreachable): retried shortly.
    transient: Vec<String>,
}
impl Message for Evaluated {
    type Result = ();
}

type Version = String;

pub struct PolicyActor {
    client: Client,
    avi: Arc<AviClient>,
    settings: Arc<InstanceSettings>,
    home_namespace: String,
    selection: Addr<SelectionActor>,
    selection_mailbox: Mailbox,
    status: Addr<StatusActor>,
    mailbox: Mailbox,
    gdps: BTreeMap<String, GlobalDeploymentPolicy>,
    rules: BTreeMap<(String, String), GslbHostRule>,
    /// Validation outcome per object and the version it was computed for.
    gdp_results: BTreeMap<String, (Version, Result<Policy, String>)>,
    rule_results: BTreeMap<(String, String), (Version, Result<HostRuleOverrides, String>)>,
    /// The last accepted version of each object stays in force while an edit is invalid.
    last_good_gdp: BTreeMap<String, Policy>,
    last_good_rules: BTreeMap<(String, String), HostRuleOverrides>,
    active_gdp: Option<String>,
    problems: BTreeMap<GsKey, String>,
    /// The last status handed to the StatusActor per GSLBHostRule.
    rule_status_sent: BTreeMap<(String, String), (&'static str, String)>,
    /// The overrides the SelectionActor has, by (tenant, FQDN).
    overrides_sent: Option<BTreeMap<(String, String), HostRuleOverrides>>,
    evaluating: bool,
    dirty: bool,
    listed: BTreeSet<&'static str>,
}

impl PolicyActor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        avi: Arc<AviClient>,
        settings: Arc<InstanceSettings>,
        home_namespace: String,
        selection: Addr<SelectionActor>,
        selection_mailbox: Mailbox,
        status: Addr<StatusActor>,
        metrics: &Arc<Metrics>,
    ) -> Self {
        PolicyActor {
            client,
            avi,
            settings,
            home_namespace,
            selection,
            selection_mailbox,
            status,
            mailbox: metrics.mailbox("policy", "watcher"),
            gdps: BTreeMap::new(),
            rules: BTreeMap::new(),
            gdp_results: BTreeMap::new(),
            rule_results: BTreeMap::new(),
            last_good_gdp: BTreeMap::new(),
            last_good_rules: BTreeMap::new(),
            active_gdp: None,
            problems: BTreeMap::new(),
            rule_status_sent: BTreeMap::new(),
            overrides_sent: None,
            evaluating: false,
            dirty: false,
            listed: BTreeSet::new(),
        }
    }

    /// Validates every object whose version has no result yet, then publishes.
    fn evaluate(&mut self, ctx: &mut Context<Self>) {
        if self.evaluating {
            self.dirty = true;
            return;
        }
        // Publish nothing until both kinds are listed, so boot does not flap.
        if self.listed.len() < 2 {
            return;
        }
        self.evaluating = true;
        self.dirty = false;
        let gdps: Vec<GlobalDeploymentPolicy> = self
            .gdps
            .iter()
            .filter(|(name, gdp)| self.gdp_results.get(*name).map(|r| &r.0) != Some(&version(*gdp)))
            .map(|(_, gdp)| gdp.clone())
            .collect();
        let rules: Vec<GslbHostRule> = self
            .rules
            .iter()
            .filter(|(key, rule)| {
                self.rule_results.get(*key).map(|r| &r.0) != Some(&version(*rule))
            })
            .map(|(_, rule)| rule.clone())
            .collect();
        let avi = self.avi.clone();
        let settings = self.settings.clone();
        let client = self.client.clone();
        let addr = ctx.address();
        actix::spawn(async move {
            let mut out = Evaluated {
                gdps: BTreeMap::new(),
                rules: BTreeMap::new(),
                recovered_gdps: BTreeMap::new(),
                recovered_rules: BTreeMap::new(),
                transient: Vec::new(),
            };
            for gdp in gdps {
                let refs = References::of_gdp(&gdp);
                match fetch_snapshot(&avi, &settings.default_tenant, &refs).await {
                    Ok(snapshot) => {
                        let result = accept_gdp(&gdp, &settings, &snapshot)
                            .map_err(|e| e.problem.to_string());
                        if result.is_err()
                            && let Some(previous) =
                                previously_accepted_gdp(&gdp, &avi, &settings).await
                        {
                            out.recovered_gdps.insert(gdp.name_any(), previous);
                        }
                        out.gdps.insert(gdp.name_any(), (version(&gdp), result));
                    }
                    // Unknown, not invalid: validated again shortly.
                    Err(e) => out.transient.push(format!(
                        "GlobalDeploymentPolicy {}: cannot check references on the controller: {e}",
                        gdp.name_any()
                    )),
                }
            }
            for rule in rules {
                let namespace = rule.namespace().unwrap_or_default();
                let tenant = namespace_tenant(&client, &namespace)
                    .await
                    .unwrap_or_else(|| settings.default_tenant.clone());
                let refs = References::of_host_rule(&rule);
                match fetch_snapshot(&avi, &tenant, &refs).await {
                    Ok(snapshot) => {
                        let result = accept_host_rule(&rule, &tenant, &settings, &snapshot).map_err(|e| e.problem.to_string());
                        if result.is_err()
                            && let Some(previous) = previously_accepted_rule(&rule, &avi, &tenant, &settings).await
                        {
                            out.recovered_rules.insert((namespace.clone(), rule.name_any()), previous);
                        }
                        out.rules.insert((namespace, rule.name_any()), (version(&rule), result));
                    }
                    Err(e) => out.transient.push(format!("GSLBHostRule {namespace}/{}: cannot check references on the controller: {e}", rule.name_any())),
                }
            }
            addr.do_send(out);
        });
    }

    /// Decides what is in force, writes every status, and hands the policy on.
    fn publish(&mut self) {
        // The active GDP: the current one while it exists, else the oldest.
        if self
            .active_gdp
            .as_ref()
            .is_some_and(|a| !self.gdps.contains_key(a))
        {
            self.active_gdp = None;
        }
        if self.active_gdp.is_none() {
            self.active_gdp = self
                .gdps
                .values()
                .filter(|g| {
                    matches!(self.gdp_results.get(&g.name_any()), Some((_, Ok(_))))
                        || self.last_good_gdp.contains_key(&g.name_any())
                })
                .min_by_key(|g| {
                    (
                        g.metadata.creation_timestamp.clone().map(|t| t.0),
                        g.name_any(),
                    )
                })
                .map(|g| g.name_any());
        }
        for name in self.gdps.keys() {
            let status = match (&self.active_gdp, self.gdp_results.get(name)) {
                (Some(active), _) if active != name => Problem::GdpAlreadyExists {
                    existing: active.clone(),
                }
                .to_string(),
                (_, Some((_, Ok(_)))) => STATUS_SUCCESS.to_owned(),
                (_, Some((_, Err(reason)))) if self.last_good_gdp.contains_key(name) => {
                    format!("{reason} (the previously accepted version stays in force)")
                }
                (_, Some((_, Err(reason)))) => reason.clone(),
                (_, None) => continue,
            };
            self.status.do_send(SetStatus {
                target: StatusTarget::Gdp {
                    namespace: self.home_namespace.clone(),
                    name: name.clone(),
                },
                status: json!({ "errorStatus": status }),
            });
        }
        // No GDP at all: nothing is selected (deleting the GDP removes its GslbServices). GDPs
        // that are all invalid on a fresh start: publish nothing, so a typo deletes nothing.
        let policy = if self.gdps.is_empty() {
            Some(None)
        } else {
            self.active_gdp
                .as_ref()
                .and_then(|a| self.last_good_gdp.get(a))
                .cloned()
                .map(Some)
        };
        if let Some(policy) = policy {
            self.selection_mailbox.sent();
            self.selection.do_send(SetPolicy(policy));
        }

        // GSLBHostRules: one per (tenant, fqdn); the oldest claim wins.
        let mut claimed: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
        let mut ordered: Vec<&(String, String)> = self.last_good_rules.keys().collect();
        // The key clones strings: compute it once per rule, not once per comparison.
        ordered.sort_by_cached_key(|k| {
            let rule = self.rules.get(*k);
            (
                rule.and_then(|r| r.metadata.creation_timestamp.clone().map(|t| t.0)),
                (*k).clone(),
            )
        });
        let mut in_force = Vec::new();
        let mut conflicts: BTreeMap<(String, String), String> = BTreeMap::new();
        for key in ordered {
            let Some(overrides) = self.last_good_rules.get(key) else {
                continue;
            };
            let claim = (overrides.tenant.clone(), overrides.fqdn.clone());
            match claimed.get(&claim) {
                Some(owner) => {
                    conflicts.insert(
                        key.clone(),
                        Problem::FqdnAlreadyClaimed {
                            fqdn: overrides.fqdn.clone(),
                            existing: format!("{}/{}", owner.0, owner.1),
                        }
                        .to_string(),
                    );
                }
                None => {
                    claimed.insert(claim, key.clone());
                    in_force.push(overrides.clone());
                }
            }
        }
        for (key, (_, result)) in &self.rule_results {
            let (status, error) = if let Some(conflict) = conflicts.get(key) {
                (STATUS_REJECTED, conflict.clone())
            } else {
                match result {
                    Ok(o) => (
                        STATUS_ACCEPTED,
                        self.problems
                            .get(&GsKey {
                                tenant: o.tenant.clone(),
                                fqdn: o.fqdn.clone(),
                            })
                            .cloned()
                            .unwrap_or_default(),
                    ),
                    Err(reason) if self.last_good_rules.contains_key(key) => (
                        STATUS_REJECTED,
                        format!("{reason} (the previously accepted version stays in force)"),
                    ),
                    Err(reason) => (STATUS_REJECTED, reason.clone()),
                }
            };
            // Only changed statuses: publishing runs for every rule edit, and resending every
            // rule's status each time made it quadratic in the number of rules.
            if self
                .rule_status_sent
                .get(key)
                .is_some_and(|(s, e)| *s == status && *e == error)
            {
                continue;
            }
            self.rule_status_sent
                .insert(key.clone(), (status, error.clone()));
            self.status.do_send(SetStatus {
                target: StatusTarget::HostRule {
                    namespace: key.0.clone(),
                    name: key.1.clone(),
                },
                status: json!({ "status": status, "error": error }),
            });
        }
        // The SelectionActor gets the whole set once, then only differences: it is on the data path,
        // and comparing thousands of overrides on every edit delayed every other change.
        let in_force: BTreeMap<(String, String), HostRuleOverrides> = in_force
            .into_iter()
            .map(|o| ((o.tenant.clone(), o.fqdn.clone()), o))
            .collect();
        match &self.overrides_sent {
            None => {
                self.selection_mailbox.sent();
                self.selection
                    .do_send(SetOverrides(in_force.values().cloned().collect()));
            }
            Some(sent) => {
                let upserts: Vec<HostRuleOverrides> = in_force
                    .iter()
                    .filter(|(k, o)| sent.get(*k) != Some(*o))
                    .map(|(_, o)| o.clone())
                    .collect();
                let removed: Vec<(String, String)> = sent
                    .keys()
                    .filter(|k| !in_force.contains_key(*k))
                    .cloned()
                    .collect();
                if !upserts.is_empty() || !removed.is_empty() {
                    self.selection_mailbox.sent();
                    self.selection.do_send(ChangeOverrides { upserts, removed });
                }
            }
        }
        self.overrides_sent = Some(in_force);
    }
}

/// Annotation holding the spec of a GDP's or GSLBHostRule's last accepted version (JSON), so that
/// after a restart an invalid edit still leaves that version in force, as the status promised.
const ACCEPTED_SPEC_ANNOTATION: &str = "amko.vmware.com/last-accepted-spec";

/// The rule's recorded last accepted spec, if it is still valid.
async fn previously_accepted_rule(
    rule: &GslbHostRule,
    avi: &AviClient,
    tenant: &str,
    settings: &InstanceSettings,
) -> Option<HostRuleOverrides> {
    let recorded = rule.annotations().get(ACCEPTED_SPEC_ANNOTATION)?;
    let mut previous = rule.clone();
    previous.spec = serde_json::from_str(recorded).ok()?;
    let snapshot = fetch_snapshot(avi, tenant, &References::of_host_rule(&previous))
        .await
        .ok()?;
    accept_host_rule(&previous, tenant, settings, &snapshot).ok()
}

/// The GDP's recorded last accepted spec, if it is still valid.
async fn previously_accepted_gdp(
    gdp: &GlobalDeploymentPolicy,
    avi: &AviClient,
    settings: &InstanceSettings,
) -> Option<Policy> {
    let recorded = gdp.annotations().get(ACCEPTED_SPEC_ANNOTATION)?;
    let mut previous = gdp.clone();
    previous.spec = serde_json::from_str(recorded).ok()?;
    let snapshot = fetch_snapshot(
        avi,
        &settings.default_tenant,
        &References::of_gdp(&previous),
    )
    .await
    .ok()?;
    accept_gdp(&previous, settings, &snapshot).ok()
}

/// Records the accepted spec on the object (a metadata patch: the generation does not change).
fn record_accepted_spec<K>(client: &Client, object: &K, spec: &impl serde::Serialize)
where
    K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + 'static,
{
    let Ok(spec) = serde_json::to_string(spec) else {
        return;
    };
    if object.annotations().get(ACCEPTED_SPEC_ANNOTATION) == Some(&spec) {
        return;
    }
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let api = Api::<K>::namespaced(client.clone(), &namespace);
    let patch =
        Patch::Merge(json!({"metadata": {"annotations": {ACCEPTED_SPEC_ANNOTATION: spec}}}));
    actix::spawn(async move {
        if let Err(e) = api.patch(&name, &PatchParams::default(), &patch).await {
            tracing::warn!(kind = K::kind(&()).as_ref(), %namespace, %name, error = %e, "could not record the accepted spec");
        }
    });
}

fn version<K: ResourceExt>(obj: &K) -> Version {
    format!(
        "{}/{}",
        obj.uid().unwrap_or_default(),
        obj.meta().generation.unwrap_or_default()
    )
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
        let config = watcher::Config::default();
        let gdps =
            Api::<GlobalDeploymentPolicy>::namespaced(self.client.clone(), &self.home_namespace);
        ctx.add_stream(
            watcher::watcher(gdps, config.clone())
                .default_backoff()
                .map(|e| Watched::Gdp(e.map_err(|e| e.to_string()))),
        );
        let rules = Api::<GslbHostRule>::all(self.client.clone());
        ctx.add_stream(
            watcher::watcher(rules, config)
                .default_backoff()
                .map(|e| Watched::HostRule(e.map_err(|e| e.to_string()))),
        );
        // Referenced controller objects may appear later: re-validate rejected objects now and then.
        ctx.run_interval(Duration::from_secs(60), |act, ctx| {
            act.gdp_results.retain(|_, (_, r)| r.is_ok());
            act.rule_results.retain(|_, (_, r)| r.is_ok());
            act.evaluate(ctx);
        });
    }
}

impl StreamHandler<Watched> for PolicyActor {
    fn handle(&mut self, item: Watched, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            match item {
                Watched::Gdp(Ok(event)) => match event {
                    Event::Init => {}
                    Event::InitApply(g) | Event::Apply(g) => {
                        self.gdps.insert(g.name_any(), g);
                    }
                    Event::Delete(g) => {
                        self.status.do_send(ForgetStatus(StatusTarget::Gdp {
                            namespace: self.home_namespace.clone(),
                            name: g.name_any(),
                        }));
                        self.gdps.remove(&g.name_any());
                        self.gdp_results.remove(&g.name_any());
                        self.last_good_gdp.remove(&g.name_any());
                    }
                    Event::InitDone => {
                        self.listed.insert("gdp");
                    }
                },
                Watched::HostRule(Ok(event)) => match event {
                    Event::Init => {}
                    Event::InitApply(r) | Event::Apply(r) => {
                        let key = (r.namespace().unwrap_or_default(), r.name_any());
                        // Our own status writes come back as events with the same generation:
                        // nothing to validate again.
                        let unchanged = self
                            .rules
                            .get(&key)
                            .is_some_and(|old| version(old) == version(&r));
                        self.rules.insert(key, r);
                        if unchanged {
                            return;
                        }
                    }
                    Event::Delete(r) => {
                        let key = (r.namespace().unwrap_or_default(), r.name_any());
                        self.status.do_send(ForgetStatus(StatusTarget::HostRule {
                            namespace: key.0.clone(),
                            name: key.1.clone(),
                        }));
                        self.rules.remove(&key);
                        self.rule_results.remove(&key);
                        self.last_good_rules.remove(&key);
                        self.rule_status_sent.remove(&key);
                    }
                    Event::InitDone => {
                        self.listed.insert("ghr");
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
            self.evaluating = false;
            for (name, (version, result)) in msg.gdps {
                if !self.gdps.contains_key(&name) {
                    continue;
                }
                match &result {
                    Ok(policy) => {
                        self.last_good_gdp.insert(name.clone(), policy.clone());
                        if let Some(gdp) = self.gdps.get(&name).filter(|g| self::version(*g) == version) {
                            record_accepted_spec(&self.client, gdp, &gdp.spec);
                        }
                    }
                    Err(reason) => {
                        tracing::warn!(gdp = %name, %reason, "GlobalDeploymentPolicy rejected");
                        self.status.do_send(RecordEvent {
                            target: StatusTarget::Gdp { namespace: self.home_namespace.clone(), name: name.clone() },
                            warning: true,
                            reason: "Rejected".into(),
                            message: reason.clone(),
                        });
                    }
                }
                self.gdp_results.insert(name, (version, result));
            }
            for (name, previous) in msg.recovered_gdps {
                if self.gdps.contains_key(&name) {
                    self.last_good_gdp.entry(name).or_insert(previous);
                }
            }
            for (key, previous) in msg.recovered_rules {
                if self.rules.contains_key(&key) {
                    self.last_good_rules.entry(key).or_insert(previous);
                }
            }
            for (key, (version, result)) in msg.rules {
                if !self.rules.contains_key(&key) {
                    continue;
                }
                match &result {
                    Ok(overrides) => {
                        self.last_good_rules.insert(key.clone(), overrides.clone());
                        if let Some(rule) = self.rules.get(&key).filter(|r| self::version(*r) == version) {
                            record_accepted_spec(&self.client, rule, &rule.spec);
                        }
                    }
                    Err(reason) => {
                        tracing::warn!(namespace = %key.0, gslbhostrule = %key.1, %reason, "GSLBHostRule rejected");
                    }
                }
                self.rule_results.insert(key, (version, result));
            }
            // Publish only once every GDP has a verdict, so boot never acts on a partial view.
            if self.gdps.keys().all(|name| self.gdp_results.contains_key(name)) {
                self.publish();
            }
            if !msg.transient.is_empty() {
                for problem in &msg.transient {
                    tracing::warn!("{problem}; retrying");
                }
                ctx.run_later(Duration::from_secs(3), |act, ctx| act.evaluate(ctx));
            }
            if self.dirty {
                self.evaluate(ctx);
            }
        })
    }
}

impl Handler<WriteProblem> for PolicyActor {
    type Result = ();

    fn handle(&mut self, msg: WriteProblem, _: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            let changed = match &msg.message {
                Some(m) => self.problems.insert(msg.key.clone(), m.clone()).as_ref() != Some(m),
                None => self.problems.remove(&msg.key).is_some(),
            };
            if !changed {
                return;
            }
            let has_rule = self
                .last_good_rules
                .values()
                .any(|o| o.tenant == msg.key.tenant && o.fqdn == msg.key.fqdn);
            if has_rule {
                self.publish();
            } else if let (Some(active), Some(message)) = (&self.active_gdp, &msg.message) {
                self.status.do_send(RecordEvent {
                    target: StatusTarget::Gdp {
                        namespace: self.home_namespace.clone(),
                        name: active.clone(),
                    },
                    warning: true,
                    reason: "ControllerRejected".into(),
                    message: message.clone(),
                });
            }
        })
    }
}
