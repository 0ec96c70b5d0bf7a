//! Any text as a `-p` output format must parse or be refused with a caret,
//! never panic; a parsed format's fields print as expressions that the
//! format parser takes back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracer::output::format::OutputFormat;

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    match OutputFormat::parse(&src) {
        Ok(format) => {
            for expr in format.exprs() {
                let token = format!("%{expr}");
                let again = OutputFormat::parse(&token)
                    .unwrap_or_else(|e| panic!("{src:?}: {token:?} does not parse:\n{e}"));
                assert_eq!(again.exprs().collect::<Vec<_>>(), [expr], "{src:?}");
            }
        }
        Err(e) => {
            assert!(e.column <= src.chars().count(), "{src:?}: {e:?}");
            let _ = e.to_string();
        }
    }
});
