//! `cargo xtask kernels`: sdtrace on the kernels its users run, not only on
//! this machine's. Debian's own kernels (bullseye 5.10, bookworm 6.1,
//! bookworm-backports 6.12 and its PREEMPT_RT build; bookworm's and
//! bookworm-backports' arm64 6.1 and 6.12, with the arm64 sdtrace) boot
//! under qemu (TCG: nested KVM hangs on these machines) with an initramfs
//! holding sdtrace and a workload; each runs `smoke.sh`, as the host does
//! too, and the host checks every run's output ([`check`]), reads the
//! capture files of each architecture with the other's sdtrace ([`cross`])
//! and prints one table.

mod check;
mod cross;
mod debian;
mod initramfs;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{arch::Arch, build, util};

#[derive(clap::Args, Debug)]
pub(crate) struct Options {
    /// Only these kernels (`5.10`, `6.1`, `6.12`, `6.12-rt`, `6.1-arm64`,
    /// `6.12-arm64`, `host`); all by default.
    #[arg(long = "kernel", value_name = "NAME")]
    pub kernels: Vec<String>,
    /// Minutes one guest may run before it is stopped and failed.
    #[arg(long, default_value_t = 20)]
    pub timeout_minutes: u64,
}

impl Options {
    /// Every kernel, with the default timeout (what `cargo xtask test` runs).
    pub(crate) fn default_run() -> Self {
        Self {
            kernels: Vec::new(),
            timeout_minutes: 20,
        }
    }
}

/// One row of the table.
struct Row {
    kernel: String,
    arch: Arch,
    release: String,
    outcome: check::Outcome,
    /// Wall time of the guest (or the host run).
    seconds: f64,
    /// What the run printed.
    sections: check::Sections,
}

/// Builds the workload, fetches the kernels, runs them all (the guests in
/// parallel) and the host, prints the table, and fails if one failed.
pub(crate) fn kernels(opts: &Options) -> Result<()> {
    let started = Instant::now();
    let wanted = |name: &str| opts.kernels.is_empty() || opts.kernels.iter().any(|k| k == name);
    let dir = util::target_dir().join("kernels");
    fs::create_dir_all(&dir)?;
    let lines: Vec<&debian::Line> = debian::LINES.iter().filter(|l| wanted(l.name)).collect();
    // The architectures whose sdtrace and workload this run needs: the
    // host's always (it reads every capture file back).
    let mut arches = vec![Arch::host()];
    for l in &lines {
        if !arches.contains(&l.arch) {
            arches.push(l.arch);
        }
    }
    let mut readers = Vec::new();
    for &arch in &arches {
        if arch != Arch::host() {
            build::build_for(arch)?;
        }
        let mut cargo = util::cargo();
        cargo.args(["build", "--release", "-p", "kernel-smoke"]);
        if let Some(target) = arch.rust_target() {
            cargo.args(["--target", target]);
        }
        util::run(&mut cargo)?;
        readers.push(cross::Reader {
            arch,
            sdtrace: arch.sdtrace_bin(),
        });
    }
    let workload = |arch: Arch| arch.release_dir().join("kernel-smoke");

    let mut rows = Vec::new();
    if wanted("host") {
        let mut row = run_host(&Arch::host().sdtrace_bin(), &workload(Arch::host()), &dir)?;
        cross::check(
            "host",
            Arch::host(),
            &row.sections,
            &readers,
            &dir,
            &mut row.outcome,
        );
        rows.push(row);
    }

    if !lines.is_empty() {
        for arch in &arches {
            let qemu = qemu_system(*arch);
            if lines.iter().any(|l| l.arch == *arch) && !util::on_path(qemu) {
                bail!("{qemu} is not installed (cargo xtask setup installs it)");
            }
        }
        let online = match debian::update() {
            Ok(()) => true,
            Err(e) => {
                eprintln!("xtask: kernels: cannot refresh Debian's package lists ({e:#}); using the cached kernels");
                false
            }
        };
        let mut initrds = Vec::new();
        for &arch in &arches {
            if !lines.iter().any(|l| l.arch == arch) {
                continue;
            }
            let busybox = if arch == Arch::host() {
                initramfs::host_busybox()?
            } else {
                debian::busybox(arch, online)?
            };
            let initrd = dir.join(format!("initramfs-{}.cpio", arch.name()));
            initramfs::build(
                &initramfs::Payload {
                    arch,
                    sdtrace: &arch.sdtrace_bin(),
                    workload: &workload(arch),
                    busybox: &busybox,
                },
                &initrd,
            )?;
            initrds.push((arch, initrd));
        }
        let mut guests = Vec::new();
        for line in lines {
            let kernel = debian::fetch(line, online)?;
            let initrd = &initrds
                .iter()
                .find(|(a, _)| *a == line.arch)
                .expect("an initramfs per architecture with a line")
                .1;
            guests.push(Guest::boot(kernel, initrd, &dir)?);
        }
        let deadline = Instant::now() + Duration::from_secs(opts.timeout_minutes * 60);
        for guest in guests {
            let mut row = guest.finish(deadline)?;
            cross::check(
                &row.kernel,
                row.arch,
                &row.sections,
                &readers,
                &dir,
                &mut row.outcome,
            );
            rows.push(row);
        }
    }

    let table = table(&rows);
    print!("{table}");
    let path = dir.join("table.md");
    fs::write(&path, &table)?;
    eprintln!(
        "xtask: kernels: {} kernels in {:.0} s; table in {}",
        rows.len(),
        started.elapsed().as_secs_f64(),
        path.display()
    );
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.outcome.passed())
        .map(|r| {
            format!(
                "{} ({}): {}",
                r.kernel,
                r.release,
                r.outcome.failures.join("; ")
            )
        })
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} kernel(s) failed:\n  {}",
            failed.len(),
            failed.join("\n  ")
        );
    }
    Ok(())
}

