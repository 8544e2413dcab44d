//! API errors of the simulated API server, and their `kind: Status` bodies as a real server sends them.

use serde_json::{Value, json};

/// One field-level cause of an `Invalid` error (`details.causes[]`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldCause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, ...
    pub reason: &'static str,
    /// The field path, e.g. `spec.virtualhost.fqdn`.
    pub field: String,
    pub message: String,
}

impl FieldCause {
    pub fn new(reason: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldCause {
            reason,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Where an error happened: the resource (plural and group) and the object name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Target {
    pub group: String,
    pub plural: String,
    pub kind: String,
    pub name: String,
}

impl Target {
    /// `ingresses.networking.k8s.io`, or just `secrets` for the core group.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ApiError {
    #[error("{} \"{}\" not found", .0.qualified_resource(), .0.name)]
    NotFound(Target),
    #[error("{} \"{}\" already exists", .0.qualified_resource(), .0.name)]
    AlreadyExists(Target),
    #[error(
        "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
        .0.qualified_resource(), .0.name
    )]
    Conflict(Target),
    #[error("{} \"{}\" is invalid: {}", .target.kind, .target.name, causes_text(.causes))]
    Invalid {
        target: Target,
        causes: Vec<FieldCause>,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("the server could not find the requested resource")]
    NoSuchPath,
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("the body of the request was in an unknown format - accepted media types include: {0}")]
    UnsupportedMediaType(String),
    #[error("too old resource version: {requested} ({oldest})")]
    Expired { requested: u64, oldest: u64 },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error("{0}")]
    Internal(String),
}

fn causes_text(causes: &[FieldCause]) -> String {
    let parts: Vec<String> = causes
        .iter()
        .map(|c| {
            if c.field.is_empty() {
                c.message.clone()
            } else {
                format!("{}: {}", c.field, c.message)
            }
        })
        .collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(", "))
    }
}

impl ApiError {
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound(_) | ApiError::NoSuchPath => 404,
            ApiError::AlreadyExists(_) | ApiError::Conflict(_) => 409,
            ApiError::Invalid { .. } => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::MethodNotAllowed => 405,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Expired { .. } => 410,
            ApiError::Forbidden(_) => 403,
            ApiError::ServiceUnavailable(_) => 503,
            ApiError::Internal(_) => 500,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) | ApiError::NoSuchPath => "NotFound",
            ApiError::AlreadyExists(_) => "AlreadyExists",
            ApiError::Conflict(_) => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Expired { .. } => "Expired",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::ServiceUnavailable(_) => "ServiceUnavailable",
            ApiError::Internal(_) => "InternalError",
        }
    }

    fn target(&self) -> Option<&Target> {
        match self {
            ApiError::NotFound(t) | ApiError::AlreadyExists(t) | ApiError::Conflict(t) => Some(t),
            ApiError::Invalid { target, .. } => Some(target),
            _ => None,
        }
    }

    /// The `kind: Status` body a real API server returns for this error.
    pub fn status_body(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        if let Some(target) = self.target() {
            let mut details = json!({ "name": target.name, "kind": target.plural });
            if !target.group.is_empty() {
                details["group"] = json!(target.group);
            }
            if let ApiError::Invalid { causes, .. } = self {
                details["kind"] = json!(target.kind);
                details["causes"] = causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
            }
            status["details"] = details;
        }
        status
    }
}

/// Shorthand for a single-cause `Invalid` error.
pub fn invalid(target: Target, field: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        target,
        causes: vec![FieldCause::new("FieldValueInvalid", field, message)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_status_matches_a_real_server() {
        let err = ApiError::NotFound(Target {
            group: "networking.k8s.io".into(),
            plural: "ingresses".into(),
            kind: "Ingress".into(),
            name: "p1".into(),
        });
        let body = err.status_body();
        assert_eq!(
            body["message"],
            "ingresses.networking.k8s.io \"p1\" not found"
        );
        assert_eq!(body["reason"], "NotFound");
        assert_eq!(body["code"], 404);
        assert_eq!(body["details"]["group"], "networking.k8s.io");
    }

    #[test]
    fn invalid_lists_field_paths() {
        let err = ApiError::Invalid {
            target: Target {
                kind: "Widget".into(),
                name: "w".into(),
                ..Default::default()
            },
            causes: vec![
                FieldCause::new("FieldValueRequired", "spec.size", "Required value"),
                FieldCause::new(
                    "FieldValueInvalid",
                    "spec.color",
                    "Unsupported value: \"x\"",
                ),
            ],
        };
        assert_eq!(
            err.to_string(),
            "Widget \"w\" is invalid: [spec.size: Required value, spec.color: Unsupported value: \"x\"]"
        );
        assert_eq!(
            err.status_body()["details"]["causes"][1]["field"],
            "spec.color"
        );
    }
}
