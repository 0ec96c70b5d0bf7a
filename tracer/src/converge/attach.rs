//! The watches a daemon's tree already had when sdtrace attached. Each
//! inotify fd's `/proc/PID/fdinfo` entry lists its watches: the descriptor
//! and the file handle of what each watches, which `open_by_handle_at`
//! turns back into a path.

use std::fs::{self, File};
use std::path::Path;

use crate::sys::handle::open_by_handle;

/// One watch of one inotify fd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Existing {
    pub wd: i32,
    pub path: String,
}

/// What `/proc/PID/fdinfo/FD` says of one watch.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Listed {
    wd: i32,
    /// The filesystem's device, the kernel's `s_dev` (`major << 20 | minor`).
    sdev: u32,
    handle_type: i32,
    handle: Vec<u8>,
}

/// Process `pid`'s inotify fds (under `proc_root`).
#[must_use]
pub fn inotify_fds(proc_root: &Path, pid: u32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir(proc_root.join(pid.to_string()).join("fd")) else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter(|e| fs::read_link(e.path()).is_ok_and(|l| l.as_os_str() == "anon_inode:inotify"))
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Process `pid`'s watches on inotify fd `ifd`, by path (under `proc_root`),
/// and how many could not be named (deleted since, a filesystem without
/// file handles, another mount namespace).
#[must_use]
pub fn watches(proc_root: &Path, pid: u32, ifd: i32) -> (Vec<Existing>, usize) {
    let proc_dir = proc_root.join(pid.to_string());
    let Ok(text) = fs::read_to_string(proc_dir.join("fdinfo").join(ifd.to_string())) else {
        return (Vec::new(), 0);
    };
    let listed: Vec<Listed> = text.lines().filter_map(parse_line).collect();
    if listed.is_empty() {
        return (Vec::new(), 0);
    }
    let ns = |dir: &Path| fs::read_link(dir.join("ns/mnt")).ok();
    // Paths read back through our own root are the daemon's only when it
    // shares our mounts.
    if ns(&proc_dir).is_none() || ns(&proc_dir) != ns(&proc_root.join("self")) {
        return (Vec::new(), listed.len());
    }
    let mounts = fs::read_to_string(proc_dir.join("mountinfo")).unwrap_or_default();
    let mut named = Vec::new();
    for w in &listed {
        match name(proc_root, &mounts, w) {
            Some(path) => named.push(Existing { wd: w.wd, path }),
            None => continue,
        }
    }
    let unnamed = listed.len() - named.len();
    (named, unnamed)
}

/// The path of the file `w` watches.
fn name(proc_root: &Path, mounts: &str, w: &Listed) -> Option<String> {
    let point = mount_point(mounts, w.sdev)?;
    let mount = File::open(point).ok()?;
    let fd = open_by_handle(&mount, w.handle_type, &w.handle).ok()?;
    let link = proc_root.join("self/fd").join(fd_number(&fd).to_string());
    let path = fs::read_link(link).ok()?;
    let path = path.to_str()?;
    // A watched file deleted since reads back as "/path (deleted)".
    (path.starts_with('/') && !path.ends_with(" (deleted)")).then(|| path.to_owned())
}

fn fd_number(fd: &std::os::fd::OwnedFd) -> i32 {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

/// Where a filesystem of device `sdev` is mounted, from `mountinfo`
/// (`ID PARENT MAJOR:MINOR ROOT MOUNT-POINT ...`): a mount of its root
/// first, any other mount of it else.
fn mount_point(mountinfo: &str, sdev: u32) -> Option<String> {
    let dev = format!("{}:{}", sdev >> 20, sdev & 0xf_ffff);
    let mut any = None;
    for line in mountinfo.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (Some(&d), Some(&root), Some(&point)) = (f.get(2), f.get(3), f.get(4)) else {
            continue;
        };
        if d != dev {
            continue;
        }
        let point = unescape(point);
        if root == "/" {
            return Some(point);
        }
        any.get_or_insert(point);
    }
    any
}

/// mountinfo's octal escapes (`\040` for a space) undone.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (b[i], octal) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `inotify wd:1 ino:9b40a2 sdev:fe00000 mask:fff ignored_mask:0
/// fhandle-bytes:8 fhandle-type:1 f_handle:a2409b00c034f9e0` (all hex).
fn parse_line(line: &str) -> Option<Listed> {
    let rest = line.strip_prefix("inotify ")?;
    let field = |key: &str| {
        rest.split(' ')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix(':'))
    };
    let hex = |key: &str| field(key).and_then(|v| u32::from_str_radix(v, 16).ok());
    let handle_hex = field("f_handle")?;
    let handle = (0..handle_hex.len() / 2)
        .map(|i| u8::from_str_radix(handle_hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    if handle.len() != usize::try_from(hex("fhandle-bytes")?).ok()? {
        return None;
    }
    Some(Listed {
        wd: i32::try_from(hex("wd")?).ok()?,
        sdev: hex("sdev")?,
        handle_type: i32::try_from(hex("fhandle-type")?).ok()?,
        handle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_watch_line() {
        let line = "inotify wd:1a ino:9b40a2 sdev:fe00000 mask:fff ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:a2409b00c034f9e0";
        assert_eq!(
            parse_line(line),
            Some(Listed {
                wd: 0x1a,
                sdev: 0xfe0_0000,
                handle_type: 1,
                handle: vec![0xa2, 0x40, 0x9b, 0x00, 0xc0, 0x34, 0xf9, 0xe0],
            })
        );
        assert_eq!(parse_line("pos:\t0"), None);
        // No handle (a filesystem without export operations).
        assert_eq!(
            parse_line("inotify wd:1 ino:2 sdev:3 mask:fff ignored_mask:0"),
            None
        );
        // A handle shorter than it says.
        assert_eq!(
            parse_line("inotify wd:1 ino:2 sdev:3 mask:fff ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:a240"),
            None
        );
    }

    #[test]
    fn finds_the_mount_of_a_device_preferring_its_root() {
        let info = "\
22 1 254:0 /sub /srv/bind rw - ext4 /dev/vda rw
23 1 254:0 / / rw - ext4 /dev/vda rw
24 23 0:25 / /my\\040dir rw - tmpfs tmpfs rw";
        assert_eq!(mount_point(info, 254 << 20).as_deref(), Some("/"));
        assert_eq!(mount_point(info, 25).as_deref(), Some("/my dir"));
        assert_eq!(mount_point(info, 7), None);
    }

    #[test]
    fn names_a_live_watch_of_this_process() {
        // SAFETY: inotify_init1 takes flags only.
        let ifd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        assert!(ifd >= 0);
        let dir = std::env::temp_dir().join(format!("sdtrace-attach-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
        // SAFETY: a valid fd and NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(ifd, c.as_ptr(), libc::IN_MODIFY) };
        assert!(wd >= 0);
        let (named, unnamed) = watches(Path::new("/proc"), std::process::id(), ifd);
        // SAFETY: ours to close.
        unsafe { libc::close(ifd) };
        let path = fs::canonicalize(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        // SAFETY: geteuid has no preconditions.
        if named.is_empty() && unnamed == 1 && unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIP: not root: open_by_handle_at needs CAP_DAC_READ_SEARCH");
            assert!(std::env::var("CI").is_err(), "CI runs as root");
            return;
        }
        assert_eq!(
            named,
            vec![Existing {
                wd,
                path: path.to_str().unwrap().to_owned()
            }]
        );
    }
}
