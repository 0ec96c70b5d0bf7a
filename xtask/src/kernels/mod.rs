//! `cargo xtask kernels`: sdtrace on the kernels its users run, not only on
//! this machine's. Debian's own kernels (bullseye 5.10, bookworm 6.1,
//! bookworm-backports 6.12 and its PREEMPT_RT build) boot under qemu (TCG:
//! nested KVM hangs on these machines) with an initramfs holding sdtrace and
//! a workload; each runs `smoke.sh`, as the host does too, and the host
//! checks every run's output ([`check`]) and prints one table.

mod check;
mod debian;
mod initramfs;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::util;

#[derive(clap::Args, Debug)]
pub(crate) struct Options {
    /// Only these kernels (`5.10`, `6.1`, `6.12`, `6.12-rt`, `host`); all by default.
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
    release: String,
    outcome: check::Outcome,
    /// Wall time of the guest (or the host run).
    seconds: f64,
}

/// Builds the workload, fetches the kernels, runs them all (the guests in
/// parallel) and the host, prints the table, and fails if one failed.
pub(crate) fn kernels(opts: &Options) -> Result<()> {
    let started = Instant::now();
    let wanted = |name: &str| opts.kernels.is_empty() || opts.kernels.iter().any(|k| k == name);
    let dir = util::target_dir().join("kernels");
    fs::create_dir_all(&dir)?;
    util::run(util::cargo().args(["build", "--release", "-p", "tests", "--bin", "kernel-smoke"]))?;
    let workload = util::target_dir().join("release/kernel-smoke");
    let sdtrace = util::sdtrace_bin();

    let mut rows = Vec::new();
    if wanted("host") {
        rows.push(run_host(&sdtrace, &workload, &dir)?);
    }

    let lines: Vec<&debian::Line> = debian::LINES.iter().filter(|l| wanted(l.name)).collect();
    if !lines.is_empty() {
        if !util::on_path("qemu-system-x86_64") {
            bail!(
                "qemu-system-x86_64 is not installed (cargo xtask setup installs qemu-system-x86)"
            );
        }
        let online = match debian::update() {
            Ok(()) => true,
            Err(e) => {
                eprintln!("xtask: kernels: cannot refresh Debian's package lists ({e:#}); using the cached kernels");
                false
            }
        };
        let initrd = dir.join("initramfs.cpio");
        initramfs::build(&sdtrace, &workload, &initrd)?;
        let mut guests = Vec::new();
        for line in lines {
            let kernel = debian::fetch(line, online)?;
            guests.push(Guest::boot(kernel, &initrd, &dir)?);
        }
        let deadline = Instant::now() + Duration::from_secs(opts.timeout_minutes * 60);
        for guest in guests {
            rows.push(guest.finish(deadline)?);
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
        release: sections.release.unwrap_or_else(|| "?".to_owned()),
        outcome,
        seconds: started.elapsed().as_secs_f64(),
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
        let data = dir.join(format!("{}.data.log", kernel.line.name));
        for f in [&console, &data] {
            let _ = fs::remove_file(f);
        }
        let child = Command::new("qemu-system-x86_64")
            .args(["-accel", "tcg", "-m", "2048", "-smp", "2", "-nodefaults"])
            .args(["-display", "none", "-no-reboot"])
            .arg("-kernel")
            .arg(&kernel.vmlinuz)
            .arg("-initrd")
            .arg(initrd)
            .arg("-append")
            .arg(kernel_command_line(&kernel.line))
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .arg("-serial")
            .arg(format!("file:{}", data.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("start qemu-system-x86_64")?;
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
            release: sections.release.unwrap_or_else(|| {
                self.kernel
                    .package
                    .trim_start_matches("linux-image-")
                    .to_owned()
            }),
            outcome,
            seconds: self.started.elapsed().as_secs_f64(),
        })
    }
}

/// A guest's kernel command line. The storm's length and `SDTRACE_DEBUG`
/// reach the smoke script and sdtrace through it: the kernel hands unknown
/// `name=value` words to init's environment.
fn kernel_command_line(line: &debian::Line) -> String {
    let mut line = format!(
        "console=ttyS0 panic=-1 quiet STORM_SECONDS={}",
        line.storm_seconds
    );
    if let Ok(v) = std::env::var("SDTRACE_DEBUG") {
        line.push_str(&format!(" SDTRACE_DEBUG={v}"));
    }
    line
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
        "| kernel | release | hook | load + attach | max insns/program | smoke | wall |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---|---:|");
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
            "| {} | {} | {} | {} | {} | {} | {:.0} s |",
            r.kernel,
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
