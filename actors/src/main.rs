//! The `amko` command: parses the command line and hands over to one subcommand module.
#![forbid(unsafe_code)]

mod avi_writer;
mod cluster;
mod cmd;
mod election;
mod federator;
mod gslb_service;
mod http;
mod liveness;
mod operator;
mod policy;
mod role;
mod selection;
mod status;
mod telemetry;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

// jemalloc instead of the system allocator: the operator makes millions of small, long-lived
// allocations (identities, labels, cached bodies) from several threads; at 200,000 objects it cut
// peak RSS by about a sixth and the cold start's CPU time by almost half (docs/performance.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// amko-rs: the Avi Multi-cluster Kubernetes Operator, in Rust.
#[derive(Parser, Debug)]
#[command(name = "amko", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the CustomResourceDefinitions amko-rs serves and reads, as YAML.
    Crds(cmd::crds::Args),
    /// Simulated clusters and Avi controller, the operator and sample apps: watch GslbServices converge.
    #[cfg(feature = "sim")]
    Demo(cmd::demo::Args),
    /// Explain why an FQDN or an object (ingress|route|service/NS/NAME --cluster C) is or is not
    /// in a GslbService, and how its GslbService differs on the controller. Exit code 0:
    /// explained, 1: error or not found.
    Explain(Box<cmd::explain::Args>),
    /// Copy the GSLBConfig and GDP of the leader cluster to the follower clusters (AMKOCluster).
    Federate(cmd::federate::Args),
    /// Show what `amko run` would change on the controller (optionally with proposed GDPs and
    /// GSLBHostRules from files), writing nothing. Exit code 0: no changes, 2: changes, 1: error.
    Plan(cmd::plan::Args),
    /// Run the operator: watch member clusters and keep GslbServices on the Avi GSLB leader.
    Run(cmd::run::Args),
    /// Start simulated member clusters and an Avi controller, print one JSON line, run until signalled.
    #[cfg(feature = "sim")]
    Sim(cmd::sim::Args),
    /// Write a .tar.gz for support: logs, CRs with status, Events, the operator's status, metrics
    /// and debug state, versions and chart values, with secrets redacted.
    SupportBundle(cmd::support_bundle::Args),
    /// Ask a DNS server many times for each FQDN and check the answers against the GslbService
    /// (addresses, shares by a chi-square test, TTL). Exit code 0: all pass, 3: one fails, 1: error.
    VerifyDns(cmd::verify_dns::Args),
}

impl From<cmd::plugin::PluginCommand> for Command {
    fn from(command: cmd::plugin::PluginCommand) -> Self {
        use cmd::plugin::PluginCommand;
        match command {
            PluginCommand::Crds(args) => Command::Crds(args),
            PluginCommand::Plan(args) => Command::Plan(*args),
            PluginCommand::SupportBundle(args) => Command::SupportBundle(*args),
            PluginCommand::Explain(args) => Command::Explain(args),
            PluginCommand::VerifyDns(args) => Command::VerifyDns(*args),
        }
    }
}

fn main() -> ExitCode {
    // Installed as `kubectl-amko`, the binary is `kubectl amko` with its read-only subcommands.
    let command = if cmd::plugin::invoked_as_plugin(std::env::args_os().next().as_deref()) {
        cmd::plugin::PluginCli::parse().command.into()
    } else {
        Cli::parse().command
    };
    let result = match command {
        Command::Crds(args) => cmd::crds::run(args),
        #[cfg(feature = "sim")]
        Command::Demo(args) => cmd::demo::run(args),
        // Its exit code says whether the subject was found.
        Command::Explain(args) => return cmd::explain::run(*args),
        Command::Federate(args) => cmd::federate::run(args),
        // Its exit code says whether changes are pending.
        Command::Plan(args) => return cmd::plan::run(args),
        Command::Run(args) => cmd::run::run(args),
        #[cfg(feature = "sim")]
        Command::Sim(args) => cmd::sim::run(args),
        Command::SupportBundle(args) => cmd::support_bundle::run(args).map_err(Into::into),
        // Its exit code says whether every FQDN passed.
        Command::VerifyDns(args) => return cmd::verify_dns::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("amko: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks a command line's definition (unique ids and groups, e.g. of flattened
    /// argument structs) only when it parses one; this checks every subcommand at once.
    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
