//! Which incidents a list, an export, a facet count or a console page asks for: the one
//! filter model, parsed from query parameters in one place so that the API, the export, the
//! CLI and the console agree on every name, every value and every error message.
//!
//! Parameters: `instance`, `type`, `status`, `severity` (each repeatable or comma-separated:
//! any of), `label=key:value` (repeatable: all of), `dedup_key`, `name_contains`
//! (case-insensitive substring), `q` (free text, see [`TextQuery`]), `occurred_after`,
//! `occurred_before`, `created_after`, `created_before` (RFC 3339; after inclusive, before
//! exclusive), `limit` and `cursor`. An empty value (an empty form field) is the same as no
//! parameter. Anything else is an error naming the parameter.

use base64::Engine;
use chrono::{DateTime, NaiveDateTime};

use super::STATUSES;

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 50;
/// Most incidents one page may hold.
pub const MAX_LIMIT: i64 = 1000;

/// Which incidents to list (newest first) or count.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentFilter {
    /// Any of these instances (none: every instance).
    pub instance: Vec<String>,
    /// Any of these types.
    pub type_: Vec<String>,
    /// Any of these statuses (each one of [`STATUSES`]).
    pub status: Vec<String>,
    /// Any of these severities.
    pub severity: Vec<String>,
    /// Every one of these `(key, value)` labels.
    pub labels: Vec<(String, String)>,
    pub dedup_key: Option<String>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Free text over the name and the string values of `raw_json`.
    pub q: Option<TextQuery>,
    pub occurred_after: Option<NaiveDateTime>,
    pub occurred_before: Option<NaiveDateTime>,
    pub created_after: Option<NaiveDateTime>,
    pub created_before: Option<NaiveDateTime>,
    /// Only incidents with an id below this (keyset pagination).
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Default for IncidentFilter {
    fn default() -> Self {
        IncidentFilter {
            instance: Vec::new(),
            type_: Vec::new(),
            status: Vec::new(),
            severity: Vec::new(),
            labels: Vec::new(),
            dedup_key: None,
            name_contains: None,
            q: None,
            occurred_after: None,
            occurred_before: None,
            created_after: None,
            created_before: None,
            before_id: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// A bad filter parameter; the message starts with the parameter's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

/// Free text: words and quoted phrases, all of which must occur (case-insensitively) as
/// whole words in the name or in a string value of `raw_json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    /// The words given outside quotes.
    pub words: Vec<String>,
    /// Each quoted phrase, its words in order.
    pub phrases: Vec<String>,
}

impl TextQuery {
    /// Splits `q` into words and `"quoted phrases"` (an unclosed quote runs to the end).
    /// Terms without a letter or digit search for nothing and are dropped; `None` when
    /// nothing is left.
    pub fn parse(q: &str) -> Option<TextQuery> {
        let searchable = |t: &str| t.chars().any(char::is_alphanumeric);
        let mut query = TextQuery {
            words: Vec::new(),
            phrases: Vec::new(),
        };
        for (n, part) in q.split('"').enumerate() {
            if n % 2 == 1 {
                let phrase = part.split_whitespace().collect::<Vec<_>>().join(" ");
                if searchable(&phrase) {
                    query.phrases.push(phrase);
                }
            } else {
                query.words.extend(
                    part.split_whitespace()
                        .filter(|w| searchable(w))
                        .map(str::to_string),
                );
            }
        }
        (!query.words.is_empty() || !query.phrases.is_empty()).then_some(query)
    }

    /// Every term, as given: the words, then the phrases.
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.words.iter().chain(&self.phrases).map(String::as_str)
    }

    /// The query as `q` would spell it.
    pub fn to_q(&self) -> String {
        let mut parts: Vec<String> = self.words.clone();
        parts.extend(self.phrases.iter().map(|p| format!("\"{p}\"")));
        parts.join(" ")
    }
}

impl IncidentFilter {
    /// Parses a raw query string (`instance=a&severity=high,critical&q=disk`), as a request
    /// carries it.
    pub fn from_query_string(query: &str) -> Result<IncidentFilter, FilterError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| FilterError(format!("query: cannot be read ({e})")))?;
        IncidentFilter::from_pairs(pairs)
    }

    /// Parses decoded `(name, value)` query parameters.
    pub fn from_pairs<K, V>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<IncidentFilter, FilterError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut filter = IncidentFilter::default();
        let mut q_parts: Vec<String> = Vec::new();
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref().trim());
            let list = |into: &mut Vec<String>| {
                into.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_string),
                );
            };
            let once = |into: &mut Option<String>| -> Result<(), FilterError> {
                if value.is_empty() {
                    return Ok(());
                }
                if into.is_some() {
                    return Err(FilterError(format!("{key}: given more than once")));
                }
                *into = Some(value.to_string());
                Ok(())
            };
            match key {
                "instance" => list(&mut filter.instance),
                "type" => list(&mut filter.type_),
                "severity" => list(&mut filter.severity),
                "status" => {
                    let before = filter.status.len();
                    list(&mut filter.status);
                    if let Some(bad) = filter.status[before..]
                        .iter()
                        .find(|s| !STATUSES.contains(&s.as_str()))
                    {
                        return Err(FilterError(format!(
                            "status: '{bad}' is not a status ({})",
                            STATUSES.join(", ")
                        )));
                    }
                }
                "label" if value.is_empty() => {}
                "label" => match value.split_once(':') {
                    Some((k, v)) if !k.trim().is_empty() => filter
                        .labels
                        .push((k.trim().to_string(), v.trim().to_string())),
                    _ => {
                        return Err(FilterError(format!(
                            "label: '{value}' is not key:value (e.g. label=env:prod)"
                        )))
                    }
                },
                "dedup_key" => once(&mut filter.dedup_key)?,
                "name_contains" => once(&mut filter.name_contains)?,
                "q" => {
                    if !value.is_empty() {
                        q_parts.push(value.to_string());
                    }
                }
                "occurred_after" => filter.occurred_after = timestamp(key, value)?,
                "occurred_before" => filter.occurred_before = timestamp(key, value)?,
                "created_after" => filter.created_after = timestamp(key, value)?,
                "created_before" => filter.created_before = timestamp(key, value)?,
                "limit" if value.is_empty() => {}
                "limit" => {
                    let limit: i64 = value.parse().map_err(|_| {
                        FilterError(format!("limit: '{value}' is not a whole number"))
                    })?;
                    if !(1..=MAX_LIMIT).contains(&limit) {
                        return Err(FilterError(format!(
                            "limit: {limit} is out of range (1-{MAX_LIMIT})"
                        )));
                    }
                    filter.limit = limit;
                }
                "cursor" if value.is_empty() => {}
                "cursor" => filter.before_id = Some(decode_cursor(value)?),
                other => {
                    return Err(FilterError(format!(
                        "{other}: not a parameter here (known: instance, type, status, \
                         severity, label, dedup_key, name_contains, q, occurred_after, \
                         occurred_before, created_after, created_before, limit, cursor)"
                    )))
                }
            }
        }
        if !q_parts.is_empty() {
            let q = q_parts.join(" ");
            filter.q = Some(
                TextQuery::parse(&q)
                    .ok_or_else(|| FilterError(format!("q: '{q}' has no word to search for")))?,
            );
        }
        Ok(filter)
    }

    /// The filter as query parameters (without `limit` and `cursor`), for links that keep
    /// it: `from_pairs(f.to_pairs())` gives the same filter back.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        for (name, values) in [
            ("instance", &self.instance),
            ("type", &self.type_),
            ("status", &self.status),
            ("severity", &self.severity),
        ] {
            // One parameter per value: a value may hold a comma.
            pairs.extend(values.iter().map(|v| (name, v.clone())));
        }
        pairs.extend(
            self.labels
                .iter()
                .map(|(k, v)| ("label", format!("{k}:{v}"))),
        );
        for (name, value) in [
            ("dedup_key", &self.dedup_key),
            ("name_contains", &self.name_contains),
        ] {
            pairs.extend(value.iter().map(|v| (name, v.clone())));
        }
        pairs.extend(self.q.iter().map(|q| ("q", q.to_q())));
        for (name, value) in [
            ("occurred_after", self.occurred_after),
            ("occurred_before", self.occurred_before),
            ("created_after", self.created_after),
            ("created_before", self.created_before),
        ] {
            pairs.extend(value.map(|t| (name, crate::time::rfc3339(t))));
        }
        pairs
    }

    /// Whether only the columns facets count by are constrained (no text, label, key or
    /// time filter, no cursor).
    pub fn is_by_facets_only(&self) -> bool {
        self.labels.is_empty()
            && self.q.is_none()
            && self.before_id.is_none()
            && self.names_facet_columns_only()
    }

    /// Whether the conditions besides free text and labels name only the columns facets
    /// count by (instance, type, status, severity), so SQLite's facet index covers them.
    /// Every field is named, so a new filter decides here whether the index covers it.
    pub fn names_facet_columns_only(&self) -> bool {
        let IncidentFilter {
            instance: _,
            type_: _,
            status: _,
            severity: _,
            labels: _,
            q: _,
            before_id: _,
            limit: _,
            dedup_key,
            name_contains,
            occurred_after,
            occurred_before,
            created_after,
            created_before,
        } = self;
        dedup_key.is_none()
            && name_contains.is_none()
            && occurred_after.is_none()
            && occurred_before.is_none()
            && created_after.is_none()
            && created_before.is_none()
    }
}

