//! Paths that jsonpath-rust accepts but cannot evaluate without panicking, refused when a
//! mapping is compiled: an array index beyond i64 (`$[99999999999999999999]`) parses as a
//! float, and evaluating it unwraps a `None`.

/// The first number outside quotes that does not fit in an i64, if any.
pub fn oversized_number(path: &str) -> Option<&str> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut run_start: Option<usize> = None;
    for (i, c) in path
        .char_indices()
        .chain(std::iter::once((path.len(), ' ')))
    {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        if c.is_ascii_digit() {
            run_start.get_or_insert(i);
            continue;
        }
        if let Some(start) = run_start.take() {
            let run = &path[start..i];
            if run.parse::<i64>().is_err() {
                return Some(run);
            }
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::oversized_number;

    #[test]
    fn only_numbers_beyond_i64_outside_quotes_are_found() {
        assert_eq!(
            oversized_number("$[99999999999999999999]"),
            Some("99999999999999999999")
        );
        assert_eq!(
            oversized_number("$.a[0,18446744073709551616]"),
            Some("18446744073709551616")
        );
        for fine in [
            "$[9223372036854775807]",
            "$['99999999999999999999']",
            "$[\"a\\\"99999999999999999999\"]",
            "$.a1.b22[3]",
            "$",
        ] {
            assert_eq!(oversized_number(fine), None, "{fine}");
        }
    }
}
