//! Pod logs: no container runs in a simulated cluster, so the `pods/log` subresource serves text a
//! test (or `amko sim`'s user) planted for a container, current or previous
//! (`PUT /sim/clusters/<name>/pods/<ns>/<pod>/<container>/log|previous-log`,
//! `SimClusters::set_pod_log`). The answers follow the real API server: plain text, `container`
//! required when the pod has several, `previous=true` a 400 when no container terminated,
//! `tailLines` and `limitBytes` honoured.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

use super::error::ApiError;
use super::request::Query;

/// (namespace, pod, container, previous) → the log text.
type LogKey = (String, String, String, bool);

/// The planted logs of one cluster.
#[derive(Default)]
pub struct PodLogs {
    logs: Mutex<BTreeMap<LogKey, String>>,
}

impl PodLogs {
    /// Sets the log of `container` in pod `namespace/pod` (of its previous instance when
    /// `previous`). The pod need not exist yet.
    pub fn set(&self, namespace: &str, pod: &str, container: &str, previous: bool, text: String) {
        let key = (namespace.into(), pod.into(), container.into(), previous);
        self.logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, text);
    }

    /// The answer to `GET …/namespaces/<namespace>/pods/<name>/log?<query>` for `pod` (the
    /// stored object).
    pub fn read(&self, namespace: &str, pod: &Value, query: &Query) -> Result<String, ApiError> {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let containers: Vec<&str> = pod["spec"]["containers"]
            .as_array()
            .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
            .unwrap_or_default();
        let container = match query.get("container").filter(|c| !c.is_empty()) {
            Some(c) if containers.contains(&c) => c,
            Some(c) => {
                return Err(ApiError::BadRequest(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            None => match containers.as_slice() {
                [only] => only,
                [] => {
                    return Err(ApiError::BadRequest(format!(
                        "pod {name} has no containers"
                    )));
                }
                several => {
                    return Err(ApiError::BadRequest(format!(
                        "a container name must be specified for pod {name}, choose one of: [{}]",
                        several.join(" ")
                    )));
                }
            },
        };
        let previous = query.flag("previous");
        let key = (namespace.into(), name.into(), container.into(), previous);
        let text = match self
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            Some(text) => text.clone(),
            None if previous => {
                return Err(ApiError::BadRequest(format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                )));
            }
            None => String::new(),
        };
        let text = match query.number("tailLines")? {
            Some(n) => tail(&text, n as usize),
            None => text,
        };
        Ok(match query.number("limitBytes")? {
            Some(limit) => prefix(&text, limit as usize),
            None => text,
        })
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].iter().map(|l| format!("{l}\n")).collect()
}

/// At most `limit` bytes of `text`, cut at a character boundary.
fn prefix(text: &str, limit: usize) -> String {
    let mut end = limit.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: &[&str]) -> Value {
        let cs: Vec<Value> = containers.iter().map(|c| json!({"name": c})).collect();
        json!({"metadata": {"name": "amko-0"}, "spec": {"containers": cs}})
    }

    #[test]
    fn current_previous_and_container_choice() {
        let logs = PodLogs::default();
        logs.set("ns", "amko-0", "amko", false, "a\nb\nc\n".into());
        let q = |s: &str| Query::parse(Some(s));
        assert_eq!(
            logs.read("ns", &pod(&["amko"]), &q("")).unwrap(),
            "a\nb\nc\n"
        );
        assert_eq!(
            logs.read("ns", &pod(&["amko"]), &q("tailLines=2")).unwrap(),
            "b\nc\n"
        );
        assert_eq!(
            logs.read("ns", &pod(&["amko"]), &q("limitBytes=3"))
                .unwrap(),
            "a\nb"
        );
        let err = logs
            .read("ns", &pod(&["amko"]), &q("previous=true"))
            .unwrap_err();
        assert!(err.to_string().contains("previous terminated container"));
        logs.set("ns", "amko-0", "amko", true, "before\n".into());
        assert_eq!(
            logs.read("ns", &pod(&["amko"]), &q("previous=true"))
                .unwrap(),
            "before\n"
        );
        assert!(logs.read("ns", &pod(&["amko", "side"]), &q("")).is_err());
        assert_eq!(
            logs.read("ns", &pod(&["amko", "side"]), &q("container=side"))
                .unwrap(),
            ""
        );
        assert!(logs.read("ns", &pod(&["amko"]), &q("container=x")).is_err());
    }
}
