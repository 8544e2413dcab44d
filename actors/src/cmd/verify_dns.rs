//! `amko verify-dns`: asks a DNS server (the simulator's, or an Avi GSLB DNS virtual service) many
//! times for each FQDN and checks the answers against the GslbService amko-rs configures: computed
//! from the policy as `amko plan` computes it (default), or read from the controller. The checks
//! and the statistics are the core's (`amko::dns_verify`); this module gathers, queries, prints.

pub mod client;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use amko::dns_verify::verdict::{DEFAULT_THRESHOLD, EXIT_FAIL, EXIT_PASS, Verdict};
use amko::dns_verify::{ExpectedGs, expected_answers, judge, render_line};
use amko::plan_report::{Proposed, plan_all};
use serde_json::json;

use super::plan::{self, Output, PlanError};
use super::run::Args as RunArgs;
use client::{Batch, DnsClientError, Target};

/// Arguments of `amko verify-dns`.
#[derive(clap::Args, Debug)]
#[group(id = "VerifyDnsArgs")]
pub struct Args {
    /// `amko run`'s flags (as for `amko plan`): the cluster flags say where the GSLBConfig, the
    /// GDPs and the member clusters are; --avi-rate/--avi-burst pace the controller reads.
    #[command(flatten)]
    pub run: RunArgs,
    /// The DNS server to ask: ADDR, ADDR:PORT or [IPv6]:PORT, or a host name (default port 53).
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub server: String,
    /// Queries per FQDN (and record type).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub queries: u64,
    /// Only these FQDNs (repeatable; a GslbService matches by any of its domain names).
    #[arg(long = "fqdn", value_name = "FQDN")]
    pub fqdns: Vec<String>,
    /// Where the expected GslbServices come from: `policy` computes them as `amko plan` does
    /// (the policy is the truth); `controller` reads the controller's copies.
    #[arg(long, value_enum, default_value = "policy")]
    pub expected: Expected,
    /// p-value below which the answer shares fail the chi-square test against the ratios.
    #[arg(long, default_value_t = DEFAULT_THRESHOLD, value_parser = parse_threshold)]
    pub threshold: f64,
    /// Spread the queries over this many client subnets (EDNS client subnet 10.A.B.0/24); shows
    /// consistent-hash stickiness. 0: no client subnet option.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=65_536))]
    pub client_subnets: u32,
    /// Queries in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub concurrency: u64,
    /// How long one attempt waits for its reply, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub query_timeout_ms: u64,
    /// Attempts after the first before a query counts as unanswered.
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    pub output: Output,
    /// Give up (exit code 1) when reading the policy and the controller takes longer than this.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    Policy,
    Controller,
}

/// Why `amko verify-dns` could not check (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Gather(#[from] PlanError),
    #[error(transparent)]
    Dns(#[from] DnsClientError),
    #[error("--server {server:?}: {reason}")]
    Server { server: String, reason: String },
    #[error("{0}")]
    Expectation(String),
    #[error("no GslbService to verify{0}")]
    Nothing(String),
    #[error("--fqdn {0}: no GslbService {1} has this domain name")]
    UnknownFqdn(String, &'static str),
    #[error("gave up after {0} s (--timeout-secs)")]
    TimedOut(u64),
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

fn parse_threshold(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err("the threshold is a probability strictly between 0 and 1".to_owned())
    }
}

/// `ADDR`, `ADDR:PORT`, `[V6]:PORT`, `V6`, `HOST`, `HOST:PORT` → what to resolve.
pub fn parse_server(text: &str) -> Result<(String, u16), String> {
    const DNS_PORT: u16 = 53;
    let text = text.trim();
    if text.is_empty() {
        return Err("empty address".to_owned());
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok((addr.ip().to_string(), addr.port()));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok((ip.to_string(), DNS_PORT));
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let ip: IpAddr = inner
            .parse()
            .map_err(|_| "not an IPv6 address".to_owned())?;
        return Ok((ip.to_string(), DNS_PORT));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("port {port:?} is not a number from 0 to 65535"))?;
            Ok((host.to_owned(), port))
        }
        Some(_) => Err("write an IPv6 address with a port as [ADDR]:PORT".to_owned()),
        None => Ok((text.to_owned(), DNS_PORT)),
    }
}

/// What `amko verify-dns` found, for both outputs.
struct Report {
    verdicts: Vec<Verdict>,
    warnings: Vec<String>,
    server: SocketAddr,
    elapsed: Duration,
}

