//! What may leave the cluster in a support bundle (`amko support-bundle`): redaction of Kubernetes
//! objects, values files and free text. Three layers, each enough for what it knows:
//! - structural: values under secret-bearing keys (`password`, `token`, `certificateAuthorityData`,
//!   `client-key-data`, …) are masked wherever they appear in an object;
//! - known values: every value of the namespace's Secrets (and its base64 form, and the long
//!   fragments of multi-line values such as a kubeconfig's token and key) is removed verbatim;
//! - patterns: PEM blocks, base64-encoded PEM, bearer/basic credentials, JWTs and
//!   `password=…`-style pairs and the user part of URLs are masked in any text (log lines,
//!   metrics, error messages).
//!
//! Secret objects themselves are never copied: [`secret_summary`] keeps their names and keys.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use base64::Engine;
use regex::{Captures, Regex};
use serde_json::{Value, json};

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Whole secret values shorter than this are not removed verbatim (a username such as `admin`
/// would otherwise vanish from every log line); the key and pattern rules still cover them.
const MIN_KNOWN_VALUE: usize = 6;
/// Words of secret values (a kubeconfig's, a PEM's) this long or longer are removed verbatim:
/// tokens, base64 key material, PEM body lines.
const MIN_KNOWN_FRAGMENT: usize = 16;

/// Whether a map key names a secret value (compared without case and punctuation). Keys that
/// name a reference to a secret (`…Name`, `…Ref`, GSLBConfig's `credentials`) are not secrets:
/// support needs to see which Secret is meant.
pub fn is_secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    if k == "credentials" || k.ends_with("name") || k.ends_with("ref") || k.ends_with("refs") {
        return false;
    }
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "passphrase",
        "token",
        "secret",
        "privatekey",
        "clientkey",
        "tlskey",
        "sslkey",
        "apikey",
        "certificate",
        "cert",
        "cabundle",
        "cadata",
        "authorization",
        "kubeconfig",
        "gslbmembers",
    ];
    WORDS.iter().any(|w| k.contains(w))
}

/// Secret values known by content, removed verbatim (and in base64) from everything.
#[derive(Clone, Default)]
pub struct KnownSecrets {
    /// Longest first, so that a value containing another is removed whole.
    values: Vec<String>,
}

impl std::fmt::Debug for KnownSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownSecrets")
            .field("values", &self.values.len())
            .finish()
    }
}

impl KnownSecrets {
    /// From the raw values of Secrets' `data` (already base64-decoded by the API client).
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut set = BTreeSet::new();
        let b64 = base64::engine::general_purpose::STANDARD;
        for raw in values {
            let text = String::from_utf8_lossy(raw);
            let whole = text.trim();
            if whole.len() >= MIN_KNOWN_VALUE {
                set.insert(whole.to_owned());
                set.insert(b64.encode(whole.as_bytes()));
                set.insert(b64.encode(raw));
            }
            // A multi-line value (kubeconfig, PEM): its long words (tokens, key material, PEM
            // body lines), split at quotes too, so that no removal spans a JSON string's end.
            // Words of lowercase letters and dashes (a kubeconfig's keys) and URLs are no secret.
            for word in whole.split(|c: char| c.is_whitespace() || "\"',".contains(c)) {
                let word = word.trim_end_matches(':');
                let plain_key = word.chars().all(|c| c.is_ascii_lowercase() || c == '-');
                let url = word.starts_with("http://") || word.starts_with("https://");
                if word.len() >= MIN_KNOWN_FRAGMENT && !plain_key && !url {
                    set.insert(word.to_owned());
                    set.insert(b64.encode(word.as_bytes()));
                }
            }
        }
        let mut values: Vec<String> = set.into_iter().collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        KnownSecrets { values }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn remove_from(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), REDACTED);
            }
        }
        out
    }
}

