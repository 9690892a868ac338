//! Turns a request body into the elements that become incidents.
//! Pure: bytes in, objects or a client error out.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::config::IngestLimits;
use crate::error::{ApiError, ErrorCode};

/// One element of a request, as it arrived.
#[derive(Debug)]
pub enum Element<'a> {
    /// A JSON object's text, borrowed from the body: it is stored as it came, not re-serialised.
    Json(&'a RawValue),
    /// Form fields.
    Form(Map<String, Value>),
}

/// Parses a body into its elements: an object is one, an array of objects is one each.
pub fn parse<'a>(
    bytes: &'a [u8],
    content_type: Option<&str>,
    limits: &IngestLimits,
) -> Result<Vec<Element<'a>>, ApiError> {
    let first = bytes.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        None => Err(ApiError::new(
            ErrorCode::EmptyBody,
            "The request body is empty; send a JSON object or an array of objects.",
        )),
        Some(first @ (b'{' | b'[')) => parse_json(bytes, first, limits),
        Some(_) if is_form(content_type) => Ok(vec![Element::Form(parse_form(bytes)?)]),
        // Labelled JSON but not an object or array: parse it so the error says what it is.
        Some(first) if is_json(content_type) => parse_json(bytes, first, limits),
        Some(_) => Err(ApiError::new(
            ErrorCode::UnsupportedBody,
            "The body is neither JSON (which must start with '{' or '[') nor form fields \
             (Content-Type: application/x-www-form-urlencoded).",
        )),
    }
}

fn is_form(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
        .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"))
}

/// `first`: the body's first byte that is not whitespace.
fn parse_json<'a>(
    bytes: &'a [u8],
    first: u8,
    limits: &IngestLimits,
) -> Result<Vec<Element<'a>>, ApiError> {
    let scanned = scan(bytes);
    let depth = scanned.deepest;
    if depth > limits.max_depth {
        return Err(ApiError::new(
            ErrorCode::TooDeep,
            format!(
                "The JSON is nested {depth} levels deep; the limit is {}.",
                limits.max_depth
            ),
        ));
    }
    if let Some(problem) = scanned.unreadable {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            format!("The body is not valid JSON: {problem}."),
        ));
    }
    let invalid = |e: serde_json::Error| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("The body is not valid JSON: {e}."),
        )
    };
    // Validates the whole document in one pass but builds no tree: elements stay slices of
    // the body. The scan above bounds the recursion, so serde_json's fixed limit (127) can
    // step aside for the configured one.
    let mut parser = serde_json::Deserializer::from_slice(bytes);
    parser.disable_recursion_limit();
    if first != b'[' {
        let document: &RawValue = serde::Deserialize::deserialize(&mut parser).map_err(invalid)?;
        parser.end().map_err(invalid)?;
        return match first_byte(document) {
            b'{' => Ok(vec![Element::Json(document)]),
            _ => Err(ApiError::new(
                ErrorCode::InvalidBody,
                format!(
                    "The body is {}; send a JSON object or an array of objects.",
                    raw_kind(document)
                ),
            )),
        };
    }
    let items: Vec<&RawValue> = serde::Deserialize::deserialize(&mut parser).map_err(invalid)?;
    parser.end().map_err(invalid)?;
    if items.len() > limits.max_elements {
        return Err(ApiError::new(
            ErrorCode::TooManyElements,
            format!(
                "The array has {} elements; the limit is {} per request. Send smaller batches.",
                items.len(),
                limits.max_elements
            ),
        ));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match first_byte(item) {
            b'{' => Ok(Element::Json(item)),
            _ => Err(ApiError::new(
                ErrorCode::InvalidElement,
                format!(
                    "Element {index} of the array is {}, not a JSON object.",
                    raw_kind(item)
                ),
            )),
        })
        .collect()
}

fn first_byte(raw: &RawValue) -> u8 {
    raw.get().trim_start().bytes().next().unwrap_or(b' ')
}

/// "a string", "a number"…: what a JSON value's text is, for messages.
pub fn raw_kind(raw: &RawValue) -> &'static str {
    match first_byte(raw) {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    }
}

/// What one pass over a JSON body finds before it is parsed.
struct Scan {
    /// The deepest nesting of objects and arrays.
    deepest: usize,
    /// A value that serde_json's raw pass lets through but no JSON reader can load back: a
    /// number beyond f64 (`1e999`) or a lone UTF-16 surrogate escape (`"\ud800"`). Stored,
    /// such a payload could never be shown again.
    unreadable: Option<String>,
}

