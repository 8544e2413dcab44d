//! `kubectl amko`: the same binary, installed under the file name `kubectl-amko`, answers as a
//! kubectl plugin. This module decides from argv[0] whether it was invoked so, and defines the
//! plugin's command line: only the read-only subcommands that make sense next to kubectl.

use std::ffi::OsStr;
use std::path::Path;

use clap::{Parser, Subcommand};

use super::{crds, explain, plan, support_bundle, verify_dns};

/// The file name kubectl looks for on PATH to run `kubectl amko …` (kubectl's plugin convention:
/// `kubectl-<name>`).
pub const PLUGIN_FILE_STEM: &str = "kubectl-amko";

/// Whether argv[0] names the plugin: its file stem (a directory and an extension such as `.exe`
/// do not count) is `kubectl-amko`. kubectl starts a plugin with the plugin's path as argv[0].
pub fn invoked_as_plugin(argv0: Option<&OsStr>) -> bool {
    argv0
        .and_then(|arg| Path::new(arg).file_stem())
        .is_some_and(|stem| stem == PLUGIN_FILE_STEM)
}

/// amko-rs as a kubectl plugin. kubectl does not forward its own flags (--kubeconfig,
/// --context, -n) to plugins, so pass them after the subcommand; KUBECONFIG is honoured.
#[derive(Parser, Debug)]
#[command(name = PLUGIN_FILE_STEM, bin_name = "kubectl amko", version)]
pub struct PluginCli {
    #[command(subcommand)]
    pub command: PluginCommand,
}

/// The subcommands `kubectl amko` offers: the ones that only read. `run`, `federate` and the
/// simulators stay with the `amko` command.
#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Print the CustomResourceDefinitions amko-rs serves and reads, as YAML.
    Crds(crds::Args),
    /// Show what `amko run` would change on the controller (optionally with proposed GDPs and
    /// GSLBHostRules from files), writing nothing. Exit code 0: no changes, 2: changes, 1: error.
    Plan(Box<plan::Args>),
    /// Write a .tar.gz for support: logs, CRs with status, Events, the operator's status, metrics
    /// and debug state, versions and chart values, with secrets redacted.
    SupportBundle(Box<support_bundle::Args>),
    /// Explain why an FQDN or an object (ingress|route|service/NS/NAME --cluster C) is or is not
    /// in a GslbService, and how its GslbService differs on the controller. Exit code 0:
    /// explained, 1: error or not found.
    Explain(Box<explain::Args>),
    /// Ask a DNS server many times for each FQDN and check the answers against the GslbService
    /// (addresses, shares by a chi-square test, TTL). Exit code 0: all pass, 3: one fails, 1: error.
    VerifyDns(Box<verify_dns::Args>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn decide(argv0: &str) -> bool {
        invoked_as_plugin(Some(OsStr::new(argv0)))
    }

    #[test]
    fn the_plugin_file_name_makes_a_plugin_wherever_it_lies() {
        assert!(decide("kubectl-amko"));
        assert!(decide("/usr/local/bin/kubectl-amko"));
        assert!(decide("./kubectl-amko"));
        assert!(decide("C:/tools/kubectl-amko.exe"));
    }

    #[test]
    fn other_names_stay_the_amko_command() {
        assert!(!decide("amko"));
        assert!(!decide("/usr/local/bin/amko"));
        assert!(!decide("target/debug/amko"));
        assert!(!decide("kubectl"));
        assert!(!decide("kubectl-amko-old"));
        assert!(!decide("my-kubectl-amko"));
        assert!(!decide("/opt/kubectl-amko/amko"));
        assert!(!decide(""));
        assert!(!invoked_as_plugin(None));
    }

    #[test]
    fn the_plugin_command_line_is_consistent_and_says_kubectl_amko() {
        PluginCli::command().debug_assert();
        let help = PluginCli::command().render_help().to_string();
        assert!(help.contains("Usage: kubectl amko <COMMAND>"), "{help}");
        let names: Vec<String> = PluginCli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        assert_eq!(
            names,
            ["crds", "plan", "support-bundle", "explain", "verify-dns"]
        );
    }

    #[test]
    fn the_plugin_takes_the_cluster_flags_kubectl_does_not_forward() {
        let cli = PluginCli::try_parse_from([
            "kubectl-amko",
            "plan",
            "--kubeconfig",
            "/tmp/kc",
            "--context",
            "home",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let PluginCommand::Plan(args) = cli.command else {
            panic!("not plan: {:?}", cli.command)
        };
        assert_eq!(
            args.run.clusters.kubeconfig.as_deref(),
            Some(Path::new("/tmp/kc"))
        );
        assert_eq!(args.run.clusters.context.as_deref(), Some("home"));
    }

    #[test]
    fn the_plugin_refuses_the_writing_subcommands() {
        for sub in ["run", "federate"] {
            let err = PluginCli::try_parse_from(["kubectl-amko", sub])
                .err()
                .unwrap_or_else(|| panic!("{sub} accepted"));
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::InvalidSubcommand,
                "{sub}"
            );
        }
    }
}
