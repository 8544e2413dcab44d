//! The CRD manifests amko-rs serves: built from the Rust types, cleaned into the schemas an API
//! server should see, rendered as YAML for `amko crds` and `charts/amko/crds/`.

use super::{AmkoCluster, GlobalDeploymentPolicy, GslbConfig, GslbHostRule};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;

/// First lines of every generated manifest.
const GENERATED_HEADER: &str =
    "# Generated from src/crd/ by `amko crds --out-dir charts/amko/crds`; do not edit.\n";

/// Why the manifests could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("CRD {name}: cannot render as YAML: {source}")]
    Yaml {
        name: String,
        source: serde_saphyr::SerializeError,
    },
    #[error("CRD {name}: cannot post-process the schema: {source}")]
    Json {
        name: String,
        source: serde_json::Error,
    },
}

/// The four amko-rs CRDs, in a stable order (GSLBConfig, GDP, GSLBHostRule, AMKOCluster).
/// Install these rather than `T::crd()`: they carry the schema clean-up below.
pub fn all_crds() -> Result<Vec<CustomResourceDefinition>, ManifestError> {
    [
        GslbConfig::crd(),
        GlobalDeploymentPolicy::crd(),
        GslbHostRule::crd(),
        AmkoCluster::crd(),
    ]
    .into_iter()
    .map(clean)
    .collect()
}

/// Removes what the derive adds but an API server should not see:
/// - `nullable: true` on optional fields: amko-rs never sends `null`, and without `nullable` the
///   API server prunes a user's `null` instead of storing it (so `has()` in CEL rules stays exact);
/// - `default: ""` and object defaults, which come from `#[serde(default)]` only: a `""` default
///   would satisfy `required` and violate `enum`/`minLength`, so the API server must not apply it.
///   Integer and boolean defaults (weight, priority, flags) are real defaults and stay.
/// - the root `title`, an artefact of the schema generator.
fn clean(mut crd: CustomResourceDefinition) -> Result<CustomResourceDefinition, ManifestError> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    for version in &mut crd.spec.versions {
        let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        let mut value = serde_json::to_value(&*schema).map_err(|source| ManifestError::Json {
            name: name.clone(),
            source,
        })?;
        if let Value::Object(root) = &mut value {
            root.remove("title");
        }
        strip_generated_noise(&mut value);
        *schema = serde_json::from_value(value).map_err(|source| ManifestError::Json {
            name: name.clone(),
            source,
        })?;
    }
    Ok(crd)
}

fn strip_generated_noise(node: &mut Value) {
    match node {
        Value::Object(map) => {
            map.remove("nullable");
            if matches!(map.get("default"), Some(Value::String(s)) if s.is_empty())
                || matches!(map.get("default"), Some(Value::Object(_)))
            {
                map.remove("default");
            }
            map.values_mut().for_each(strip_generated_noise);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_generated_noise),
        _ => {}
    }
}

/// One multi-document YAML stream with every CRD.
pub fn render_yaml() -> Result<String, ManifestError> {
    Ok(crd_files()?
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(""))
}

/// `(file name, YAML)` per CRD, e.g. `("gslbconfigs.amko.vmware.com.yaml", "---\n...")`.
pub fn crd_files() -> Result<Vec<(String, String)>, ManifestError> {
    all_crds()?
        .into_iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let body = serde_saphyr::to_string(&crd).map_err(|source| ManifestError::Yaml {
                name: name.clone(),
                source,
            })?;
            Ok((
                format!("{name}.yaml"),
                format!("{GENERATED_HEADER}---\n{body}"),
            ))
        })
        .collect()
}
