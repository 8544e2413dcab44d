//! The pure part of `amko plan`: reading proposed GDPs and GSLBHostRules from YAML and making them
//! edits of the live objects (same uid, next generation) or new objects, then planning every
//! GslbService with the writer's own code (`avi::converge::step`, `model::plan`) and describing
//! each write with the fields that differ (`model::compare::differences`, the writer's notion of
//! "in sync"), so that "no changes" here means exactly that `amko run` would write nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::avi::converge::{DesiredMap, Step, keys_to_converge, step};
use crate::crd::{GlobalDeploymentPolicy, GslbHostRule};
use crate::model::compare::differences;
use crate::model::identity::clusters_in_description;
use crate::model::plan::{ControllerState, Write};
use crate::state::World;

/// `amko plan`'s exit code when nothing would change.
pub const EXIT_NO_CHANGES: u8 = 0;
/// `amko plan`'s exit code on an error, also when a proposed object is invalid.
pub use crate::EXIT_ERROR;
/// `amko plan`'s exit code when writes are pending.
pub const EXIT_CHANGES: u8 = 2;

/// Why proposed objects cannot be used; each names the file and the document.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProposedError {
    #[error("{file}: not YAML: {message}")]
    Yaml { file: String, message: String },
    #[error(
        "{file}, document {document}: kind {kind:?} is not a GlobalDeploymentPolicy or GSLBHostRule"
    )]
    Kind {
        file: String,
        document: usize,
        kind: String,
    },
    #[error("{file}, document {document}: not a valid {kind}: {message}")]
    Object {
        file: String,
        document: usize,
        kind: &'static str,
        message: String,
    },
    #[error(
        "{file}, document {document}: GlobalDeploymentPolicy {name} is in namespace {namespace}; amko-rs reads GDPs only from {home}"
    )]
    GdpNamespace {
        file: String,
        document: usize,
        name: String,
        namespace: String,
        home: String,
    },
    #[error("{file}, document {document}: GSLBHostRule {name} has no metadata.namespace")]
    RuleNamespace {
        file: String,
        document: usize,
        name: String,
    },
}

/// Proposed objects, in the order read (a later one of the same namespace/name replaces an
/// earlier one).
#[derive(Clone, Debug, Default)]
pub struct Proposed {
    pub gdps: Vec<GlobalDeploymentPolicy>,
    pub rules: Vec<GslbHostRule>,
}

