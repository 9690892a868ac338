//! Compiling a mapping document, once, when it is saved and when a server loads its
//! instances: an invalid one is refused, naming the field.

use std::str::FromStr;

use jsonpath_rust::JsonPath;
use regex::Regex;

use super::compiled::{invalid, ClassifyRule, Expr, Filter, Mapping, Path, Piece, Target};
use super::document::{MappingDoc, TargetDoc, SEVERITIES};
use super::presets::{preset, PRESETS};

fn compile_path(field: &str, text: &str) -> Result<Path, String> {
    let (on_parent, path) = match text.strip_prefix("$parent") {
        Some(rest) => (true, format!("${rest}")),
        None => (false, text.to_string()),
    };
    if let Some(number) = super::guard::oversized_number(&path) {
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
