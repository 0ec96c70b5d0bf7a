//! Debian's own kernels, fetched as packages: the newest build of each line
//! in its suite, found through the suite's meta-package, downloaded once and
//! kept (with the `vmlinuz` taken out of it) in the cache. amd64 and arm64
//! alike: apt is told both architectures, whatever the host's dpkg knows.
//!
//! apt runs with a configuration of its own (sources, lists and cache under
//! the cache directory), so the host's sources are never touched and the
//! suites can be older than the host's.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::{arch::Arch, util};

/// One kernel of the matrix.
#[derive(Clone, Copy, Debug)]
pub(super) struct Line {
    /// Its name in the table and on the command line: `5.10`, `6.12-rt`,
    /// `6.1-arm64`, …
    pub name: &'static str,
    /// The architecture of the kernel (and of the sdtrace it runs).
    pub arch: Arch,
    /// The meta-package that depends on the newest image of the line.
    pub meta: &'static str,
    /// The versions of `meta` that belong to the line start with this.
    pub version_prefix: &'static str,
    /// Seconds of `kernel-smoke storm`: longest where preemption is the
    /// hazard it looks for.
    pub storm_seconds: u32,
}

/// The kernels users run on Debian: bullseye's, bookworm's, and
/// bookworm-backports' 6.12 with its PREEMPT_RT build; and on arm64 nodes
/// bookworm's and bookworm-backports'.
pub(super) const LINES: &[Line] = &[
    Line {
        name: "5.10",
        arch: Arch::X86_64,
        meta: "linux-image-amd64",
        version_prefix: "5.10.",
        storm_seconds: 6,
    },
    Line {
        name: "6.1",
        arch: Arch::X86_64,
        meta: "linux-image-amd64",
        version_prefix: "6.1.",
        storm_seconds: 6,
    },
    Line {
        name: "6.12",
        arch: Arch::X86_64,
        meta: "linux-image-amd64",
        version_prefix: "6.12.",
        storm_seconds: 6,
    },
    Line {
        name: "6.12-rt",
        arch: Arch::X86_64,
        meta: "linux-image-rt-amd64",
        version_prefix: "6.12.",
        storm_seconds: 20,
    },
    Line {
        name: "6.1-arm64",
        arch: Arch::Aarch64,
        meta: "linux-image-arm64",
        version_prefix: "6.1.",
        storm_seconds: 6,
    },
    Line {
        name: "6.12-arm64",
        arch: Arch::Aarch64,
        meta: "linux-image-arm64",
        version_prefix: "6.12.",
        storm_seconds: 6,
    },
];

const SOURCES: &str = "\
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bullseye-security main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main
";

/// Where the matrix keeps apt's state, the packages and the kernels.
pub(super) fn cache() -> Result<PathBuf> {
    Ok(util::cache_dir()?.join("kernels"))
}

/// apt with the matrix's own sources, lists and cache.
fn apt(program: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.arg("-q")
        .arg(format!(
            "-oDir::Etc::SourceList={}",
            dir.join("sources.list").display()
        ))
        .arg("-oDir::Etc::SourceParts=/nonexistent")
        .arg(format!(
            "-oDir::State::Lists={}",
            dir.join("lists").display()
        ))
        .arg(format!("-oDir::Cache={}", dir.join("apt-cache").display()))
        .arg("-oDebug::NoLocking=1")
        // Both architectures' lists, whatever the host's dpkg was told.
        .arg("-oAPT::Architecture=amd64")
        .arg("-oAPT::Architectures::=amd64")
        .arg("-oAPT::Architectures::=arm64")
        // Downloads land in a root-owned directory: no _apt sandbox user.
        .arg("-oAPT::Sandbox::User=root");
    cmd
}

/// Refreshes the package lists (once per run).
pub(super) fn update() -> Result<()> {
    let dir = cache()?;
    fs::create_dir_all(dir.join("lists/partial"))?;
    fs::create_dir_all(dir.join("apt-cache/archives/partial"))?;
    fs::write(dir.join("sources.list"), SOURCES)?;
    util::run(apt("apt-get", &dir).arg("update"))
}

