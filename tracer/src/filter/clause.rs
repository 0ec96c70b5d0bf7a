//! Clauses written as filter text, so that the parser reads every value
//! back exactly: how a row of the live view (a summary's, converge's)
//! narrows the next view to it.

/// `text` as a double-quoted literal, with the escapes the filter parser
/// reads (a path or a container name may hold quotes, spaces, parentheses).
#[must_use]
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `field="text"`.
#[must_use]
pub fn text_is(field: &str, text: &str) -> String {
    format!("{field}={}", quoted(text))
}

/// `field=n`.
#[must_use]
pub fn number_is(field: &str, n: u64) -> String {
    format!("{field}={n}")
}

/// The clauses joined with `and`.
#[must_use]
pub fn all(clauses: &[String]) -> String {
    clauses.join(" and ")
}
