//! `amko plan`: what `amko run` would change on the controller, without writing anything. It
//! reads once what the operator watches (GSLBConfig, GDPs and GSLBHostRules of the home cluster,
//! the member clusters' objects, the controller's owned objects), lays the proposed objects of
//! `-f` files over the live ones, and runs the operator's own acceptance (`policy::check`,
//! `InForce`), selection (`World`), model and plan (`plan_report::plan_all`). Only GETs and the
//! login reach the controller; nothing is written anywhere.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use amko::avi::sync::{federated_pki_profiles, load_state};
use amko::avi::{AviClient, AviClientError, AviError, RateBudget, avi_connection};
use amko::crd::ako_hostrule::HostRule;
use amko::crd::gdp::STATUS_SUCCESS;
use amko::crd::gslbhostrule::STATUS_REJECTED;
use amko::crd::route::Route;
use amko::crd::{GlobalDeploymentPolicy, GslbConfig, GslbHostRule};
use amko::ingest::{self, ObjectKind};
use amko::members::{MembersError, MembersKubeconfig};
use amko::model::plan::ControllerState;
use amko::plan_report::{PlanReport, Proposed, ProposedError, plan_all};
use amko::policy::config::{ControllerAddressError, choose_gslb_config, controller_base_url};
use amko::policy::in_force::{Decision, InForce, OverridesChange, PolicyObject, RuleKey};
use amko::policy::{GslbConfigSettings, Problem, accept_gslb_config};
use amko::state::{ObjectId, World};
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use super::error::CmdError;
use super::run::Args as RunArgs;
use crate::policy::check;

