//! Selection: does the accepted GDP select an observation, and into which GslbService? Every
//! answer carries a reason, which feeds CR status and `/debug/members`; `explain` gives the whole
//! chain of checks (for `amko explain`) from the same code the operator selects with.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::hostrule_index::HostRuleIndex;
use crate::ingest::{NamespaceInfo, Observation};
use crate::vocab::{GsKey, InstanceSettings, LabelSelector, Member, Policy};

/// The verdict on one observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    Selected(Box<Member>),
    NotSelected(String),
}

/// One check of the chain, in the order selection makes them. `Vip` and `Ingest` are ingest's
/// (did AKO give the host a VIP; why a host yields nothing), the others selection's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Ingest,
    Vip,
    Policy,
    Selectors,
    MatchClusters,
    NamespaceLabels,
    AppLabels,
    Tenant,
    GlobalFqdn,
    AkoAnnotations,
}

impl Check {
    /// The words `amko explain` prints for the check.
    pub fn label(self) -> &'static str {
        match self {
            Check::Ingest => "object",
            Check::Vip => "VIP",
            Check::Policy => "GDP",
            Check::Selectors => "GDP",
            Check::MatchClusters => "matchClusters",
            Check::NamespaceLabels => "namespace labels",
            Check::AppLabels => "object labels",
            Check::Tenant => "tenant",
            Check::GlobalFqdn => "FQDN",
            Check::AkoAnnotations => "AKO annotations",
        }
    }
}

/// The outcome of one check: passed, or the reason the observation is not selected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub check: Check,
    pub passed: bool,
    pub detail: String,
}

/// The verdict with every check that led to it (the failed one last).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    pub selection: Selection,
    pub reasons: Vec<Reason>,
}

/// Where the checks that pass are told. Selection itself uses [`Silent`], which never builds
/// the words, so explaining costs nothing when nobody asks.
trait Trace {
    fn passed(&mut self, check: Check, detail: impl FnOnce() -> String);
}

struct Silent;

impl Trace for Silent {
    fn passed(&mut self, _: Check, _: impl FnOnce() -> String) {}
}

impl Trace for Vec<Reason> {
    fn passed(&mut self, check: Check, detail: impl FnOnce() -> String) {
        self.push(Reason {
            check,
            passed: true,
            detail: detail(),
        });
    }
}

/// A failed check: which, and why.
type Refusal = (Check, String);

/// Everything selection reads besides the observation itself.
pub struct SelectionContext<'a> {
    pub policy: &'a Policy,
    pub settings: &'a InstanceSettings,
    /// Namespaces of every member cluster, keyed by (cluster, namespace).
    pub namespaces: &'a BTreeMap<(String, String), NamespaceInfo>,
    pub hostrules: &'a HostRuleIndex,
}

