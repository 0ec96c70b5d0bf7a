//! The guests' initramfs: busybox, sdtrace and the smoke workload with the
//! shared libraries `ldd` names, the smoke script, and an init that mounts
//! what a node has (proc, sys, cgroup v2 and a v1 hierarchy), runs the script
//! with its output on the second serial port, and powers off.
//!
//! Written as an uncompressed `newc` cpio, which every kernel unpacks
//! itself: no cpio or gzip binary is needed, and unpacking costs nothing
//! next to decompressing under emulation.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::{arch::Arch, util};

/// The guest's `/init`.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs cgroup /sys/fs/cgroup
mkdir -p /sys/fs/cgroup/unified /sys/fs/cgroup/memory
mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
# memory where the kernel has it as a v1 controller, pids otherwise (6.12
# builds memory for cgroup v2 only): kernel-smoke moves a child into both.
mount -t cgroup -o memory memory /sys/fs/cgroup/memory 2> /dev/null ||
    { rmdir /sys/fs/cgroup/memory && mkdir /sys/fs/cgroup/pids &&
      mount -t cgroup -o pids pids /sys/fs/cgroup/pids; }
ip link set lo up
# x86_64's second serial port; arm64's virt machine has one, shared with a
# console kept quiet (loglevel=1), named on the command line.
KSMOKE_PACK=1 OUT=${KSMOKE_OUT:-/dev/ttyS1} sh /smoke.sh
echo "ksmoke: done"
poweroff -f
"#;

/// The script both the guests and the host run.
pub(super) const SMOKE: &str = include_str!("smoke.sh");

/// One file of the archive.
struct Entry {
    path: String,
    mode: u32,
    data: Vec<u8>,
}

/// The host's static busybox, which the x86_64 guests run.
pub(super) fn host_busybox() -> Result<PathBuf> {
    util::find_on_path("busybox")
        .or_else(|| Some(PathBuf::from("/bin/busybox")).filter(|p| p.is_file()))
        .context("busybox is not installed (cargo xtask setup installs busybox-static)")
}

/// What goes into one architecture's initramfs.
pub(super) struct Payload<'a> {
    pub arch: Arch,
    pub sdtrace: &'a Path,
    pub workload: &'a Path,
    /// A static busybox built for `arch`.
    pub busybox: &'a Path,
}

/// Builds the initramfs at `dest` with `sdtrace` and `workload` as
/// `/usr/bin/sdtrace` and `/usr/bin/kernel-smoke`.
pub(super) fn build(p: &Payload<'_>, dest: &Path) -> Result<()> {
    let stripped = dest.with_extension("sdtrace");
    util::run(
        Command::new(p.arch.strip())
            .arg("--strip-debug")
            .arg("-o")
            .arg(&stripped)
            .arg(p.sdtrace),
    )?;
    let mut entries = vec![
        file("init", 0o755, INIT.as_bytes().to_vec()),
        file("smoke.sh", 0o755, SMOKE.as_bytes().to_vec()),
        file("etc/passwd", 0o644, b"root:x:0:0:root:/:/bin/sh\n".to_vec()),
        file("etc/group", 0o644, b"root:x:0:\n".to_vec()),
        file("bin/busybox", 0o755, read(p.busybox)?),
        file("usr/bin/sdtrace", 0o755, read(&stripped)?),
        file("usr/bin/kernel-smoke", 0o755, read(p.workload)?),
    ];
    let mut libs = BTreeSet::new();
    for bin in [p.sdtrace, p.workload] {
        libs.extend(crate::image::shared_libraries(bin, p.arch)?);
    }
    for (lib, inside) in &libs {
        let inside = inside
            .strip_prefix("/")
            .unwrap_or(inside)
            .to_string_lossy()
            .into_owned();
        entries.push(file(&inside, 0o755, read(lib)?));
    }
    fs::remove_file(&stripped)?;

    let mut out = Vec::new();
    let mut dirs = BTreeSet::new();
    for d in ["proc", "sys", "dev", "tmp", "bin", "usr/bin", "etc", "root"] {
        dirs.insert(d.to_owned());
    }
    for e in &entries {
        let mut p = Path::new(&e.path).parent();
        while let Some(dir) = p.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(dir.to_string_lossy().into_owned());
            p = dir.parent();
        }
    }
    let mut ino = 1;
    for d in &dirs {
        header(&mut out, ino, 0o040_755, d, 0);
        ino += 1;
    }
    for e in &entries {
        header(&mut out, ino, 0o100_000 | e.mode, &e.path, e.data.len());
        out.extend_from_slice(&e.data);
        pad(&mut out);
        ino += 1;
    }
    header(&mut out, ino, 0, "TRAILER!!!", 0);
    let mut f = fs::File::create(dest).with_context(|| format!("create {}", dest.display()))?;
    f.write_all(&out)?;
    Ok(())
}

fn file(path: &str, mode: u32, data: Vec<u8>) -> Entry {
    Entry {
        path: path.to_owned(),
        mode,
        data,
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("read {}", path.display()))
}

/// A `newc` header and name, padded to 4 bytes.
fn header(out: &mut Vec<u8>, ino: u32, mode: u32, name: &str, size: usize) {
    let nlink = if mode & 0o040_000 != 0 { 2 } else { 1 };
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        size as u32,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad(out);
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_headers_are_padded_and_hex() {
        let mut out = Vec::new();
        header(&mut out, 1, 0o100_755, "init", 3);
        assert!(out.starts_with(b"07070100000001000081ed"));
        assert_eq!(out.len() % 4, 0);
        assert_eq!(&out[110..115], b"init\0");
    }
}
