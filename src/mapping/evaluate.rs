//! Evaluating a compiled mapping over a payload: the incident fields of each part, allocating
//! only the values it yields.

use serde_json::{Map, Value};

use super::compiled::{Expr, Mapped, Mapping, Part, Path, Piece, Target};
use super::document::{NO_VALUE, SEVERITIES};

struct Scope<'a> {
    element: &'a Value,
    parent: &'a Value,
}

impl Path {
    /// The first value the path finds, unless it means "no value".
    fn first(&self, scope: &Scope<'_>) -> Option<Value> {
        let root = if self.on_parent {
            scope.parent
        } else {
            scope.element
        };
        self.compiled
            .find_slice(root)
            .into_iter()
            .map(|found| found.to_data())
            .find(|v| !is_missing(v))
    }
}

fn is_missing(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty() || NO_VALUE.contains(&s.trim()),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Expr {
    fn eval(&self, scope: &Scope<'_>) -> Option<Value> {
        match self {
            Expr::Path(path) => path.first(scope),
            // A blank literal names nothing: the next candidate or the usual rules apply.
            Expr::Literal(text) => (!text.trim().is_empty()).then(|| Value::String(text.clone())),
            // A template with any placeholder missing is missing, so a fallback can apply.
            Expr::Template(pieces) => {
                let mut out = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(text) => out.push_str(text),
                        Piece::Path(path, filters) => {
                            let text = filters
                                .iter()
                                .fold(as_text(&path.first(scope)?), |t, f| f.apply(t));
                            if text.trim().is_empty() {
                                return None;
                            }
                            out.push_str(&text);
                        }
                    }
                }
                Some(Value::String(out))
            }
        }
    }
}

impl Target {
    fn eval(&self, scope: &Scope<'_>) -> Option<Value> {
        self.candidates
            .iter()
            .find_map(|c| c.eval(scope))
            .or_else(|| {
                let default = self.default.as_ref().filter(|d| !d.trim().is_empty());
                default.cloned().map(Value::String)
            })
    }

    fn text(&self, scope: &Scope<'_>) -> Option<String> {
        self.eval(scope).map(|v| as_text(&v))
    }
}

impl Mapping {
    /// Applies the mapping to one payload: one part, or one per element of the `split` array.
    pub fn apply(&self, payload: &Map<String, Value>) -> Result<Vec<Part>, String> {
        let whole = Value::Object(payload.clone());
        let Some(split) = &self.split else {
            let scope = Scope {
                element: &whole,
                parent: &whole,
            };
            return Ok(vec![Part {
                mapped: self.fields(&scope),
                raw: payload.clone(),
            }]);
        };
        let items = match split.first(&Scope {
            element: &whole,
            parent: &whole,
        }) {
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(format!(
                    "split: the value is not an array but {}",
                    kind_of(&other)
                ))
            }
            None => return Err("split: the payload has no such array".to_string()),
        };
        let mut parent = payload.clone();
        strip_split_array(&mut parent, &items);
        let parent_value = Value::Object(parent.clone());
        Ok(items
            .into_iter()
            .map(|item| {
                let scope = Scope {
                    element: &item,
                    parent: &whole,
                };
                let mapped = self.fields(&scope);
                let mut raw = match item {
                    Value::Object(object) => object,
                    other => Map::from_iter([("value".to_string(), other)]),
                };
                raw.insert("parent".into(), parent_value.clone());
                Part { raw, mapped }
            })
            .collect())
    }

    fn fields(&self, scope: &Scope<'_>) -> Mapped {
        let text = |t: &Option<Target>| t.as_ref().and_then(|t| t.text(scope));
        let mut mapped = Mapped {
            name: text(&self.name),
            type_: text(&self.type_),
            occurred: self.occurred.as_ref().and_then(|t| t.eval(scope)),
            severity: text(&self.severity).and_then(|s| self.normalise_severity(&s)),
            dedup_key: text(&self.dedup_key),
            labels: self
                .labels
                .iter()
                .filter_map(|(k, t)| t.text(scope).map(|v| (k.clone(), v)))
                .collect(),
            resolves: self.resolve_when.as_ref().is_some_and(|(when, matches)| {
                when.first(scope)
                    .is_some_and(|v| matches.is_match(&as_text(&v)))
            }),
        };
        for rule in &self.classify {
            let hit = rule
                .when
                .first(scope)
                .is_some_and(|v| rule.matches.is_match(&as_text(&v)));
            if hit {
                if mapped.type_.is_none() {
                    mapped.type_ = rule.type_.clone();
                }
                if mapped.severity.is_none() {
                    mapped.severity = rule.severity.clone();
                }
            }
        }
        mapped
    }

    /// Through `severity_map`, else the value itself when it already is a level; anything
    /// else is no severity (the sender's value stays in `raw_json`).
    fn normalise_severity(&self, value: &str) -> Option<String> {
        let key = value.trim().to_lowercase();
        self.severity_map
            .get(&key)
            .cloned()
            .or_else(|| SEVERITIES.contains(&key.as_str()).then_some(key))
    }
}

/// The split array is reachable from every part; it is not repeated inside each one.
fn strip_split_array(parent: &mut Map<String, Value>, items: &[Value]) {
    let key = parent
        .iter()
        .find(|(_, v)| matches!(v, Value::Array(a) if a.as_slice() == items))
        .map(|(k, _)| k.clone());
    if let Some(key) = key {
        parent.remove(&key);
    }
}

/// "a string", "a number"…: what a JSON value is, for messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
