//! Field transformers, as libsinsp has them: `tolower(fd.name)`,
//! `toupper(...)`, `b64(...)` (base64 decode), `basename(...)` and `len(...)`,
//! nestable (`tolower(basename(fd.name))`). The filter and the `-p` formats
//! share them: [`Transformer::output`] types an expression, [`Transformer::apply`]
//! transforms one value.

use std::borrow::Cow;
use std::fmt;

use super::{FieldArg, FieldRef, FieldType, Value, MAX_ANCESTORS};

/// One transformer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transformer {
    /// ASCII lowercase, as C's `tolower` in libsinsp.
    ToLower,
    /// ASCII uppercase.
    ToUpper,
    /// Base64 decode (standard alphabet, padding optional); a value that does
    /// not decode has no value.
    B64,
    /// The part after the last `/` (`/etc/` gives the empty string).
    Basename,
    /// Length in bytes of a string or buffer; the number of values of a list.
    Len,
}

impl Transformer {
    /// Every transformer by the name a filter writes it with.
    pub const ALL: &'static [(&'static str, Transformer)] = &[
        ("tolower", Transformer::ToLower),
        ("toupper", Transformer::ToUpper),
        ("b64", Transformer::B64),
        ("basename", Transformer::Basename),
        ("len", Transformer::Len),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Transformer::ToLower => "tolower",
            Transformer::ToUpper => "toupper",
            Transformer::B64 => "b64",
            Transformer::Basename => "basename",
            Transformer::Len => "len",
        }
    }

    pub fn from_name(name: &str) -> Option<Transformer> {
        Transformer::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, t)| t)
    }

    /// The type of the result for an input of type `ty` (a list of them when
    /// `list`), as `(type, list)`; `None` when the transformer does not apply.
    /// As libsinsp: the case and basename transformers take strings, `b64`
    /// strings and buffers, `len` strings, buffers and lists of anything.
    /// Only `len` turns a list into one value; the others apply to each value.
    pub fn output(self, ty: FieldType, list: bool) -> Option<(FieldType, bool)> {
        match self {
            Transformer::ToLower | Transformer::ToUpper | Transformer::Basename => {
                (ty == FieldType::Str).then_some((ty, list))
            }
            Transformer::B64 => ty.is_textual().then_some((ty, list)),
            Transformer::Len => (list || ty.is_textual()).then_some((FieldType::U64, false)),
        }
    }

    /// Transforms one value (for a list, each of its values; `len` of a list
    /// is counted by the caller). `None` when the value does not transform
    /// (`b64` of text that is not base64) or is of a type the transformer does
    /// not take, which type checking rules out.
    pub fn apply<'a>(self, value: Value<'a>) -> Option<Value<'a>> {
        match self {
            Transformer::ToLower | Transformer::ToUpper => {
                let lower = self == Transformer::ToLower;
                Some(match value {
                    Value::Str(s) => Value::Str(Cow::Owned(if lower {
                        s.to_ascii_lowercase()
                    } else {
                        s.to_ascii_uppercase()
                    })),
                    Value::Bytes(b) => Value::Bytes(Cow::Owned(if lower {
                        b.to_ascii_lowercase()
                    } else {
                        b.to_ascii_uppercase()
                    })),
                    _ => return None,
                })
            }
            Transformer::Basename => Some(match value {
                Value::Str(Cow::Borrowed(s)) => Value::Str(Cow::Borrowed(basename_str(s))),
                Value::Str(Cow::Owned(s)) => Value::Str(Cow::Owned(basename_str(&s).to_owned())),
                Value::Bytes(Cow::Borrowed(b)) => Value::Bytes(Cow::Borrowed(basename_bytes(b))),
                Value::Bytes(Cow::Owned(b)) => {
                    Value::Bytes(Cow::Owned(basename_bytes(&b).to_vec()))
                }
                _ => return None,
            }),
            Transformer::B64 => {
                let (decoded, was_text) = match &value {
                    Value::Str(s) => (b64_decode(s.as_bytes())?, true),
                    Value::Bytes(b) => (b64_decode(b)?, false),
                    _ => return None,
                };
                // Decoded text stays text when it is UTF-8; otherwise the
                // bytes go on as bytes, which every string operator takes.
                Some(match String::from_utf8(decoded) {
                    Ok(s) if was_text => Value::Str(Cow::Owned(s)),
                    Ok(s) => Value::Bytes(Cow::Owned(s.into_bytes())),
                    Err(e) => Value::Bytes(Cow::Owned(e.into_bytes())),
                })
            }
            Transformer::Len => match value {
                Value::Str(s) => Some(Value::U64(s.len() as u64)),
                Value::Bytes(b) => Some(Value::U64(b.len() as u64)),
                _ => None,
            },
        }
    }
}