impl SelectionContext<'_> {
    /// Decides whether `obs` becomes a member, and of which GslbService.
    pub fn select(&self, obs: &Arc<Observation>) -> Selection {
        match self.check(obs, &mut Silent) {
            Ok(member) => Selection::Selected(Box::new(member)),
            Err((_, reason)) => Selection::NotSelected(reason),
        }
    }

    /// [`SelectionContext::select`] with the chain of checks behind its verdict: the same
    /// checks, in the same order, so the verdict is always `select`'s.
    pub fn explain(&self, obs: &Arc<Observation>) -> Explanation {
        let mut reasons = Vec::new();
        let selection = match self.check(obs, &mut reasons) {
            Ok(member) => Selection::Selected(Box::new(member)),
            Err((check, reason)) => {
                reasons.push(Reason {
                    check,
                    passed: false,
                    detail: reason.clone(),
                });
                Selection::NotSelected(reason)
            }
        };
        Explanation { selection, reasons }
    }

    fn check(&self, obs: &Arc<Observation>, trace: &mut impl Trace) -> Result<Member, Refusal> {
        let policy = self.policy;
        let id = &obs.id;
        if policy.app_selector.is_none() && policy.namespace_selector.is_none() {
            return Err((
                Check::Selectors,
                format!(
                    "GlobalDeploymentPolicy {} has neither appSelector nor namespaceSelector, so it selects nothing",
                    policy.name
                ),
            ));
        }
        trace.passed(Check::Selectors, || {
            format!("GlobalDeploymentPolicy {} is in force", policy.name)
        });
        let Some(cluster_match) = policy.match_clusters.get(&id.cluster) else {
            return Err((
                Check::MatchClusters,
                format!("cluster {} is not in the GDP's matchClusters", id.cluster),
            ));
        };
        trace.passed(Check::MatchClusters, || {
            format!("cluster {} is in the GDP's matchClusters", id.cluster)
        });
        let namespace = self
            .namespaces
            .get(&(id.cluster.clone(), id.namespace.clone()));
        match &policy.namespace_selector {
            Some(selector) => {
                let Some(namespace) = namespace else {
                    return Err((
                        Check::NamespaceLabels,
                        format!(
                            "namespace {} has not been observed in cluster {} yet",
                            id.namespace, id.cluster
                        ),
                    ));
                };
                if !selector.matches(&namespace.labels) {
                    return Err((
                        Check::NamespaceLabels,
                        format!(
                            "namespace {} labels do not match namespaceSelector {}",
                            id.namespace,
                            describe(selector)
                        ),
                    ));
                }
                trace.passed(Check::NamespaceLabels, || {
                    format!(
                        "namespace {} labels match namespaceSelector {}",
                        id.namespace,
                        describe(selector)
                    )
                });
            }
            None => trace.passed(Check::NamespaceLabels, || {
                "the GDP has no namespaceSelector".to_owned()
            }),
        }
        match &policy.app_selector {
            Some(selector) if !selector.matches(&obs.labels) => {
                return Err((
                    Check::AppLabels,
                    format!("labels do not match appSelector {}", describe(selector)),
                ));
            }
            Some(selector) => trace.passed(Check::AppLabels, || {
                format!("labels match appSelector {}", describe(selector))
            }),
            None => trace.passed(Check::AppLabels, || "the GDP has no appSelector".to_owned()),
        }
        let tenant = self
            .tenant(obs, namespace)
            .map_err(|reason| (Check::Tenant, reason))?;
        trace.passed(Check::Tenant, || format!("tenant {tenant}"));
        let fqdn = if self.settings.use_custom_global_fqdn {
            if obs.passthrough {
                return Err((
                    Check::GlobalFqdn,
                    "passthrough objects cannot be used with useCustomGlobalFqdn".to_owned(),
                ));
            }
            match self.hostrules.global_fqdn(&id.cluster, &obs.hostname) {
                Some(global) => {
                    trace.passed(Check::GlobalFqdn, || {
                        format!(
                            "an AKO HostRule in cluster {} maps {} to the global FQDN {global}",
                            id.cluster, obs.hostname
                        )
                    });
                    global.to_owned()
                }
                None => {
                    return Err((
                        Check::GlobalFqdn,
                        format!(
                            "no accepted AKO HostRule in cluster {} maps {} to a global FQDN (useCustomGlobalFqdn is on)",
                            id.cluster, obs.hostname
                        ),
                    ));
                }
            }
        } else {
            trace.passed(Check::GlobalFqdn, || {
                format!("GslbService {} (the host's own name)", obs.hostname)
            });
            obs.hostname.clone()
        };
        if cluster_match.sync_vip_only {
            trace.passed(Check::AkoAnnotations, || {
                format!(
                    "not needed: cluster {} is syncVipOnly, the VIP alone is sent",
                    id.cluster
                )
            });
        } else {
            let missing: Vec<&str> = [
                (
                    obs.vs_uuid.is_none(),
                    "virtual service UUID (ako.vmware.com/host-fqdn-vs-uuid-map)",
                ),
                (
                    obs.controller_uuid.is_none(),
                    "controller cluster UUID (ako.vmware.com/controller-cluster-uuid)",
                ),
            ]
            .into_iter()
            .filter_map(|(missing, what)| missing.then_some(what))
            .collect();
            if !missing.is_empty() {
                return Err((
                    Check::AkoAnnotations,
                    format!(
                        "waiting for AKO to annotate the {} of {}; set syncVipOnly for cluster {} to send the VIP alone",
                        missing.join(" and "),
                        obs.hostname,
                        id.cluster
                    ),
                ));
            }
            trace.passed(Check::AkoAnnotations, || {
                format!(
                    "virtual service {} on controller cluster {}",
                    obs.vs_uuid.as_deref().unwrap_or_default(),
                    obs.controller_uuid.as_deref().unwrap_or_default()
                )
            });
        }
        Ok(Member {
            key: Arc::new(GsKey { tenant, fqdn }),
            observation: Arc::clone(obs),
            sync_vip_only: cluster_match.sync_vip_only,
            tls: obs.tls
                || self
                    .hostrules
                    .is_tls(&id.cluster, &id.namespace, &obs.hostname),
        })
    }

    /// The object's tenant: its namespace's tenant annotation; for a namespace without one,
    /// the GSLBConfig's tenant (AKO reports its own tenant on such objects,
    /// which must not override `gslbLeader.tenant`). An object annotated for a tenant other than
    /// its namespace's is refused. While the namespace has not been observed, an object annotated
    /// with another tenant than the GSLBConfig's waits: only the namespace can tell whether that
    /// tenant is the namespace's or AKO's own, and guessing would write to the wrong tenant.
    fn tenant(
        &self,
        obs: &Observation,
        namespace: Option<&NamespaceInfo>,
    ) -> Result<String, String> {
        let default = || self.settings.default_tenant.clone();
        match (obs.tenant.as_deref(), namespace) {
            (Some(object), Some(ns)) => match ns.tenant.as_deref() {
                Some(tenant) if tenant != object => Err(format!(
                    "object tenant {object} differs from tenant {tenant} of namespace {}",
                    obs.id.namespace
                )),
                Some(tenant) => Ok(tenant.to_owned()),
                None => Ok(default()),
            },
            (None, Some(ns)) => Ok(ns.tenant.clone().unwrap_or_else(default)),
            (Some(object), None) if object != self.settings.default_tenant => Err(format!(
                "namespace {} has not been observed in cluster {} yet; its tenant annotation decides between tenant {object} and {}",
                obs.id.namespace, obs.id.cluster, self.settings.default_tenant
            )),
            (_, None) => Ok(default()),
        }
    }
}

