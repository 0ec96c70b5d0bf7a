//! Text to [`Expr`]: a recursive-descent parser working straight on the
//! characters, since what a word means depends on where it stands
//! (`proc.name=in` compares with the value `in`).
//!
//! Grammar, loosest first, as in libsinsp:
//!
//! ```text
//! or      := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | primary
//! primary := "(" or ")" | lhs op [value | "(" value ("," value)* ")" | rhs]
//! lhs     := field | transformer "(" lhs ")"
//! rhs     := "val(" field ")" | transformer "(" lhs ")"
//! ```
//!
//! A transformer (`tolower`, `toupper`, `b64`, `basename`, `len`) or `val`
//! is a word followed straight by `(`, as libsinsp lexes it.
//!
//! Recursion only happens through `not` and `(`, and both count against
//! [`MAX_DEPTH`], so no input can overflow the stack; transformers are read
//! in a loop and count against it too. Problems that leave the rest of the
//! filter readable (an unknown operator, a bad escape, a missing operator) are
//! recorded and parsing goes on; the others stop it.

use super::ast::{ends_bare_value, Applied, Comparison, Expr, FieldText, Literal, Op, Operand};
use super::error::{ErrorKind, FilterError, Span};
use crate::fields::{closest, Transformer};

/// Deepest nesting of parentheses, `not`s and transformers accepted.
pub const MAX_DEPTH: usize = 64;

/// What the parser produced: the tree if the text was well-formed, every
/// problem found, and the comparisons it read (so the checker can report their
/// problems too when the tree is incomplete).
pub(crate) struct Parsed {
    pub expr: Option<Expr>,
    pub errors: Vec<FilterError>,
    pub comparisons: Vec<Comparison>,
}

pub(crate) fn parse(src: &str) -> Parsed {
    let mut p = Parser {
        src,
        pos: 0,
        errors: Vec::new(),
        comparisons: Vec::new(),
    };
    p.skip_ws();
    let expr = if p.at_end() {
        p.error(ErrorKind::Empty, 0..src.len());
        None
    } else {
        p.parse_or(0).ok().and_then(|expr| {
            p.skip_ws();
            match p.peek() {
                None => Some(expr),
                Some(_) => {
                    let (found, span) = p.token_here();
                    p.error(
                        ErrorKind::Unexpected {
                            found,
                            expected: "`and`, `or` or the end of the filter",
                        },
                        span,
                    );
                    None
                }
            }
        })
    };
    let expr = if p.errors.is_empty() { expr } else { None };
    Parsed {
        expr,
        errors: p.errors,
        comparisons: p.comparisons,
    }
}

/// The error is already recorded; the caller gives up.
struct Fatal;

struct Parser<'s> {
    src: &'s str,
    pos: usize,
    errors: Vec<FilterError>,
    comparisons: Vec<Comparison>,
}

fn is_field_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

impl<'s> Parser<'s> {
    fn error(&mut self, kind: ErrorKind, span: Span) {
        self.errors.push(FilterError { kind, span });
    }

    fn fatal<T>(&mut self, kind: ErrorKind, span: Span) -> Result<T, Fatal> {
        self.error(kind, span);
        Err(Fatal)
    }

    fn rest(&self) -> &'s str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// The word or character at the cursor, for "unexpected ..." messages.
    fn token_here(&self) -> (String, Span) {
        let rest = self.rest();
        let len = match rest.chars().next() {
            None => 0,
            Some(c) if ends_bare_value(c) => c.len_utf8(),
            Some(_) => rest.find(ends_bare_value).unwrap_or(rest.len()),
        };
        let shown: String = rest[..len].chars().take(32).collect();
        (shown, self.pos..self.pos + len)
    }

    fn unexpected<T>(&mut self, expected: &'static str) -> Result<T, Fatal> {
        if self.at_end() {
            let end = self.src.len();
            return self.fatal(ErrorKind::UnexpectedEnd { expected }, end..end);
        }
        let (found, span) = self.token_here();
        self.fatal(ErrorKind::Unexpected { found, expected }, span)
    }

