//! Which node an agent's line came from, said on the line itself.
//!
//! A `-p` format is the user's own: it names `k8s.node.name` where the
//! user wants it (the agents know the field), so its lines print as the
//! agents wrote them. The default line and the default JSON object do not
//! carry the node, so the client adds it.

/// How a merged line is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// `-p`, with or without `-j`: as the agent formatted it.
    AsFormatted,
    /// The default line: the node, a space, the line.
    Prefix,
    /// `-j`: the node as the object's first key, `k8s.node.name`.
    JsonKey,
}

impl Label {
    pub fn of(print: bool, json: bool) -> Label {
        match (print, json) {
            (true, _) => Label::AsFormatted,
            (false, false) => Label::Prefix,
            (false, true) => Label::JsonKey,
        }
    }

    /// Appends `line`, labelled with `node`, and a newline.
    pub fn write(self, node: &str, line: &str, out: &mut Vec<u8>) {
        match self {
            Label::AsFormatted => out.extend_from_slice(line.as_bytes()),
            Label::Prefix => {
                out.extend_from_slice(node.as_bytes());
                out.push(b' ');
                out.extend_from_slice(line.as_bytes());
            }
            Label::JsonKey => match line.strip_prefix('{') {
                Some(rest) => {
                    out.extend_from_slice(b"{\"k8s.node.name\":");
                    serde_json::to_writer(&mut *out, node).expect("a string serialises");
                    if !rest.trim_start().starts_with('}') {
                        out.push(b',');
                    }
                    out.extend_from_slice(rest.as_bytes());
                }
                // Not an object (an agent of another version?): left alone
                // rather than made invalid.
                None => out.extend_from_slice(line.as_bytes()),
            },
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(label: Label, node: &str, line: &str) -> String {
        let mut out = Vec::new();
        label.write(node, line, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_are_labelled_with_their_node() {
        assert_eq!(Label::of(true, true), Label::AsFormatted);
        assert_eq!(Label::of(false, true), Label::JsonKey);
        assert_eq!(Label::of(false, false), Label::Prefix);
        assert_eq!(
            written(Label::AsFormatted, "n1", "cat /etc/hosts"),
            "cat /etc/hosts\n"
        );
        assert_eq!(
            written(Label::Prefix, "kind-worker", "1 12:00:00 0 cat (7) > open"),
            "kind-worker 1 12:00:00 0 cat (7) > open\n"
        );
        let json = written(Label::JsonKey, "n\"1", r#"{"evt.num":1,"proc.name":"cat"}"#);
        assert_eq!(
            json,
            "{\"k8s.node.name\":\"n\\\"1\",\"evt.num\":1,\"proc.name\":\"cat\"}\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["k8s.node.name"], "n\"1");
        assert_eq!(
            written(Label::JsonKey, "n", "{}"),
            "{\"k8s.node.name\":\"n\"}\n"
        );
    }
}
