//! What the running kernel accepted: the hook that carries syscall records,
//! the fallbacks taken, and what each program cost to load. `sdtrace check`
//! prints it; the kernel matrix compares it across kernels.

use std::time::Duration;

/// One loaded program.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProgramLoad {
    pub name: String,
    /// `tp_btf`, `raw_tp`, …
    pub kind: &'static str,
    /// Wall time of the load (the verifier's run).
    pub load_ms: f64,
    /// Instructions the verifier processed (`bpf_prog_info.verified_insns`,
    /// Linux 5.16+); `None` where the kernel does not say.
    pub verified_insns: Option<u32>,
}

/// The whole load.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LoadReport {
    /// `uname -r`.
    pub kernel: String,
    /// The program type and hook of the syscall records, e.g. `tp_btf/sys_exit`.
    pub hook: String,
    /// One line per fallback taken (empty when the kernel took everything).
    pub fallbacks: Vec<String>,
    pub programs: Vec<ProgramLoad>,
    /// From the start of the load to the last attach.
    pub total_ms: f64,
}

impl LoadReport {
    pub fn new() -> Self {
        Self {
            kernel: kernel_release(),
            ..Self::default()
        }
    }

    pub fn loaded(&mut self, name: &str, kind: &'static str, took: Duration, insns: Option<u32>) {
        self.programs.push(ProgramLoad {
            name: name.to_owned(),
            kind,
            load_ms: took.as_secs_f64() * 1e3,
            verified_insns: insns,
        });
    }

    /// The largest number of instructions one program cost the verifier.
    pub fn max_insns(&self) -> Option<u32> {
        self.programs.iter().filter_map(|p| p.verified_insns).max()
    }

    /// The report as `sdtrace check` prints it.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "kernel     {}", self.kernel);
        let _ = writeln!(out, "hook       {}", self.hook);
        if self.fallbacks.is_empty() {
            let _ = writeln!(out, "fallbacks  none");
        }
        for f in &self.fallbacks {
            let _ = writeln!(out, "fallback   {f}");
        }
        let _ = writeln!(
            out,
            "{:<22} {:<7} {:>9} {:>10}",
            "program", "type", "load ms", "insns"
        );
        for p in &self.programs {
            let insns = p
                .verified_insns
                .map_or_else(|| "-".to_owned(), |n| n.to_string());
            let _ = writeln!(
                out,
                "{:<22} {:<7} {:>9.1} {:>10}",
                p.name, p.kind, p.load_ms, insns
            );
        }
        let _ = writeln!(out, "loaded and attached in {:.0} ms", self.total_ms);
        out
    }
}

/// The oldest kernel sdtrace loads on: the BPF ring buffer and
/// `bpf_ktime_get_boot_ns` came in 5.8. The kernel matrix tests from 5.10.
pub const MINIMUM_KERNEL: (u32, u32) = (5, 8);

/// `(major, minor)` of a release such as `6.1.0-57-amd64`.
pub fn version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The running kernel's release, as `uname -r` prints it.
pub fn kernel_release() -> String {
    // SAFETY: utsname is plain old data; uname fills it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a utsname.
    if unsafe { libc::uname(&raw mut uts) } != 0 {
        return "unknown".to_owned();
    }
    // SAFETY: uname NUL-terminates the field.
    unsafe { std::ffi::CStr::from_ptr(uts.release.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_give_their_version() {
        assert_eq!(version("6.1.0-57-amd64"), Some((6, 1)));
        assert_eq!(version("5.10.0-46-amd64"), Some((5, 10)));
        assert_eq!(version("6.12.95+deb12-rt-amd64"), Some((6, 12)));
        assert_eq!(version("4.18.0-553.el8_10.x86_64"), Some((4, 18)));
        assert!(version("4.18.0").unwrap() < MINIMUM_KERNEL);
        assert_eq!(version("unknown"), None);
    }

    #[test]
    fn the_table_names_every_program_and_says_what_is_unknown() {
        let mut r = LoadReport {
            kernel: "6.1.0-50-amd64".into(),
            hook: "tp_btf/sys_exit".into(),
            ..LoadReport::default()
        };
        r.loaded(
            "sys_exit_btf",
            "tp_btf",
            Duration::from_millis(12),
            Some(3456),
        );
        r.loaded("sys_enter", "raw_tp", Duration::from_millis(1), None);
        r.total_ms = 240.0;
        let t = r.table();
        assert!(t.contains("hook       tp_btf/sys_exit"));
        assert!(t.contains("fallbacks  none"));
        assert!(t
            .lines()
            .any(|l| l.starts_with("sys_exit_btf") && l.ends_with("3456")));
        assert!(t
            .lines()
            .any(|l| l.starts_with("sys_enter") && l.ends_with('-')));
        assert_eq!(r.max_insns(), Some(3456));
    }
}
