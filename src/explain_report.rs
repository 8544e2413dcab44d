//! The pure part of `amko explain`: what the subject is (an FQDN, or `ingress|route|service/NS/NAME`
//! in a cluster), why each of its hosts is or is not a member (the chain of checks comes from
//! `SelectionContext::explain`, the selection code itself, plus ingest's reasons for hosts that
//! yield nothing), and, per GslbService concerned, the desired copy, the controller's copy and
//! their difference (`plan_report::field_changes`, the writer's comparison), with the last write
//! and last error when a running operator supplies them. Rendered as text or JSON; the operator's
//! `/debug/explain` serves the same report, so both modes print the same thing.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ingest::{ObjectKind, Observation};
use crate::model::identity::identity;
use crate::plan_report::{FieldChange, field_changes};
use crate::policy::select::{Check, Reason, Selection};
use crate::state::{ObjectId, World};
use crate::vocab::GsKey;

/// The `source` of a report computed without an operator.
pub const STANDALONE: &str = "standalone";

/// `amko explain`'s exit code when the subject was found and explained.
pub const EXIT_EXPLAINED: u8 = 0;
/// `amko explain`'s exit code on an error, also when the subject is nowhere to be found.
pub use crate::EXIT_ERROR;

/// What to explain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    Fqdn(String),
    Object {
        /// `ingress`, `route` or `service`.
        kind: String,
        cluster: String,
        namespace: String,
        name: String,
    },
}

/// Why a subject cannot be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubjectError {
    #[error("{0:?} is neither an FQDN nor KIND/NAMESPACE/NAME (KIND: ingress, route or service)")]
    Malformed(String),
    #[error("kind {0:?} is not ingress, route or service")]
    Kind(String),
    #[error("{0} names an object: give its member cluster with --cluster")]
    NoCluster(String),
}