impl Report {
    fn exit_code(&self) -> u8 {
        if self.verdicts.iter().all(|v| v.pass) {
            EXIT_PASS
        } else {
            EXIT_FAIL
        }
    }
}

/// Runs `amko verify-dns`: exit code 0 (every FQDN passed), 3 (one failed) or 1 (error).
pub fn run(args: Args) -> ExitCode {
    super::report(
        args.run.log_format,
        args.output == Output::Json,
        || verify(&args),
        |report| {
            for warning in &report.warnings {
                eprintln!("amko: warning: {warning}");
            }
            let queries: u64 = report.verdicts.iter().map(|v| v.queries).sum();
            let passed = report.verdicts.iter().filter(|v| v.pass).count();
            let text = match args.output {
                Output::Table => {
                    let mut text = String::new();
                    for verdict in &report.verdicts {
                        text.push_str(&render_line(verdict));
                        text.push('\n');
                    }
                    text.push_str(&format!(
                        "{passed} of {} checks passed ({queries} queries to {} in {} ms)\n",
                        report.verdicts.len(),
                        report.server,
                        report.elapsed.as_millis()
                    ));
                    text
                }
                Output::Json => format!(
                    "{:#}\n",
                    json!({
                        "server": report.server.to_string(),
                        "expected": format!("{:?}", args.expected).to_lowercase(),
                        "queries": queries,
                        "elapsed_ms": report.elapsed.as_millis() as u64,
                        "threshold": args.threshold,
                        "passed": passed,
                        "results": report.verdicts,
                        "warnings": report.warnings,
                        "exit_code": report.exit_code(),
                    })
                ),
            };
            (text, report.exit_code())
        },
    )
}

fn verify(args: &Args) -> Result<Report, VerifyError> {
    let members = args
        .run
        .clusters
        .members_kubeconfig_text()
        .map_err(PlanError::from)?;
    let runtime = tokio::runtime::Runtime::new().map_err(VerifyError::Runtime)?;
    runtime.block_on(async {
        let (host, port) = parse_server(&args.server).map_err(|reason| VerifyError::Server {
            server: args.server.clone(),
            reason,
        })?;
        let server = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        .map_err(|_| "name resolution timed out".to_owned())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .and_then(|mut addrs| addrs.next().ok_or_else(|| "no address".to_owned()))
        .map_err(|reason| VerifyError::Server {
            server: args.server.clone(),
            reason,
        })?;

        let timeout = Duration::from_secs(args.timeout_secs);
        let (expected, warnings) = tokio::time::timeout(timeout, expectations(args, members))
            .await
            .map_err(|_| VerifyError::TimedOut(args.timeout_secs))??;

        let target = Target {
            server,
            timeout: Duration::from_millis(args.query_timeout_ms.max(1)),
            retries: args.retries,
            concurrency: args.concurrency as usize,
        };
        let started = Instant::now();
        let mut verdicts = Vec::new();
        for gs in &expected {
            for (record_type, expectation) in &gs.by_type {
                let batch = Batch {
                    fqdn: gs.fqdn().to_owned(),
                    record_type: *record_type,
                    queries: args.queries,
                    client_subnets: args.client_subnets,
                };
                let tally = client::tally(&target, &batch).await?;
                verdicts.push(judge(
                    gs.fqdn(),
                    *record_type,
                    expectation,
                    gs.ttl,
                    &tally,
                    args.threshold,
                ));
            }
        }
        Ok(Report {
            verdicts,
            warnings,
            server,
            elapsed: started.elapsed(),
        })
    })
}

