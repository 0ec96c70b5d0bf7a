//! The architectures sdtrace is built for: x86_64 and arm64 (aarch64), the
//! second cross-compiled here with Debian's `gcc-aarch64-linux-gnu` (the
//! linker and ring's C compiler, named in `.cargo/config.toml`).
use std::path::PathBuf;

use crate::util;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Arch {
    #[value(name = "x86_64", alias = "amd64")]
    X86_64,
    #[value(name = "aarch64", alias = "arm64")]
    Aarch64,
}

impl Arch {
    /// The architecture xtask (and so the host) runs on.
    pub(crate) fn host() -> Self {
        if cfg!(target_arch = "aarch64") {
            Self::Aarch64
        } else {
            Self::X86_64
        }
    }

    /// The kernel's name (`uname -m`), which aya's `bpf_target_arch` takes too.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
        }
    }

    /// Debian's and Docker's name.
    pub(crate) fn deb(self) -> &'static str {
        match self {
            Self::X86_64 => "amd64",
            Self::Aarch64 => "arm64",
        }
    }

    /// The Rust target to cross-compile for; `None` for the host's own.
    pub(crate) fn rust_target(self) -> Option<&'static str> {
        (self != Self::host()).then_some(match self {
            Self::X86_64 => "x86_64-unknown-linux-gnu",
            Self::Aarch64 => "aarch64-unknown-linux-gnu",
        })
    }

    /// Where cargo puts this architecture's release binaries.
    pub(crate) fn release_dir(self) -> PathBuf {
        match self.rust_target() {
            None => util::target_dir().join("release"),
            Some(t) => util::target_dir().join(t).join("release"),
        }
    }

    /// The release sdtrace `cargo xtask build --target <arch>` produces.
    pub(crate) fn sdtrace_bin(self) -> PathBuf {
        self.release_dir().join("sdtrace")
    }

    /// The eBPF build's target directory: one per architecture, since the
    /// `bpf_target_arch` cfg changes every crate's flags.
    pub(crate) fn ebpf_target_dir(self) -> PathBuf {
        match self {
            Self::X86_64 => util::target_dir().join("ebpf"),
            Self::Aarch64 => util::target_dir().join("ebpf-aarch64"),
        }
    }

    /// binutils' `strip` for this architecture's binaries (the host's knows
    /// only its own).
    pub(crate) fn strip(self) -> String {
        match self.rust_target() {
            None => "strip".to_owned(),
            Some(_) => format!("{}-linux-gnu-strip", self.name()),
        }
    }

    /// The dynamic loader's file name (in `/lib`, or the cross root's `lib`).
    pub(crate) fn loader(self) -> &'static str {
        match self {
            Self::X86_64 => "ld-linux-x86-64.so.2",
            Self::Aarch64 => "ld-linux-aarch64.so.1",
        }
    }

    /// Where a cross
    /// build's shared libraries are found (`ldd` cannot run its binaries).
    pub(crate) fn cross_lib_dir(self) -> Option<PathBuf> {
        self.rust_target()
            .map(|_| PathBuf::from(format!("/usr/{}-linux-gnu/lib", self.name())))
    }
}