impl Subject {
    /// Reads `ingress/NS/NAME` (also `ing`, `ingresses`; `route(s)`; `service(s)`, `svc`) with
    /// `cluster`, or an FQDN (no `/`).
    pub fn parse(text: &str, cluster: Option<&str>) -> Result<Subject, SubjectError> {
        let text = text.trim();
        if !text.contains('/') {
            if text.is_empty() || text.contains(char::is_whitespace) {
                return Err(SubjectError::Malformed(text.to_owned()));
            }
            return Ok(Subject::Fqdn(text.trim_end_matches('.').to_lowercase()));
        }
        let parts: Vec<&str> = text.split('/').collect();
        let [kind, namespace, name] = parts[..] else {
            return Err(SubjectError::Malformed(text.to_owned()));
        };
        if namespace.is_empty() || name.is_empty() {
            return Err(SubjectError::Malformed(text.to_owned()));
        }
        let kind = match kind.to_lowercase().as_str() {
            "ingress" | "ingresses" | "ing" => "ingress",
            "route" | "routes" => "route",
            "service" | "services" | "svc" => "service",
            other => return Err(SubjectError::Kind(other.to_owned())),
        };
        let cluster = cluster
            .filter(|c| !c.is_empty())
            .ok_or_else(|| SubjectError::NoCluster(text.to_owned()))?;
        Ok(Subject::Object {
            kind: kind.to_owned(),
            cluster: cluster.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The world's identity of the object (`None` for an FQDN).
    pub fn object_id(&self) -> Option<ObjectId> {
        let Subject::Object {
            kind,
            cluster,
            namespace,
            name,
        } = self
        else {
            return None;
        };
        let kind = match kind.as_str() {
            "ingress" => ObjectKind::Ingress,
            "route" => ObjectKind::Route,
            _ => ObjectKind::LbService,
        };
        Some(ObjectId {
            kind,
            cluster: cluster.clone(),
            namespace: namespace.clone(),
            name: name.clone(),
        })
    }

    /// As the query string of `/debug/explain` takes it.
    pub fn to_query(&self) -> Vec<(&'static str, String)> {
        match self {
            Subject::Fqdn(fqdn) => vec![("fqdn", fqdn.clone())],
            Subject::Object {
                kind,
                cluster,
                namespace,
                name,
            } => vec![
                ("object", format!("{kind}/{namespace}/{name}")),
                ("cluster", cluster.clone()),
            ],
        }
    }

    fn describe(&self) -> String {
        match self {
            Subject::Fqdn(fqdn) => format!("FQDN {fqdn}"),
            Subject::Object {
                kind,
                cluster,
                namespace,
                name,
            } => format!("{kind} {namespace}/{name} in cluster {cluster}"),
        }
    }
}

fn kind_word(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Ingress => "ingress",
        ObjectKind::Route => "route",
        ObjectKind::LbService => "service",
    }
}

/// The verdict on one host of one object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostVerdict {
    /// `ingress/NS/NAME`.
    pub object: String,
    pub cluster: String,
    /// The host (`None`: the object as a whole, e.g. an Ingress without any host).
    pub host: Option<String>,
    pub vip: Option<String>,
    pub selected: bool,
    /// The GslbService (`tenant/fqdn`) the host is a member of.
    pub gslb_service: Option<String>,
    /// The member's identity on the controller, when selected.
    pub member: Option<String>,
    /// Every check, in order; a rejected host ends with the failed one.
    pub reasons: Vec<Reason>,
    /// What ingest noted without refusing the host (e.g. unreadable AKO annotations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One write of the operator, or its failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteRecord {
    /// RFC 3339, UTC.
    pub at: String,
    /// What was written (`update gslbservice`, `create healthmonitor`, …), in order.
    pub writes: Vec<String>,
    /// The error that stopped the writes, if any.
    pub error: Option<String>,
}

/// One GslbService concerned: its members, the GSLBHostRule in force, both copies and their
/// difference, and the operator's last write and last error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GsVerdict {
    pub tenant: String,
    pub name: String,
    /// Member identities selected into it.
    pub members: Vec<String>,
    /// `namespace/name` of the GSLBHostRule whose overrides are in force.
    pub host_rule: Option<String>,
    /// Other GSLBHostRules naming the FQDN and why they are not in force (standalone only: read
    /// from their status).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_rules_not_in_force: Vec<String>,
    /// What amko-rs wants on the controller (`None`: the GslbService must not exist).
    pub desired: Option<Value>,
    /// The controller's copy (`None`: it has none owned by this instance).
    pub controller: Option<Value>,
    pub in_sync: bool,
    /// Fields where the controller's copy differs (`before`: controller, `after`: desired).
    pub differences: Vec<FieldChange>,
    /// Only a running operator knows these: `None` standalone.
    pub last_write: Option<WriteRecord>,
    pub last_error: Option<WriteRecord>,
    /// The problem the writer reports for it now (a rejected write, an object in the way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl GsVerdict {
    /// What selection knows of `key`: its members and the GSLBHostRule in force.
    pub fn from_world(world: &World, key: &GsKey) -> GsVerdict {
        let mut members: Vec<String> = world
            .members_of(key)
            .iter()
            .map(|m| identity(m.id()))
            .collect();
        members.sort();
        GsVerdict {
            tenant: key.tenant.clone(),
            name: key.fqdn.clone(),
            members,
            host_rule: world.overrides_of(key).map(|o| o.source.clone()),
            host_rules_not_in_force: Vec::new(),
            desired: None,
            controller: None,
            in_sync: false,
            differences: Vec::new(),
            last_write: None,
            last_error: None,
            problem: None,
        }
    }

    pub fn key(&self) -> GsKey {
        GsKey {
            tenant: self.tenant.clone(),
            fqdn: self.name.clone(),
        }
    }

    /// Sets both copies and their difference, as the writer compares them.
    pub fn set_copies(&mut self, desired: Option<Value>, controller: Option<Value>) {
        self.differences = match &desired {
            Some(d) => field_changes(d, controller.as_ref()),
            None => Vec::new(),
        };
        self.in_sync = match (&desired, &controller) {
            (Some(_), Some(_)) => self.differences.is_empty(),
            (None, None) => true,
            _ => false,
        };
        self.desired = desired;
        self.controller = controller;
    }
}

