//! PATCH bodies: JSON patch (RFC 6902), merge patch (RFC 7386), strategic merge patch and
//! server-side apply (approximated as a merge of the applied object into the live one).

mod strategic;

pub use strategic::strategic_merge;

use serde_json::Value;

use super::error::{ApiError, FieldCause, Target};

/// The patch types of the `Content-Type` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

pub const ACCEPTED_PATCH_TYPES: &str = "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml";

/// Applies `patch` to `live`. Custom resources take no strategic merge patch (415, as a real
/// server answers); apply on them is a plain merge.
pub fn apply_patch(
    live: &Value,
    patch_type: PatchType,
    patch: &Value,
    custom_resource: bool,
    target: &Target,
) -> Result<Value, ApiError> {
    let mut doc = live.clone();
    match patch_type {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::BadRequest(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| ApiError::Invalid {
                target: target.clone(),
                causes: vec![FieldCause::new("FieldValueInvalid", "patch", e.to_string())],
            })?;
        }
        PatchType::Merge => json_patch::merge(&mut doc, patch),
        PatchType::Strategic if custom_resource => {
            return Err(ApiError::UnsupportedMediaType(
                "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".into(),
            ));
        }
        PatchType::Strategic => strategic_merge(&mut doc, patch),
        PatchType::Apply if custom_resource => json_patch::merge(&mut doc, patch),
        PatchType::Apply => strategic_merge(&mut doc, patch),
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_failure_is_invalid() {
        let live = json!({"spec": {"a": 1}});
        let patch = json!([{"op": "test", "path": "/spec/a", "value": 2}]);
        let err =
            apply_patch(&live, PatchType::Json, &patch, false, &Target::default()).unwrap_err();
        assert_eq!(err.code(), 422);
        let ok = apply_patch(
            &live,
            PatchType::Json,
            &json!([{"op":"replace","path":"/spec/a","value":3}]),
            false,
            &Target::default(),
        )
        .unwrap();
        assert_eq!(ok["spec"]["a"], 3);
    }

    #[test]
    fn merge_patch_null_deletes() {
        let live = json!({"spec": {"a": 1, "b": [1, 2]}});
        let out = apply_patch(
            &live,
            PatchType::Merge,
            &json!({"spec": {"a": null, "b": [3]}}),
            true,
            &Target::default(),
        )
        .unwrap();
        assert_eq!(out, json!({"spec": {"b": [3]}}));
    }

    #[test]
    fn strategic_on_custom_resource_is_415() {
        let err = apply_patch(
            &json!({}),
            PatchType::Strategic,
            &json!({}),
            true,
            &Target::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), 415);
    }
}
