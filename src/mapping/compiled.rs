//! A compiled mapping: JSONPaths parsed, regexes built, ready to evaluate.

use std::collections::BTreeMap;

use jsonpath_rust::JsonPath;
use regex::Regex;
use serde_json::{Map, Value};

/// A JSONPath, on the element (`$…`) or on the whole payload of a split (`$parent…`).
#[derive(Debug)]
pub(super) struct Path {
    pub(super) compiled: JsonPath<Value>,
    pub(super) on_parent: bool,
}

#[derive(Debug)]
pub(super) enum Expr {
    Path(Path),
    Literal(String),
    Template(Vec<Piece>),
}

#[derive(Debug)]
pub(super) enum Piece {
    Text(String),
    Path(Path, Vec<Filter>),
}

/// Transformations a template placeholder may apply: `{{$.text | first_line | plain}}`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Filter {
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
    pub(super) fn parse(field: &str, name: &str) -> Result<Filter, String> {
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

    pub(super) fn apply(self, text: String) -> String {
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
    // Literal patterns, compiled by every test that maps text: they cannot fail at run time.
    #[allow(clippy::expect_used)]
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
pub(super) struct Target {
    pub(super) candidates: Vec<Expr>,
    pub(super) default: Option<String>,
}

#[derive(Debug)]
pub(super) struct ClassifyRule {
    pub(super) when: Path,
    pub(super) matches: Regex,
    pub(super) type_: Option<String>,
    pub(super) severity: Option<String>,
}

/// A compiled mapping.
#[derive(Debug)]
pub struct Mapping {
    pub(super) name: Option<Target>,
    pub(super) type_: Option<Target>,
    pub(super) occurred: Option<Target>,
    pub(super) severity: Option<Target>,
    pub(super) dedup_key: Option<Target>,
    pub(super) labels: Vec<(String, Target)>,
    pub(super) classify: Vec<ClassifyRule>,
    pub(super) severity_map: BTreeMap<String, String>,
    pub(super) split: Option<Path>,
    pub(super) resolve_when: Option<(Path, Regex)>,
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

pub(super) fn invalid(field: &str, problem: impl std::fmt::Display) -> String {
    format!("{field}: {problem}")
}