/// An RFC 3339 parameter; the error names the parameter.
fn timestamp(field: &str, text: &str) -> Result<Option<NaiveDateTime>, FilterError> {
    if text.is_empty() {
        return Ok(None);
    }
    // RFC 3339, or what an HTML `datetime-local` field sends (minutes or seconds, no
    // offset), read as UTC, so that a console form can submit it unchanged.
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_utc())
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .map(Some)
        .map_err(|_| {
            FilterError(format!(
                "{field}: '{text}' is not an RFC 3339 timestamp (e.g. 2026-01-31T12:00:00Z)"
            ))
        })
}

/// Cursors are opaque to clients: the last id seen, encoded.
pub fn encode_cursor(id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("before:{id}"))
}

/// The id a cursor from [`encode_cursor`] stands for.
pub fn decode_cursor(cursor: &str) -> Result<i64, FilterError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("before:")?.parse().ok())
        .ok_or_else(|| {
            FilterError(
                "cursor: not a cursor this API gave out; use next_cursor as returned".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<IncidentFilter, FilterError> {
        IncidentFilter::from_query_string(query)
    }

    #[test]
    fn lists_are_repeatable_or_comma_separated() {
        let f = parse("instance=a&instance=b,c&severity=high,%20critical&status=open").unwrap();
        assert_eq!(f.instance, ["a", "b", "c"]);
        assert_eq!(f.severity, ["high", "critical"]);
        assert_eq!(f.status, ["open"]);
    }

    #[test]
    fn labels_split_at_the_first_colon_and_all_must_match() {
        let f = parse("label=env:prod&label=url:http://x").unwrap();
        assert_eq!(
            f.labels,
            [
                ("env".to_string(), "prod".to_string()),
                ("url".to_string(), "http://x".to_string())
            ]
        );
        assert!(parse("label=envprod").unwrap_err().0.starts_with("label:"));
    }

    #[test]
    fn free_text_keeps_words_and_quoted_phrases() {
        let q = TextQuery::parse(r#"disk "Full on  db-01" - "unclosed phrase"#).unwrap();
        assert_eq!(q.words, ["disk"]);
        assert_eq!(q.phrases, ["Full on db-01", "unclosed phrase"]);
        assert_eq!(TextQuery::parse(r#" - "" "#), None);
        assert!(parse("q=---").unwrap_err().0.starts_with("q:"));
    }

    #[test]
    fn each_bad_parameter_is_named() {
        for (query, name) in [
            ("colour=red", "colour:"),
            ("status=closed", "status:"),
            ("limit=0", "limit:"),
            ("limit=x", "limit:"),
            ("occurred_after=yesterday", "occurred_after:"),
            ("created_before=1", "created_before:"),
            ("cursor=abc", "cursor:"),
            ("dedup_key=a&dedup_key=b", "dedup_key:"),
        ] {
            let error = parse(query).unwrap_err();
            assert!(error.0.starts_with(name), "{query}: {error}");
        }
    }

    #[test]
    fn empty_values_are_no_filter() {
        let f = parse("instance=&q=&status=&label=&occurred_after=&limit=&cursor=").unwrap();
        assert_eq!(f, IncidentFilter::default());
    }

    #[test]
    fn a_filter_survives_being_written_back_as_parameters() {
        let f = parse(
            "instance=a,b&type=T&status=open&severity=high&label=env:prod&dedup_key=k\
             &name_contains=Disk&q=db%20%22disk%20full%22&occurred_after=2026-01-01T00:00:00Z\
             &created_before=2026-02-01T00:00:00Z",
        )
        .unwrap();
        assert_eq!(IncidentFilter::from_pairs(f.to_pairs()).unwrap(), f);
        assert!(!f.is_by_facets_only());
    }

    #[test]
    fn form_times_without_an_offset_are_utc() {
        let f =
            parse("occurred_after=2026-01-31T12:00&occurred_before=2026-01-31T12:30:15").unwrap();
        assert_eq!(
            f.occurred_after.map(crate::time::rfc3339).as_deref(),
            Some("2026-01-31T12:00:00Z")
        );
        assert_eq!(
            f.occurred_before.map(crate::time::rfc3339).as_deref(),
            Some("2026-01-31T12:30:15Z")
        );
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
    }
}