fn describe(selector: &LabelSelector) -> String {
    let mut out = String::new();
    for (i, (k, v)) in selector.0.iter().enumerate() {
        let _ = write!(out, "{}{k}={v}", if i > 0 { "," } else { "" });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{HostRuleInfo, ObjectKind, ObservationId};
    use crate::vocab::ClusterMatch;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn obs(cluster: &str, ns: &str, app: &str) -> Observation {
        Observation {
            id: ObservationId {
                kind: ObjectKind::Ingress,
                cluster: cluster.into(),
                namespace: ns.into(),
                name: "ing".into(),
                host: "shop.local".into(),
            },
            hostname: "shop.local".into(),
            vip: "10.0.0.1".parse().expect("ip"),
            labels: labels(&[("app", app), ("tier", "web")]).into(),
            paths: vec!["/".into()],
            tls: false,
            passthrough: false,
            port: None,
            vs_uuid: Some("virtualservice-1".into()),
            controller_uuid: Some("cluster-1".into()),
            tenant: None,
        }
    }

    fn policy() -> Policy {
        Policy {
            name: "global-gdp".into(),
            app_selector: Some(LabelSelector(labels(&[("app", "gslb"), ("tier", "web")]))),
            namespace_selector: None,
            match_clusters: [
                ("east".to_string(), ClusterMatch::default()),
                (
                    "west".to_string(),
                    ClusterMatch {
                        sync_vip_only: true,
                    },
                ),
            ]
            .into_iter()
            .collect(),
            ..Policy::default()
        }
    }

    fn settings(custom: bool) -> InstanceSettings {
        InstanceSettings {
            created_by: "amko-1".into(),
            default_tenant: "admin".into(),
            use_custom_global_fqdn: custom,
            member_clusters: Default::default(),
        }
    }

    fn namespaces() -> BTreeMap<(String, String), NamespaceInfo> {
        let ns = |cluster: &str, name: &str, team: &str, tenant: Option<&str>| {
            (
                (cluster.to_string(), name.to_string()),
                NamespaceInfo {
                    cluster: cluster.into(),
                    name: name.into(),
                    labels: labels(&[("team", team)]).into(),
                    tenant: tenant.map(Into::into),
                },
            )
        };
        [
            ns("east", "shop", "a", None),
            ns("east", "other", "b", None),
            ns("east", "t1", "a", Some("tenant1")),
        ]
        .into_iter()
        .collect()
    }

    fn verdict(
        policy: &Policy,
        custom: bool,
        hostrules: &HostRuleIndex,
        o: &Observation,
    ) -> Selection {
        let settings = settings(custom);
        let nss = namespaces();
        SelectionContext {
            policy,
            settings: &settings,
            namespaces: &nss,
            hostrules,
        }
        .select(&Arc::new(o.clone()))
    }

    fn reason(s: Selection) -> String {
        match s {
            Selection::NotSelected(r) => r,
            Selection::Selected(m) => panic!("unexpectedly selected into {}", m.key),
        }
    }

    fn member(s: Selection) -> Member {
        match s {
            Selection::Selected(m) => *m,
            Selection::NotSelected(r) => panic!("not selected: {r}"),
        }
    }

    #[test]
    fn app_selector_requires_every_label() {
        let hr = HostRuleIndex::default();
        let m = member(verdict(&policy(), false, &hr, &obs("east", "shop", "gslb")));
        assert_eq!(m.key.to_string(), "admin/shop.local");
        let mut o = obs("east", "shop", "gslb");
        o.labels = o.labels.without("tier");
        assert_eq!(
            reason(verdict(&policy(), false, &hr, &o)),
            "labels do not match appSelector app=gslb,tier=web"
        );
    }

    #[test]
    fn reasons_for_each_rule() {
        let hr = HostRuleIndex::default();
        let mut no_selectors = policy();
        no_selectors.app_selector = None;
        assert!(
            reason(verdict(
                &no_selectors,
                false,
                &hr,
                &obs("east", "shop", "gslb")
            ))
            .contains("selects nothing")
        );
        assert_eq!(
            reason(verdict(
                &policy(),
                false,
                &hr,
                &obs("north", "shop", "gslb")
            )),
            "cluster north is not in the GDP's matchClusters"
        );
        let mut by_ns = policy();
        by_ns.namespace_selector = Some(LabelSelector(labels(&[("team", "a")])));
        assert_eq!(
            reason(verdict(&by_ns, false, &hr, &obs("east", "other", "gslb"))),
            "namespace other labels do not match namespaceSelector team=a"
        );
        assert!(
            reason(verdict(&by_ns, false, &hr, &obs("east", "ghost", "gslb")))
                .contains("has not been observed")
        );
        assert!(matches!(
            verdict(&by_ns, false, &hr, &obs("east", "shop", "gslb")),
            Selection::Selected(_)
        ));
    }

    #[test]
    fn tenants_from_object_namespace_or_default() {
        let hr = HostRuleIndex::default();
        let m = member(verdict(&policy(), false, &hr, &obs("east", "t1", "gslb")));
        assert_eq!(m.key.tenant, "tenant1");
        let mut o = obs("east", "t1", "gslb");
        o.tenant = Some("tenant2".into());
        assert_eq!(
            reason(verdict(&policy(), false, &hr, &o)),
            "object tenant tenant2 differs from tenant tenant1 of namespace t1"
        );
        // A namespace without a tenant annotation: the GSLBConfig's tenant, whatever AKO
        // reported on the object.
        let mut o = obs("east", "shop", "gslb");
        o.tenant = Some("tenant3".into());
        assert_eq!(
            member(verdict(&policy(), false, &hr, &o)).key.tenant,
            "admin"
        );
        // A namespace not observed yet: the default tenant is safe to assume only when the
        // object says so too.
        let mut o = obs("east", "unseen", "gslb");
        o.tenant = Some("admin".into());
        assert_eq!(
            member(verdict(&policy(), false, &hr, &o)).key.tenant,
            "admin"
        );
        o.tenant = Some("tenant3".into());
        assert!(reason(verdict(&policy(), false, &hr, &o)).contains("has not been observed"));
    }

    #[test]
    fn missing_uuids_wait_unless_sync_vip_only() {
        let hr = HostRuleIndex::default();
        let mut o = obs("east", "shop", "gslb");
        o.vs_uuid = None;
        let r = reason(verdict(&policy(), false, &hr, &o));
        assert!(
            r.contains("virtual service UUID") && !r.contains("controller cluster UUID"),
            "{r}"
        );
        o.id.cluster = "west".into();
        let m = member(verdict(&policy(), false, &hr, &o));
        assert!(m.sync_vip_only);
    }

    #[test]
    fn custom_global_fqdn_mode() {
        let rule = HostRuleInfo {
            cluster: "east".into(),
            namespace: "shop".into(),
            name: "hr".into(),
            local_fqdn: "shop.local".into(),
            global_fqdn: Some("shop.example.com".into()),
            include_aliases: false,
            aliases: vec![],
            tls: true,
            accepted: true,
        };
        let hr = HostRuleIndex::new([&rule]);
        let m = member(verdict(&policy(), true, &hr, &obs("east", "shop", "gslb")));
        assert_eq!(m.key.fqdn, "shop.example.com");
        assert!(m.tls, "HostRule TLS makes the member TLS");
        let empty = HostRuleIndex::default();
        assert!(
            reason(verdict(
                &policy(),
                true,
                &empty,
                &obs("east", "shop", "gslb")
            ))
            .contains("no accepted AKO HostRule")
        );
        let mut o = obs("east", "shop", "gslb");
        o.passthrough = true;
        assert!(reason(verdict(&policy(), true, &hr, &o)).contains("passthrough"));
    }

    fn explained(policy: &Policy, custom: bool, o: &Observation) -> Explanation {
        let settings = settings(custom);
        let nss = namespaces();
        let hr = HostRuleIndex::default();
        SelectionContext {
            policy,
            settings: &settings,
            namespaces: &nss,
            hostrules: &hr,
        }
        .explain(&Arc::new(o.clone()))
    }

    fn checks(e: &Explanation) -> Vec<(Check, bool)> {
        e.reasons.iter().map(|r| (r.check, r.passed)).collect()
    }

    #[test]
    fn explain_gives_every_check_of_a_selected_object_in_order() {
        let e = explained(&policy(), false, &obs("east", "t1", "gslb"));
        assert!(
            matches!(&e.selection, Selection::Selected(m) if m.key.to_string() == "tenant1/shop.local")
        );
        assert_eq!(
            checks(&e),
            [
                (Check::Selectors, true),
                (Check::MatchClusters, true),
                (Check::NamespaceLabels, true),
                (Check::AppLabels, true),
                (Check::Tenant, true),
                (Check::GlobalFqdn, true),
                (Check::AkoAnnotations, true),
            ]
        );
        let details: Vec<&str> = e.reasons.iter().map(|r| r.detail.as_str()).collect();
        assert_eq!(details[1], "cluster east is in the GDP's matchClusters");
        assert_eq!(details[3], "labels match appSelector app=gslb,tier=web");
        assert_eq!(details[4], "tenant tenant1");
        assert_eq!(
            details[6],
            "virtual service virtualservice-1 on controller cluster cluster-1"
        );
    }

    #[test]
    fn explain_stops_at_the_failed_check_with_selects_reason() {
        let mut by_ns = policy();
        by_ns.namespace_selector = Some(LabelSelector(labels(&[("team", "a")])));
        let mut no_vs = obs("east", "shop", "gslb");
        no_vs.vs_uuid = None;
        let mut other_labels = obs("east", "shop", "gslb");
        other_labels.labels = other_labels.labels.without("tier");
        let cases = [
            (
                policy(),
                obs("north", "shop", "gslb"),
                Check::MatchClusters,
                1,
            ),
            (
                by_ns.clone(),
                obs("east", "other", "gslb"),
                Check::NamespaceLabels,
                2,
            ),
            (
                by_ns,
                obs("east", "ghost", "gslb"),
                Check::NamespaceLabels,
                2,
            ),
            (policy(), other_labels, Check::AppLabels, 3),
            (policy(), no_vs, Check::AkoAnnotations, 6),
        ];
        let hr = HostRuleIndex::default();
        for (policy, o, failed, passed_before) in cases {
            let e = explained(&policy, false, &o);
            let Selection::NotSelected(reason) = verdict(&policy, false, &hr, &o) else {
                panic!("{o:?} selected");
            };
            assert_eq!(e.selection, Selection::NotSelected(reason.clone()));
            assert_eq!(e.reasons.len(), passed_before + 1, "{e:?}");
            assert!(e.reasons[..passed_before].iter().all(|r| r.passed), "{e:?}");
            let last = e.reasons.last().expect("a failed check");
            assert_eq!((last.check, last.passed), (failed, false));
            assert_eq!(last.detail, reason);
        }
    }

    #[test]
    fn explain_says_when_sync_vip_only_makes_annotations_unneeded() {
        let mut o = obs("west", "shop", "gslb");
        o.vs_uuid = None;
        o.controller_uuid = None;
        let e = explained(&policy(), false, &o);
        assert!(matches!(e.selection, Selection::Selected(_)));
        let last = e.reasons.last().expect("checks");
        assert_eq!(last.check, Check::AkoAnnotations);
        assert!(last.detail.contains("syncVipOnly"), "{}", last.detail);
    }
}
