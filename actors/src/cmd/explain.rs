//! `amko explain`: why an object is or is not in a GslbService, and what that GslbService looks
//! like on both sides. With `--operator URL` it asks a running operator's `/debug/explain` (its
//! live selection, the writer's copies, last write and last error); without, it reads everything
//! once as `amko plan` does (`plan::gather_blocking`) and explains with the same core code
//! (`amko::explain_report`, which takes its reasons from `SelectionContext::explain`). Writes
//! nothing anywhere.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use amko::explain_report::{ExplainReport, STANDALONE, Subject, SubjectError};
use kube::ResourceExt;

use super::plan::{self, PlanError};
use super::run::Args as RunArgs;

/// Arguments of `amko explain`: the subject, where to ask, and (for the standalone mode) every
/// flag of `amko run`, used as `amko plan` uses them.
#[derive(clap::Args, Debug)]
#[group(id = "ExplainArgs")]
pub struct Args {
    /// An FQDN (`shop.example.com`), or an object `ingress/NAMESPACE/NAME`, `route/NAMESPACE/NAME`
    /// or `service/NAMESPACE/NAME` (a LoadBalancer Service) with --cluster.
    #[arg(value_name = "SUBJECT")]
    pub subject: String,
    /// The member cluster (kubeconfig context) of an object subject.
    #[arg(long, value_name = "CONTEXT")]
    pub cluster: Option<String>,
    /// A running operator's HTTP address (its --listen, or --debug-listen; started with
    /// --debug-endpoints): ask it instead of computing standalone. Adds the last write and the
    /// last error of each GslbService, which only the operator knows.
    #[arg(long, value_name = "URL")]
    pub operator: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
    /// Standalone: proposed GlobalDeploymentPolicies and GSLBHostRules, as `amko plan -f`.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Give up (exit code 1) when reading everything takes longer than this.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// `amko run`'s flags, for the standalone mode (see `amko plan`).
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

/// Why `amko explain` could not explain (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Subject(#[from] SubjectError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("operator {address}: {message}")]
    Operator { address: String, message: String },
}

/// Runs `amko explain` and prints the report on stdout: exit code 0 when the subject was found
/// and explained, 1 on an error or when nothing is known of the subject.
pub fn run(args: Args) -> ExitCode {
    super::report(
        args.run.log_format,
        args.output == Output::Json,
        || explain(&args),
        |report| {
            let text = match args.output {
                Output::Text => report.render_text(),
                Output::Json => format!("{:#}\n", report.to_json()),
            };
            (text, report.exit_code())
        },
    )
}

fn explain(args: &Args) -> Result<ExplainReport, ExplainError> {
    let subject = Subject::parse(&args.subject, args.cluster.as_deref())?;
    match &args.operator {
        Some(address) => from_operator(address, subject, args.timeout_secs),
        None => standalone(args, subject),
    }
}

/// The standalone mode: what `amko run` would hold after its boot, explained.
fn standalone(args: &Args, subject: Subject) -> Result<ExplainReport, ExplainError> {
    let gathered = plan::gather_blocking(&args.run, &args.files, args.timeout_secs)?;
    let mut report = ExplainReport::from_world(&gathered.world, subject, STANDALONE);
    report.add_controller_only(
        gathered
            .cache
            .gslb_services()
            .keys()
            .map(|(t, n)| (t.as_str(), n.as_str())),
    );
    for gs in &mut report.gslb_services {
        let key = gs.key();
        let desired = gathered
            .world
            .desired(&key, gathered.fallback_pki.as_deref())
            .map(|d| serde_json::to_value(&d.gslb_service).unwrap_or_default());
        let controller = gathered
            .cache
            .gslb_services()
            .get(&(key.tenant.clone(), key.fqdn.clone()))
            .map(|c| c.body());
        gs.set_copies(desired, controller);
        // The GSLBHostRules that name the FQDN but are not in force, with what the operator
        // wrote in their status.
        gs.host_rules_not_in_force = gathered
            .rules
            .iter()
            .filter(|r| r.spec.fqdn == key.fqdn)
            .map(|r| {
                (
                    format!("{}/{}", r.namespace().unwrap_or_default(), r.name_any()),
                    r,
                )
            })
            .filter(|(name, _)| gs.host_rule.as_ref() != Some(name))
            .map(|(name, r)| match &r.status {
                Some(s) if !s.error.is_empty() => format!("{name}: {}", s.error),
                Some(s) if !s.status.is_empty() => format!("{name}: {}", s.status),
                _ => format!("{name}: no status yet"),
            })
            .collect();
    }
    report.warnings.extend(gathered.problems);
    report.warnings.extend(gathered.warnings);
    Ok(report)
}

/// The operator mode: the running operator's own report from `/debug/explain`.
fn from_operator(
    address: &str,
    subject: Subject,
    timeout_secs: u64,
) -> Result<ExplainReport, ExplainError> {
    let fail = |message: String| ExplainError::Operator {
        address: address.to_owned(),
        message,
    };
    let base = address.trim_end_matches('/');
    let base = if base.contains("://") {
        base.to_owned()
    } else {
        format!("http://{base}")
    };
    let url = reqwest::Url::parse_with_params(&format!("{base}/debug/explain"), subject.to_query())
        .map_err(|e| fail(format!("not a URL: {e}")))?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| fail(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(timeout_secs))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let response = client
            .get(url)
            .send()
            .await
            .map_err(|e| fail(format!("cannot reach it: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| fail(format!("cannot read the answer ({status}): {e}")))?;
        let body: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        if !status.is_success() {
            let why = body
                .as_ref()
                .and_then(|b| b.get("error"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("no reason given");
            let hint = if status == reqwest::StatusCode::NOT_FOUND {
                " (are its debug endpoints on? start it with --debug-endpoints or --debug-listen)"
            } else {
                ""
            };
            return Err(fail(format!("{status}: {why}{hint}")));
        }
        let body = body.ok_or_else(|| fail(format!("not a JSON answer ({status})")))?;
        let mut report: ExplainReport =
            serde_json::from_value(body).map_err(|e| fail(format!("unexpected answer: {e}")))?;
        report.source = format!("operator {base}");
        Ok(report)
    })
}

#[cfg(test)]
mod tests {
    use clap::{Args as _, FromArgMatches as _};

    use super::*;

    fn parse(line: &[&str]) -> Result<Args, clap::Error> {
        let command = Args::augment_args(clap::Command::new("explain"));
        command.clone().debug_assert();
        let matches = command.try_get_matches_from(line)?;
        Args::from_arg_matches(&matches)
    }

    #[test]
    fn a_subject_with_the_run_flags_or_an_operator() {
        let args = parse(&[
            "explain",
            "ingress/shop/web",
            "--cluster",
            "east",
            "--kubeconfig",
            "/k",
            "--context",
            "home",
            "--members-kubeconfig",
            "/m",
            "-o",
            "json",
        ])
        .expect("parses");
        assert_eq!(args.subject, "ingress/shop/web");
        assert_eq!(args.cluster.as_deref(), Some("east"));
        assert_eq!(args.run.clusters.context.as_deref(), Some("home"));
        assert_eq!(args.output, Output::Json);
        let args = parse(&[
            "explain",
            "shop.example.com",
            "--operator",
            "127.0.0.1:8080",
        ])
        .expect("parses");
        assert_eq!(args.operator.as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(args.output, Output::Text);
        assert!(parse(&["explain"]).is_err(), "a subject is required");
        assert!(parse(&["explain", "x", "-o", "table"]).is_err());
    }
}
