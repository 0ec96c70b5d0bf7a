//! An error and its causes on one line: hyper's and kube's own text
//! ("client error (Connect)") does not say that the connection was refused.

/// `e`, then each cause that adds something, joined by `: `.
#[must_use]
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