/// Everything `amko explain` reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExplainReport {
    pub subject: Subject,
    /// [`STANDALONE`] or `operator <address>`.
    pub source: String,
    /// Whether anything was found for the subject.
    pub found: bool,
    pub hosts: Vec<HostVerdict>,
    pub gslb_services: Vec<GsVerdict>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl ExplainReport {
    /// The selection half: the subject's hosts with their chain of checks and the GslbServices
    /// concerned with their members and GSLBHostRule; the copies come from `set_copies`.
    pub fn from_world(world: &World, subject: Subject, source: &str) -> ExplainReport {
        let mut warnings = Vec::new();
        let fqdn = match &subject {
            Subject::Fqdn(fqdn) => Some(fqdn.as_str()),
            Subject::Object { .. } => None,
        };
        let mut hosts = Vec::new();
        match subject.object_id() {
            Some(object) => {
                if !world.settings().member_clusters.contains(&object.cluster) {
                    warnings.push(format!(
                        "cluster {} is not a member cluster of the GSLBConfig (memberClusters: {})",
                        object.cluster,
                        join(world.settings().member_clusters.iter())
                    ));
                }
                hosts.extend(host_verdicts(world, &object, None));
            }
            None => {
                for object in world.objects() {
                    hosts.extend(host_verdicts(world, object, fqdn));
                }
            }
        }
        let mut keys: BTreeSet<GsKey> = hosts
            .iter()
            .filter_map(|h| h.gslb_service.as_deref())
            .filter_map(|k| k.split_once('/'))
            .map(|(tenant, fqdn)| GsKey {
                tenant: tenant.to_owned(),
                fqdn: fqdn.to_owned(),
            })
            .collect();
        if let Some(fqdn) = fqdn {
            keys.extend(world.keys().filter(|k| k.fqdn == fqdn).cloned());
        }
        let gslb_services = keys
            .iter()
            .map(|key| GsVerdict::from_world(world, key))
            .collect();
        if world.policy().is_none() {
            warnings.push(
                "no GlobalDeploymentPolicy is accepted: nothing is selected until one is"
                    .to_owned(),
            );
        }
        let found = !hosts.is_empty() || fqdn.is_some() && !keys.is_empty();
        ExplainReport {
            subject,
            source: source.to_owned(),
            found,
            hosts,
            gslb_services,
            warnings,
        }
    }

    /// Adds, for an FQDN, the GslbServices of that name the controller holds but nothing selects
    /// any more (`keys`: tenant and name of every owned GslbService on the controller).
    pub fn add_controller_only<'a>(&mut self, keys: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let Subject::Fqdn(fqdn) = &self.subject else {
            return;
        };
        for (tenant, name) in keys {
            if name == fqdn
                && !self
                    .gslb_services
                    .iter()
                    .any(|g| g.tenant == tenant && g.name == name)
            {
                self.gslb_services.push(GsVerdict {
                    tenant: tenant.to_owned(),
                    name: name.to_owned(),
                    members: Vec::new(),
                    host_rule: None,
                    host_rules_not_in_force: Vec::new(),
                    desired: None,
                    controller: None,
                    in_sync: false,
                    differences: Vec::new(),
                    last_write: None,
                    last_error: None,
                    problem: None,
                });
                self.found = true;
            }
        }
    }

    /// 0 when found and explained, 1 when the subject is nowhere to be found.
    pub fn exit_code(&self) -> u8 {
        if self.found {
            EXIT_EXPLAINED
        } else {
            EXIT_ERROR
        }
    }

    /// The JSON document of `--output json`.
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(object) = value.as_object_mut() {
            object.insert("exit_code".to_owned(), Value::from(self.exit_code()));
        }
        value
    }

    /// The human text: the verdict per host with its checks, then each GslbService.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} (from {})", self.subject.describe(), self.source);
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        if !self.found {
            let _ = writeln!(
                out,
                "not found: no member cluster holds it and no GslbService has that name"
            );
            return out;
        }
        for host in &self.hosts {
            let what = match &host.host {
                Some(h) => format!("{} in cluster {}, host {h}", host.object, host.cluster),
                None => format!("{} in cluster {}", host.object, host.cluster),
            };
            let verdict = match &host.gslb_service {
                Some(gs) => format!("SELECTED into GslbService {gs}"),
                None => "NOT SELECTED".to_owned(),
            };
            let _ = writeln!(out, "\n{what}: {verdict}");
            for reason in &host.reasons {
                let mark = if reason.passed { "yes" } else { "NO " };
                let _ = writeln!(
                    out,
                    "  [{mark}] {}: {}",
                    reason.check.label(),
                    reason.detail
                );
            }
            for note in &host.notes {
                let _ = writeln!(out, "  note: {note}");
            }
        }
        if self.gslb_services.is_empty() {
            let _ = writeln!(out, "\nno GslbService is concerned");
        }
        let history_known = self.source != STANDALONE;
        for gs in &self.gslb_services {
            render_gs(&mut out, gs, history_known);
        }
        out
    }
}

