//! Whether `/proc` hides other users' processes from sdtrace, said once at
//! the start: a `/proc` mounted with `hidepid=1` or `2` shows a process's
//! details (`hidepid=2`: its very directory) only to its own user, to the
//! mount's `gid=` group, and to holders of CAP_SYS_PTRACE. The kernel still
//! reports those processes' syscalls, so their events come; what sdtrace
//! reads of them from `/proc` (command line, executable, working directory,
//! the files they opened before it started) is lost, and a user reading
//! such events should know why.

use std::fs;

/// CAP_SYS_PTRACE's bit in `CapEff`: procfs lets its holder past `hidepid`.
const CAP_SYS_PTRACE: u32 = 19;

/// `/proc`'s `hidepid` when it hides other users' processes from this one.
/// (The kernel exempts the mount's `gid=` group, root's by default, and
/// CAP_SYS_PTRACE; `hidepid=ptraceable` only the latter.)
#[derive(Debug, PartialEq, Eq)]
pub struct Hidden {
    /// The mount option as the kernel shows it (`invisible`, `noaccess`, `2`).
    pub hidepid: String,
}

impl Hidden {
    /// What is lost, in one line.
    pub fn line(&self) -> String {
        format!(
            "sdtrace: /proc is mounted hidepid={} and sdtrace lacks CAP_SYS_PTRACE and its \
             group: processes it may not inspect (other users', or holding capabilities it \
             lacks) that were running before it started show no command line, executable, \
             directory or open files (their events still come; what they exec is known)",
            self.hidepid
        )
    }
}

/// Whether this process is hidden others' processes, from its own
/// `/proc/self/mountinfo` and `/proc/self/status`.
pub fn check() -> Option<Hidden> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let status = fs::read_to_string("/proc/self/status").ok()?;
    hidden(&mountinfo, &status)
}

/// [`check`] on the two files' text.
pub fn hidden(mountinfo: &str, status: &str) -> Option<Hidden> {
    // The last mount at /proc is the one that shows (a private namespace
    // may mount a new one over the host's).
    let options = mountinfo
        .lines()
        .rev()
        .filter(|l| l.split(' ').nth(4) == Some("/proc"))
        .find_map(|l| {
            let (_, after) = l.split_once(" - ")?;
            let mut f = after.split(' ');
            (f.next()? == "proc").then(|| f.nth(1).unwrap_or("").to_owned())
        })?;
    let option = |key: &str| {
        options
            .split(',')
            .find_map(|o| o.strip_prefix(key)?.strip_prefix('='))
    };
    let hidepid = option("hidepid").filter(|v| !matches!(*v, "0" | "off"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .unwrap_or("")
    };
    let cap_eff = u64::from_str_radix(field("CapEff").trim(), 16).unwrap_or(0);
    if cap_eff & (1 << CAP_SYS_PTRACE) != 0 {
        return None;
    }
    // The mount's exempt group (`gid=`, root's when not given: a root
    // sdtrace is hidden nothing unless it runs under another group), as
    // file-system or supplementary group; `ptraceable` exempts no group.
    if !matches!(hidepid, "ptraceable" | "4") {
        let gid = option("gid").unwrap_or("0");
        let fsgid = field("Gid").split_whitespace().nth(3);
        if fsgid == Some(gid) || field("Groups").split_whitespace().any(|g| g == gid) {
            return None;
        }
    }
    Some(Hidden {
        hidepid: hidepid.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host's /proc, then a private namespace's hidepid one over it.
    const MOUNTINFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
24 23 0:47 / /proc/sys/fs/binfmt_misc rw,relatime shared:13 - binfmt_misc binfmt_misc rw
90 22 0:60 / /proc rw,relatime - proc proc rw,hidepid=invisible,gid=27
";

    const NO_PTRACE: &str = "000001ffffb7ffff";

    fn status(cap_eff: &str, gid: u32, groups: &str) -> String {
        format!(
            "Name:\tsdtrace\nUid:\t0\t0\t0\t0\nGid:\t{gid}\t{gid}\t{gid}\t{gid}\n\
             Groups:\t{groups}\nCapEff:\t{cap_eff}\n"
        )
    }

    #[test]
    fn hidden_without_ptrace_or_the_exempt_group() {
        let hidden_from = |cap_eff, gid, groups| hidden(MOUNTINFO, &status(cap_eff, gid, groups));
        assert_eq!(
            hidden_from(NO_PTRACE, 0, ""),
            Some(Hidden {
                hidepid: "invisible".into()
            })
        );
        assert!(hidden_from(NO_PTRACE, 0, "")
            .unwrap()
            .line()
            .contains("hidepid=invisible"));
        // Root with every capability sees everything.
        assert_eq!(hidden_from("000001ffffffffff", 0, ""), None);
        // So does the gid= group.
        assert_eq!(hidden_from(NO_PTRACE, 27, ""), None);
        assert_eq!(hidden_from(NO_PTRACE, 0, "4 27"), None);
    }

    #[test]
    fn without_gid_root_s_group_is_exempt() {
        let no_gid = MOUNTINFO.replace(",gid=27", "");
        assert_eq!(hidden(&no_gid, &status(NO_PTRACE, 0, "")), None);
        assert!(hidden(&no_gid, &status(NO_PTRACE, 65533, "")).is_some());
        // ptraceable: only CAP_SYS_PTRACE sees through it.
        let ptraceable = MOUNTINFO.replace("invisible", "ptraceable");
        assert!(hidden(&ptraceable, &status(NO_PTRACE, 27, "")).is_some());
    }

    #[test]
    fn a_plain_proc_hides_nothing() {
        let plain = MOUNTINFO.lines().take(3).collect::<Vec<_>>().join("\n");
        assert_eq!(hidden(&plain, &status("0", 0, "")), None);
        let off = MOUNTINFO.replace("hidepid=invisible", "hidepid=off");
        assert_eq!(hidden(&off, &status("0", 0, "")), None);
    }
}