impl Proposed {
    /// Reads every document of `text` (from `file`, for messages). Empty documents are skipped;
    /// a GDP without a namespace is in `home`.
    pub fn read(&mut self, file: &str, text: &str, home: &str) -> Result<(), ProposedError> {
        let documents: Vec<Value> =
            serde_saphyr::from_multiple(text).map_err(|e| ProposedError::Yaml {
                file: file.to_owned(),
                message: e.to_string(),
            })?;
        // `kubectl get -o yaml` of several objects prints one `kind: List` of them.
        let documents = documents
            .into_iter()
            .enumerate()
            .flat_map(
                |(index, document)| match document.get("kind").and_then(Value::as_str) {
                    Some("List") => document
                        .get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|item| (index, item))
                        .collect(),
                    _ => vec![(index, document)],
                },
            );
        for (index, document) in documents {
            let document_no = index + 1;
            if document.is_null() {
                continue;
            }
            let kind = document
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let invalid = |kind: &'static str, e: serde_json::Error| ProposedError::Object {
                file: file.to_owned(),
                document: document_no,
                kind,
                message: e.to_string(),
            };
            match kind.as_str() {
                "GlobalDeploymentPolicy" => {
                    let mut gdp: GlobalDeploymentPolicy = serde_json::from_value(document)
                        .map_err(|e| invalid("GlobalDeploymentPolicy", e))?;
                    match gdp.namespace() {
                        None => gdp.metadata.namespace = Some(home.to_owned()),
                        Some(ns) if ns != home => {
                            return Err(ProposedError::GdpNamespace {
                                file: file.to_owned(),
                                document: document_no,
                                name: gdp.name_any(),
                                namespace: ns,
                                home: home.to_owned(),
                            });
                        }
                        Some(_) => {}
                    }
                    self.gdps.retain(|g| g.name_any() != gdp.name_any());
                    self.gdps.push(gdp);
                }
                "GSLBHostRule" => {
                    let rule: GslbHostRule =
                        serde_json::from_value(document).map_err(|e| invalid("GSLBHostRule", e))?;
                    if rule.namespace().is_none_or(|ns| ns.is_empty()) {
                        return Err(ProposedError::RuleNamespace {
                            file: file.to_owned(),
                            document: document_no,
                            name: rule.name_any(),
                        });
                    }
                    self.rules.retain(|r| {
                        (r.namespace(), r.name_any()) != (rule.namespace(), rule.name_any())
                    });
                    self.rules.push(rule);
                }
                _ => {
                    return Err(ProposedError::Kind {
                        file: file.to_owned(),
                        document: document_no,
                        kind,
                    });
                }
            }
        }
        Ok(())
    }

    /// Makes each proposed object what the API server would hold after applying it: an edit of
    /// the live object of that namespace/name (its uid and creation time; the next generation
    /// when the spec changed, so it is validated again exactly as `amko run` would) or a new
    /// object created `now` (it is the newest, so it loses claims to older ones, as in `run`).
    pub fn as_applied_to(
        mut self,
        live_gdps: &[GlobalDeploymentPolicy],
        live_rules: &[GslbHostRule],
        now: Timestamp,
    ) -> Proposed {
        for gdp in &mut self.gdps {
            let live = live_gdps.iter().find(|l| l.name_any() == gdp.name_any());
            let same_spec = live.is_some_and(|l| l.spec == gdp.spec);
            as_applied(&mut gdp.metadata, live.map(|l| &l.metadata), same_spec, now);
        }
        for rule in &mut self.rules {
            let live = live_rules
                .iter()
                .find(|l| (l.namespace(), l.name_any()) == (rule.namespace(), rule.name_any()));
            let same_spec = live.is_some_and(|l| l.spec == rule.spec);
            as_applied(
                &mut rule.metadata,
                live.map(|l| &l.metadata),
                same_spec,
                now,
            );
        }
        self
    }
}

fn as_applied(
    meta: &mut kube::api::ObjectMeta,
    live: Option<&kube::api::ObjectMeta>,
    same_spec: bool,
    now: Timestamp,
) {
    match live {
        Some(live) => {
            meta.uid = live.uid.clone();
            meta.creation_timestamp = live.creation_timestamp.clone();
            let generation = live.generation.unwrap_or(1);
            meta.generation = Some(if same_spec {
                generation
            } else {
                generation + 1
            });
            if meta.annotations.is_none() {
                meta.annotations = live.annotations.clone();
            }
        }
        None => {
            let name = meta.name.clone().unwrap_or_default();
            let namespace = meta.namespace.clone().unwrap_or_default();
            meta.uid = Some(format!("proposed:{namespace}/{name}"));
            meta.creation_timestamp = Some(Time(now));
            meta.generation = Some(1);
        }
    }
}

/// Create, update or delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// One field of an update: its JSON pointer in the object, the controller's value (`before`)
/// and the one `amko run` would write (`after`); `null` when absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    pub before: Value,
    pub after: Value,
    /// For a field of a pool member, the member's IP address (paths only number members).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
}

/// One write `amko run` would make.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    pub action: Action,
    /// `gslbservice` or `healthmonitor`.
    pub object_type: &'static str,
    pub tenant: String,
    pub name: String,
    /// The GslbService (`tenant/fqdn`) whose plan this write belongs to.
    pub gslb_service: String,
    /// For updates, the fields that differ.
    pub fields: Vec<FieldChange>,
}

/// A GslbService left alone because a member cluster it has members in could not be listed
/// (`amko run` waits for such a cluster too).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Deferred {
    pub gslb_service: String,
    pub clusters: Vec<String>,
}

