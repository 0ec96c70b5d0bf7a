//! The web-server row of `cargo xtask bench`: what `sdtrace follow` costs a
//! server it follows. nginx (the e2e tests' image, one worker) runs in a
//! Docker container with a published port; `ab` loads it through Docker's
//! DNAT (the bridge gateway's address, as a client on the host reaches a
//! container), once with keep-alive (few connections, so few traces, each
//! long) and once with a connection per request (a trace per request, each
//! stitched through conntrack and printed). Runs with no tracer and with
//! `sdtrace follow --conn <gateway>:<port>` alternate, so both see the same
//! machine.
use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::{
    median,
    tracers::{Background, Ready},
};
use crate::{docker, setup, util};

const REQUESTS: u32 = 20_000;
const CONCURRENCY: u32 = 8;
const IMAGE: &str = "sdtrace-bench-nginx:1";
/// How many of sdtrace's last stderr lines are shown after each run.
const STDERR_TAIL: usize = 5;

/// Requests per second of each run, with and without the tracer, for
/// each way of loading the server.
pub(super) struct Measured {
    url: String,
    shapes: Vec<Shape>,
}

struct Shape {
    keepalive: bool,
    baseline: Vec<f64>,
    follow: Vec<f64>,
    /// Failed or non-2xx requests over all runs (0 when nginx answered all).
    failed: u64,
}

/// Removes the benchmark's container when the row is done, measured or not.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Builds the image with the tests crate's `nginx-image` (built beside
/// `syscall-loop`), runs it, and measures `runs` pairs of `ab` runs.
pub(super) fn measure(sdtrace: &Path, image_builder: &Path, runs: usize) -> Result<Measured> {
    if !util::on_path("ab") {
        bail!("`ab` is not installed (`cargo xtask setup` installs apache2-utils)");
    }
    docker::ensure_dockerd()?;
    util::run(
        Command::new(image_builder)
            .arg(IMAGE)
            .env("SDTRACE_DEBS", setup::debs_dir()?),
    )?;
    let name = format!("sdtrace-bench-nginx-{}", std::process::id());
    let container = Container(name);
    util::output(
        Command::new("docker")
            .args(["run", "-d", "-p", "80", "--name", &container.0])
            .args([IMAGE, "/usr/sbin/nginx", "-g", "daemon off;"]),
    )?;
    let port = util::output(Command::new("docker").args([
        "inspect",
        "-f",
        "{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}",
        &container.0,
    ]))?;
    let gateway = bridge_gateway()?;
    let target = format!("{gateway}:{port}");
    let url = format!("http://{target}/");
    wait_serving(&url)?;

    let mut measured = Measured {
        url,
        shapes: Vec::new(),
    };
    for keepalive in [true, false] {
        let mut shape = Shape {
            keepalive,
            baseline: Vec::new(),
            follow: Vec::new(),
            failed: 0,
        };
        for _ in 0..runs {
            let (rps, failed) = ab(&measured.url, keepalive)?;
            shape.baseline.push(rps);
            shape.failed += failed;

            let mut cmd = Command::new(sdtrace);
            cmd.args(["follow", "--conn", &target]);
            let tracer = Background::start(cmd, Ready::Stderr("sdtrace: attached"))?;
            let run = ab(&measured.url, keepalive);
            let stderr = tracer.stop()?;
            let tail = &stderr[stderr.len().saturating_sub(STDERR_TAIL)..];
            eprintln!(
                "xtask: bench: sdtrace follow said, last:\n  {}",
                tail.join("\n  ")
            );
            let (rps, failed) = run?;
            shape.follow.push(rps);
            shape.failed += failed;
        }
        measured.shapes.push(shape);
    }
    Ok(measured)
}

/// Polls until nginx answers a request (it starts in the background).
fn wait_serving(url: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answered = Command::new("ab")
            .args(["-q", "-n", "1", url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if answered {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("nginx at {url} did not answer within 20 s");
        }
        // Polling a server's start-up, not synchronising with an event.
        thread::sleep(Duration::from_millis(100));
    }
}

/// One `ab` run: requests per second and requests that failed.
fn ab(url: &str, keepalive: bool) -> Result<(f64, u64)> {
    let mut cmd = Command::new("ab");
    cmd.arg("-q");
    if keepalive {
        cmd.arg("-k");
    }
    cmd.args([
        "-n",
        &REQUESTS.to_string(),
        "-c",
        &CONCURRENCY.to_string(),
        url,
    ]);
    let out = util::output(&mut cmd)?;
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
    };
    let rps: f64 = field("Requests per second:")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no requests per second in ab's output:\n{out}"))?;
    let failed = ["Failed requests:", "Non-2xx responses:"]
        .iter()
        .filter_map(|name| field(name)?.parse::<u64>().ok())
        .sum();
    Ok((rps, failed))
}

/// The section of the report: two rows, or why there are none.
pub(super) fn render(out: &mut String, measured: &Result<Measured, String>) {
    let _ = writeln!(
        out,
        "\n## nginx in a container, followed (`ab -q [-k] -n {REQUESTS} -c {CONCURRENCY}`)\n"
    );
    let m = match measured {
        Ok(m) => m,
        Err(why) => {
            let why = why.lines().next().unwrap_or_default();
            let _ = writeln!(out, "Not measured: {why}");
            return;
        }
    };
    let _ = writeln!(
        out,
        "Target {}, through Docker's DNAT; median of {} runs each, alternating. \
         \"vs. no tracer\" is time per request, as in the rows above.\n",
        m.url,
        m.shapes.first().map_or(0, |s| s.baseline.len())
    );
    let _ = writeln!(
        out,
        "| load | tracer | median requests/s | vs. no tracer | notes |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---|");
    for shape in &m.shapes {
        let load = if shape.keepalive {
            "keep-alive (`-k`)"
        } else {
            "a connection per request"
        };
        let baseline = median(shape.baseline.clone());
        let follow = median(shape.follow.clone());
        let failed = if shape.failed == 0 {
            String::new()
        } else {
            format!(
                "{} requests failed or were not 2xx over all runs",
                shape.failed
            )
        };
        let _ = writeln!(
            out,
            "| {load} | no tracer | {baseline:.0} | 1.00x | {failed} |"
        );
        let _ = writeln!(
            out,
            "| {load} | sdtrace follow --conn <gateway>:<port> | {follow:.0} | {:.2}x | |",
            baseline / follow
        );
    }
}

/// Where `cargo build -p tests --bin nginx-image` puts the image builder.
pub(super) fn image_builder() -> PathBuf {
    util::target_dir().join("release/nginx-image")
}

/// The address of Docker's default bridge interface (docker0's, e.g.
/// 172.17.0.1), read from the interface: a first `dockerd` start on a new
/// machine leaves the gateway out of the network's IPAM config.
fn bridge_gateway() -> Result<String> {
    let bridge = util::output(Command::new("docker").args([
        "network",
        "inspect",
        "bridge",
        "-f",
        "{{index .Options \"com.docker.network.bridge.name\"}}",
    ]))?;
    let bridge = if bridge.is_empty() {
        "docker0".to_owned()
    } else {
        bridge
    };
    let addr = util::output(Command::new("ip").args(["-4", "-o", "addr", "show", "dev", &bridge]))?;
    addr.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .map(str::to_owned)
        .with_context(|| format!("Docker's bridge {bridge} has no IPv4 address"))
}