    /// Consumes `kw` if it stands at the cursor as a whole word.
    fn keyword(&mut self, kw: &str) -> Option<Span> {
        self.skip_ws();
        let rest = self.rest();
        let after = rest.strip_prefix(kw)?;
        match after.chars().next() {
            None | Some('(' | ')') => {}
            Some(c) if c.is_whitespace() => {}
            Some(_) => return None,
        }
        let start = self.pos;
        self.pos += kw.len();
        Some(start..self.pos)
    }

    fn parse_or(&mut self, depth: usize) -> Result<Expr, Fatal> {
        let mut items = vec![self.parse_and(depth)?];
        while self.keyword("or").is_some() {
            items.push(self.parse_and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Expr::Or(items)
        })
    }

    fn parse_and(&mut self, depth: usize) -> Result<Expr, Fatal> {
        let mut items = vec![self.parse_not(depth)?];
        while self.keyword("and").is_some() {
            items.push(self.parse_not(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Expr::And(items)
        })
    }

    fn parse_not(&mut self, depth: usize) -> Result<Expr, Fatal> {
        if let Some(span) = self.keyword("not") {
            if depth >= MAX_DEPTH {
                return self.fatal(ErrorKind::TooDeep { max: MAX_DEPTH }, span);
            }
            return Ok(Expr::Not(Box::new(self.parse_not(depth + 1)?)));
        }
        self.parse_primary(depth)
    }

    fn parse_primary(&mut self, depth: usize) -> Result<Expr, Fatal> {
        self.skip_ws();
        match self.peek() {
            Some('(') => {
                let open = self.pos..self.pos + 1;
                if depth >= MAX_DEPTH {
                    return self.fatal(ErrorKind::TooDeep { max: MAX_DEPTH }, open);
                }
                self.pos += 1;
                let inner = self.parse_or(depth + 1)?;
                self.skip_ws();
                match self.peek() {
                    Some(')') => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    None => self.fatal(ErrorKind::UnclosedParen, open),
                    Some(_) => self.unexpected("`and`, `or` or `)`"),
                }
            }
            // `and`/`or` where an operand should be: `proc.name = a and or ...`.
            Some(_) if self.rest().starts_with("and") || self.rest().starts_with("or") => {
                let (found, _) = self.token_here();
                if matches!(found.as_str(), "and" | "or") {
                    return self.unexpected("a field name, `not` or `(`");
                }
                self.parse_comparison(depth)
            }
            Some(c) if is_field_start(c) => self.parse_comparison(depth),
            _ => self.unexpected("a field name, `not` or `(`"),
        }
    }

    fn parse_field(&mut self) -> (String, Span) {
        let start = self.pos;
        let rest = self.rest();
        let mut len = rest.find(|c| !is_field_char(c)).unwrap_or(rest.len());
        if rest[len..].starts_with('[') {
            // The argument runs to the closing bracket; an unclosed one takes
            // the rest of the word and fails to resolve later.
            let after = &rest[len..];
            len += after.find(']').map_or_else(
                || after.find(char::is_whitespace).unwrap_or(after.len()),
                |i| i + 1,
            );
        }
        self.pos += len;
        (rest[..len].to_owned(), start..self.pos)
    }

    /// `name(` at the cursor, a call: the name and its span.
    fn call_here(&self) -> Option<(&'s str, Span)> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        (len > 0 && rest[len..].starts_with('(')).then(|| (&rest[..len], self.pos..self.pos + len))
    }

    /// A field, bare or inside transformers: `tolower(basename(fd.name))`.
    fn parse_field_text(&mut self, depth: usize) -> Result<FieldText, Fatal> {
        let start = self.pos;
        let mut transformers = Vec::new();
        while let Some((name, span)) = self.call_here() {
            let Some(transformer) = Transformer::from_name(name) else {
                let kind = if name == "val" {
                    ErrorKind::ValOnLeft
                } else {
                    ErrorKind::UnknownTransformer {
                        name: name.to_owned(),
                        suggestion: closest(name, Transformer::ALL.iter().map(|(n, _)| *n)),
                    }
                };
                return self.fatal(kind, span);
            };
            if depth + transformers.len() >= MAX_DEPTH {
                return self.fatal(ErrorKind::TooDeep { max: MAX_DEPTH }, span);
            }
            self.pos = span.end + 1;
            self.skip_ws();
            transformers.push(Applied { transformer, span });
        }
        if !self.peek().is_some_and(is_field_start) {
            return self.unexpected(if transformers.is_empty() {
                "a field name"
            } else {
                "a field name or a transformer"
            });
        }
        let (field, field_span) = self.parse_field();
        for _ in &transformers {
            self.skip_ws();
            if self.peek() != Some(')') {
                return self.unexpected("`)` closing the transformer");
            }
            self.pos += 1;
        }
        Ok(FieldText {
            field,
            field_span,
            transformers,
            span: start..self.pos,
        })
    }

    /// `val(field)` or a transformer call at the cursor: a field on the
    /// right-hand side. `None` (nothing consumed) when neither stands there.
    fn parse_rhs_field(&mut self, depth: usize) -> Result<Option<FieldText>, Fatal> {
        let Some((name, span)) = self.call_here() else {
            return Ok(None);
        };
        if name != "val" {
            if Transformer::from_name(name).is_none() {
                return Ok(None);
            }
            return self.parse_field_text(depth).map(Some);
        }
        let start = self.pos;
        self.pos = span.end + 1;
        self.skip_ws();
        if !self.peek().is_some_and(is_field_start) || self.call_here().is_some() {
            return self.unexpected("a field name inside `val(...)`");
        }
        let (field, field_span) = self.parse_field();
        self.skip_ws();
        if self.peek() != Some(')') {
            return self.unexpected("`)` closing `val(`");
        }
        self.pos += 1;
        Ok(Some(FieldText {
            field,
            field_span,
            transformers: Vec::new(),
            span: start..self.pos,
        }))
    }

    fn parse_comparison(&mut self, depth: usize) -> Result<Expr, Fatal> {
        let lhs = self.parse_field_text(depth)?;
        self.skip_ws();
        let op_start = self.pos;
        let rest = self.rest();
        let symbol = Op::SYMBOLS.iter().find(|(s, _)| rest.starts_with(s));
        let (op, op_span) = if let Some(&(s, op)) = symbol {
            self.pos += s.len();
            (op, op_start..self.pos)
        } else if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            let len = rest
                .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .unwrap_or(rest.len());
            let word = &rest[..len];
            let span = op_start..op_start + len;
            if let Some(&(_, op)) = Op::WORDS.iter().find(|(w, _)| *w == word) {
                self.pos += len;
                (op, span)
            } else if matches!(word, "and" | "or") {
                // `proc.name and ...`: report, and read on as if `exists`.
                self.error(
                    ErrorKind::Unexpected {
                        found: word.to_owned(),
                        expected: "an operator after the field",
                    },
                    span,
                );
                return Ok(self.finish(lhs, Op::Exists, op_start..op_start, Operand::None));
            } else {
                let suggestion = closest(word, Op::WORDS.iter().map(|(w, _)| *w));
                self.error(
                    ErrorKind::UnknownOperator {
                        op: word.to_owned(),
                        suggestion,
                    },
                    span.clone(),
                );
                self.pos += len;
                // Read the value the operator would have taken, so parsing can go on.
                self.skip_ws();
                if self.peek() == Some('(') {
                    self.parse_list()?;
                } else if self.parse_rhs_field(depth)?.is_none()
                    && self.peek().is_some_and(|c| !matches!(c, ')'))
                {
                    self.parse_value()?;
                }
                return Ok(self.finish(lhs, Op::Exists, span, Operand::None));
            }
        } else if self.at_end() || self.peek() == Some(')') {
            // `(proc.name)`: report, and read on as if `exists`.
            let expected = "an operator after the field";
            let span = op_start..op_start;
            if self.at_end() {
                self.error(ErrorKind::UnexpectedEnd { expected }, span.clone());
            } else {
                self.error(
                    ErrorKind::Unexpected {
                        found: ")".to_owned(),
                        expected,
                    },
                    op_start..op_start + 1,
                );
            }
            return Ok(self.finish(lhs, Op::Exists, span, Operand::None));
        } else {
            return self.unexpected("an operator (=, !=, <, <=, >, >=, contains, in, exists, ...)");
        };
        if op != Op::Exists {
            self.skip_ws();
            if let Some(rhs) = self.parse_rhs_field(depth)? {
                return Ok(self.finish(lhs, op, op_span, Operand::Field(rhs)));
            }
        }
        let operand = match op {
            Op::Exists => Operand::None,
            Op::In | Op::Intersects | Op::PMatch => {
                if self.peek() != Some('(') {
                    return self.unexpected(match op {
                        Op::In => "`(` and a list of values after `in`",
                        Op::Intersects => "`(` and a list of values after `intersects`",
                        _ => "`(` and a list of paths after `pmatch`",
                    });
                }
                Operand::List(self.parse_list()?)
            }
            _ => Operand::One(self.parse_value()?),
        };
        Ok(self.finish(lhs, op, op_span, operand))
    }

    fn finish(&mut self, lhs: FieldText, op: Op, op_span: Span, operand: Operand) -> Expr {
        let cmp = Comparison {
            lhs,
            op,
            op_span,
            operand,
        };
        self.comparisons.push(cmp.clone());
        Expr::Cmp(cmp)
    }

    /// `( value, value, ... )`, the cursor on the `(`.
    fn parse_list(&mut self) -> Result<Vec<Literal>, Fatal> {
        let open = self.pos..self.pos + 1;
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            items.push(self.parse_value()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok(items);
                }
                None => return self.fatal(ErrorKind::UnclosedParen, open),
                Some(_) => return self.unexpected("`,` or `)`"),
            }
        }
    }

    fn parse_value(&mut self) -> Result<Literal, Fatal> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some(q @ ('"' | '\'')) => self.parse_quoted(q),
            Some(c) if !ends_bare_value(c) => {
                let rest = self.rest();
                let len = rest.find(ends_bare_value).unwrap_or(rest.len());
                self.pos += len;
                Ok(Literal {
                    text: rest[..len].to_owned(),
                    span: start..self.pos,
                })
            }
            _ => self.unexpected("a value"),
        }
    }

    fn parse_quoted(&mut self, quote: char) -> Result<Literal, Fatal> {
        let start = self.pos;
        self.pos += 1;
        let mut text = String::new();
        let mut chars = self.rest().char_indices();
        let base = self.pos;
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos = base + i + 1;
                return Ok(Literal {
                    text,
                    span: start..self.pos,
                });
            }
            if c != '\\' {
                text.push(c);
                continue;
            }
            match chars.next() {
                None => break,
                Some((j, e)) => match e {
                    '\\' | '"' | '\'' => text.push(e),
                    'n' => text.push('\n'),
                    't' => text.push('\t'),
                    'r' => text.push('\r'),
                    '0' => text.push('\0'),
                    _ => {
                        let span = base + i..base + j + e.len_utf8();
                        self.error(ErrorKind::BadEscape(e), span);
                        text.push(e);
                    }
                },
            }
        }
        let end = self.src.len();
        self.pos = end;
        self.fatal(ErrorKind::UnterminatedString, start..end)
    }
}
