//! The benchmark and flood workload: `syscall-loop [getppid|read|openat] [N] [--rate R]`
//! makes N cheap syscalls (default 5,000,000 getppid, 1-byte reads from
//! /dev/zero, or opens of a missing file) and prints the loop's own elapsed nanoseconds on stdout, so tracer
//! start-up and tear-down never count. `--rate` paces the loop to R calls per
//! second (the benchmark's search for the highest drop-free rate).
//! `--cpu C` runs it on CPU C; `--spin-ms` and `--idle-ms` keep the process
//! alive after the calls, computing or asleep, without another syscall return.
use std::{
    env,
    hint::black_box,
    process::ExitCode,
    thread,
    time::{Duration, Instant},
};

#[derive(Clone, Copy)]
enum Call {
    Getppid,
    Read(libc::c_int),
    /// An open that fails (ENOENT): an `openat` event with nothing to close.
    Openat,
}

impl Call {
    fn once(self) {
        match self {
            // SAFETY: getppid has no preconditions.
            Self::Getppid => black_box(unsafe { libc::getppid() }),
            Self::Read(fd) => {
                let mut byte = 0u8;
                // SAFETY: fd is open for reading and byte is a valid 1-byte buffer.
                let n = unsafe { libc::read(fd, (&raw mut byte).cast(), 1) };
                black_box(i32::try_from(n).unwrap_or(-1))
            }
            // SAFETY: the path is a NUL-terminated literal.
            Self::Openat => black_box(unsafe {
                libc::openat(
                    libc::AT_FDCWD,
                    c"/nonexistent-sdtrace-loop".as_ptr(),
                    libc::O_RDONLY,
                )
            }),
        };
    }
}

fn main() -> ExitCode {
    let mut call = Call::Getppid;
    let mut n: u64 = 5_000_000;
    let mut rate: Option<f64> = None;
    let mut spin: Option<Duration> = None;
    let mut idle: Option<Duration> = None;
    let mut cpu: Option<usize> = None;
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "getppid" => call = Call::Getppid,
            "openat" => call = Call::Openat,
            "read" => {
                // SAFETY: the path is a NUL-terminated literal.
                let fd = unsafe { libc::open(c"/dev/zero".as_ptr(), libc::O_RDONLY) };
                assert!(
                    fd >= 0,
                    "open /dev/zero: {}",
                    std::io::Error::last_os_error()
                );
                call = Call::Read(fd);
            }
            "--rate" => rate = args.next().and_then(|r| r.parse().ok()),
            // After the calls, burn CPU for this many ms without a syscall: a
            // tracer must still deliver the calls' events meanwhile.
            "--spin-ms" => {
                spin = args
                    .next()
                    .and_then(|r| r.parse().ok())
                    .map(Duration::from_millis)
            }
            // After the calls, sleep this many ms: the CPU may go idle.
            "--idle-ms" => {
                idle = args
                    .next()
                    .and_then(|r| r.parse().ok())
                    .map(Duration::from_millis)
            }
            "--cpu" => cpu = args.next().and_then(|c| c.parse().ok()),
            other => match other.replace('_', "").parse() {
                Ok(v) => n = v,
                Err(_) => {
                    eprintln!("usage: syscall-loop [getppid|read|openat] [N] [--rate CALLS_PER_SEC] [--cpu C] [--spin-ms MS] [--idle-ms MS]");
                    return ExitCode::from(2);
                }
            },
        }
    }

    if let Some(cpu) = cpu {
        if let Err(e) = pin_to(cpu) {
            eprintln!("syscall-loop: cannot run on CPU {cpu}: {e}");
            return ExitCode::from(2);
        }
    }
    let start = Instant::now();
    match rate {
        None => (0..n).for_each(|_| call.once()),
        Some(rate) => paced(call, n, rate, start),
    }
    println!("{}", start.elapsed().as_nanos());
    if spin.is_some() || idle.is_some() {
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    if let Some(spin) = spin {
        // Instant::now is a vDSO call, not a syscall.
        let until = Instant::now() + spin;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }
    if let Some(idle) = idle {
        thread::sleep(idle);
    }
    ExitCode::SUCCESS
}

fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET stays in it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t; CPU_SET ignores a cpu past its end.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: set is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Runs in batches and waits after each until the schedule `start + done/rate`
/// catches up; sleeping only when well ahead keeps the extra syscalls rare.
fn paced(call: Call, n: u64, rate: f64, start: Instant) {
    const BATCH: u64 = 1000;
    let mut done = 0;
    while done < n {
        let batch = BATCH.min(n - done);
        (0..batch).for_each(|_| call.once());
        done += batch;
        #[expect(
            clippy::cast_precision_loss,
            reason = "call counts stay far below 2^52"
        )]
        let due = start + Duration::from_secs_f64(done as f64 / rate);
        loop {
            let now = Instant::now();
            if now >= due {
                break;
            }
            if due - now > Duration::from_micros(500) {
                thread::sleep(due - now);
            } else {
                std::hint::spin_loop();
            }
        }
    }
}