/// The image package and version of the newest kernel of `line`.
fn resolve(line: &Line) -> Result<(String, String)> {
    let dir = cache()?;
    let madison = util::output(apt("apt-cache", &dir).args(["madison", line.meta]))?;
    let version = madison
        .lines()
        .filter_map(|l| Some(l.split('|').nth(1)?.trim().to_owned()))
        .find(|v| {
            v.strip_prefix(line.version_prefix)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .with_context(|| format!("no {} {}* in the suites", line.meta, line.version_prefix))?;
    let show = util::output(apt("apt-cache", &dir).args([
        "show",
        &format!("{}:{}={version}", line.meta, line.arch.deb()),
    ]))?;
    let image = show
        .lines()
        .find_map(|l| l.strip_prefix("Depends:"))
        .and_then(|deps| {
            deps.split(',')
                .map(str::trim)
                .find(|d| d.starts_with("linux-image-"))
        })
        .and_then(|d| d.split_whitespace().next())
        .with_context(|| format!("{}={version} depends on no linux-image", line.meta))?;
    Ok((image.to_owned(), version))
}

/// A fetched kernel.
pub(super) struct Kernel {
    pub line: Line,
    /// The image package, e.g. `linux-image-6.1.0-57-amd64`.
    pub package: String,
    pub vmlinuz: PathBuf,
}

/// The `vmlinuz` of the newest kernel of `line`, downloaded and extracted
/// unless the cache has it. Without network, the newest one cached is used.
pub(super) fn fetch(line: &Line, online: bool) -> Result<Kernel> {
    let dir = cache()?;
    let boot = dir.join("boot");
    fs::create_dir_all(&boot)?;
    let resolved = if online { Some(resolve(line)?) } else { None };
    let package = match resolved {
        Some((package, version)) => {
            let vmlinuz = boot.join(&package);
            if !vmlinuz.is_file() {
                download(&dir, &package, line.arch, &version, &vmlinuz)?;
            }
            package
        }
        None => cached(&boot, line)?,
    };
    Ok(Kernel {
        line: *line,
        vmlinuz: boot.join(&package),
        package,
    })
}

/// The newest cached image of `line` (by name order), for a run offline.
fn cached(boot: &Path, line: &Line) -> Result<String> {
    let rt = line.meta.contains("-rt-");
    let mut names: Vec<String> = fs::read_dir(boot)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            n.strip_prefix("linux-image-")
                .and_then(|v| v.strip_prefix(line.version_prefix.trim_end_matches('.')))
                .is_some_and(|rest| rest.starts_with(['.', '-']))
                && n.contains("-rt-") == rt
                && n.ends_with(&format!("-{}", line.arch.deb()))
        })
        .collect();
    names.sort();
    names.pop().with_context(|| {
        format!(
            "no kernel {} in {} and no network",
            line.name,
            boot.display()
        )
    })
}

/// Downloads `package=version` and keeps its `/boot/vmlinuz-*` as `dest`.
fn download(dir: &Path, package: &str, arch: Arch, version: &str, dest: &Path) -> Result<()> {
    let debs = dir.join("debs");
    fs::create_dir_all(&debs)?;
    eprintln!("xtask: kernels: downloading {package} {version}");
    util::run(
        apt("apt-get", dir)
            .args(["download", &format!("{package}:{}={version}", arch.deb())])
            .current_dir(&debs),
    )?;
    let deb = fs::read_dir(&debs)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
        })
        .with_context(|| format!("apt-get download left no {package} .deb"))?;
    let unpacked = dir.join("unpack").join(package);
    let _ = fs::remove_dir_all(&unpacked);
    fs::create_dir_all(&unpacked)?;
    util::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    let vmlinuz = fs::read_dir(unpacked.join("boot"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .with_context(|| format!("{} has no /boot/vmlinuz-*", deb.display()))?;
    fs::copy(&vmlinuz, dest).with_context(|| format!("copy {}", vmlinuz.display()))?;
    // The modules are not needed: everything the smoke run uses is built in.
    fs::remove_dir_all(&unpacked)?;
    fs::remove_file(&deb)?;
    Ok(())
}

/// Debian's static busybox built for `arch`, downloaded once (never
/// installed: that would replace the host's own) and kept in the cache.
pub(super) fn busybox(arch: Arch, online: bool) -> Result<PathBuf> {
    let dir = cache()?;
    let dest = dir.join(format!("busybox-{}", arch.deb()));
    if dest.is_file() {
        return Ok(dest);
    }
    if !online {
        anyhow::bail!(
            "no {} and no network to fetch busybox-static:{}",
            dest.display(),
            arch.deb()
        );
    }
    let debs = dir.join("debs");
    fs::create_dir_all(&debs)?;
    let package = format!("busybox-static:{}", arch.deb());
    eprintln!("xtask: kernels: downloading {package}");
    util::run(
        apt("apt-get", &dir)
            .args(["download", &package])
            .current_dir(&debs),
    )?;
    let deb = fs::read_dir(&debs)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("busybox-static_") && n.ends_with(&format!("_{}.deb", arch.deb()))
            })
        })
        .with_context(|| format!("apt-get download left no {package} .deb"))?;
    let unpacked = dir.join("unpack").join(format!("busybox-{}", arch.deb()));
    let _ = fs::remove_dir_all(&unpacked);
    fs::create_dir_all(&unpacked)?;
    util::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    fs::copy(unpacked.join("bin/busybox"), &dest)
        .with_context(|| format!("{} has no /bin/busybox", deb.display()))?;
    fs::remove_dir_all(&unpacked)?;
    fs::remove_file(&deb)?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_images_are_found_by_line() {
        let dir = std::env::temp_dir().join(format!("xtask-kernels-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for n in [
            "linux-image-6.1.0-50-amd64",
            "linux-image-6.1.0-57-amd64",
            "linux-image-6.12.95+deb12-amd64",
            "linux-image-6.12.95+deb12-rt-amd64",
            "linux-image-5.10.0-46-amd64",
            "linux-image-6.1.0-58-arm64",
            "linux-image-6.12.96+deb12-arm64",
        ] {
            fs::write(dir.join(n), b"").unwrap();
        }
        let name = |l: &str| cached(&dir, LINES.iter().find(|x| x.name == l).unwrap()).unwrap();
        assert_eq!(name("6.1"), "linux-image-6.1.0-57-amd64");
        assert_eq!(name("6.12"), "linux-image-6.12.95+deb12-amd64");
        assert_eq!(name("6.12-rt"), "linux-image-6.12.95+deb12-rt-amd64");
        assert_eq!(name("5.10"), "linux-image-5.10.0-46-amd64");
        assert_eq!(name("6.1-arm64"), "linux-image-6.1.0-58-arm64");
        assert_eq!(name("6.12-arm64"), "linux-image-6.12.96+deb12-arm64");
        fs::remove_dir_all(&dir).unwrap();
    }
}