/// Arguments of `amko plan`: every flag of `amko run` (so a run command line can be reused; the
/// ones about serving, election and write pacing have nothing to do here and are ignored), and
/// its own.
#[derive(clap::Args, Debug)]
#[group(id = "PlanArgs")]
pub struct Args {
    /// `amko run`'s flags. Used: the cluster flags, --avi-rate/--avi-burst (the controller request
    /// budget), --boot-timeout-secs (how long a member cluster's lists may take; a slower one is
    /// left alone, as `amko run` leaves a cluster that has not listed by then) and --log-format.
    #[command(flatten)]
    pub run: RunArgs,
    /// A file of proposed GlobalDeploymentPolicies and GSLBHostRules (YAML, several documents
    /// allowed); each replaces the live object of its namespace/name or is added. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    pub output: Output,
    /// Give up (exit code 1) when reading everything takes longer than this.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

/// Why `amko plan` could not compute a plan (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Cmd(#[from] CmdError),
    #[error(transparent)]
    Proposed(#[from] ProposedError),
    #[error("cannot list {what} in the home cluster: {source}")]
    ListHome {
        what: &'static str,
        source: kube::Error,
    },
    #[error("no GSLBConfig in namespace {namespace}")]
    NoGslbConfig { namespace: String },
    #[error("GSLBConfig {gslbconfig}: {problem}")]
    GslbConfig {
        gslbconfig: String,
        problem: Problem,
    },
    #[error("cannot read secret {secret}: {source}")]
    ReadSecret { secret: String, source: kube::Error },
    #[error("secret object doesn't exist {secret}")]
    NoSecret { secret: String },
    #[error("secret {secret} has no {field}")]
    SecretField { secret: String, field: &'static str },
    /// Never repeats the address: it might hold a password in its user part.
    #[error("{0}")]
    ControllerAddress(#[source] ControllerAddressError),
    #[error("controller {address}: {source}")]
    AviClient {
        address: String,
        source: AviClientError,
    },
    #[error("issue in connecting to the controller API at {address}: {source}")]
    Controller { address: String, source: AviError },
    #[error("controller {address} is not the GSLB leader")]
    NotLeader { address: String },
    #[error(
        "provided kubeconfig has an error: no members kubeconfig (set GSLB_CONFIG or --members-kubeconfig)"
    )]
    NoMembersKubeconfig,
    #[error("provided kubeconfig has an error: {0}")]
    MembersKubeconfig(#[source] MembersError),
    #[error("cannot check references on the controller: {0}")]
    Check(String),
    #[error("gave up after {0} s (--timeout-secs)")]
    TimedOut(u64),
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Runs `amko plan` and prints the plan on stdout: exit code 0 (no changes), 2 (changes pending)
/// or 1 (an error, or a proposed object `amko run` would reject).
pub fn run(args: Args) -> ExitCode {
    // Logs (warnings about unreachable clusters, etc.) go to stderr; the plan to stdout.
    super::report(
        args.run.log_format,
        args.output == Output::Json,
        || compute(&args),
        |report| {
            let text = match args.output {
                Output::Table => report.render_table(),
                Output::Json => format!("{:#}\n", report.to_json()),
            };
            (text, report.exit_code())
        },
    )
}

fn compute(args: &Args) -> Result<PlanReport, PlanError> {
    let gathered = gather_blocking(&args.run, &args.files, args.timeout_secs)?;
    if !gathered.policy_known {
        let mut warnings = gathered.warnings;
        warnings.push(
            "no GlobalDeploymentPolicy is accepted: amko run would write nothing until one is"
                .to_owned(),
        );
        return Ok(PlanReport {
            problems: gathered.problems,
            warnings,
            ..PlanReport::default()
        });
    }
    let mut report = plan_all(
        &gathered.world,
        gathered.fallback_pki.as_deref(),
        &gathered.cache,
        &gathered.unsynced,
        &gathered.created_by,
    );
    report.problems = gathered.problems;
    report.warnings = gathered.warnings;
    Ok(report)
}

/// What `amko run` would hold after its boot, read once: the world (accepted policy, overrides,
/// every member cluster's objects), the controller's owned objects and fallback PKI profile.
/// `amko plan` plans with it, `amko explain` explains with it.
pub struct Gathered {
    pub world: World,
    pub cache: ControllerState,
    pub fallback_pki: Option<String>,
    /// Member clusters that could not be listed.
    pub unsynced: BTreeSet<String>,
    pub created_by: String,
    /// Validation problems of the proposed objects, as `amko run` reports them.
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    /// Whether a GDP is accepted (without one `amko run` writes nothing).
    pub policy_known: bool,
    /// The live GSLBHostRules as listed, with their status.
    pub rules: Vec<GslbHostRule>,
}

/// Reads everything as `amko plan` does (`files`: proposed objects), giving up after
/// `timeout_secs`.
pub fn gather_blocking(
    run: &RunArgs,
    files: &[PathBuf],
    timeout_secs: u64,
) -> Result<Gathered, PlanError> {
    let mut proposed = Proposed::default();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(CmdError::read(path))?;
        proposed.read(&path.display().to_string(), &text, &run.clusters.namespace)?;
    }
    let members = run.clusters.members_kubeconfig_text()?;
    let runtime = tokio::runtime::Runtime::new().map_err(PlanError::Runtime)?;
    let timeout = Duration::from_secs(timeout_secs);
    runtime.block_on(async {
        tokio::time::timeout(timeout, gather(run, proposed, members))
            .await
            .map_err(|_| PlanError::TimedOut(timeout_secs))?
    })
}

pub(crate) async fn gather(
    run: &RunArgs,
    proposed: Proposed,
    members_text: Option<String>,
) -> Result<Gathered, PlanError> {
    let namespace = &run.clusters.namespace;
    let home = run.clusters.home_client().await?;
    let mut warnings = Vec::new();

    let configs = Api::<GslbConfig>::namespaced(home.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(|source| PlanError::ListHome {
            what: "GSLBConfigs",
            source,
        })?
        .items;
    let (gc, _) = choose_gslb_config(configs).ok_or_else(|| PlanError::NoGslbConfig {
        namespace: namespace.clone(),
    })?;
    let fresh = uuid::Uuid::new_v4().to_string();
    let settings = accept_gslb_config(&gc, &fresh).map_err(|e| PlanError::GslbConfig {
        gslbconfig: e.object.to_string(),
        problem: e.problem,
    })?;
    if settings.uuid_needs_annotation {
        warnings.push(format!(
            "GSLBConfig {} has no instance uuid yet: amko run would generate one, so it owns nothing on the controller yet",
            settings.source
        ));
    }
    let budget = RateBudget {
        per_second: run.avi_rate,
        burst: run.avi_burst,
    };
    // Decided before the Secret is read, as `amko run` does: no credentials for a refused address.
    let address = controller_base_url(&settings.controller.address, run.allow_insecure_http)
        .map_err(PlanError::ControllerAddress)?;
    let avi = avi_client(&home, namespace, &settings, &address, budget).await?;
    let controller = |source| PlanError::Controller {
        address: address.clone(),
        source,
    };
    if !avi.is_gslb_leader().await.map_err(controller)? {
        return Err(PlanError::NotLeader {
            address: address.clone(),
        });
    }
    let members = MembersKubeconfig::parse(
        members_text
            .as_deref()
            .ok_or(PlanError::NoMembersKubeconfig)?,
    )
    .map_err(PlanError::MembersKubeconfig)?;

    // Everything is read concurrently: the clusters, the policy objects, the controller.
    let clusters = futures::future::join_all(settings.instance.member_clusters.iter().map(
        |context| async {
            let limit = Duration::from_secs(run.boot_timeout_secs);
            tokio::time::timeout(limit, list_cluster(&members, context))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "no complete list within {} s (--boot-timeout-secs)",
                        run.boot_timeout_secs
                    ))
                })
        },
    ));
    let live = async {
        let gdps = Api::<GlobalDeploymentPolicy>::namespaced(home.clone(), namespace)
            .list(&ListParams::default())
            .await
            .map_err(|source| PlanError::ListHome {
                what: "GlobalDeploymentPolicies",
                source,
            })?
            .items;
        let rules = Api::<GslbHostRule>::all(home.clone())
            .list(&ListParams::default())
            .await
            .map_err(|source| PlanError::ListHome {
                what: "GSLBHostRules",
                source,
            })?
            .items;
        Ok::<_, PlanError>((gdps, rules))
    };
    let created_by = settings.instance.created_by.clone();
    let tenant = settings.instance.default_tenant.clone();
    let controller_state = async {
        let state = load_state(&avi, &created_by, &tenant)
            .await
            .map_err(controller)?;
        let pki = federated_pki_profiles(&avi).await;
        Ok::<_, PlanError>((state, pki))
    };
    let (clusters, live, controller_state) = tokio::join!(clusters, live, controller_state);
    let (live_gdps, live_rules) = live?;
    let (cache, pki) = controller_state?;
    let fallback_pki = match pki {
        Ok(names) => names.first().cloned(),
        Err(e) => {
            warnings.push(format!("cannot list federated PKI profiles: {e}"));
            None
        }
    };

    // Acceptance as the PolicyActor does it: the live objects first (what `run` has in force
    // now), then the proposed ones as edits, so an invalid edit keeps the last good version.
    let proposed =
        proposed.as_applied_to(&live_gdps, &live_rules, k8s_openapi::jiff::Timestamp::now());
    let mut in_force = InForce::new();
    in_force.gdps_list_started();
    for gdp in live_gdps {
        in_force.gdp_applied(gdp);
    }
    in_force.gdps_listed();
    in_force.rules_list_started();
    let rules = live_rules.clone();
    for rule in live_rules {
        in_force.rule_applied(rule);
    }
    in_force.rules_listed();
    let mut decisions = vec![validate(&mut in_force, &avi, &settings, &home).await?];
    let proposed_gdps: BTreeSet<String> = proposed.gdps.iter().map(|g| g.name_any()).collect();
    let proposed_rules: BTreeSet<RuleKey> = proposed
        .rules
        .iter()
        .map(amko::policy::in_force::rule_key)
        .collect();
    if !proposed_gdps.is_empty() || !proposed_rules.is_empty() {
        for gdp in proposed.gdps {
            in_force.gdp_applied(gdp);
        }
        for rule in proposed.rules {
            in_force.rule_applied(rule);
        }
        decisions.push(validate(&mut in_force, &avi, &settings, &home).await?);
    }
    let problems = match decisions.last() {
        Some(last) if decisions.len() > 1 => {
            problems_of_proposed(last, namespace, &proposed_gdps, &proposed_rules)
        }
        _ => Vec::new(),
    };

    // Selection as the SelectionActor does it: the policy and overrides first, then the objects.
    let mut world = World::new(settings.instance.clone());
    let mut policy_known = false;
    for decision in decisions {
        let Some(publication) = decision.publication else {
            continue;
        };
        if let Some(policy) = publication.policy.to_send() {
            world.set_policy(policy);
            policy_known = true;
        }
        match publication.overrides {
            Some(OverridesChange::Whole(all)) => {
                world.set_overrides(all);
            }
            Some(OverridesChange::Differences { upserts, removed }) => {
                world.change_overrides(upserts, &removed);
            }
            None => {}
        }
    }
    let default_domain = world.policy().and_then(|p| p.default_domain.clone());
    let mut unsynced = BTreeSet::new();
    for (context, listed) in settings.instance.member_clusters.iter().zip(clusters) {
        match listed {
            Ok(objects) => ingest_cluster(&mut world, context, objects, default_domain.as_deref()),
            Err(reason) => {
                warnings.push(format!(
                    "member cluster {context} cannot be listed ({reason}): its GslbServices are left alone, as amko run leaves them"
                ));
                unsynced.insert(context.clone());
            }
        }
    }
    Ok(Gathered {
        world,
        cache,
        fallback_pki,
        unsynced,
        created_by,
        problems,
        warnings,
        policy_known,
        rules,
    })
}