impl fmt::Display for Transformer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A field with transformers applied: `tolower(basename(fd.name))`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldExpr {
    pub field: FieldRef,
    /// Innermost first: `tolower(basename(fd.name))` is `[Basename, ToLower]`.
    pub transformers: Vec<Transformer>,
}

/// A transformer that does not take what it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransformError {
    /// Its index in [`FieldExpr::transformers`].
    pub index: usize,
    pub transformer: Transformer,
    /// What it was given.
    pub ty: FieldType,
    pub list: bool,
}

impl FieldExpr {
    pub fn plain(field: FieldRef) -> FieldExpr {
        FieldExpr {
            field,
            transformers: Vec::new(),
        }
    }

    /// The type of the expression's values and whether it is a list, or the
    /// first transformer that does not apply.
    pub fn ty(&self) -> Result<(FieldType, bool), TransformError> {
        let mut ty = (self.field.def().ty, self.field.is_list());
        for (index, &transformer) in self.transformers.iter().enumerate() {
            ty = transformer.output(ty.0, ty.1).ok_or(TransformError {
                index,
                transformer,
                ty: ty.0,
                list: ty.1,
            })?;
        }
        Ok(ty)
    }

    /// Whether `len` counts the values of a list field (then it is the
    /// outermost transformer: nothing applies to its number).
    pub fn counts_list(&self) -> bool {
        self.field.is_list() && self.transformers.contains(&Transformer::Len)
    }

    /// The expression's value, for output and for the right-hand side of a
    /// comparison: for a counted list the number of its values, otherwise the
    /// field's value (a list field's first, as `get` gives it) transformed.
    /// `get` answers for one field reference; the expression must type-check.
    pub fn eval<'a>(
        &self,
        mut get: impl FnMut(&FieldRef) -> Option<Value<'a>>,
    ) -> Option<Value<'a>> {
        if self.counts_list() {
            let count = (1..=MAX_ANCESTORS)
                .take_while(|&level| {
                    get(&FieldRef {
                        id: self.field.id,
                        arg: FieldArg::Index(level),
                    })
                    .is_some()
                })
                .count();
            return Some(Value::U64(count as u64));
        }
        self.transform(get(&self.field)?)
    }

    /// Applies the transformers to one value of the field (for a list, to
    /// one of its values, `len` excepted).
    pub fn transform<'a>(&self, value: Value<'a>) -> Option<Value<'a>> {
        self.transformers
            .iter()
            .filter(|&&t| !(t == Transformer::Len && self.field.is_list()))
            .try_fold(value, |v, t| t.apply(v))
    }
}

impl fmt::Display for FieldExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in self.transformers.iter().rev() {
            write!(f, "{t}(")?;
        }
        write!(f, "{}", self.field)?;
        for _ in &self.transformers {
            f.write_str(")")?;
        }
        Ok(())
    }
}

fn basename_str(s: &str) -> &str {
    s.rfind('/').map_or(s, |i| &s[i + 1..])
}

fn basename_bytes(b: &[u8]) -> &[u8] {
    b.iter()
        .rposition(|&c| c == b'/')
        .map_or(b, |i| &b[i + 1..])
}

