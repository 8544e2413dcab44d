//! Label selectors (equality- and set-based) and field selectors (`metadata.name`,
//! `metadata.namespace`), parsed from query strings and matched against stored objects.

use std::collections::BTreeMap;

use super::error::ApiError;

#[derive(Clone, Debug, PartialEq)]
enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed `labelSelector`; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

/// Splits on commas that are not inside parentheses (`a in (x,y),b=c`).
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, ch) in text.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(text: &str, original: &str) -> Result<Vec<String>, ApiError> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| ApiError::BadRequest(format!("unable to parse requirement: {original}")))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let req = if let Some(key) = part.strip_prefix('!') {
                LabelRequirement::DoesNotExist(key.trim().to_string())
            } else if let Some((k, v)) = part.split_once("!=") {
                LabelRequirement::NotEquals(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, v)) = part.split_once("==") {
                LabelRequirement::Equals(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, v)) = part.split_once('=') {
                LabelRequirement::Equals(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, set)) = part.split_once(" notin ") {
                LabelRequirement::NotIn(k.trim().to_string(), parse_set(set, part)?)
            } else if let Some((k, set)) = part.split_once(" in ") {
                LabelRequirement::In(k.trim().to_string(), parse_set(set, part)?)
            } else if part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                LabelRequirement::Exists(part.to_string())
            } else {
                return Err(ApiError::BadRequest(format!(
                    "unable to parse requirement: found '{part}', expected: in, notin, =, ==, !=, gt, lt"
                )));
            };
            requirements.push(req);
        }
        Ok(LabelSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|req| match req {
            LabelRequirement::Equals(k, v) => labels.get(k) == Some(v),
            LabelRequirement::NotEquals(k, v) => labels.get(k) != Some(v),
            LabelRequirement::In(k, set) => labels.get(k).is_some_and(|v| set.contains(v)),
            LabelRequirement::NotIn(k, set) => labels.get(k).is_none_or(|v| !set.contains(v)),
            LabelRequirement::Exists(k) => labels.contains_key(k),
            LabelRequirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum FieldRequirement {
    Name { equals: bool, value: String },
    Namespace { equals: bool, value: String },
}

/// A parsed `fieldSelector` over `metadata.name` and `metadata.namespace`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let (field, equals, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::BadRequest(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                )));
            };
            let value = value.trim().to_string();
            let req = match field.trim() {
                "metadata.name" => FieldRequirement::Name { equals, value },
                "metadata.namespace" => FieldRequirement::Namespace { equals, value },
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "field label not supported: {other}"
                    )));
                }
            };
            requirements.push(req);
        }
        Ok(FieldSelector { requirements })
    }

    pub fn matches(&self, namespace: &str, name: &str) -> bool {
        self.requirements.iter().all(|req| match req {
            FieldRequirement::Name { equals, value } => (name == value) == *equals,
            FieldRequirement::Namespace { equals, value } => (namespace == value) == *equals,
        })
    }

    /// The single name this selector pins, if any (`metadata.name=x`): lets a list skip a scan.
    pub fn exact_name(&self) -> Option<&str> {
        self.requirements.iter().find_map(|r| match r {
            FieldRequirement::Name {
                equals: true,
                value,
            } => Some(value.as_str()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equality_and_set_requirements() {
        let sel =
            LabelSelector::parse("name=demo,owner==helm,tier in (web, api),!legacy,env!=prod")
                .unwrap();
        assert!(sel.matches(&labels(&[
            ("name", "demo"),
            ("owner", "helm"),
            ("tier", "api")
        ])));
        assert!(!sel.matches(&labels(&[
            ("name", "demo"),
            ("owner", "helm"),
            ("tier", "db")
        ])));
        assert!(!sel.matches(&labels(&[
            ("name", "demo"),
            ("owner", "helm"),
            ("tier", "web"),
            ("legacy", "")
        ])));
        assert!(!sel.matches(&labels(&[
            ("name", "demo"),
            ("owner", "helm"),
            ("tier", "web"),
            ("env", "prod")
        ])));
        let exists = LabelSelector::parse("app, tier notin (db)").unwrap();
        assert!(exists.matches(&labels(&[("app", "x")])));
        assert!(!exists.matches(&labels(&[("app", "x"), ("tier", "db")])));
        assert!(LabelSelector::parse("").unwrap().matches(&labels(&[])));
    }

    #[test]
    fn field_selectors_on_name_and_namespace() {
        let sel = FieldSelector::parse("metadata.name=a1,metadata.namespace!=kube-system").unwrap();
        assert!(sel.matches("default", "a1"));
        assert!(!sel.matches("kube-system", "a1"));
        assert_eq!(sel.exact_name(), Some("a1"));
        assert!(FieldSelector::parse("spec.nodeName=x").is_err());
    }
}