/// Everything `amko plan` reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PlanReport {
    /// In the order `amko run` would write them per GslbService (monitors first).
    pub changes: Vec<Change>,
    pub deferred: Vec<Deferred>,
    /// Objects in the way that amko-rs does not own (never written).
    pub conflicts: Vec<String>,
    /// Validation problems of the proposed objects, as `amko run` reports them.
    pub problems: Vec<String>,
    /// Anything else worth knowing (unreachable clusters, a withheld policy).
    pub warnings: Vec<String>,
}

/// Counts of the changes, for the summary line and the JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
}

impl PlanReport {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for change in &self.changes {
            match change.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Delete => s.delete += 1,
            }
        }
        s
    }

    /// 1 when a proposed object is invalid (a CI gate must not pass an edit `run` rejects),
    /// else 2 when writes are pending, else 0.
    pub fn exit_code(&self) -> u8 {
        if !self.problems.is_empty() {
            EXIT_ERROR
        } else if !self.changes.is_empty() {
            EXIT_CHANGES
        } else {
            EXIT_NO_CHANGES
        }
    }

    /// The JSON document of `--output json`.
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "summary".to_owned(),
                serde_json::to_value(self.summary()).unwrap_or(Value::Null),
            );
            object.insert("exit_code".to_owned(), Value::from(self.exit_code()));
        }
        value
    }

    /// The human table: one row per write, one indented line per changed field.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        for problem in &self.problems {
            out.push_str(&format!("invalid: {problem}\n"));
        }
        for warning in &self.warnings {
            out.push_str(&format!("warning: {warning}\n"));
        }
        for conflict in &self.conflicts {
            out.push_str(&format!("conflict: {conflict}\n"));
        }
        for deferred in &self.deferred {
            out.push_str(&format!(
                "deferred: gslbservice {} (member clusters not listed: {})\n",
                deferred.gslb_service,
                deferred.clusters.join(", ")
            ));
        }
        if self.changes.is_empty() {
            out.push_str("no changes: the controller is in sync\n");
            return out;
        }
        let rows: Vec<[String; 3]> = self
            .changes
            .iter()
            .map(|c| {
                [
                    format!("{:?}", c.action).to_lowercase(),
                    c.object_type.to_owned(),
                    format!("{}/{}", c.tenant, c.name),
                ]
            })
            .collect();
        let width = |i: usize, title: &str| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        };
        let (w0, w1) = (width(0, "ACTION"), width(1, "TYPE"));
        out.push_str(&format!("{:w0$}  {:w1$}  OBJECT\n", "ACTION", "TYPE"));
        for (change, row) in self.changes.iter().zip(&rows) {
            out.push_str(&format!("{:w0$}  {:w1$}  {}\n", row[0], row[1], row[2]));
            for field in &change.fields {
                let member = field
                    .member
                    .as_ref()
                    .map(|ip| format!(" (member {ip})"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "{:w0$}    {}{member}: {} -> {}\n",
                    "",
                    field.path,
                    show(&field.before),
                    show(&field.after)
                ));
            }
        }
        let s = self.summary();
        out.push_str(&format!(
            "{} to create, {} to update, {} to delete\n",
            s.create, s.update, s.delete
        ));
        out
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "(absent)".to_owned(),
        other => other.to_string(),
    }
}