/// One pass over the bytes without parsing (strings are skipped), so an over-deep document is
/// refused before the parser recurses into it, and an unreadable value before it is stored.
fn scan(bytes: &[u8]) -> Scan {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut at = 0;
    let done = |deepest, unreadable| Scan {
        deepest,
        unreadable,
    };
    while let Some(&b) = bytes.get(at) {
        at += 1;
        match b {
            // A string: jump from one quote or backslash to the next (most of an event's
            // bytes are in strings, and memchr looks at many bytes at once).
            b'"' => loop {
                match memchr::memchr2(b'"', b'\\', &bytes[at.min(bytes.len())..]) {
                    Some(n) if bytes[at + n] == b'\\' => {
                        at += n;
                        match surrogate_escape(bytes, at) {
                            Ok(length) => at += length,
                            Err(problem) => return done(deepest, Some(problem)),
                        }
                    }
                    Some(n) => {
                        at += n + 1;
                        break;
                    }
                    None => return done(deepest, None),
                }
            },
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            // Outside strings only numbers hold digits.
            b'-' | b'0'..=b'9' => {
                let start = at - 1;
                while bytes
                    .get(at)
                    .is_some_and(|c| matches!(c, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
                {
                    at += 1;
                }
                let number = &bytes[start..at];
                // Only an exponent or hundreds of digits can leave f64's range.
                let risky = number.len() > 300 || number.iter().any(|c| matches!(c, b'e' | b'E'));
                let text = std::str::from_utf8(number).unwrap_or_default();
                if risky && text.parse::<f64>().is_ok_and(|n| n.is_infinite()) {
                    let shown: String = text.chars().take(40).collect();
                    return done(deepest, Some(format!("the number {shown} is out of range")));
                }
            }
            _ => {}
        }
    }
    done(deepest, None)
}

/// The escape at `at` (a backslash): its length, or why it cannot be read back. A `\u`
/// escape of a UTF-16 surrogate must be a high one followed by a low one.
fn surrogate_escape(bytes: &[u8], at: usize) -> Result<usize, String> {
    let unit = |at: usize| -> Option<u16> {
        let hex = bytes.get(at..at + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    };
    let lone = |code: u16| {
        Err(format!(
            "a string holds a lone UTF-16 surrogate (\\u{code:04X})"
        ))
    };
    match unit(at) {
        Some(high @ 0xD800..=0xDBFF) => match unit(at + 6) {
            Some(0xDC00..=0xDFFF) => Ok(12),
            _ => lone(high),
        },
        Some(low @ 0xDC00..=0xDFFF) => lone(low),
        // Any other escape: two bytes skipped here; the parser checks the rest.
        _ => Ok(2),
    }
}

/// Form fields as an object of strings; a repeated field becomes an array of strings.
fn parse_form(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidForm,
            format!("The form body cannot be read: {e}."),
        )
    })?;
    let mut object = Map::new();
    for (key, value) in pairs {
        match object.get_mut(&key) {
            Some(Value::Array(values)) => values.push(Value::String(value)),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(value)]);
            }
            None => {
                object.insert(key, Value::String(value));
            }
        }
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;
    use serde_json::json;

    fn limits() -> IngestLimits {
        IngestLimits::default()
    }

    fn err(body: &str, ct: Option<&str>) -> (StatusCode, &'static str, String) {
        let e = parse(body.as_bytes(), ct, &limits()).unwrap_err();
        (e.status(), e.code.as_str(), e.message)
    }

    #[test]
    fn objects_and_arrays_become_elements_in_order() {
        let one = parse(br#" {"a": 1} "#, None, &limits()).unwrap();
        assert_eq!(texts(&one), vec![r#"{"a": 1}"#]);
        let many = parse(br#"[{"n":1}, {"n":2},{"n":3}]"#, None, &limits()).unwrap();
        assert_eq!(texts(&many), vec![r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#]);
        assert!(parse(b"[]", None, &limits()).unwrap().is_empty());
    }

    fn texts<'a>(elements: &'a [Element<'a>]) -> Vec<&'a str> {
        elements
            .iter()
            .map(|e| match e {
                Element::Json(raw) => raw.get(),
                Element::Form(_) => panic!("not JSON"),
            })
            .collect()
    }

    #[test]
    fn json_is_recognised_whatever_the_content_type() {
        let form_labelled = parse(
            br#"{"a":1}"#,
            Some("application/x-www-form-urlencoded"),
            &limits(),
        );
        assert_eq!(form_labelled.unwrap().len(), 1);
    }

    #[test]
    fn bad_bodies_name_the_problem() {
        assert_eq!(err("", None).1, "empty_body");
        assert_eq!(err("  \n", None).1, "empty_body");
        assert_eq!(err("{nope", None).1, "invalid_json");
        assert_eq!(err("hello", Some("text/plain")).1, "unsupported_body");
        assert_eq!(err("\"text\"", Some("application/json")).1, "invalid_body");
        assert_eq!(err("hello", Some("application/json")).1, "invalid_json");
        assert_eq!(err("[{}] trailing", None).1, "invalid_json");
        let (status, code, message) = err(r#"[{"a":1}, 7]"#, None);
        assert_eq!((status, code), (StatusCode::BAD_REQUEST, "invalid_element"));
        assert!(message.contains("Element 1"), "{message}");
    }

    #[test]
    fn limits_are_enforced() {
        let small = IngestLimits {
            max_elements: 2,
            max_depth: 3,
            ..IngestLimits::default()
        };
        let e = parse(b"[{},{},{}]", None, &small).unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.code.as_str()),
            (413, "too_many_elements")
        );
        let e = parse(br#"{"a":{"b":{"c":{}}}}"#, None, &small).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code.as_str()), (400, "too_deep"));
        // Brackets inside strings do not count.
        assert!(parse(br#"{"a":"[[[[{{{{"}"#, None, &small).is_ok());
    }

    fn scan_depth(bytes: &[u8]) -> usize {
        scan(bytes).deepest
    }

    #[test]
    fn values_no_reader_could_load_back_are_refused() {
        for (body, problem) in [
            (r#"{"n":1e999}"#, "the number 1e999 is out of range"),
            (r#"[{"n":-1E400}]"#, "the number -1E400 is out of range"),
            (r#"{"s":"\ud800"}"#, "lone UTF-16 surrogate (\\uD800)"),
            (r#"{"s":"x\uDC00y"}"#, "lone UTF-16 surrogate (\\uDC00)"),
            (r#"{"s":"\ud800\u0041"}"#, "lone UTF-16 surrogate"),
        ] {
            let e = parse(body.as_bytes(), None, &limits()).unwrap_err();
            assert_eq!(e.code.as_str(), "invalid_json", "{body}");
            assert!(e.message.contains(problem), "{body}: {}", e.message);
        }
        let big = format!(r#"{{"n":1{}}}"#, "0".repeat(400));
        assert!(parse(big.as_bytes(), None, &limits()).is_err());
        for fine in [
            r#"{"n":1e308,"m":1e-999,"k":-0,"i":123456789012345678901234567890}"#,
            r#"{"s":"\ud83d\ude00 \u00e9 \\ud800","t":"1e999"}"#,
        ] {
            assert!(parse(fine.as_bytes(), None, &limits()).is_ok(), "{fine}");
        }
    }

    #[test]
    fn the_depth_scan_skips_strings_with_escapes() {
        // An escaped quote does not end a string; an escaped backslash before a quote does.
        assert_eq!(scan_depth(br#"{"a":"x\"[[[[{{"}"#), 1);
        assert_eq!(scan_depth(br#"[{"a":"\\\\"},{"b":[[{}]]}]"#), 5);
        assert_eq!(scan_depth(br#"{"a":"\\"}"#), 1);
        // Cut off inside a string, or right after a backslash: what was seen so far.
        assert_eq!(scan_depth(br#"[[{"a":"[[["#), 3);
        assert_eq!(scan_depth(b"[[\"\\"), 2);
    }

    #[test]
    fn the_default_depth_limit_is_reachable_but_not_passable() {
        let nested = |depth: usize| format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        assert!(parse(nested(128).as_bytes(), None, &limits()).is_ok());
        let e = parse(nested(129).as_bytes(), None, &limits()).unwrap_err();
        assert_eq!(e.code.as_str(), "too_deep");
    }

    #[test]
    fn form_fields_become_strings_and_repeats_become_arrays() {
        let elements = parse(
            b"title=Disk+full&host=db1&tag=a&tag=b",
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            &limits(),
        )
        .unwrap();
        let Element::Form(fields) = &elements[0] else {
            panic!("not a form")
        };
        assert_eq!(
            Value::Object(fields.clone()),
            json!({"title":"Disk full","host":"db1","tag":["a","b"]})
        );
    }
}
