//! The support bundle as a file: the entries collected so far (each redacted as it is added),
//! the record of every collection step (`manifest.json`), and the `.tar.gz` they become. Also
//! the decoding of helm's release Secrets, where the chart values come from.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use amko::redact::{KnownSecrets, redact_object, redact_value, scrub_text};
use base64::Engine;
use serde_json::{Value, json};

/// One collection step's outcome, as `manifest.json` lists it.
#[derive(Debug)]
pub struct StepRecord {
    pub step: String,
    pub files: Vec<String>,
    pub error: Option<String>,
    pub elapsed: Duration,
}

/// A bundle being assembled: entries under `root/`, all redacted with `known`.
pub struct Bundle {
    root: String,
    known: KnownSecrets,
    entries: Vec<(String, Vec<u8>)>,
    steps: Vec<StepRecord>,
    /// Files added since the current step began.
    current_files: Vec<String>,
}

impl Bundle {
    pub fn new(root: &str) -> Self {
        Bundle {
            root: root.to_owned(),
            known: KnownSecrets::default(),
            entries: Vec::new(),
            steps: Vec::new(),
            current_files: Vec::new(),
        }
    }

    /// The secret values to remove from everything added from now on.
    pub fn set_known(&mut self, known: KnownSecrets) {
        self.known = known;
    }

    /// A Kubernetes object or list, redacted (secret-bearing keys masked, text scrubbed).
    pub fn add_object(&mut self, path: &str, object: Value) {
        let redacted = match object {
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|item| redact_object(item, &self.known))
                    .collect(),
            ),
            other => redact_object(other, &self.known),
        };
        self.add_json_redacted(path, &redacted);
    }

    /// Any JSON document (values, status answers), redacted.
    pub fn add_json(&mut self, path: &str, mut value: Value) {
        redact_value(&mut value, &self.known);
        self.add_json_redacted(path, &value);
    }

    fn add_json_redacted(&mut self, path: &str, value: &Value) {
        let text = serde_json::to_string_pretty(value)
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise: {e}\"}}"));
        // Every string in it is scrubbed already; a text pass over the JSON could break it
        // (a number after a `token` key is not a string to mask).
        self.push(path, text.into_bytes());
    }

    /// Free text (logs, metrics), scrubbed.
    pub fn add_text(&mut self, path: &str, text: &str) {
        let scrubbed = scrub_text(text, &self.known);
        self.push(path, scrubbed.into_bytes());
    }

    /// Names come from the cluster (pod, container and release names): each path segment is
    /// made safe, so that no entry can point outside the bundle's folder when unpacked.
    fn push(&mut self, path: &str, bytes: Vec<u8>) {
        let path = safe_path(path);
        self.current_files.push(path.clone());
        self.entries.push((path, bytes));
    }

    /// Ends a step: what it wrote and, when it failed, why (scrubbed too).
    pub fn record(&mut self, step: &str, error: Option<String>, elapsed: Duration) {
        let error = error.map(|e| scrub_text(&e, &self.known));
        self.steps.push(StepRecord {
            step: step.to_owned(),
            files: std::mem::take(&mut self.current_files),
            error,
            elapsed,
        });
    }

    pub fn steps(&self) -> &[StepRecord] {
        &self.steps
    }

    /// `manifest.json`: what the bundle holds, step by step, and what failed.
    pub fn manifest(&self, about: Value) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                json!({"step": s.step, "ok": s.error.is_none(), "error": s.error,
                       "files": s.files, "elapsedMs": s.elapsed.as_millis() as u64})
            })
            .collect();
        let failed: Vec<&str> = self
            .steps
            .iter()
            .filter(|s| s.error.is_some())
            .map(|s| s.step.as_str())
            .collect();
        json!({"bundle": about, "steps": steps, "failedSteps": failed})
    }

    /// Writes `<root>/manifest.json` and every entry as a gzip-compressed tar to `output`
    /// (through `<output>.partial`, so a failed write leaves no truncated bundle behind).
    pub fn write(mut self, output: &Path, about: Value) -> std::io::Result<usize> {
        let manifest = self.manifest(about);
        let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        self.entries.push((
            "manifest.json".to_owned(),
            scrub_text(&text, &self.known).into_bytes(),
        ));
        let partial = partial_path(output);
        let result = (|| {
            let file = std::fs::File::create(&partial)?;
            let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
            let mut tar = tar::Builder::new(gz);
            let mtime = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            for (path, bytes) in &self.entries {
                let mut header = tar::Header::new_gnu();
                header.set_size(bytes.len() as u64);
                header.set_mode(0o644);
                header.set_mtime(mtime);
                header.set_entry_type(tar::EntryType::Regular);
                tar.append_data(
                    &mut header,
                    format!("{}/{path}", self.root),
                    bytes.as_slice(),
                )?;
            }
            let mut gz = tar.into_inner()?;
            gz.flush()?;
            gz.finish()?.sync_all()?;
            std::fs::rename(&partial, output)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result.map(|()| self.entries.len())
    }
}

/// `path` with every segment limited to letters, digits, `.`, `_` and `-` (others become `_`),
/// and no empty, `.` or `..` segment.
fn safe_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let clean: String = segment
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            match clean.as_str() {
                "" | "." | ".." => "_".to_owned(),
                _ => clean,
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Why a helm release Secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("Secret {secret} has no data key \"release\"")]
    NoRelease { secret: String },
    #[error("Secret {secret}: \"release\" is not base64: {source}")]
    Base64 {
        secret: String,
        source: base64::DecodeError,
    },
    #[error("Secret {secret}: \"release\" is not gzip: {source}")]
    Gzip {
        secret: String,
        source: std::io::Error,
    },
    #[error("Secret {secret}: \"release\" is not a helm release (JSON): {source}")]
    Json {
        secret: String,
        source: serde_json::Error,
    },
}

