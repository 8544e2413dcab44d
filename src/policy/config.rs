//! The accepted GSLBConfig, compiled: everything static an instance needs (controller address,
//! API version, credentials Secret, resync period, log level, identity) besides `InstanceSettings`.

use crate::vocab::InstanceSettings;
use std::time::Duration;

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
