//! The accepted GSLBConfig, compiled: everything static an instance needs (controller address,
//! API version, credentials Secret, resync period, log level, identity) besides `InstanceSettings`;
//! which GSLBConfig is in force when a namespace holds several; and the controller's base URL, which
//! is never plain HTTP unless the operator opted in (the login sends the password).

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

/// The GSLBConfig field that holds the controller address, as users write it.
pub const CONTROLLER_ADDRESS_FIELD: &str = "gslbLeader.controllerIP";

/// Why `gslbLeader.controllerIP` cannot be used. The text goes to the GSLBConfig's status, so it
/// names the field and never repeats the address (it might hold a password in its user part).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControllerAddressError {
    #[error(
        "{CONTROLLER_ADDRESS_FIELD} uses plain http://, which would send the controller credentials unencrypted; use https:// (or a bare host name or IP, which means https), or opt in with `amko run --allow-insecure-http` (chart value configs.allowInsecureHttp)"
    )]
    InsecureHttp,
    #[error(
        "{CONTROLLER_ADDRESS_FIELD} has the scheme {scheme}://; only https:// (or http:// with --allow-insecure-http) reaches a controller"
    )]
    UnsupportedScheme { scheme: String },
    #[error(
        "{CONTROLLER_ADDRESS_FIELD} holds a user name or password; the credentials belong in the Secret that gslbLeader.credentials names"
    )]
    HasUserInfo,
    #[error("{CONTROLLER_ADDRESS_FIELD} is not a host, host:port or https:// URL: {reason}")]
    Invalid { reason: String },
}

/// The controller's base URL from `gslbLeader.controllerIP`: a bare host, IP or `host:port` means
/// `https://`; an `https://` URL is used as written; an `http://` one only when
/// `allow_insecure_http` (the operator's explicit opt-in), since the login posts the password.
pub fn controller_base_url(
    address: &str,
    allow_insecure_http: bool,
) -> Result<String, ControllerAddressError> {
    let address = address.trim();
    let url = match address.split_once("://") {
        None => format!("https://{address}"),
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "https" => format!("https://{rest}"),
            "http" if allow_insecure_http => format!("http://{rest}"),
            "http" => return Err(ControllerAddressError::InsecureHttp),
            _ => {
                return Err(ControllerAddressError::UnsupportedScheme {
                    scheme: scheme.to_owned(),
                });
            }
        },
    };
    let parsed = reqwest::Url::parse(&url).map_err(|e| ControllerAddressError::Invalid {
        reason: e.to_string(),
    })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ControllerAddressError::HasUserInfo);
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(ControllerAddressError::Invalid {
            reason: "no host".to_owned(),
        });
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ControllerAddressError::Invalid {
            reason: "a query or fragment has no place in a base URL".to_owned(),
        });
    }
    Ok(url.trim_end_matches('/').to_owned())
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

    #[test]
    fn the_controller_address_is_https_unless_plain_http_was_opted_into() {
        let ok: [(&str, bool, &str); 9] = [
            ("10.10.10.10", false, "https://10.10.10.10"),
            (
                "  avi.example.com:8443 ",
                false,
                "https://avi.example.com:8443",
            ),
            ("[2001:db8::1]:443", false, "https://[2001:db8::1]:443"),
            ("https://avi.example.com/", false, "https://avi.example.com"),
            ("HTTPS://avi.example.com", false, "https://avi.example.com"),
            (
                "http://avi.example.com:8080",
                true,
                "http://avi.example.com:8080",
            ),
            ("HTTP://avi.example.com", true, "http://avi.example.com"),
            // The opt-in allows plain HTTP; it does not turn https into http.
            ("https://avi.example.com", true, "https://avi.example.com"),
            ("avi.example.com", true, "https://avi.example.com"),
        ];
        for (address, allow, expected) in ok {
            assert_eq!(
                controller_base_url(address, allow).as_deref(),
                Ok(expected),
                "{address} (allow http: {allow})"
            );
        }
        let refused: [(&str, bool, ControllerAddressError); 8] = [
            (
                "http://avi.example.com",
                false,
                ControllerAddressError::InsecureHttp,
            ),
            (
                "Http://10.0.0.1:80",
                false,
                ControllerAddressError::InsecureHttp,
            ),
            (
                "ftp://avi.example.com",
                true,
                ControllerAddressError::UnsupportedScheme {
                    scheme: "ftp".to_owned(),
                },
            ),
            (
                "https://admin:secret@avi.example.com",
                false,
                ControllerAddressError::HasUserInfo,
            ),
            (
                "admin@avi.example.com",
                false,
                ControllerAddressError::HasUserInfo,
            ),
            (
                "https://",
                false,
                ControllerAddressError::Invalid {
                    reason: "empty host".to_owned(),
                },
            ),
            (
                "avi.example.com:notaport",
                false,
                ControllerAddressError::Invalid {
                    reason: "invalid port number".to_owned(),
                },
            ),
            (
                "https://avi.example.com/?next=1",
                false,
                ControllerAddressError::Invalid {
                    reason: "a query or fragment has no place in a base URL".to_owned(),
                },
            ),
        ];
        for (address, allow, expected) in refused {
            assert_eq!(
                controller_base_url(address, allow),
                Err(expected),
                "{address} (allow http: {allow})"
            );
        }
    }

    #[test]
    fn a_refused_controller_address_names_the_field_and_never_echoes_the_address() {
        for address in [
            "http://admin:hunter2@avi.example.com",
            "https://admin:hunter2@avi.example.com",
            "gopher://admin:hunter2@avi.example.com",
        ] {
            let message = controller_base_url(address, false)
                .expect_err(address)
                .to_string();
            assert!(message.contains("gslbLeader.controllerIP"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        let insecure = ControllerAddressError::InsecureHttp.to_string();
        assert!(insecure.contains("--allow-insecure-http"), "{insecure}");
    }
}