static PEM_BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)-----BEGIN ([A-Z0-9 ]{1,40})-----.*?(?:-----END [A-Z0-9 ]{1,40}-----|\z)")
        .unwrap_or_else(|e| unreachable!("a constant regex: {e}"))
});
/// base64 of `-----BEGIN` (a kubeconfig's `client-key-data`, `certificate-authority-data`).
static PEM_BASE64: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"LS0tLS1CRUdJT[A-Za-z0-9+/=]*")
        .unwrap_or_else(|e| unreachable!("a constant regex: {e}"))
});
static AUTH_SCHEME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(bearer|Basic(?-i))(\s+)[A-Za-z0-9\-._~+/]{6,}=*")
        .unwrap_or_else(|e| unreachable!("a constant regex: {e}"))
});
static JWT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
        .unwrap_or_else(|e| unreachable!("a constant regex: {e}"))
});
/// `https://user:password@host`: the user part of a URL.
static URL_USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@")
        .unwrap_or_else(|e| unreachable!("a constant regex: {e}"))
});
/// `password=x`, `password: x`, `"password":"x"`, `\"token\": \"x\"`, `client-key-data: x`, …
static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)((?:password|passwd|passphrase|token|api[_-]?key|secret[_-]?key|client[_-]?secret|private[_-]?key|client[_-]?key[_-]?data|client[_-]?certificate[_-]?data|certificate[_-]?authority[_-]?data|certificateauthoritydata)[A-Za-z_-]*\\?["']?\s*[:=]\s*)(\\"(?:[^"\\]|\\[^"])*\\"|"(?:[^"\\]|\\.)*"|'[^']*'|[^\s"',;}&]+)"#,
    )
    .unwrap_or_else(|e| unreachable!("a constant regex: {e}"))
});

/// `text` with every known secret value and every secret-looking pattern masked.
pub fn scrub_text(text: &str, known: &KnownSecrets) -> String {
    let text = known.remove_from(text);
    let text = PEM_BLOCK.replace_all(&text, |c: &Captures| {
        let label = c.get(1).map_or("", |m| m.as_str());
        format!("-----BEGIN {label}-----{REDACTED}-----END {label}-----")
    });
    let text = PEM_BASE64.replace_all(&text, REDACTED);
    let text = JWT.replace_all(&text, REDACTED);
    let text = URL_USERINFO.replace_all(&text, format!("${{1}}{REDACTED}@").as_str());
    let text = AUTH_SCHEME.replace_all(&text, |c: &Captures| {
        format!(
            "{}{}{REDACTED}",
            c.get(1).map_or("", |m| m.as_str()),
            c.get(2).map_or("", |m| m.as_str())
        )
    });
    let text = KEY_VALUE.replace_all(&text, |c: &Captures| {
        let value = c.get(2).map_or("", |m| m.as_str());
        let masked = if value.starts_with("\\\"") {
            format!("\\\"{REDACTED}\\\"")
        } else if value.starts_with('"') {
            format!("\"{REDACTED}\"")
        } else if value.starts_with('\'') {
            format!("'{REDACTED}'")
        } else if value == REDACTED || value.starts_with('<') {
            value.to_owned()
        } else {
            REDACTED.to_owned()
        };
        format!("{}{masked}", c.get(1).map_or("", |m| m.as_str()))
    });
    text.into_owned()
}