fn render_gs(out: &mut String, gs: &GsVerdict, history_known: bool) {
    let _ = writeln!(out, "\nGslbService {}/{}", gs.tenant, gs.name);
    if gs.members.is_empty() {
        let _ = writeln!(out, "  members: none");
    } else {
        let _ = writeln!(out, "  members:");
        for member in &gs.members {
            let _ = writeln!(out, "    {member}");
        }
    }
    match &gs.host_rule {
        Some(rule) => {
            let _ = writeln!(out, "  GSLBHostRule in force: {rule}");
        }
        None => {
            let _ = writeln!(out, "  GSLBHostRule in force: none (the GDP's settings)");
        }
    }
    for rule in &gs.host_rules_not_in_force {
        let _ = writeln!(out, "  GSLBHostRule not in force: {rule}");
    }
    let copies = match (&gs.desired, &gs.controller) {
        (Some(_), None) => "desired, not on the controller yet".to_owned(),
        (None, Some(_)) => {
            "on the controller, not desired (amko-rs deletes what it owns and nothing wants)"
                .to_owned()
        }
        (None, None) => "neither desired nor on the controller".to_owned(),
        (Some(_), Some(_)) if gs.in_sync => "the controller's copy is in sync".to_owned(),
        (Some(_), Some(_)) => format!(
            "the controller's copy differs in {} field(s) (controller -> desired):",
            gs.differences.len()
        ),
    };
    let _ = writeln!(out, "  {copies}");
    for field in &gs.differences {
        let member = field
            .member
            .as_ref()
            .map(|ip| format!(" (member {ip})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    {}{member}: {} -> {}",
            field.path,
            show(&field.before),
            show(&field.after)
        );
    }
    if let Some(problem) = &gs.problem {
        let _ = writeln!(out, "  problem: {problem}");
    }
    let record = |r: &Option<WriteRecord>| match r {
        Some(r) => {
            let what = if r.writes.is_empty() {
                "nothing written".to_owned()
            } else {
                r.writes.join(", ")
            };
            match &r.error {
                Some(e) => format!("{} {what}; failed: {e}", r.at),
                None => format!("{} {what}", r.at),
            }
        }
        None => "none".to_owned(),
    };
    if history_known {
        let _ = writeln!(out, "  last write: {}", record(&gs.last_write));
        let _ = writeln!(out, "  last error: {}", record(&gs.last_error));
    } else {
        let _ = writeln!(
            out,
            "  last write, last error: known only to the running operator (--operator)"
        );
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "(absent)".to_owned(),
        other => other.to_string(),
    }
}

fn join<'a>(items: impl Iterator<Item = &'a String>) -> String {
    items.map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// The verdicts on the hosts of `object` (only those named `fqdn`, or selected into a
/// GslbService named `fqdn`, when given).
fn host_verdicts(world: &World, object: &ObjectId, fqdn: Option<&str>) -> Vec<HostVerdict> {
    let skipped = world.skipped_of(object);
    let observations = world.observations_of(object);
    let custom_fqdn = world.settings().use_custom_global_fqdn;
    // Decided before explaining: an FQDN's report walks every object, and only a few are its.
    // Only with useCustomGlobalFqdn can a host be a member of a GslbService of another name.
    let wanted = |obs: &Arc<Observation>| {
        fqdn.is_none_or(|f| {
            obs.hostname == f
                || custom_fqdn && world.selected_into(&obs.id).is_some_and(|k| k.fqdn == f)
        })
    };
    if let Some(f) = fqdn
        && !observations.iter().any(wanted)
        && !skipped.iter().any(|s| s.host.as_deref() == Some(f))
    {
        return Vec::new();
    }
    let object_name = format!(
        "{}/{}/{}",
        kind_word(object.kind),
        object.namespace,
        object.name
    );
    let mut out = Vec::new();
    for obs in observations {
        if !wanted(obs) {
            continue;
        }
        let mut verdict = host_verdict(world, &object_name, obs);
        // Ingest's notes on a host it kept anyway (and on the whole object).
        verdict.notes = skipped
            .iter()
            .filter(|s| s.host.is_none() || s.host.as_deref() == Some(obs.hostname.as_str()))
            .map(|s| s.reason.clone())
            .collect();
        out.push(verdict);
    }
    for skip in skipped {
        let host_has_observation = observations
            .iter()
            .any(|o| skip.host.is_none() || skip.host.as_deref() == Some(o.hostname.as_str()));
        if host_has_observation {
            continue;
        }
        if fqdn.is_some_and(|f| skip.host.as_deref() != Some(f)) {
            continue;
        }
        // A host may be skipped for several reasons (an unparsable IP, then no VIP): one line
        // for the host, every reason on it.
        if let Some(existing) = out
            .iter_mut()
            .find(|v: &&mut HostVerdict| !v.selected && v.host == skip.host && v.vip.is_none())
        {
            existing.reasons.push(skipped_reason(&skip.reason));
            continue;
        }
        out.push(HostVerdict {
            object: object_name.clone(),
            cluster: object.cluster.clone(),
            host: skip.host.clone(),
            vip: None,
            selected: false,
            gslb_service: None,
            member: None,
            reasons: vec![skipped_reason(&skip.reason)],
            notes: Vec::new(),
        });
    }
    out
}

/// Ingest's reason for a host without observation: about its VIP, or about the object.
fn skipped_reason(reason: &str) -> Reason {
    let check = if reason.contains("VIP") || reason.contains("status.loadBalancer") {
        Check::Vip
    } else {
        Check::Ingest
    };
    Reason {
        check,
        passed: false,
        detail: reason.to_owned(),
    }
}

fn host_verdict(world: &World, object: &str, obs: &Arc<Observation>) -> HostVerdict {
    let mut reasons = vec![Reason {
        check: Check::Vip,
        passed: true,
        detail: format!("AKO gave {} the VIP {}", obs.hostname, obs.vip),
    }];
    let (gslb_service, member) = match world.explain(obs) {
        None => {
            reasons.push(Reason {
                check: Check::Policy,
                passed: false,
                detail: "no accepted GlobalDeploymentPolicy".to_owned(),
            });
            (None, None)
        }
        Some(explanation) => {
            reasons.extend(explanation.reasons);
            match explanation.selection {
                Selection::Selected(m) => (Some(m.key.to_string()), Some(identity(m.id()))),
                Selection::NotSelected(_) => (None, None),
            }
        }
    };
    HostVerdict {
        object: object.to_owned(),
        cluster: obs.id.cluster.clone(),
        host: Some(obs.hostname.clone()),
        vip: Some(obs.vip.to_string()),
        selected: gslb_service.is_some(),
        gslb_service,
        member,
        reasons,
        notes: Vec::new(),
    }
}

#[cfg(test)]
#[path = "explain_report_tests.rs"]
mod tests;
