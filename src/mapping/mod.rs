//! Field mapping (SPEC 5): derives incident fields from arbitrary payloads. Pure: a compiled
//! [`Mapping`] and a payload in, field values out; no I/O, so it is tested with plain values.
//!
//! A mapping document is JSON (see docs/mapping.md). It is compiled once — JSONPaths parsed,
//! regexes built — when saved (where an invalid one is refused, naming the field) and when a
//! server loads its instances; evaluating it allocates only the values it yields.

mod guard;
mod presets;
pub mod report;

use std::collections::BTreeMap;
use std::str::FromStr;

use jsonpath_rust::JsonPath;
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

pub use presets::{preset, PRESETS};

/// Severity levels incidents are normalised to.
pub const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];

/// Values that count as "no value" besides null and the empty string (Cato writes `NA`).
const NO_VALUE: [&str; 3] = ["NA", "N/A", "null"];

// ---- the document ----

/// A mapping as admins write it.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MappingDoc {
    /// A preset this mapping starts from; its own targets override the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<TargetDoc>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<TargetDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred: Option<TargetDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<TargetDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<TargetDoc>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, TargetDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classify: Vec<ClassifyDoc>,
    /// Sender value (lower-cased) → one of [`SEVERITIES`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub severity_map: BTreeMap<String, String>,
    /// A JSONPath to an array: each element becomes its own incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// A delivery matching this resolves the incident it lands on (e.g. Alertmanager
    /// `{"when": "$.status", "matches": "^resolved$"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_when: Option<ConditionDoc>,
}

/// A condition: the value at `when` matches the regex `matches`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConditionDoc {
    pub when: String,
    pub matches: String,
}

/// A target: one expression, a list tried in order, or the long form.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(untagged)]
pub enum TargetDoc {
    One(String),
    FirstOf(Vec<String>),
    Full {
        value: String,
        #[serde(default)]
        fallbacks: Vec<String>,
        #[serde(default)]
        default: Option<String>,
    },
}

/// Sets `type` and/or `severity` when the value at `when` matches the regex `matches`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClassifyDoc {
    pub when: String,
    pub matches: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

// ---- compiled ----

/// A JSONPath, on the element (`$…`) or on the whole payload of a split (`$parent…`).
#[derive(Debug)]
struct Path {
    compiled: JsonPath<Value>,
    on_parent: bool,
}

#[derive(Debug)]
enum Expr {
    Path(Path),
    Literal(String),
    Template(Vec<Piece>),
}

#[derive(Debug)]
enum Piece {
    Text(String),
    Path(Path, Vec<Filter>),
}

/// Transformations a template placeholder may apply: `{{$.text | first_line | plain}}`.
#[derive(Debug, Clone, Copy)]
enum Filter {
    /// The first non-blank line.
    FirstLine,
    /// Slack/Teams/Markdown markup removed: `*bold*`, `_it_`, `~x~`, backticks,
    /// `<url|label>` and `[label](url)` (to their label), `**`, leading `#`/`>`.
    Plain,
    Lower,
    Upper,
    Trim,
}

impl Filter {
    fn parse(field: &str, name: &str) -> Result<Filter, String> {
        Ok(match name {
            "first_line" => Filter::FirstLine,
            "plain" => Filter::Plain,
            "lower" => Filter::Lower,
            "upper" => Filter::Upper,
            "trim" => Filter::Trim,
            other => {
                return Err(invalid(
                    field,
                    format!("'{other}' is not a filter (first_line, plain, lower, upper, trim)"),
                ))
            }
        })
    }

    fn apply(self, text: String) -> String {
        match self {
            Filter::FirstLine => text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or_default()
                .to_string(),
            Filter::Plain => plain(&text),
            Filter::Lower => text.to_lowercase(),
            Filter::Upper => text.to_uppercase(),
            Filter::Trim => text.trim().to_string(),
        }
    }
}

