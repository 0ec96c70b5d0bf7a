//! Event types the traced architecture does not have: arm64 has no `open`,
//! `stat`, `fork`, ... (only their `*at` and `clone` forms), so
//! `evt.type=open` on an arm64 kernel can never match. Said with a caret
//! under the name, and the call arm64 makes instead.

use tracer_common::arch::Arch;
use tracer_common::syscall_names::SYSCALL_NAMES;

use super::ast::{Comparison, Expr, Literal, Op, Operand};
use super::error::{ErrorKind, FilterError, FilterErrors};
use super::Filter;

/// What a filter names that `arch` lacks.
#[derive(Debug, Default)]
pub struct ArchProblems {
    /// Comparisons that can never hold there (`evt.type=open`,
    /// `evt.type in (open, stat)`): the run would print nothing.
    pub errors: Vec<FilterError>,
    /// Names that are only dead weight there (`open` in `evt.type in (open,
    /// openat)`, or after `!=`).
    pub warnings: Vec<FilterError>,
}

impl Filter {
    /// The event types this filter names that `arch` has no syscall for.
    /// Empty on x86_64, which has every syscall sdtrace names.
    pub fn arch_problems(&self, arch: Arch) -> ArchProblems {
        let mut out = ArchProblems::default();
        walk(self.expr(), false, arch, &mut out);
        out
    }

    /// Fails, with each name under a caret, when the filter can never
    /// match on `arch`; prints the names that are only dead weight there.
    ///
    /// # Errors
    /// When a comparison can never hold on `arch`.
    pub fn check_arch(&self, arch: Arch) -> Result<(), FilterErrors> {
        let problems = self.arch_problems(arch);
        if !problems.warnings.is_empty() {
            let text = render(&self.source, problems.warnings).replace("filter error", "warning");
            eprintln!("{text}");
        }
        if problems.errors.is_empty() {
            return Ok(());
        }
        Err(FilterErrors {
            source: self.source.clone(),
            errors: problems.errors,
        })
    }
}

fn render(source: &str, errors: Vec<FilterError>) -> String {
    FilterErrors {
        source: source.to_owned(),
        errors,
    }
    .to_string()
}

/// `negated`: under an odd number of `not`s, where a comparison that can
/// never hold is always true instead.
fn walk(expr: &Expr, negated: bool, arch: Arch, out: &mut ArchProblems) {
    match expr {
        Expr::And(items) | Expr::Or(items) => {
            items.iter().for_each(|e| walk(e, negated, arch, out));
        }
        Expr::Not(inner) => walk(inner, !negated, arch, out),
        Expr::Cmp(cmp) => compare(cmp, negated, arch, out),
    }
}

fn compare(cmp: &Comparison, negated: bool, arch: Arch, out: &mut ArchProblems) {
    if cmp.lhs.field != "evt.type" || !cmp.lhs.transformers.is_empty() {
        return;
    }
    let literals: &[Literal] = match &cmp.operand {
        Operand::One(lit) => std::slice::from_ref(lit),
        Operand::List(items) => items,
        Operand::None | Operand::Field(_) => return,
    };
    let missing: Vec<&Literal> = literals.iter().filter(|l| lacks(arch, &l.text)).collect();
    let never = !negated
        && matches!(cmp.op, Op::Eq | Op::In | Op::Intersects)
        && missing.len() == literals.len();
    for lit in missing {
        let error = FilterError {
            kind: ErrorKind::NotOnArch {
                name: lit.text.clone(),
                arch: arch.name(),
                instead: instead(arch, &lit.text),
            },
            span: lit.span.clone(),
        };
        if never {
            out.errors.push(error);
        } else {
            out.warnings.push(error);
        }
    }
}

/// Whether `name` is a syscall sdtrace knows that `arch` does not have.
fn lacks(arch: Arch, name: &str) -> bool {
    canonical(name).is_some_and(|nr| !arch.has_syscall(nr))
}

fn canonical(name: &str) -> Option<u16> {
    SYSCALL_NAMES
        .iter()
        .position(|n| !n.is_empty() && *n == name)
        .and_then(|n| u16::try_from(n).ok())
}

/// The call `arch` makes instead of `name`, where there is one.
fn instead(arch: Arch, name: &str) -> Option<&'static str> {
    let pick = match name {
        "open" | "creat" => "openat",
        "stat" | "lstat" => "newfstatat",
        "fork" | "vfork" => "clone",
        "poll" => "ppoll",
        "select" => "pselect6",
        "dup2" => "dup3",
        "pipe" => "pipe2",
        "epoll_wait" => "epoll_pwait",
        "epoll_create" => "epoll_create1",
        "eventfd" => "eventfd2",
        "signalfd" => "signalfd4",
        "inotify_init" => "inotify_init1",
        "getdents" => "getdents64",
        "rename" => "renameat2",
        "utimes" | "utime" | "futimesat" => "utimensat",
        "time" | "gettimeofday" => "clock_gettime",
        other => {
            let at = format!("{other}at");
            return SYSCALL_NAMES
                .iter()
                .copied()
                .find(|n| *n == at)
                .filter(|n| !lacks(arch, n));
        }
    };
    (!lacks(arch, pick)).then_some(pick)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(src: &str, arch: Arch) -> (Vec<String>, Vec<String>) {
        let f = Filter::parse(src).unwrap();
        let p = f.arch_problems(arch);
        let text = |v: &[FilterError]| v.iter().map(|e| src[e.span.clone()].to_owned()).collect();
        (text(&p.errors), text(&p.warnings))
    }

    #[test]
    fn arm64_has_no_open() {
        let (errors, warnings) = problems("evt.type=open", Arch::Aarch64);
        assert_eq!(errors, ["open"]);
        assert!(warnings.is_empty());
        let f = Filter::parse("evt.type=open").unwrap();
        let text = f.check_arch(Arch::Aarch64).unwrap_err().to_string();
        assert_eq!(
            text,
            "sdtrace: filter error at column 10: `open` is not a syscall on aarch64 (it calls openat instead)\n  evt.type=open\n           ^^^^"
        );
    }

    #[test]
    fn a_list_with_one_that_exists_only_warns() {
        let (errors, warnings) = problems(
            "evt.type in (open, openat) and not evt.type=stat",
            Arch::Aarch64,
        );
        assert!(errors.is_empty());
        assert_eq!(warnings, ["open", "stat"]);
        let (errors, _) = problems("evt.type in (fork, vfork)", Arch::Aarch64);
        assert_eq!(errors, ["fork", "vfork"]);
    }

    #[test]
    fn x86_64_is_unchanged() {
        for src in [
            "evt.type=open",
            "evt.type in (fork, stat, poll)",
            "evt.type!=open",
        ] {
            assert_eq!(problems(src, Arch::X86_64), (vec![], vec![]), "{src}");
        }
        assert_eq!(problems("evt.type=openat", Arch::Aarch64), (vec![], vec![]));
    }

    #[test]
    fn suggestions() {
        assert_eq!(instead(Arch::Aarch64, "mkdir"), Some("mkdirat"));
        assert_eq!(instead(Arch::Aarch64, "stat"), Some("newfstatat"));
        assert_eq!(instead(Arch::Aarch64, "fork"), Some("clone"));
        assert_eq!(instead(Arch::Aarch64, "arch_prctl"), None);
    }
}
