//! A refused program, explained in one line: the verifier's own reason, how
//! far it got, and what to try.
//!
//! Programs are loaded with the verifier's statistics only (log level 4): a
//! refusal then costs two verifier runs (aya's first try has no log, its
//! retry a small one) instead of one per growing buffer, since the log holds
//! the reason and the totals, not every instruction. `-v` or
//! `SDTRACE_DEBUG=1` asks for the instruction log as well, and prints it
//! whole.

use aya::VerifierLogLevel;

/// The log level programs are loaded with.
pub fn log_level() -> VerifierLogLevel {
    if debugging() {
        VerifierLogLevel::DEBUG | VerifierLogLevel::STATS
    } else {
        VerifierLogLevel::STATS
    }
}

/// Whether debug lines are printed (`-v`, `SDTRACE_DEBUG`).
pub fn debugging() -> bool {
    crate::logger::debugging()
}

/// The reason in a verifier log: its last line that is not a statistic,
/// e.g. `combined stack size of 3 calls is 576. Too large`, with the
/// instruction count when the log has one.
pub fn summary(log: &str) -> Option<String> {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let processed = lines
        .iter()
        .find_map(|l| l.strip_prefix("processed "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok());
    let reason = lines.iter().rev().find(|l| !is_statistic(l))?;
    Some(match processed {
        Some(n) => format!("{reason} (after {n} instructions)"),
        None => (*reason).to_owned(),
    })
}

fn is_statistic(line: &str) -> bool {
    [
        "processed ",
        "verification time",
        "stack depth",
        "max_states_per_insn",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

/// The helpers sdtrace calls that are younger than its oldest kernel, by
/// number, with the release that brought them.
const YOUNG_HELPERS: &[(u32, &str, &str)] = &[(158, "bpf_get_current_task_btf", "5.11")];

/// The helper an `unknown func` refusal names, with the release it needs.
pub fn missing_helper(reason: &str) -> Option<(&'static str, &'static str)> {
    let n: u32 = reason
        .split("unknown#")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    YOUNG_HELPERS
        .iter()
        .find(|(id, _, _)| *id == n)
        .map(|(_, name, since)| (*name, *since))
}

/// What to try for a reason the verifier gave.
pub fn hint(reason: &str) -> &'static str {
    if reason.contains("stack") {
        "this sdtrace's programs need more BPF stack than this kernel allows; \
         please report it with the output of SDTRACE_DEBUG=1"
    } else if reason.contains("too large") || reason.contains("too complex") {
        "this kernel's verifier gave up on a program (older verifiers prune less); \
         please report it with the output of SDTRACE_DEBUG=1"
    } else if reason.contains("unknown func") || reason.contains("invalid func") {
        "this kernel lacks a BPF helper sdtrace uses; sdtrace is tested on Linux 5.10 and later"
    } else {
        "SDTRACE_DEBUG=1 prints the verifier's whole log"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_is_the_last_line_before_the_statistics() {
        let log = "\
combined stack size of 3 calls is 576. Too large
verification time 4750000 usec
stack depth 216+0+72+272+8+56
processed 607195 insns (limit 1000000) max_states_per_insn 21 total_states 30000 peak_states 4000 mark_read 200
";
        assert_eq!(
            summary(log).unwrap(),
            "combined stack size of 3 calls is 576. Too large (after 607195 instructions)"
        );
        assert!(hint(&summary(log).unwrap()).contains("stack"));
    }

    #[test]
    fn a_missing_helper_is_named_with_its_release() {
        let reason = "invalid func unknown#158 (after 51 instructions)";
        assert_eq!(
            missing_helper(reason),
            Some(("bpf_get_current_task_btf", "5.11"))
        );
        assert_eq!(missing_helper("invalid func unknown#9999"), None);
        assert_eq!(missing_helper("R2 unbounded memory access"), None);
    }

    #[test]
    fn a_program_too_large_is_named_so() {
        let log =
            "BPF program is too large. Processed 1000001 insn\nverification time 56000000 usec\n";
        let s = summary(log).unwrap();
        assert_eq!(s, "BPF program is too large. Processed 1000001 insn");
        assert!(hint(&s).contains("gave up"));
        assert_eq!(summary("\n\n"), None);
    }
}