/// Markup removed, text kept (see [`Filter::Plain`]). `_` is emphasis only at a word's
/// edge, so `host_name` survives; Slack emoji shortcodes (`:rotating_light:`) go.
fn plain(text: &str) -> String {
    static PATTERNS: std::sync::OnceLock<[Regex; 3]> = std::sync::OnceLock::new();
    let [slack_link, markdown_link, emoji] = PATTERNS.get_or_init(|| {
        [
            Regex::new(r"<([^|>]+)\|([^>]+)>").expect("valid regex"),
            Regex::new(r"\[([^\]]+)\]\(([^)]+)\)").expect("valid regex"),
            Regex::new(r":[a-z0-9_+\-]+:").expect("valid regex"),
        ]
    });
    let text = slack_link.replace_all(text, "$2");
    let text = markdown_link.replace_all(&text, "$1");
    let text = emoji.replace_all(&text, "");
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let edge = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_none_or(|n| !n.is_alphanumeric())
        };
        let strip = match c {
            '*' | '~' | '`' => true,
            '_' => edge(i.checked_sub(1)) || edge(Some(i + 1)),
            _ => false,
        };
        if !strip {
            out.push(c);
        }
    }
    out.lines()
        .map(|l| {
            l.trim_start_matches(['#', '>', ' '])
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

#[derive(Debug)]
struct Target {
    candidates: Vec<Expr>,
    default: Option<String>,
}

#[derive(Debug)]
struct ClassifyRule {
    when: Path,
    matches: Regex,
    type_: Option<String>,
    severity: Option<String>,
}

/// A compiled mapping.
#[derive(Debug)]
pub struct Mapping {
    name: Option<Target>,
    type_: Option<Target>,
    occurred: Option<Target>,
    severity: Option<Target>,
    dedup_key: Option<Target>,
    labels: Vec<(String, Target)>,
    classify: Vec<ClassifyRule>,
    severity_map: BTreeMap<String, String>,
    split: Option<Path>,
    resolve_when: Option<(Path, Regex)>,
}

/// What a mapping yields for one incident. `None` means "no value": the usual rules apply.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Mapped {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// Still to be parsed with the timestamp rules.
    pub occurred: Option<Value>,
    pub severity: Option<String>,
    pub dedup_key: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// The delivery matched `resolve_when`.
    pub resolves: bool,
}

/// One incident's worth of payload after `split`.
pub struct Part {
    /// What becomes the incident's `raw_json`: the element, or for a split the array
    /// element with the rest of the payload under `parent`.
    pub raw: Map<String, Value>,
    pub mapped: Mapped,
}

fn invalid(field: &str, problem: impl std::fmt::Display) -> String {
    format!("{field}: {problem}")
}

fn compile_path(field: &str, text: &str) -> Result<Path, String> {
    let (on_parent, path) = match text.strip_prefix("$parent") {
        Some(rest) => (true, format!("${rest}")),
        None => (false, text.to_string()),
    };
    if let Some(number) = guard::oversized_number(&path) {
        return Err(invalid(
            field,
            format!("'{text}' is not a valid JSONPath (the number {number} is too large)"),
        ));
    }
    let compiled = JsonPath::from_str(&path).map_err(|e| {
        let first = e
            .to_string()
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string();
        invalid(field, format!("'{text}' is not a valid JSONPath ({first})"))
    })?;
    Ok(Path {
        compiled,
        on_parent,
    })
}

/// `$…` is a path, text with `{{…}}` a template, anything else a literal.
fn compile_expr(field: &str, text: &str) -> Result<Expr, String> {
    if text.starts_with('$') {
        return compile_path(field, text).map(Expr::Path);
    }
    if !text.contains("{{") {
        return Ok(Expr::Literal(text.to_string()));
    }
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| {
            invalid(
                field,
                format!("template '{text}' has a '{{{{' without '}}}}'"),
            )
        })?;
        let mut parts = after[..close].split('|').map(str::trim);
        let inner = parts.next().unwrap_or_default();
        if !inner.starts_with('$') {
            return Err(invalid(
                field,
                format!(
                    "template placeholder '{{{{{inner}}}}}' must be a JSONPath starting with $"
                ),
            ));
        }
        let filters = parts
            .map(|name| Filter::parse(field, name))
            .collect::<Result<Vec<_>, _>>()?;
        pieces.push(Piece::Path(compile_path(field, inner)?, filters));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(Expr::Template(pieces))
}

