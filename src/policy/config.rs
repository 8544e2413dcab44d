//! The accepted GSLBConfig, compiled: everything static an instance needs (controller address,
//! API version, credentials Secret, resync period, log level, identity) besides `InstanceSettings`;
//! and which GSLBConfig is in force when a namespace holds several.

use std::time::Duration;

use kube::ResourceExt;

use super::error::Problem;
use crate::crd::GslbConfig;
use crate::crd::gslbconfig::STATE_ACCEPTED;
use crate::vocab::InstanceSettings;

/// `refreshInterval` when absent or 0. AMKO's code used 600 s while its chart and docs said 1800 s;
/// we follow the chart, which is what users saw.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(1800);
/// Tenant used when `gslbLeader.tenant` is absent or empty.
pub const DEFAULT_TENANT: &str = "admin";
/// The only namespace an instance reads its GSLBConfig and GDP from.
pub const HOME_NAMESPACE: &str = "avi-system";

/// `spec.logLevel`; absent means `Info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// Parses `DEBUG`, `INFO`, `WARN` or `ERROR` (exact spelling, as the CRD enum has it).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "DEBUG" => Some(Self::Debug),
            "INFO" => Some(Self::Info),
            "WARN" => Some(Self::Warn),
            "ERROR" => Some(Self::Error),
            _ => None,
        }
    }

    /// The matching `tracing` filter directive, e.g. `warn`.
    pub fn as_filter(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// How to reach the GSLB leader controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerSettings {
    /// `controllerIP`: host or IP, optionally `host:port`.
    pub address: String,
    /// `controllerVersion`, sent as `X-Avi-Version`.
    pub version: String,
    /// Name of the Secret in `avi-system` with `username`, `password` and optionally
    /// `certificateAuthorityData`.
    pub credentials_secret: String,
    pub insecure_skip_verify: bool,
}

/// The accepted GSLBConfig.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GslbConfigSettings {
    /// `namespace/name` of the GSLBConfig.
    pub source: String,
    pub instance: InstanceSettings,
    pub controller: ControllerSettings,
    pub refresh_interval: Duration,
    pub log_level: LogLevel,
    /// This instance's identity (`created_by` is `amko-<instance_uuid>`).
    pub instance_uuid: String,
    /// The annotation was absent and `instance_uuid` is the freshly generated one: the operator
    /// must write it to the `amko.vmware.com/amko-uuid` annotation before using it.
    pub uuid_needs_annotation: bool,
}

/// Of the GSLBConfigs in the home namespace, the one in force: the one already accepted, else the
/// oldest (by creation time, then name), so a second GSLBConfig never displaces a working one.
/// Every other GSLBConfig is returned with the problem its status must show.
pub fn choose_gslb_config(
    mut configs: Vec<GslbConfig>,
) -> Option<(GslbConfig, Vec<(GslbConfig, Problem)>)> {
    configs.sort_by_key(|g| {
        let accepted = g.status.as_ref().is_some_and(|s| s.state == STATE_ACCEPTED);
        (
            !accepted,
            g.metadata.creation_timestamp.clone().map(|t| t.0),
            g.name_any(),
        )
    });
    let mut configs = configs.into_iter();
    let chosen = configs.next()?;
    let others = configs
        .map(|other| {
            let problem = Problem::GslbConfigAlreadyExists {
                existing: chosen.name_any(),
            };
            (other, problem)
        })
        .collect();
    Some((chosen, others))
}

/// While GSLBConfig `running` is in force, every other GSLBConfig of the namespace, with the
/// problem its status must show (a second GSLBConfig created while amko-rs runs is told at once,
/// not at the next restart). `None` when `running` itself is gone.
pub fn others_than_running(
    running: &str,
    configs: Vec<GslbConfig>,
) -> Option<(GslbConfig, Vec<(GslbConfig, Problem)>)> {
    let (mut current, mut others) = (None, Vec::new());
    for config in configs {
        if config.name_any() == running {
            current = Some(config);
        } else {
            let problem = Problem::GslbConfigAlreadyExists {
                existing: running.to_owned(),
            };
            others.push((config, problem));
        }
    }
    others.sort_by_key(|(g, _)| g.name_any());
    current.map(|current| (current, others))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::gslbconfig::{GslbConfigSpec, GslbConfigStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn config(name: &str, created_secs: i64, accepted: bool) -> GslbConfig {
        let mut gc = GslbConfig::new(name, GslbConfigSpec::default());
        gc.metadata.creation_timestamp = Some(Time(
            k8s_openapi::jiff::Timestamp::from_second(created_secs).expect("valid time"),
        ));
        if accepted {
            gc.status = Some(GslbConfigStatus {
                state: STATE_ACCEPTED.to_owned(),
            });
        }
        gc
    }

    #[test]
    fn the_accepted_then_the_oldest_gslbconfig_is_in_force() {
        let cases: Vec<(&str, Vec<GslbConfig>, &str, Vec<&str>)> = vec![
            ("one", vec![config("gc-1", 10, false)], "gc-1", vec![]),
            (
                "oldest wins",
                vec![config("gc-2", 20, false), config("gc-1", 10, false)],
                "gc-1",
                vec!["gc-2"],
            ),
            (
                "same age: name decides",
                vec![config("gc-b", 10, false), config("gc-a", 10, false)],
                "gc-a",
                vec!["gc-b"],
            ),
            (
                "the accepted one stays in force when an older one appears",
                vec![config("gc-0", 5, false), config("gc-1", 10, true)],
                "gc-1",
                vec!["gc-0"],
            ),
        ];
        for (what, configs, in_force, refused) in cases {
            let (chosen, others) = choose_gslb_config(configs).expect(what);
            assert_eq!(chosen.name_any(), in_force, "{what}");
            let names: Vec<String> = others.iter().map(|(g, _)| g.name_any()).collect();
            assert_eq!(names, refused, "{what}");
            for (_, problem) in others {
                assert_eq!(
                    problem.to_string(),
                    format!("a GSLBConfig ({in_force}) is already in use, can't add another"),
                    "{what}"
                );
            }
        }
        assert!(choose_gslb_config(Vec::new()).is_none());
    }

    #[test]
    fn a_gslbconfig_added_while_running_is_refused_whatever_its_age() {
        let configs = vec![
            config("gc-0", 1, false),
            config("gc-1", 10, true),
            config("gc-2", 20, false),
        ];
        let (running, others) = others_than_running("gc-1", configs).expect("gc-1 runs");
        assert_eq!(running.name_any(), "gc-1");
        let refused: Vec<(String, String)> = others
            .iter()
            .map(|(g, p)| (g.name_any(), p.to_string()))
            .collect();
        let told = "a GSLBConfig (gc-1) is already in use, can't add another";
        assert_eq!(
            refused,
            [
                ("gc-0".to_owned(), told.to_owned()),
                ("gc-2".to_owned(), told.to_owned())
            ]
        );
        assert!(others_than_running("gc-1", vec![config("gc-2", 20, false)]).is_none());
    }
}