/// The most a release may inflate to; a larger one is refused rather than read into memory.
const MAX_RELEASE_BYTES: u64 = 64 * 1024 * 1024;

/// The helm v3 release stored in a `sh.helm.release.v1.<name>.v<N>` Secret's `release` key (the
/// Secret's data as the API gives it: base64 once more, then gzip, then JSON).
pub fn decode_helm_release(secret: &str, release: &[u8]) -> Result<Value, ReleaseError> {
    let text: Vec<u8> = release
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|source| ReleaseError::Base64 {
            secret: secret.to_owned(),
            source,
        })?;
    let json = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .take(MAX_RELEASE_BYTES)
            .read_to_end(&mut out)
            .map_err(|source| ReleaseError::Gzip {
                secret: secret.to_owned(),
                source,
            })?;
        out
    } else {
        bytes
    };
    serde_json::from_slice(&json).map_err(|source| ReleaseError::Json {
        secret: secret.to_owned(),
        source,
    })
}

/// What the bundle keeps of a release besides its values: name, revision, status, chart.
pub fn release_summary(release: &Value) -> Value {
    let metadata = &release["chart"]["metadata"];
    json!({
        "name": release["name"], "namespace": release["namespace"], "revision": release["version"],
        "status": release["info"]["status"], "lastDeployed": release["info"]["last_deployed"],
        "chart": metadata["name"], "chartVersion": metadata["version"], "appVersion": metadata["appVersion"],
    })
}

/// The strings under secret-bearing keys of user-supplied values (to remove them from logs too).
pub fn secret_strings(values: &Value, out: &mut Vec<Vec<u8>>) {
    match values {
        Value::Object(map) => {
            for (key, inner) in map {
                if amko::redact::is_secret_key(key) {
                    collect_strings(inner, out);
                } else {
                    secret_strings(inner, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| secret_strings(v, out)),
        _ => {}
    }
}

fn collect_strings(value: &Value, out: &mut Vec<Vec<u8>>) {
    match value {
        Value::String(s) if !s.is_empty() => out.push(s.as_bytes().to_vec()),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helm_encode(release: &Value) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(release.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let bytes = gz.finish().unwrap_or_else(|e| panic!("{e}"));
        base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into_bytes()
    }

    #[test]
    fn a_helm_release_decodes_to_its_values() {
        let release = json!({"name": "amko", "version": 3, "info": {"status": "deployed"},
            "chart": {"metadata": {"name": "amko", "version": "0.1.0"}},
            "config": {"gslbLeaderCredentials": {"password": "pw-planted"}}});
        let decoded =
            decode_helm_release("s", &helm_encode(&release)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded["config"], release["config"]);
        assert_eq!(release_summary(&decoded)["revision"], 3);
        let mut secrets = Vec::new();
        secret_strings(&decoded["config"], &mut secrets);
        assert_eq!(secrets, vec![b"pw-planted".to_vec()]);
        assert!(matches!(
            decode_helm_release("s", b"!!"),
            Err(ReleaseError::Base64 { .. })
        ));
        let not_json = base64::engine::general_purpose::STANDARD.encode("nope");
        assert!(matches!(
            decode_helm_release("s", not_json.as_bytes()),
            Err(ReleaseError::Json { .. })
        ));
    }

    #[test]
    fn entry_paths_stay_inside_the_bundle() {
        assert_eq!(safe_path("logs/amko-0/amko.log"), "logs/amko-0/amko.log");
        assert_eq!(safe_path("chart/../../etc/passwd"), "chart/_/_/etc/passwd");
        assert_eq!(safe_path("chart//x y/v.json"), "chart/_/x_y/v.json");
        assert_eq!(safe_path("/abs"), "_/abs");
    }

    #[test]
    fn the_archive_holds_every_entry_and_the_manifest() {
        let dir = std::env::temp_dir().join(format!("amko-bundle-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let output = dir.join("b.tar.gz");
        let mut bundle = Bundle::new("amko-support-x");
        bundle.add_text("logs/a.log", "password=hunter22 ok\n");
        bundle.record("logs", None, Duration::from_millis(3));
        bundle.record("metrics", Some("timed out".into()), Duration::from_secs(1));
        let written = bundle
            .write(&output, json!({"tool": "test"}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(written, 2);
        let file = std::fs::File::open(&output).unwrap_or_else(|e| panic!("{e}"));
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let mut found = Vec::new();
        for entry in archive.entries().unwrap_or_else(|e| panic!("{e}")) {
            let mut entry = entry.unwrap_or_else(|e| panic!("{e}"));
            let path = entry
                .path()
                .unwrap_or_else(|e| panic!("{e}"))
                .display()
                .to_string();
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(!text.contains("hunter22"), "{path}: {text}");
            found.push((path, text));
        }
        assert_eq!(found[0].0, "amko-support-x/logs/a.log");
        assert_eq!(found[1].0, "amko-support-x/manifest.json");
        assert!(
            found[1].1.contains("\"failedSteps\": [\n    \"metrics\""),
            "{}",
            found[1].1
        );
        assert!(!partial_path(&output).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