/// One round of the PolicyActor's validation; an object that could not be checked (controller
/// unreachable) is an error here, where the actor would try again.
async fn validate(
    in_force: &mut InForce,
    avi: &AviClient,
    settings: &GslbConfigSettings,
    home: &Client,
) -> Result<Decision, PlanError> {
    let Some(to_check) = in_force.begin_check() else {
        return Ok(Decision::default());
    };
    let evaluated = check(to_check, avi, &settings.instance, home).await;
    if let Some(problem) = evaluated.transient.first() {
        return Err(PlanError::Check(problem.to_string()));
    }
    Ok(in_force.checked(evaluated.checks))
}

/// What `amko run` would tell the proposed objects that it does not take: the GDP's
/// `errorStatus`, the GSLBHostRule's `status.error`, or the rejection itself.
fn problems_of_proposed(
    decision: &Decision,
    namespace: &str,
    gdps: &BTreeSet<String>,
    rules: &BTreeSet<RuleKey>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let publication = decision.publication.as_ref();
    let gdp_status = |name: &str| {
        publication.and_then(|p| {
            p.gdp_statuses
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s.clone())
        })
    };
    for name in gdps {
        let status = gdp_status(name).or_else(|| {
            decision.rejected.iter().find_map(|(o, p)| match o {
                PolicyObject::Gdp(n) if n == name => Some(p.to_string()),
                _ => None,
            })
        });
        if let Some(status) = status.filter(|s| s != STATUS_SUCCESS) {
            problems.push(format!(
                "GlobalDeploymentPolicy {namespace}/{name}: {status}"
            ));
        }
    }
    for key in rules {
        let from_status = publication.and_then(|p| {
            p.rule_statuses
                .iter()
                .find(|(k, s)| k == key && s.status == STATUS_REJECTED)
                .map(|(_, s)| s.error.clone())
        });
        let error = from_status.or_else(|| {
            decision.rejected.iter().find_map(|(o, p)| match o {
                PolicyObject::HostRule(k) if k == key => Some(p.to_string()),
                _ => None,
            })
        });
        if let Some(error) = error {
            problems.push(format!("GSLBHostRule {}/{}: {error}", key.0, key.1));
        }
    }
    problems
}