/// `value` (an object, a values file) with secret-bearing keys masked and every string scrubbed.
/// Non-empty strings under a secret key become [`REDACTED`]; empty ones stay (they say "unset").
pub fn redact_value(value: &mut Value, known: &KnownSecrets) {
    match value {
        Value::Object(map) => {
            // A `{name, value}` pair (a container's env entry, a Helm `--set` list) is a key
            // and its value too: `{name: AVI_PASSWORD, value: …}`.
            let pair_is_secret = map
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(is_secret_key);
            for (key, inner) in map.iter_mut() {
                if is_secret_key(key) || (pair_is_secret && key == "value") {
                    mask(inner);
                } else {
                    redact_value(inner, known);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value(v, known)),
        Value::String(text) => *text = scrub_text(text, known),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Every non-empty string under `value` masked (the structure kept, so support sees what is set).
fn mask(value: &mut Value) {
    match value {
        Value::String(text) if !text.is_empty() => *text = REDACTED.to_owned(),
        Value::Object(map) => map.values_mut().for_each(mask),
        Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

/// A Kubernetes object for the bundle: `redact_value`, with `managedFields` (noise) dropped and
/// `kubectl.kubernetes.io/last-applied-configuration` (a copy of the object as text, which the
/// key rules cannot see into) parsed and redacted as an object.
pub fn redact_object(mut object: Value, known: &KnownSecrets) -> Value {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
        if let Some(annotations) = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
        {
            const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
            if let Some(Value::String(text)) = annotations.get(LAST_APPLIED) {
                let replacement = match serde_json::from_str::<Value>(text) {
                    Ok(mut applied) => {
                        redact_value(&mut applied, known);
                        applied.to_string()
                    }
                    Err(_) => REDACTED.to_owned(),
                };
                annotations.insert(LAST_APPLIED.to_owned(), Value::String(replacement));
            }
        }
    }
    redact_value(&mut object, known);
    object
}

/// What the bundle says about a Secret: its name, type, labels and the keys it holds with their
/// sizes; never a value.
pub fn secret_summary(secret: &Value) -> Value {
    let metadata = secret.get("metadata").cloned().unwrap_or(Value::Null);
    let b64 = base64::engine::general_purpose::STANDARD;
    let sized = |field: &str, value: &Value| {
        let text = value.as_str().unwrap_or_default();
        match field {
            "data" => b64.decode(text).map_or(text.len(), |bytes| bytes.len()),
            _ => text.len(),
        }
    };
    // A list of {key, bytes}: the key names stay visible (a `password` key is no secret).
    let keys: Vec<Value> = ["data", "stringData"]
        .iter()
        .filter_map(|field| Some((*field, secret.get(*field)?.as_object()?)))
        .flat_map(|(field, data)| data.iter().map(move |(key, value)| (field, key, value)))
        .map(|(field, key, value)| json!({"key": key, "bytes": sized(field, value)}))
        .collect();
    json!({
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "type": secret.get("type"),
        "labels": metadata.get("labels"),
        "creationTimestamp": metadata.get("creationTimestamp"),
        "keys": keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";

    fn none() -> KnownSecrets {
        KnownSecrets::default()
    }

    #[test]
    fn secret_keys_are_recognised_and_references_are_not() {
        for key in [
            "password",
            "Password",
            "certificateAuthorityData",
            "client-key-data",
            "client-certificate-data",
            "token",
            "bearerToken",
            "tls.key",
            "gslb-members",
            "apiKey",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "credentials",
            "secretName",
            "username",
            "controllerIP",
            "name",
            "healthMonitorRefs",
            "imagePullSecretsRef",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn structural_masking_keeps_shape_and_empty_values() {
        let mut values = json!({
            "gslbLeaderCredentials": {"username": "admin", "password": "s3cr3t-pw", "certificateAuthorityData": KEY_PEM},
            "configs": {"gslbLeaderController": "10.0.0.1", "apiToken": ""},
            "list": [{"token": "abc"}],
            "env": [{"name": "AVI_PASSWORD", "value": "env-pw"}, {"name": "LOG_LEVEL", "value": "debug"}],
        });
        redact_value(&mut values, &none());
        assert_eq!(values["gslbLeaderCredentials"]["username"], "admin");
        assert_eq!(values["gslbLeaderCredentials"]["password"], REDACTED);
        assert_eq!(
            values["gslbLeaderCredentials"]["certificateAuthorityData"],
            REDACTED
        );
        assert_eq!(values["configs"]["gslbLeaderController"], "10.0.0.1");
        assert_eq!(values["configs"]["apiToken"], "");
        assert_eq!(values["list"][0]["token"], REDACTED);
        assert_eq!(values["env"][0]["value"], REDACTED);
        assert_eq!(values["env"][1]["value"], "debug");
    }

    #[test]
    fn free_text_loses_pem_bearer_jwt_and_password_pairs() {
        let text = format!(
            "login password=hunter22 user=admin\nAuthorization: Bearer abc.DEF-123_xyz\n{KEY_PEM}\
             token: eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl\n\
             {{\"password\":\"p a s s\",\"user\":\"admin\"}}\n\
             msg=\"{{\\\"password\\\":\\\"esc-pw\\\"}}\"\n\
             client-key-data: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1J\n\
             controller https://admin:url-pw-9@10.0.0.1/api\n"
        );
        let out = scrub_text(&text, &none());
        for secret in [
            "hunter22",
            "abc.DEF-123_xyz",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
            "eyJhbGciOiJSUzI1NiJ9",
            "p a s s",
            "esc-pw",
            "LS0tLS1CRUdJTiBQUklW",
            "url-pw-9",
        ] {
            assert!(!out.contains(secret), "{secret} left in:\n{out}");
        }
        assert!(out.contains("user=admin"), "{out}");
        assert!(
            out.contains("-----BEGIN PRIVATE KEY-----<redacted>"),
            "{out}"
        );
        assert!(out.contains("\"user\":\"admin\""), "{out}");
        assert!(out.contains("https://<redacted>@10.0.0.1/api"), "{out}");
    }

    #[test]
    fn known_values_go_verbatim_and_in_base64_and_by_fragment() {
        let kubeconfig = "users:\n- name: u\n  user:\n    token: planted-bearer-token-0123456789\n    client-key-data: QUJDREVGR0hJSktMTU5PUFFSU1RVVldY\n";
        let known = KnownSecrets::from_values([b"Pl4nted!".as_slice(), kubeconfig.as_bytes()]);
        let b64 = base64::engine::general_purpose::STANDARD;
        let text = format!(
            "a Pl4nted! b {} c planted-bearer-token-0123456789 d QUJDREVGR0hJSktMTU5PUFFSU1RVVldY e {}",
            b64.encode("Pl4nted!"),
            b64.encode(kubeconfig.trim())
        );
        let out = scrub_text(&text, &known);
        assert!(!out.contains("Pl4nted!"), "{out}");
        assert!(!out.contains(&b64.encode("Pl4nted!")), "{out}");
        assert!(!out.contains("planted-bearer-token"), "{out}");
        assert!(!out.contains("QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"), "{out}");
        assert!(!out.contains(&b64.encode(kubeconfig.trim())), "{out}");
        assert!(format!("{known:?}").contains("values"));
    }

    #[test]
    fn last_applied_configuration_is_redacted_inside() {
        let applied = json!({"spec": {"password": "zzz-planted"}}).to_string();
        let object = json!({"metadata": {"name": "x", "managedFields": [{}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied}}});
        let out = redact_object(object, &none()).to_string();
        assert!(!out.contains("zzz-planted"), "{out}");
        assert!(!out.contains("managedFields"), "{out}");
    }

    #[test]
    fn a_secret_summary_has_keys_and_no_values() {
        let secret = json!({"metadata": {"name": "gslb-avi-secret", "namespace": "avi-system"},
                            "type": "Opaque", "data": {"password": "aHVudGVyMjI="}});
        let summary = secret_summary(&secret);
        assert_eq!(summary["keys"], json!([{"key": "password", "bytes": 8}]));
        let mut redacted = summary.clone();
        redact_value(&mut redacted, &none());
        assert_eq!(redacted, summary, "redaction leaves a summary alone");
        assert!(!summary.to_string().contains("aHVudGVyMjI="), "{summary}");
    }
}
