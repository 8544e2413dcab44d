//! `x-kubernetes-validations` CEL rules of CRD schemas, evaluated with the `cel` crate: `self` is
//! the value at the schema node, `oldSelf` the previous value on updates (transition rules are
//! skipped on create, as a real server does).

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, Program, Value as CelValue};
use serde_json::Value;

/// One rule as written in the schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub rule: String,
    pub message: Option<String>,
    /// Relative field path the error is reported on (`fieldPath`), e.g. `.hashMask`.
    pub field_path: Option<String>,
}

impl Rule {
    pub fn from_schema(entry: &Value) -> Option<Rule> {
        Some(Rule {
            rule: entry.get("rule")?.as_str()?.to_string(),
            message: entry
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string),
            field_path: entry
                .get("fieldPath")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    fn uses_old_self(&self) -> bool {
        self.rule.contains("oldSelf")
    }
}

/// Why a rule did not pass.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleFailure {
    /// The rule evaluated to false: the message to show.
    Failed(String),
    /// The rule could not be compiled or evaluated.
    Error(String),
}

/// Evaluates `rule` against `value` (and `old` on update). `Ok(())` when it holds or does not apply.
pub fn check(rule: &Rule, value: &Value, old: Option<&Value>) -> Result<(), RuleFailure> {
    if rule.uses_old_self() && old.is_none() {
        return Ok(());
    }
    let program = Program::compile(&rule.rule).map_err(|e| {
        RuleFailure::Error(format!("compilation failed for rule {:?}: {e}", rule.rule))
    })?;
    let mut context = Context::default();
    context.add_variable_from_value("self", to_cel(value));
    if let Some(old) = old {
        context.add_variable_from_value("oldSelf", to_cel(old));
    }
    match program.execute(&context) {
        Ok(CelValue::Bool(true)) => Ok(()),
        Ok(CelValue::Bool(false)) => Err(RuleFailure::Failed(
            rule.message
                .clone()
                .unwrap_or_else(|| format!("failed rule: {}", rule.rule)),
        )),
        Ok(other) => Err(RuleFailure::Error(format!(
            "rule {:?} returned {:?}, not a bool",
            rule.rule,
            other.type_of()
        ))),
        Err(e) => Err(RuleFailure::Error(format!(
            "rule {:?} could not be evaluated: {e}",
            rule.rule
        ))),
    }
}

/// JSON → CEL, keeping integers signed (CEL compares `int` with `int`; JSON literals like `0` in
/// a rule are `int`).
fn to_cel(value: &Value) -> CelValue {
    match value {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => CelValue::Int(i),
            (None, Some(u), _) => CelValue::UInt(u),
            (_, _, Some(f)) => CelValue::Float(f),
            _ => CelValue::Null,
        },
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(items) => CelValue::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let converted: HashMap<Key, CelValue> = map
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            CelValue::Map(Map {
                map: Arc::new(converted),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(text: &str) -> Rule {
        Rule {
            rule: text.into(),
            message: Some("hashMask needs the consistent hash algorithm".into()),
            field_path: None,
        }
    }

    #[test]
    fn has_macro_and_string_comparison() {
        let r = rule("!has(self.hashMask) || self.lbAlgorithm == 'GSLB_ALGORITHM_CONSISTENT_HASH'");
        assert!(
            check(
                &r,
                &json!({"lbAlgorithm": "GSLB_ALGORITHM_ROUND_ROBIN"}),
                None
            )
            .is_ok()
        );
        assert!(
            check(
                &r,
                &json!({"lbAlgorithm": "GSLB_ALGORITHM_CONSISTENT_HASH", "hashMask": 24}),
                None
            )
            .is_ok()
        );
        assert_eq!(
            check(
                &r,
                &json!({"lbAlgorithm": "GSLB_ALGORITHM_ROUND_ROBIN", "hashMask": 24}),
                None
            ),
            Err(RuleFailure::Failed(
                "hashMask needs the consistent hash algorithm".into()
            ))
        );
    }

    #[test]
    fn numbers_lists_and_transition_rules() {
        let sum = Rule {
            rule: "self.weights.all(w, w >= 0) && size(self.weights) <= 3".into(),
            message: None,
            field_path: None,
        };
        assert!(check(&sum, &json!({"weights": [1, 2]}), None).is_ok());
        assert!(matches!(
            check(&sum, &json!({"weights": [1, -2]}), None),
            Err(RuleFailure::Failed(_))
        ));
        let immutable = Rule {
            rule: "self == oldSelf".into(),
            message: Some("immutable".into()),
            field_path: None,
        };
        assert!(
            check(&immutable, &json!("a"), None).is_ok(),
            "skipped on create"
        );
        assert!(check(&immutable, &json!("b"), Some(&json!("a"))).is_err());
    }
}