/// What `amko run` would write after boot: every GslbService a full pass looks at (desired,
/// owned on the controller, or made for by a managed monitor), planned with the writer's
/// `converge::step`. `unsynced`: member clusters that could not be listed (their GslbServices are
/// deferred, as `run` defers them).
pub fn plan_all(
    world: &World,
    fallback_pki: Option<&str>,
    cache: &ControllerState,
    unsynced: &BTreeSet<String>,
    created_by: &str,
) -> PlanReport {
    let desired: DesiredMap = world
        .keys()
        .filter_map(|k| {
            world
                .desired(k, fallback_pki)
                .map(|d| (k.clone(), Arc::new(d)))
        })
        .collect();
    let mut report = PlanReport::default();
    for key in keys_to_converge(desired.keys(), cache) {
        match step(&key, false, unsynced, &desired, cache, created_by) {
            Step::Defer => {
                let clusters = cache
                    .gslb_services()
                    .get(&(key.tenant.clone(), key.fqdn.clone()))
                    .map(|gs| {
                        let body = gs.body();
                        let description = body
                            .get("description")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        clusters_in_description(description)
                            .intersection(unsynced)
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                report.deferred.push(Deferred {
                    gslb_service: key.to_string(),
                    clusters,
                });
            }
            Step::Idle { conflict } => report.conflicts.extend(conflict),
            Step::Write { writes, conflict } => {
                report.conflicts.extend(conflict);
                let gs = key.to_string();
                report
                    .changes
                    .extend(writes.iter().map(|w| describe(w, &gs, cache)));
            }
        }
    }
    report
}

/// The change one planned write makes, with the differing fields of an update.
pub fn describe(write: &Write, gslb_service: &str, cache: &ControllerState) -> Change {
    let change = |action, object_type, tenant: &str, name: &str| Change {
        action,
        object_type,
        tenant: tenant.to_owned(),
        name: name.to_owned(),
        gslb_service: gslb_service.to_owned(),
        fields: Vec::new(),
    };
    match write {
        Write::CreateHealthMonitor { tenant, body } => {
            change(Action::Create, "healthmonitor", tenant, name_of(body))
        }
        Write::CreateGslbService { tenant, body } => {
            change(Action::Create, "gslbservice", tenant, name_of(body))
        }
        Write::DeleteHealthMonitor { tenant, name, .. } => {
            change(Action::Delete, "healthmonitor", tenant, name)
        }
        Write::DeleteGslbService { tenant, name, .. } => {
            change(Action::Delete, "gslbservice", tenant, name)
        }
        Write::UpdateHealthMonitor { tenant, body, .. } => {
            let name = name_of(body);
            let current = cache
                .health_monitors()
                .get(&(tenant.clone(), name.to_owned()));
            Change {
                fields: field_changes(body, current.map(|c| c.body()).as_ref()),
                ..change(Action::Update, "healthmonitor", tenant, name)
            }
        }
        Write::UpdateGslbService { tenant, body, .. } => {
            let name = name_of(body);
            let current = cache
                .gslb_services()
                .get(&(tenant.clone(), name.to_owned()));
            Change {
                fields: field_changes(body, current.map(|c| c.body()).as_ref()),
                ..change(Action::Update, "gslbservice", tenant, name)
            }
        }
    }
}

fn name_of(body: &Value) -> &str {
    body.get("name").and_then(Value::as_str).unwrap_or("?")
}

/// The fields where `current` differs from `desired`, as the writer's comparison finds them. An
/// array of another length is one change of the whole array.
pub fn field_changes(desired: &Value, current: Option<&Value>) -> Vec<FieldChange> {
    let Some(current) = current else {
        return Vec::new();
    };
    let mut seen = BTreeMap::new();
    for path in differences(desired, current) {
        let pointer = path
            .split_once(" (")
            .map_or(path.as_str(), |(p, _)| p)
            .to_owned();
        seen.entry(pointer.clone()).or_insert_with(|| FieldChange {
            before: current.pointer(&pointer).cloned().unwrap_or(Value::Null),
            after: desired.pointer(&pointer).cloned().unwrap_or(Value::Null),
            member: member_ip(desired, &pointer).or_else(|| member_ip(current, &pointer)),
            path: pointer,
        });
    }
    seen.into_values().collect()
}

/// The IP address of the pool member a path points into (`/groups/<g>/members/<m>/…`).
fn member_ip(body: &Value, pointer: &str) -> Option<String> {
    let mut parts = pointer.split('/').skip(1);
    let (groups, g, members, m) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if groups != "groups" || members != "members" {
        return None;
    }
    body.pointer(&format!("/groups/{g}/members/{m}/ip/addr"))?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
#[path = "plan_report_tests.rs"]
mod tests;