/// The credentials Secret and the controller login, as the operator makes them.
async fn avi_client(
    home: &Client,
    namespace: &str,
    settings: &GslbConfigSettings,
    base_url: &str,
    budget: RateBudget,
) -> Result<AviClient, PlanError> {
    let name = &settings.controller.credentials_secret;
    let secret = Api::<Secret>::namespaced(home.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|source| PlanError::ReadSecret {
            secret: name.clone(),
            source,
        })?
        .ok_or_else(|| PlanError::NoSecret {
            secret: name.clone(),
        })?;
    let address = base_url.to_owned();
    let conn = avi_connection(settings, address.clone(), &secret).map_err(|missing| {
        PlanError::SecretField {
            secret: missing.secret,
            field: missing.field,
        }
    })?;
    let client = AviClient::new(conn)
        .map_err(|source| PlanError::AviClient {
            address: address.clone(),
            source,
        })?
        .with_budget(budget);
    client
        .login()
        .await
        .map_err(|source| PlanError::Controller {
            address: address.clone(),
            source,
        })?;
    Ok(client)
}

/// The items of a list of a kind the cluster may not serve (`None` when it answers 404).
fn optional<K: Clone>(
    listed: Result<kube::core::ObjectList<K>, kube::Error>,
    what: &str,
) -> Result<Option<Vec<K>>, String> {
    match listed {
        Ok(list) => Ok(Some(list.items)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(e) => Err(format!("cannot list {what}: {e}")),
    }
}

/// The objects of one member cluster that the ClusterActor watches.
struct ClusterObjects {
    ingresses: Vec<Ingress>,
    routes: Vec<Route>,
    services: Vec<Service>,
    namespaces: Vec<Namespace>,
    hostrules: Vec<HostRule>,
}

/// Lists one member cluster as the ClusterActor's discovery and first list do; `Err` is the
/// reason the cluster is unusable.
async fn list_cluster(
    members: &MembersKubeconfig,
    context: &str,
) -> Result<ClusterObjects, String> {
    let config = members
        .config_for(context)
        .await
        .map_err(|e| e.to_string())?;
    let client = Client::try_from(config).map_err(|e| e.to_string())?;
    let all = ListParams::default();
    let routes: Option<Vec<Route>> =
        optional(Api::<Route>::all(client.clone()).list(&all).await, "routes")?;
    let ingresses = match routes {
        Some(_) => Vec::new(),
        None => {
            Api::<Ingress>::all(client.clone())
                .list(&all)
                .await
                .map_err(|e| format!("cannot list ingresses: {e}"))?
                .items
        }
    };
    let services = Api::<Service>::all(client.clone())
        .list(&all)
        .await
        .map_err(|e| format!("health check failed, cannot list services: {e}"))?
        .items;
    let namespaces = Api::<Namespace>::all(client.clone())
        .list(&all)
        .await
        .map_err(|e| format!("cannot list namespaces: {e}"))?
        .items;
    let hostrules: Option<Vec<HostRule>> = optional(
        Api::<HostRule>::all(client.clone()).list(&all).await,
        "AKO HostRules",
    )?;
    Ok(ClusterObjects {
        ingresses,
        routes: routes.unwrap_or_default(),
        services,
        namespaces,
        hostrules: hostrules.unwrap_or_default(),
    })
}

/// Feeds one cluster's objects to the world through the ClusterActor's ingest functions:
/// namespaces and HostRules first (each HostRule re-selects the cluster's objects), then objects.
fn ingest_cluster(
    world: &mut World,
    cluster: &str,
    objects: ClusterObjects,
    default_domain: Option<&str>,
) {
    for ns in &objects.namespaces {
        world.upsert_namespace(ingest::ingest_namespace(cluster, ns));
    }
    for rule in &objects.hostrules {
        let info = ingest::ingest_hostrule(cluster, rule).ok();
        world.set_hostrule(
            cluster,
            &rule.namespace().unwrap_or_default(),
            &rule.name_any(),
            info,
        );
    }
    let id = |kind, namespace: Option<String>, name: String| ObjectId {
        kind,
        cluster: cluster.to_owned(),
        namespace: namespace.unwrap_or_default(),
        name,
    };
    for ingress in &objects.ingresses {
        world.upsert_object(
            id(ObjectKind::Ingress, ingress.namespace(), ingress.name_any()),
            ingest::ingest_ingress(cluster, ingress),
        );
    }
    for route in &objects.routes {
        world.upsert_object(
            id(ObjectKind::Route, route.namespace(), route.name_any()),
            ingest::ingest_route(cluster, route, default_domain),
        );
    }
    for service in objects
        .services
        .iter()
        .filter(|s| ingest::is_load_balancer(s))
    {
        world.upsert_object(
            id(
                ObjectKind::LbService,
                service.namespace(),
                service.name_any(),
            ),
            ingest::ingest_service(cluster, service),
        );
    }
}

#[cfg(test)]
mod tests {
    use clap::{Args as _, FromArgMatches as _};

    use super::*;

    fn parse(line: &[&str]) -> Result<Args, clap::Error> {
        let command = Args::augment_args(clap::Command::new("plan"));
        command.clone().debug_assert();
        let matches = command.try_get_matches_from(line)?;
        Args::from_arg_matches(&matches)
    }

    #[test]
    fn an_amko_run_command_line_is_accepted_with_plan_flags() {
        let args = parse(&[
            "plan",
            "--kubeconfig",
            "/k",
            "--context",
            "home",
            "--members-kubeconfig",
            "/m",
            "--listen",
            "127.0.0.1:9",
            "--coalesce-ms",
            "50",
            "--boot-timeout-secs",
            "20",
            "--avi-rate",
            "10",
            "--debug-endpoints",
            "-f",
            "a.yaml",
            "--filename",
            "b.yaml",
            "-o",
            "json",
        ])
        .expect("parses");
        assert_eq!(args.run.clusters.context.as_deref(), Some("home"));
        assert_eq!(args.run.boot_timeout_secs, 20);
        assert_eq!(args.run.avi_rate, 10.0);
        assert_eq!(
            args.files,
            [PathBuf::from("a.yaml"), PathBuf::from("b.yaml")]
        );
        assert_eq!(args.output, Output::Json);
        assert!(parse(&["plan", "--output", "yaml"]).is_err());
    }
}
