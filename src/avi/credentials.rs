//! The controller connection an instance logs in with: the accepted GSLBConfig's controller
//! settings plus the credentials Secret it names. Pure, so `amko run` and `amko plan` share it and
//! a missing field is reported the same way by both.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;

use super::AviConnection;
use crate::policy::config::GslbConfigSettings;

/// How long one controller request may take before it counts as failed.
pub const CONTROLLER_TIMEOUT: Duration = Duration::from_secs(30);

/// A field the credentials Secret must hold but does not (or holds empty).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("secret {secret} has no {field}")]
pub struct MissingSecretField {
    pub secret: String,
    pub field: &'static str,
}

/// The connection to `base_url` (see `policy::config::controller_base_url`) with the `username`,
/// `password` and optional `certificateAuthorityData` of the credentials Secret (`data` first,
/// then `stringData`; an empty value counts as absent).
pub fn avi_connection(
    settings: &GslbConfigSettings,
    base_url: String,
    secret: &Secret,
) -> Result<AviConnection, MissingSecretField> {
    let field = |key: &str| -> Option<String> {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .cloned()
            })
            .filter(|v| !v.is_empty())
    };
    let required = |key: &'static str| {
        field(key).ok_or_else(|| MissingSecretField {
            secret: settings.controller.credentials_secret.clone(),
            field: key,
        })
    };
    Ok(AviConnection {
        base_url,
        username: required("username")?,
        password: required("password")?,
        version: settings.controller.version.clone(),
        tenant: settings.instance.default_tenant.clone(),
        ca_pem: field("certificateAuthorityData"),
        insecure_skip_verify: settings.controller.insecure_skip_verify,
        timeout: CONTROLLER_TIMEOUT,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;

    use super::*;
    use crate::policy::config::{ControllerSettings, LogLevel};
    use crate::vocab::InstanceSettings;

    fn settings() -> GslbConfigSettings {
        GslbConfigSettings {
            source: "avi-system/gc".to_owned(),
            instance: InstanceSettings {
                created_by: "amko-0f6c1b7e-4f7a-4c55-9d43-5d0c0d1e2f3a".to_owned(),
                default_tenant: "team-a".to_owned(),
                use_custom_global_fqdn: false,
                member_clusters: Default::default(),
            },
            controller: ControllerSettings {
                address: "10.0.0.1".to_owned(),
                version: "22.1.3".to_owned(),
                credentials_secret: "gslb-avi-secret".to_owned(),
                insecure_skip_verify: false,
            },
            refresh_interval: Duration::from_secs(1800),
            log_level: LogLevel::Info,
            instance_uuid: "0f6c1b7e-4f7a-4c55-9d43-5d0c0d1e2f3a".to_owned(),
            uuid_needs_annotation: false,
        }
    }

    fn secret(data: &[(&str, &str)], string_data: &[(&str, &str)]) -> Secret {
        let bytes = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
            .collect::<BTreeMap<_, _>>();
        let strings = string_data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>();
        Secret {
            data: (!bytes.is_empty()).then_some(bytes),
            string_data: (!strings.is_empty()).then_some(strings),
            ..Secret::default()
        }
    }

    #[test]
    fn the_secret_and_the_settings_make_the_connection() {
        let s = secret(
            &[("username", "admin"), ("certificateAuthorityData", "PEM")],
            &[("password", "from-string-data")],
        );
        let conn =
            avi_connection(&settings(), "https://10.0.0.1".to_owned(), &s).expect("complete");
        assert_eq!(conn.base_url, "https://10.0.0.1");
        assert_eq!(conn.username, "admin");
        assert_eq!(conn.password, "from-string-data");
        assert_eq!(conn.ca_pem.as_deref(), Some("PEM"));
        assert_eq!(conn.version, "22.1.3");
        assert_eq!(conn.tenant, "team-a");
        assert!(!conn.insecure_skip_verify);
    }

    #[test]
    fn data_wins_over_string_data_and_empty_counts_as_absent() {
        let s = secret(
            &[
                ("username", "from-data"),
                ("password", "p"),
                ("certificateAuthorityData", ""),
            ],
            &[("username", "from-string-data")],
        );
        let conn = avi_connection(&settings(), String::new(), &s).expect("complete");
        assert_eq!(conn.username, "from-data");
        assert_eq!(conn.ca_pem, None);
    }

    #[test]
    fn a_missing_or_empty_credential_names_the_secret_and_the_field() {
        let cases: [(&[(&str, &str)], &str); 3] = [
            (&[("password", "p")], "username"),
            (&[("username", "admin")], "password"),
            (&[("username", "admin"), ("password", "")], "password"),
        ];
        for (data, field) in cases {
            let err = avi_connection(&settings(), String::new(), &secret(data, &[]))
                .expect_err("incomplete");
            assert_eq!(err.field, field);
            assert_eq!(
                err.to_string(),
                format!("secret gslb-avi-secret has no {field}")
            );
        }
    }
}
