//! The modules' layers: none imports from a layer above its own, and no two
//! import each other. Read from the source (every `crate::name` outside
//! comments and test code), so a new upward import fails here, with the
//! line that made it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Bottom first. A module may use its own layer and those below.
const LAYERS: &[&[&str]] = &[
    // The kernel, raw syscalls, the records' bytes; libscap's event table
    // (data, which syscalls sysdig ties to an fd).
    &[
        "sys",
        "tls",
        "logger",
        "error_line",
        "decode",
        "capture",
        "scap::event",
        "scap::table",
    ],
    // The field names, and the filter language over them.
    &["fields"],
    &["filter"],
    // Every answer from outside the kernel, recorded or replayed.
    &["journal"],
    // What is known about a process and where it runs.
    &["state", "container", "k8s"],
    // One event as every consumer sees it.
    &["event"],
    &["sink"],
    // The outputs.
    &["output", "scap"],
    // A run, from the kernel, a file or agents (the protocol, reaching
    // them, their streams merged, and their records as a source).
    &[
        "pipeline",
        "run",
        "session",
        "agent::protocol",
        "agent::review",
        "remote::reach",
        "remote::connect",
        "remote::direct",
        "remote::cluster",
        "remote::stream",
        "remote::merge",
        "remote::tally",
        "remote::relay",
        "remote::records",
    ],
    // The views the modes show the events in, by the names the command
    // line takes.
    &["view"],
    // The modes and their command line.
    &[
        "summary",
        "converge",
        "follow",
        "ui",
        "agent",
        "remote",
        "cert",
        "check",
        "cli",
        "sink_mode",
    ],
];

/// Pairs that still import each other, and why; each is a known debt, not
/// a rule. A pair missing from here fails the test, and so does a pair
/// here that no longer imports each other (remove it).
const KNOWN_CYCLES: &[(&str, &str, &str)] = &[];

/// A module's layer: its own entry (`scap::event`), else its parent's.
fn layer_of(module: &str) -> Option<usize> {
    let find = |name: &str| LAYERS.iter().position(|l| l.contains(&name));
    find(module).or_else(|| find(module.split("::").next()?))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file belongs to, two levels deep at most (`src/a.rs`:
/// `a`; `src/a/b.rs` and `src/a/b/c.rs`: `a::b`; `src/a/mod.rs`: `a`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let names: Vec<String> = rel
        .components()
        .take(2)
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .filter(|n| n != "mod")
        .collect();
    names.join("::")
}

/// The unit a module's cycles are judged in: its own entry in [`LAYERS`]
/// (`scap::event`), else its top-level module.
fn top(module: &str) -> &str {
    if LAYERS.iter().any(|l| l.contains(&module)) {
        return module;
    }
    module.split("::").next().unwrap_or(module)
}

/// `crate::a::b` uses (as `a::b`, or `a`) outside comments and test code,
/// with their lines.
fn uses(text: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(test)]") {
            break;
        }
        if code.starts_with("//") {
            continue;
        }
        let code = code.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let ident = |s: &str| -> String {
                s.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            };
            let mut name = ident(after);
            if let Some(inner) = after[name.len()..].strip_prefix("::") {
                let second = ident(inner);
                if !second.is_empty() {
                    name = format!("{name}::{second}");
                }
            }
            if !name.is_empty() {
                found.push((name, n + 1));
            }
            rest = after;
        }
    }
    found
}

#[test]
fn no_module_imports_from_a_layer_above_or_from_a_module_that_imports_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut upward = Vec::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let from = module_of(&src, file);
        if from == "main" || from == "lib" {
            continue;
        }
        let from_top = top(&from).to_owned();
        let from_layer = layer_of(&from)
            .unwrap_or_else(|| panic!("module `{from}` is in no layer: add it to LAYERS"));
        let text = fs::read_to_string(file).expect("read a source file");
        for (to, line) in uses(&text) {
            if top(&to) == from_top {
                continue;
            }
            let Some(to_layer) = layer_of(&to) else {
                continue;
            };
            let at = format!("{}:{line}", file.strip_prefix(&src).unwrap().display());
            if to_layer > from_layer {
                upward.push(format!("{at}: `{from}` uses `{to}`, a layer above it"));
            }
            // Cycles are between top-level modules.
            edges
                .entry((from_top.clone(), top(&to).to_owned()))
                .or_insert(at);
        }
    }
    assert!(upward.is_empty(), "{}", upward.join("\n"));

    let mut cycles = BTreeSet::new();
    for ((a, b), at) in &edges {
        if a < b {
            if let Some(back) = edges.get(&(b.clone(), a.clone())) {
                cycles.insert((a.clone(), b.clone(), format!("{at} and {back}")));
            }
        }
    }
    let known: BTreeSet<(String, String)> = KNOWN_CYCLES
        .iter()
        .map(|(a, b, _)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    let new: Vec<String> = cycles
        .iter()
        .filter(|(a, b, _)| !known.contains(&(a.clone(), b.clone())))
        .map(|(a, b, at)| format!("`{a}` and `{b}` import each other ({at})"))
        .collect();
    assert!(new.is_empty(), "{}", new.join("\n"));
    let gone: Vec<_> = known
        .iter()
        .filter(|(a, b)| !cycles.iter().any(|(x, y, _)| x == a && y == b))
        .collect();
    assert!(
        gone.is_empty(),
        "no longer a cycle, remove from KNOWN_CYCLES: {gone:?}"
    );
}