/// The smoke script on this machine's kernel.
fn run_host(sdtrace: &Path, workload: &Path, dir: &Path) -> Result<Row> {
    let started = Instant::now();
    let work = dir.join("host");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(work.join("bin"))?;
    // The script finds both programs by name, as in the guest.
    for (bin, name) in [(sdtrace, "sdtrace"), (workload, "kernel-smoke")] {
        std::os::unix::fs::symlink(bin, work.join("bin").join(name))?;
    }
    let script = work.join("smoke.sh");
    fs::write(&script, initramfs::SMOKE)?;
    let out = work.join("data.log");
    let path = format!(
        "{}:{}",
        work.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = Command::new("sh")
        .arg(&script)
        .env("OUT", &out)
        .env("KSMOKE_TMP", work.join("tmp"))
        .env("KSMOKE_CROSS", "1")
        .env("PATH", path)
        .stdin(Stdio::null())
        .status()
        .context("run smoke.sh on the host")?;
    let data = fs::read_to_string(&out).unwrap_or_default();
    let sections = check::Sections::parse(&data);
    let mut outcome = check::check(&sections);
    if !status.success() {
        outcome
            .failures
            .push(format!("smoke.sh ended with {status}"));
    }
    Ok(Row {
        kernel: "host".to_owned(),
        arch: Arch::host(),
        release: sections.release.clone().unwrap_or_else(|| "?".to_owned()),
        outcome,
        seconds: started.elapsed().as_secs_f64(),
        sections,
    })
}

/// A kernel booting under qemu, its console and data ports in files.
struct Guest {
    kernel: debian::Kernel,
    child: Child,
    console: PathBuf,
    data: PathBuf,
    started: Instant,
}

impl Guest {
    fn boot(kernel: debian::Kernel, initrd: &Path, dir: &Path) -> Result<Self> {
        let console = dir.join(format!("{}.console.log", kernel.line.name));
        let data = if kernel.line.arch == Arch::X86_64 {
            dir.join(format!("{}.data.log", kernel.line.name))
        } else {
            console.clone()
        };
        for f in [&console, &data] {
            let _ = fs::remove_file(f);
        }
        let arch = kernel.line.arch;
        let mut qemu = Command::new(qemu_system(arch));
        if arch == Arch::Aarch64 {
            qemu.args(["-M", "virt", "-cpu", "cortex-a57"]);
        }
        qemu.args(["-accel", "tcg", "-m", "2048", "-smp", "2", "-nodefaults"])
            .args(["-display", "none", "-no-reboot"])
            .arg("-kernel")
            .arg(&kernel.vmlinuz)
            .arg("-initrd")
            .arg(initrd)
            .arg("-append")
            .arg(kernel_command_line(&kernel.line))
            .arg("-serial")
            .arg(format!("file:{}", console.display()));
        // arm64's virt machine has one UART: console and data share it.
        if arch == Arch::X86_64 {
            qemu.arg("-serial").arg(format!("file:{}", data.display()));
        }
        let child = qemu
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", qemu_system(arch)))?;
        eprintln!(
            "xtask: kernels: booting {} ({})",
            kernel.line.name, kernel.package
        );
        Ok(Self {
            kernel,
            child,
            console,
            data,
            started: Instant::now(),
        })
    }

    /// Waits for the guest to power off (or stops it at `deadline`) and
    /// checks what it printed.
    fn finish(mut self, deadline: Instant) -> Result<Row> {
        let mut timed_out = false;
        loop {
            if self.child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                timed_out = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let data = fs::read_to_string(&self.data).unwrap_or_default();
        let sections = check::Sections::parse(&data);
        let mut outcome = check::check(&sections);
        if timed_out {
            outcome
                .failures
                .push("the guest did not power off in time".to_owned());
        }
        if !outcome.passed() {
            outcome.failures.push(format!(
                "console: {}, data: {}",
                self.console.display(),
                self.data.display()
            ));
        }
        Ok(Row {
            kernel: self.kernel.line.name.to_owned(),
            arch: self.kernel.line.arch,
            release: sections.release.clone().unwrap_or_else(|| {
                self.kernel
                    .package
                    .trim_start_matches("linux-image-")
                    .to_owned()
            }),
            outcome,
            seconds: self.started.elapsed().as_secs_f64(),
            sections,
        })
    }
}

/// A guest's kernel command line. The storm's length and `SDTRACE_DEBUG`
/// reach the smoke script and sdtrace through it: the kernel hands unknown
/// `name=value` words to init's environment.
fn kernel_command_line(line: &debian::Line) -> String {
    let console = match line.arch {
        Arch::X86_64 => "console=ttyS0 quiet",
        // The one UART carries the data too: only emergencies interleave.
        Arch::Aarch64 => "console=ttyAMA0 loglevel=1 KSMOKE_OUT=/dev/ttyAMA0 KSMOKE_CROSS=1",
    };
    let mut line = format!("{console} panic=-1 STORM_SECONDS={}", line.storm_seconds);
    if let Ok(v) = std::env::var("SDTRACE_DEBUG") {
        line.push_str(&format!(" SDTRACE_DEBUG={v}"));
    }
    line
}

/// The emulator for `arch`'s guests.
fn qemu_system(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "qemu-system-x86_64",
        Arch::Aarch64 => "qemu-system-aarch64",
    }
}

/// The matrix as a Markdown table, dated.
fn table(rows: &[Row]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let date = util::output(Command::new("date").args(["-u", "+%Y-%m-%d"])).unwrap_or_default();
    let _ = writeln!(
        out,
        "Kernel matrix, {date} (`cargo xtask kernels`; guests under qemu TCG):\n"
    );
    let _ = writeln!(
        out,
        "| kernel | arch | release | hook | load + attach | max insns/program | smoke | wall |"
    );
    let _ = writeln!(out, "|---|---|---|---|---:|---:|---|---:|");
    for r in rows {
        let o = &r.outcome;
        let verdict = if o.passed() {
            format!("pass: {}", o.notes.join("; "))
        } else {
            format!("FAIL: {}", o.failures.join("; "))
        }
        .replace('\n', " / ");
        let hook = if o.fallbacks.is_empty() {
            o.hook.clone()
        } else {
            format!("{} ({})", o.hook, o.fallbacks.join("; "))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} s |",
            r.kernel,
            r.arch.deb(),
            r.release,
            if hook.is_empty() {
                "-".to_owned()
            } else {
                hook
            },
            o.load_ms
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0} ms")),
            o.max_insns
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            verdict,
            r.seconds
        );
    }
    out
}