/// The expected GslbServices, filtered by `--fqdn`, sorted by FQDN; and warnings.
async fn expectations(
    args: &Args,
    members: Option<String>,
) -> Result<(Vec<ExpectedGs>, Vec<String>), VerifyError> {
    let gathered = plan::gather(&args.run, Proposed::default(), members).await?;
    let mut warnings = gathered.warnings.clone();
    if !gathered.policy_known {
        warnings.push(
            "no GlobalDeploymentPolicy is accepted: amko run would write nothing until one is"
                .to_owned(),
        );
    }
    let objects: Vec<serde_json::Value> = match args.expected {
        Expected::Policy => {
            let pending = plan_all(
                &gathered.world,
                gathered.fallback_pki.as_deref(),
                &gathered.cache,
                &gathered.unsynced,
                &gathered.created_by,
            )
            .changes
            .len();
            if pending > 0 {
                warnings.push(format!(
                    "amko plan shows {pending} pending controller change(s): the DNS service answers from the controller's objects, so some answers may not follow the policy yet"
                ));
            }
            gathered
                .world
                .keys()
                .filter_map(|key| {
                    gathered
                        .world
                        .desired(key, gathered.fallback_pki.as_deref())
                })
                .filter_map(|desired| serde_json::to_value(&desired.gslb_service).ok())
                .collect()
        }
        Expected::Controller => gathered
            .cache
            .gslb_services()
            .values()
            .map(|object| object.body())
            .collect(),
    };
    let source = match args.expected {
        Expected::Policy => "of the policy",
        Expected::Controller => "on the controller",
    };
    let mut expected = Vec::new();
    for object in &objects {
        expected
            .push(expected_answers(object).map_err(|e| VerifyError::Expectation(e.to_string()))?);
    }
    if !args.fqdns.is_empty() {
        let wanted: BTreeSet<String> = args
            .fqdns
            .iter()
            .map(|f| f.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        for fqdn in &wanted {
            if !expected
                .iter()
                .any(|gs| gs.domain_names.iter().any(|d| d.eq_ignore_ascii_case(fqdn)))
            {
                return Err(VerifyError::UnknownFqdn(fqdn.clone(), source));
            }
        }
        expected.retain(|gs| {
            gs.domain_names
                .iter()
                .any(|d| wanted.contains(&d.to_ascii_lowercase()))
        });
    }
    if expected.is_empty() {
        return Err(VerifyError::Nothing(format!(" ({source})")));
    }
    expected.sort_by(|a, b| a.fqdn().cmp(b.fqdn()));
    Ok((expected, warnings))
}

#[cfg(test)]
mod tests {
    use clap::{Args as _, FromArgMatches as _};

    use super::*;

    fn parse(line: &[&str]) -> Result<Args, clap::Error> {
        let command = Args::augment_args(clap::Command::new("verify-dns"));
        command.clone().debug_assert();
        let matches = command.try_get_matches_from(line)?;
        Args::from_arg_matches(&matches)
    }

    #[test]
    fn flags_and_defaults() {
        let args = parse(&["verify-dns", "--server", "127.0.0.1:5353"]).expect("parses");
        assert_eq!(args.queries, 1000);
        assert_eq!(args.expected, Expected::Policy);
        assert_eq!(args.threshold, DEFAULT_THRESHOLD);
        assert_eq!(args.client_subnets, 0);
        assert_eq!(args.output, Output::Table);
        let args = parse(&[
            "verify-dns",
            "--server",
            "dns.example.com",
            "--queries",
            "50",
            "--fqdn",
            "a.example.com",
            "--fqdn",
            "b.example.com",
            "--expected",
            "controller",
            "--threshold",
            "0.01",
            "--client-subnets",
            "64",
            "-o",
            "json",
            "--context",
            "home",
        ])
        .expect("parses");
        assert_eq!(args.fqdns, ["a.example.com", "b.example.com"]);
        assert_eq!(args.expected, Expected::Controller);
        assert_eq!(args.threshold, 0.01);
        assert_eq!(args.client_subnets, 64);
        assert_eq!(args.output, Output::Json);
        assert_eq!(args.run.clusters.context.as_deref(), Some("home"));
        for bad in [
            &["verify-dns"][..],
            &["verify-dns", "--server", "x", "--threshold", "1.5"],
            &["verify-dns", "--server", "x", "--threshold", "0"],
            &["verify-dns", "--server", "x", "--queries", "0"],
            &["verify-dns", "--server", "x", "--expected", "cache"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn server_addresses() {
        let ok = |text: &str| parse_server(text).expect(text);
        assert_eq!(ok("10.0.0.53"), ("10.0.0.53".to_owned(), 53));
        assert_eq!(ok("10.0.0.53:5353"), ("10.0.0.53".to_owned(), 5353));
        assert_eq!(ok("[::1]:5353"), ("::1".to_owned(), 5353));
        assert_eq!(ok("[::1]"), ("::1".to_owned(), 53));
        assert_eq!(ok("fd00::53"), ("fd00::53".to_owned(), 53));
        assert_eq!(ok("dns.example.com"), ("dns.example.com".to_owned(), 53));
        assert_eq!(ok("localhost:8053"), ("localhost".to_owned(), 8053));
        assert!(parse_server("").is_err());
        assert!(parse_server("localhost:dns").is_err());
        assert!(parse_server("[nope]").is_err());
    }
}