fn compile_target(field: &str, doc: &TargetDoc) -> Result<Target, String> {
    let (texts, default): (Vec<&String>, Option<String>) = match doc {
        TargetDoc::One(text) => (vec![text], None),
        TargetDoc::FirstOf(texts) if texts.is_empty() => {
            return Err(invalid(field, "an empty list maps nothing"))
        }
        TargetDoc::FirstOf(texts) => (texts.iter().collect(), None),
        TargetDoc::Full {
            value,
            fallbacks,
            default,
        } => (
            std::iter::once(value).chain(fallbacks.iter()).collect(),
            default.clone(),
        ),
    };
    Ok(Target {
        candidates: texts
            .into_iter()
            .map(|t| compile_expr(field, t))
            .collect::<Result<_, _>>()?,
        default,
    })
}

fn check_severity(field: &str, value: &str) -> Result<(), String> {
    if SEVERITIES.contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("'{value}' is not a severity ({})", SEVERITIES.join(", ")),
        ))
    }
}

impl MappingDoc {
    /// Parses a mapping document; errors name the field.
    pub fn parse(text: &str) -> Result<MappingDoc, String> {
        serde_json::from_str(text).map_err(|e| format!("mapping: {e}"))
    }

    /// This document over its `base` preset, if any.
    pub fn resolved(&self) -> Result<MappingDoc, String> {
        let Some(base) = &self.base else {
            return Ok(self.clone());
        };
        let mut merged = preset(base).ok_or_else(|| {
            invalid(
                "base",
                format!("'{base}' is not a preset ({})", PRESETS.join(", ")),
            )
        })?;
        macro_rules! over {
            ($($field:ident),*) => { $( if self.$field.is_some() { merged.$field = self.$field.clone(); } )* };
        }
        over!(
            name,
            type_,
            occurred,
            severity,
            dedup_key,
            split,
            resolve_when
        );
        merged.labels.extend(self.labels.clone());
        merged.severity_map.extend(self.severity_map.clone());
        merged.classify = self
            .classify
            .iter()
            .cloned()
            .chain(merged.classify)
            .collect();
        merged.base = None;
        Ok(merged)
    }

    /// Compiles the document (with its base); every problem is reported naming its field.
    pub fn compile(&self) -> Result<Mapping, String> {
        let doc = self.resolved()?;
        let target = |field: &str, t: &Option<TargetDoc>| {
            t.as_ref().map(|t| compile_target(field, t)).transpose()
        };
        for (from, to) in &doc.severity_map {
            check_severity(&format!("severity_map.{from}"), to)?;
        }
        let classify = doc
            .classify
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                let field = format!("classify[{i}]");
                if rule.type_.is_none() && rule.severity.is_none() {
                    return Err(invalid(&field, "sets neither type nor severity"));
                }
                if let Some(severity) = &rule.severity {
                    check_severity(&format!("{field}.severity"), severity)?;
                }
                Ok(ClassifyRule {
                    when: compile_path(&format!("{field}.when"), &rule.when)?,
                    matches: Regex::new(&rule.matches).map_err(|e| {
                        invalid(&format!("{field}.matches"), format!("invalid regex: {e}"))
                    })?,
                    type_: rule.type_.clone(),
                    severity: rule.severity.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Mapping {
            name: target("name", &doc.name)?,
            type_: target("type", &doc.type_)?,
            occurred: target("occurred", &doc.occurred)?,
            severity: target("severity", &doc.severity)?,
            dedup_key: target("dedup_key", &doc.dedup_key)?,
            labels: doc
                .labels
                .iter()
                .map(|(k, t)| Ok((k.clone(), compile_target(&format!("labels.{k}"), t)?)))
                .collect::<Result<_, String>>()?,
            classify,
            severity_map: doc
                .severity_map
                .iter()
                .map(|(k, v)| (k.to_lowercase(), v.clone()))
                .collect(),
            split: doc
                .split
                .as_deref()
                .map(|s| compile_path("split", s))
                .transpose()?,
            resolve_when: doc
                .resolve_when
                .as_ref()
                .map(|c| {
                    Ok::<_, String>((
                        compile_path("resolve_when.when", &c.when)?,
                        Regex::new(&c.matches).map_err(|e| {
                            invalid("resolve_when.matches", format!("invalid regex: {e}"))
                        })?,
                    ))
                })
                .transpose()?,
        })
    }
}

// ---- evaluation ----

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

#[cfg(test)]
mod tests;