/// Base64 with the standard alphabet, as libsinsp decodes it: up to two
/// trailing `=` are optional, the unused bits of the last character must be
/// zero, anything else (another character, a stray `=`, a length of 4n+1)
/// fails. The empty string decodes to nothing.
pub fn b64_decode(input: &[u8]) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    if input.is_empty() {
        return Some(Vec::new());
    }
    let mut data = input;
    for _ in 0..2 {
        if let Some(rest) = data.strip_suffix(b"=") {
            data = rest;
        }
    }
    if data.is_empty() || data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    for chunk in data.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = acc << 6 | sextet(c)?;
        }
        match chunk.len() {
            4 => out.extend_from_slice(&acc.to_be_bytes()[1..]),
            // 3 characters: 18 bits, 2 bytes and 2 bits that must be zero.
            3 if acc & 0b11 == 0 => out.extend_from_slice(&(acc >> 2).to_be_bytes()[2..]),
            // 2 characters: 12 bits, 1 byte and 4 bits that must be zero.
            2 if acc & 0b1111 == 0 => out.push((acc >> 4) as u8),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(t: Transformer, s: &str) -> Option<Value<'static>> {
        t.apply(Value::Str(Cow::Owned(s.to_owned())))
    }

    fn text(s: &str) -> Option<Value<'static>> {
        Some(Value::Str(Cow::Owned(s.to_owned())))
    }

    #[test]
    fn case_and_basename() {
        assert_eq!(
            apply(Transformer::ToLower, "NoT eXcItED"),
            text("not excited")
        );
        assert_eq!(apply(Transformer::ToUpper, "hello_1"), text("HELLO_1"));
        // ASCII only, as C's tolower: other letters are left alone.
        assert_eq!(apply(Transformer::ToUpper, "é"), text("é"));
        for (path, base) in [
            ("/home/u/hello.txt", "hello.txt"),
            ("/usr/local/bin/cat", "cat"),
            ("/", ""),
            ("/hello/", ""),
            ("hello", "hello"),
            ("", ""),
        ] {
            assert_eq!(apply(Transformer::Basename, path), text(base), "{path}");
        }
        // A borrowed value stays borrowed.
        let v = Transformer::Basename.apply(Value::Str(Cow::Borrowed("/a/b")));
        assert!(matches!(v, Some(Value::Str(Cow::Borrowed("b")))));
    }

    #[test]
    fn base64_as_libsinsp() {
        assert_eq!(apply(Transformer::B64, "aGVsbG8="), text("hello"));
        assert_eq!(apply(Transformer::B64, "aGVsbG8"), text("hello"));
        assert_eq!(apply(Transformer::B64, "d29ybGQgIQ=="), text("world !"));
        assert_eq!(apply(Transformer::B64, ""), text(""));
        for bad in [
            "=",
            "==",
            "a",
            "aGVsbG8===",
            "aGV sbG8=",
            "aGVsbG9",
            "a=b=",
            "ä",
        ] {
            assert_eq!(b64_decode(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(b64_decode(b"/w=="), Some(vec![0xff]));
        assert_eq!(
            apply(Transformer::B64, "/w=="),
            Some(Value::Bytes(Cow::Owned(vec![0xff])))
        );
    }

    #[test]
    fn len_and_types() {
        assert_eq!(
            apply(Transformer::Len, "/home/ubuntu/hello.txt"),
            Some(Value::U64(22))
        );
        assert_eq!(
            Transformer::Len.apply(Value::Bytes(Cow::Borrowed(&[1, 2, 3]))),
            Some(Value::U64(3))
        );
        use FieldType as T;
        assert_eq!(
            Transformer::ToLower.output(T::Str, false),
            Some((T::Str, false))
        );
        assert_eq!(Transformer::ToLower.output(T::Bytes, false), None);
        assert_eq!(Transformer::ToLower.output(T::U64, false), None);
        assert_eq!(
            Transformer::B64.output(T::Bytes, false),
            Some((T::Bytes, false))
        );
        assert_eq!(Transformer::Len.output(T::Str, true), Some((T::U64, false)));
        assert_eq!(Transformer::Len.output(T::U64, true), Some((T::U64, false)));
        assert_eq!(Transformer::Len.output(T::U64, false), None);
        for &(name, t) in Transformer::ALL {
            assert_eq!(Transformer::from_name(name), Some(t));
            assert_eq!(t.name(), name);
        }
    }
}
