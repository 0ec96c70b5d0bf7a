//! The command line, in sysdig's spelling where sysdig has the option: the
//! default mode's options here, each mode's with it, and in [`modes`] the
//! list of modes that `--help`, `sdtrace help`, the man pages and the shell
//! completions are made from.

pub mod modes;

use std::path::PathBuf;

use crate::container::meta::Sockets;
pub use crate::remote::reach::Reach;
use crate::view::View;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "sdtrace",
    version,
    about = "Container-aware syscall tracer on eBPF, with sysdig's filter language",
    after_help = "Examples:\n  sdtrace -c \"evt.type=openat and proc.name=cat\"\n  sdtrace -j proc.name=nginx\n  sdtrace -c \"fd.sport=8080\" -n 100\n  sdtrace -w trace.scap -z -M 30\n  sdtrace -r trace.scap -c \"container.id != host\" -p \"%container.id %proc.name %fd.name\""
)]
pub struct Cli {
    /// Filter, in sysdig's language (e.g. "evt.type=openat and proc.name=cat").
    #[arg(short = 'c', long = "filter", value_name = "FILTER")]
    pub filter: Option<String>,

    /// The filter may also be given as trailing words, as sysdig takes it.
    #[arg(value_name = "FILTER", trailing_var_arg = true)]
    pub filter_words: Vec<String>,

    /// Output format, sysdig's -p: "%evt.num %proc.name %fd.name", `%field:N` pads; `-pc` and `-pk` add the container, and the pod and container;
    /// a leading `*` prints events whose fields are missing as <NA>.
    #[arg(short = 'p', long = "print", value_name = "FORMAT")]
    pub print: Option<String>,

    /// List every field the filter and -p accept, by class, and exit.
    #[arg(short = 'l', long = "list-fields")]
    pub list_fields: bool,

    /// Also print debug lines on stderr (as SDTRACE_DEBUG=1 does for every mode).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,

    /// Write a man page or shell completions to stdout and exit: man,
    /// man-MODE, complete-bash, complete-zsh, complete-fish (or modes: their
    /// names).
    #[arg(long = "generate", value_name = "KIND", hide = true)]
    pub generate: Option<modes::Generated>,

    /// Print only the text of I/O buffers, with their line ends.
    #[arg(short = 'A', long = "print-ascii", group = "buffers")]
    pub print_ascii: bool,

    /// Print I/O buffers as hex.
    #[arg(short = 'x', long = "print-hex", group = "buffers")]
    pub print_hex: bool,

    /// Print I/O buffers as hex and ASCII.
    #[arg(short = 'X', long = "print-hex-ascii", group = "buffers")]
    pub print_hex_ascii: bool,

    /// One JSON object per event.
    #[arg(short = 'j', long = "json")]
    pub json: bool,

    /// Bytes of I/O buffers to capture per event.
    #[arg(
        short = 's',
        long = "snaplen",
        default_value_t = 80,
        value_name = "BYTES"
    )]
    pub snaplen: u32,

    /// Size of the kernel ring buffer (suffixes K, M, G); rounded up to a power of two.
    #[arg(long = "buffer-size", default_value = "16M", value_parser = parse_size, value_name = "BYTES")]
    pub buffer_size: u32,

    /// Write the events to a capture file in sysdig's scap format instead
    /// of printing them (sysdig and `sdtrace -r` read it).
    #[arg(short = 'w', long = "write-dump", value_name = "FILE")]
    pub write: Option<PathBuf>,

    /// Read the events from a capture file (written by `-w`, sysdig or Falco) instead of the kernel.
    #[arg(
        short = 'r',
        long = "read",
        value_name = "FILE",
        conflicts_with = "write"
    )]
    pub read: Option<PathBuf>,

    /// Compress the `-w` file with gzip.
    #[arg(short = 'z', long = "compress", requires = "write")]
    pub compress: bool,

    /// With -w: start a new file every N megabytes (10^6 bytes); files get 0, 1, ... appended.
    #[arg(short = 'C', long = "file-size", value_name = "MB", requires = "write")]
    pub file_size_mb: Option<u64>,

    /// With -w: start a new file every N seconds of capture.
    #[arg(
        short = 'G',
        long = "seconds",
        value_name = "SECONDS",
        requires = "write"
    )]
    pub file_seconds: Option<u64>,

    /// With -C or -G: keep at most N files, overwriting the oldest.
    #[arg(short = 'W', long = "limit", value_name = "N", requires = "write")]
    pub file_limit: Option<u32>,

    /// Stop after this many events have been printed.
    #[arg(short = 'n', long = "numevents", value_name = "N")]
    pub count: Option<u64>,

    /// Stop after this many seconds.
    #[arg(short = 'M', value_name = "SECONDS")]
    pub duration: Option<f64>,

    /// Seconds between the statistics lines on stderr (0: only at exit).
    #[arg(long = "stats-interval", default_value_t = 5, value_name = "SECONDS")]
    pub stats_interval: u64,

    /// Program type of the syscall hook (for measuring; auto picks the cheapest that loads).
    #[arg(long = "syscall-hook", value_enum, default_value = "auto", hide = true)]
    pub syscall_hook: crate::capture::SyscallHook,

    /// Also read in the kernel, by walking its dentries, the path of each file
    /// an open returns or a write goes to, and name opened fds by it (symlinks
    /// and dirfds resolved); costs every open and write. On whenever a filter
    /// or format uses fd.kname.
    #[arg(long = "kernel-paths")]
    pub kernel_paths: bool,

    /// Kubernetes API server to ask about pods (k8s.pod.label, k8s.svc.name, ...);
    /// default: $KUBECONFIG, else the in-cluster service account.
    #[arg(long = "kubeconfig", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// The Kubernetes node whose pods to follow; default: $NODE_NAME,
    /// $SDTRACE_NODE_NAME, else the hostname.
    #[arg(long = "k8s-node", value_name = "NAME")]
    pub k8s_node: Option<String>,

    /// Also write the final statistics as JSON to this file.
    #[arg(long = "stats-json", value_name = "PATH")]
    pub stats_json: Option<PathBuf>,

    /// The CRI socket to ask about containerd and CRI-O containers (default:
    /// /run/containerd/containerd.sock, /var/run/crio/crio.sock), as sysdig's --cri.
    #[arg(long = "cri", value_name = "PATH")]
    pub cri: Option<PathBuf>,

    /// The Docker Engine API socket to ask about Docker containers (default:
    /// /var/run/docker.sock, /run/docker.sock); podman's compatible one also
    /// names podman's.
    #[arg(long = "docker-socket", value_name = "PATH")]
    pub docker_socket: Option<PathBuf>,

    /// At the end, print (on stderr) a table of the containers seen: id, type,
    /// name, image, pod, namespace, events and the first and last event's time.
    #[arg(long = "containers")]
    pub containers: bool,

    #[command(flatten)]
    pub reach: Reach,
}

/// `sdtrace follow`: one request followed across processes, NAT and
/// containers.
#[derive(Parser, Debug)]
#[command(
    name = "sdtrace follow",
    about = "Follow requests: a client's connections through NAT into the servers that handled them (and their upstreams), as one trace per request",
    after_help = "Examples:\n  sdtrace follow -- curl -s http://172.17.0.1:8080/\n  sdtrace follow --comm curl\n  sdtrace follow -j --conn 10.96.0.10:80 -n 1"
)]
pub struct FollowCli {
    /// Follow the connections of this process and its descendants.
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,

    /// Follow the connections of processes with this name (proc.name).
    #[arg(long = "comm", value_name = "NAME")]
    pub comms: Vec<String>,

    /// Follow connections to this address, as clients connect to it (before NAT).
    #[arg(long = "conn", value_name = "ADDR:PORT")]
    pub conns: Vec<std::net::SocketAddr>,

    /// Show only the events of a trace that match this filter (sysdig's language).
    #[arg(short = 'c', long = "filter", value_name = "FILTER")]
    pub filter: Option<String>,

    /// One JSON object per span (trace, span and parent ids), for trace viewers.
    #[arg(short = 'j', long = "json")]
    pub json: bool,

    /// Stop after this many traces.
    #[arg(short = 'n', long = "numtraces", value_name = "N")]
    pub count: Option<u64>,

    /// Stop after this many seconds.
    #[arg(short = 'M', value_name = "SECONDS")]
    pub duration: Option<f64>,

    /// Bytes of I/O buffers to capture per event.
    #[arg(
        short = 's',
        long = "snaplen",
        default_value_t = 80,
        value_name = "BYTES"
    )]
    pub snaplen: u32,

    #[command(flatten)]
    pub live: LiveArgs,

    /// Seconds between statistics lines on stderr (0: only at exit).
    #[arg(long = "stats-interval", default_value_t = 0, value_name = "SECONDS")]
    pub stats_interval: u64,

    /// A command to start once tracing is attached, and follow; sdtrace exits with its status.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,

    /// Follow the requests of a capture file (sdtrace's, sysdig's or Falco's) instead of the
    /// kernel; a file holds no NAT translations, so hops through NAT are not stitched.
    #[arg(
        short = 'r',
        long = "read",
        value_name = "FILE",
        conflicts_with = "command"
    )]
    pub read: Option<PathBuf>,

    #[command(flatten)]
    pub reach: Reach,
}

/// `sdtrace agent`: a node's tracer serving clients over the network.
#[derive(Parser, Debug)]
#[command(
    name = "sdtrace agent",
    about = "Node agent: streams to each subscribed client (sdtrace --agent, --cluster) the events its filter matches, formatted as it asks; the kernel passes on only what the clients ask for. Serves /metrics (Prometheus) and /healthz on the same port",
    after_help = "Examples:\n  sdtrace cert --out /etc/sdtrace --name node1.example\n  sdtrace agent --token-file /etc/sdtrace/token --tls-cert /etc/sdtrace/tls.crt --tls-key /etc/sdtrace/tls.key\n  sdtrace --agent node1.example:7373 --agent-ca /etc/sdtrace/ca.crt --token-file token -c \"evt.type=openat\"\n  sdtrace agent --listen 127.0.0.1:7373 --no-auth --insecure"
)]
pub struct AgentCli {
    /// Address and port to listen on (TLS: HTTP/2 for event streams,
    /// HTTP/1.1 for /metrics and /healthz).
    #[arg(
        long = "listen",
        default_value = "0.0.0.0:7373",
        value_name = "ADDR:PORT"
    )]
    pub listen: String,

    /// The bearer token clients must present, from this file (in
    /// Kubernetes, the mounted Secret).
    #[arg(long = "token-file", value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Admit every client without a token: only on a trusted network.
    #[arg(long = "no-auth", conflicts_with = "token_file")]
    pub no_auth: bool,

    /// Admit only the --token-file token: do not send clients' own tokens
    /// to the API server's TokenReview (done by default where the agent
    /// has one: $KUBECONFIG or its pod's service account).
    #[arg(long = "no-token-review")]
    pub no_token_review: bool,

    /// The agent's certificate chain (PEM; `sdtrace cert` makes one), read
    /// again when the file changes.
    #[arg(long = "tls-cert", value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long = "tls-key", value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve cleartext instead of TLS: every event (I/O buffers included)
    /// and every client's token can then be read and replayed by anyone on
    /// the network path. Only on a trusted network or a loopback.
    #[arg(long = "insecure", conflicts_with = "tls_cert")]
    pub insecure: bool,

    /// The node's name, in k8s.node.name and the stream's hello; default:
    /// $NODE_NAME, $SDTRACE_NODE_NAME, else the hostname.
    #[arg(long = "node-name", value_name = "NAME")]
    pub node_name: Option<String>,

    /// `/metrics` asks for the bearer token too (`/healthz` never does:
    /// kubelet's probes carry none).
    #[arg(long = "metrics-auth")]
    pub metrics_auth: bool,

    /// Most connections open at once; more are closed at accept.
    #[arg(long = "max-connections", default_value_t = 1024, value_name = "N")]
    pub max_connections: usize,

    /// Most event streams one client address holds at once.
    #[arg(
        long = "max-streams-per-client",
        default_value_t = 16,
        value_name = "N"
    )]
    pub max_streams_per_client: usize,

    /// Seconds a new connection has to send its first complete request.
    #[arg(
        long = "first-request-timeout",
        default_value_t = 10.0,
        value_name = "SECONDS"
    )]
    pub first_request_timeout: f64,

    /// Seconds a connection without an event stream may sit after its last request.
    #[arg(long = "idle-timeout", default_value_t = 30.0, value_name = "SECONDS")]
    pub idle_timeout: f64,

    /// Most bytes of events waiting for one client; a client that reads
    /// slower loses what does not fit (and is told how many).
    #[arg(long = "client-queue", default_value = "8M", value_parser = parse_size, value_name = "BYTES")]
    pub client_queue: u32,

    /// Bytes of I/O buffers to capture per event.
    #[arg(
        short = 's',
        long = "snaplen",
        default_value_t = 80,
        value_name = "BYTES"
    )]
    pub snaplen: u32,

    /// Attach the syscall entry hook, so evt.latency has values.
    #[arg(long = "latency")]
    pub latency: bool,

    /// Read file paths from the kernel's dentries (fd.kname).
    #[arg(long = "kernel-paths")]
    pub kernel_paths: bool,

    /// Stop after this many seconds (default: until SIGTERM or Ctrl-C).
    #[arg(short = 'M', value_name = "SECONDS")]
    pub duration: Option<f64>,

    #[command(flatten)]
    pub live: LiveArgs,
}

/// What every live mode (follow, top, ui, ...) takes about the kernel side
/// and the container runtimes.
#[derive(clap::Args, Debug)]
pub struct LiveArgs {
    /// Size of the kernel ring buffer (suffixes K, M, G).
    #[arg(long = "buffer-size", default_value = "16M", value_parser = parse_size, value_name = "BYTES")]
    pub buffer_size: u32,

    /// The CRI socket to ask about containerd and CRI-O containers.
    #[arg(long = "cri", value_name = "PATH")]
    pub cri: Option<PathBuf>,

    /// The Docker Engine API socket to ask about Docker containers.
    #[arg(long = "docker-socket", value_name = "PATH")]
    pub docker_socket: Option<PathBuf>,
}

impl LiveArgs {
    /// Where to ask the container runtimes.
    pub fn sockets(&self) -> Sockets {
        Sockets {
            cri: self.cri.clone(),
            docker: self.docker_socket.clone(),
        }
    }
}

/// What every summary mode (`top`, `spy`, `echo`) takes: where the events
/// come from and for how long.
#[derive(clap::Args, Debug)]
pub struct SummaryArgs {
    /// Only events that match this filter (sysdig's language).
    #[arg(short = 'c', long = "filter", value_name = "FILTER")]
    pub filter: Option<String>,

    /// Read the events from a capture file (written by `sdtrace -w`, sysdig or Falco) instead of the kernel.
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Option<PathBuf>,

    /// Stop after this many seconds (of capture time, with -r); default: until Ctrl-C.
    #[arg(short = 'M', value_name = "SECONDS")]
    pub duration: Option<f64>,

    #[command(flatten)]
    pub live: LiveArgs,

    /// Seconds between statistics lines on stderr (0: only at exit).
    #[arg(long = "stats-interval", default_value_t = 0, value_name = "SECONDS")]
    pub stats_interval: u64,
}

/// `sdtrace converge`: what a configuration-management daemon changed, and why.
#[derive(Parser, Debug)]
#[command(
    name = "sdtrace converge",
    about = "Convergence tracing: which resources a config-management daemon (mgmt, puppet, ansible, ...) watched, checked and changed, which outside changes (drifts) it repaired and how fast, and who keeps fighting over a resource",
    after_help = "Events: WATCH, DRIFT, CONVERGE, CHECK, FLAP; a summary table at the end.\n\nExamples:\n  sdtrace converge\n  sdtrace converge --daemon mgmt -j\n  sdtrace converge --pid 4242 -c \"container.name=web\"\n  sdtrace converge -r capture.scap"
)]
pub struct ConvergeCli {
    /// The daemon, by process name or executable name (repeatable). Default:
    /// known agents (puppet, mgmt, ansible, cfengine, salt, chef) and processes
    /// that watch a path with inotify and then write it.
    #[arg(long = "daemon", value_name = "NAME")]
    pub daemons: Vec<String>,

    /// The daemon, by pid (repeatable); its descendants are its own.
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,

    #[command(flatten)]
    pub common: SummaryArgs,

    /// One JSON object per event, and per summary row at the end.
    #[arg(short = 'j', long = "json")]
    pub json: bool,

    /// Stop after this many events.
    #[arg(short = 'n', long = "numevents", value_name = "N")]
    pub count: Option<u64>,

    /// Bytes of each read buffer to capture: inotify events are read from
    /// the daemon's read() of its inotify fd.
    #[arg(
        short = 's',
        long = "snaplen",
        default_value_t = 1024,
        value_name = "BYTES"
    )]
    pub snaplen: u32,

    #[command(flatten)]
    pub reach: Reach,
}

/// `sdtrace top`: the busiest rows of one summary, as sysdig's top* chisels.
#[derive(Parser, Debug)]
#[command(
    name = "sdtrace top",
    about = "The top files, processes, connections, containers, pods, syscalls or errors, as sysdig's topfiles/topprocs/topconns chisels",
    after_help = "Examples:\n  sdtrace top files -M 10\n  sdtrace top procs -c \"container.name=web\" --interval 2\n  sdtrace top syscalls -r trace.scap -n 20\n  sdtrace top errors -j\n  sdtrace top nodes --cluster -M 10\n  sdtrace top procs --agent node1:7373,node2:7373 --token-file token"
)]
pub struct TopCli {
    /// What to rank: files, procs, conns, containers, pods, namespaces, threads, syscalls, errors, converge, or nodes (with --agent or --cluster).
    #[arg(value_name = "WHAT", value_parser = parse_view)]
    pub view: View,

    #[command(flatten)]
    pub common: SummaryArgs,

    /// How many rows to print.
    #[arg(short = 'n', long = "rows", default_value_t = 10, value_name = "N")]
    pub rows: usize,

    /// Also print the table every this many seconds while running.
    #[arg(long = "interval", value_name = "SECONDS")]
    pub interval: Option<f64>,

    /// One JSON object per row.
    #[arg(short = 'j', long = "json")]
    pub json: bool,

    #[command(flatten)]
    pub reach: Reach,
}

/// `sdtrace spy users`: what people type, as sysdig's spy_users chisel.
#[derive(Parser, Debug)]
#[command(
    name = "sdtrace spy",
    about = "Every command run from an interactive shell (one with a terminal), with its user and container, indented by how deep below the shell it runs",
    after_help = "Examples:\n  sdtrace spy users\n  sdtrace spy users -c \"container.id != host\""
)]
pub struct SpyCli {
    /// What to watch (users).
    #[arg(value_name = "WHAT", value_parser = ["users"])]
    pub what: String,

    #[command(flatten)]
    pub common: SummaryArgs,
}

/// `sdtrace echo fds`: the data processes read and write, as sysdig's
/// echo_fds chisel.
#[derive(Parser, Debug)]
#[command(
    name = "sdtrace echo",
    about = "The data read and written on file descriptors: a line per read or write, then its printable text",
    after_help = "Examples:\n  sdtrace echo fds -c \"proc.name=nginx and fd.type=ipv4\"\n  sdtrace echo fds -s 4096 -c \"fd.name contains /etc\""
)]
pub struct EchoCli {
    /// What to echo (fds).
    #[arg(value_name = "WHAT", value_parser = ["fds"])]
    pub what: String,

    #[command(flatten)]
    pub common: SummaryArgs,

    /// Bytes of each buffer to capture (a capture file keeps what it was written with).
    #[arg(
        short = 's',
        long = "snaplen",
        default_value_t = 1024,
        value_name = "BYTES"
    )]
    pub snaplen: u32,
}

fn parse_view(name: &str) -> Result<View, String> {
    View::from_name(name)
        .filter(|v| *v != View::Events)
        .ok_or_else(|| {
            let names: Vec<&str> = View::ALL
                .iter()
                .filter(|v| **v != View::Events)
                .map(|v| v.name())
                .collect();
            format!("`{name}` is none of {}", names.join(", "))
        })
}

/// `sdtrace ui`: csysdig's live view, on sdtrace's events.
#[derive(Parser, Debug)]
#[command(
    name = "sdtrace ui",
    about = "A live view of containers, processes, files, connections and syscalls, drilled into row by row (as csysdig)",
    after_help = "Keys: F2/v views, Enter drill down, Backspace back, F4 or / filter, < > F9 sort column, s F6 reverse, p pause, q quit.\n\nExamples:\n  sdtrace ui\n  sdtrace ui -c \"container.name=web\" --view procs\n  sdtrace ui -r trace.scap --log ui.log\n  sdtrace ui --cluster --view nodes\n  sdtrace ui --agent node1:7373,node2:7373 --token-file token"
)]
pub struct UiCli {
    /// Show only events matching this filter (sysdig's language); `/` changes it.
    #[arg(short = 'c', long = "filter", value_name = "FILTER")]
    pub filter: Option<String>,

    /// Read the events from a capture file (written by `-w`, sysdig or Falco) instead of the kernel.
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Option<PathBuf>,

    /// The view to open with: nodes (with --agent or --cluster), containers,
    /// pods, namespaces, procs, threads, files, conns, syscalls, errors,
    /// converge or events.
    #[arg(long = "view", default_value = "containers", value_name = "VIEW")]
    pub view: String,

    /// Where diagnostics go while the view is up (default: nowhere, as the
    /// terminal is the screen).
    #[arg(long = "log", value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Bytes of I/O buffers to capture per event (the events view shows them).
    #[arg(
        short = 's',
        long = "snaplen",
        default_value_t = 80,
        value_name = "BYTES"
    )]
    pub snaplen: u32,

    #[command(flatten)]
    pub live: LiveArgs,

    #[command(flatten)]
    pub reach: Reach,
}

impl Cli {
    /// How -A, -x and -X ask for buffers to be printed.
    pub fn buffer_mode(&self) -> crate::event::info::BufferMode {
        use crate::event::info::BufferMode;
        match (self.print_ascii, self.print_hex, self.print_hex_ascii) {
            (true, _, _) => BufferMode::Ascii,
            (_, true, _) => BufferMode::Hex,
            (_, _, true) => BufferMode::HexAscii,
            _ => BufferMode::Dots,
        }
    }

    /// The filter text from `-c` or the trailing words; `None` for "everything".
    pub fn filter_text(&self) -> Option<String> {
        let words = self.filter_words.join(" ");
        match (&self.filter, words.trim().is_empty()) {
            (Some(f), true) => Some(f.clone()),
            (Some(f), false) => Some(format!("({f}) and ({words})")),
            (None, false) => Some(words),
            (None, true) => None,
        }
        .filter(|f| !f.trim().is_empty())
    }
}

/// `16M`, `8192`, `1G` to bytes.
pub fn parse_size(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 8192, 64K, 16M)"))?;
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))?;
    u32::try_from(bytes)
        .ok()
        .filter(|&b| b <= 1 << 30)
        .ok_or_else(|| format!("`{s}` is larger than 1G"))
}

/// `sdtrace check`: load and attach every program on this kernel, print
/// what it accepted (hook, fallbacks, each program's verifier cost) and exit.
#[derive(Parser, Debug)]
#[command(
    name = "sdtrace check",
    about = "Load and attach every eBPF program on this kernel, say which hook and fallbacks it took and what each program cost the verifier, and exit",
    after_help = "Examples:\n  sdtrace check\n  sdtrace check -j\n  sdtrace check --syscall-hook raw"
)]
pub struct CheckCli {
    /// Print the report as one JSON object.
    #[arg(short = 'j', long = "json")]
    pub json: bool,

    /// Program type of the syscall hook to try.
    #[arg(long = "syscall-hook", value_enum, default_value = "auto")]
    pub syscall_hook: crate::capture::SyscallHook,

    /// Size of the kernel ring buffer (suffixes K, M, G).
    #[arg(long = "buffer-size", default_value = "16M", value_parser = parse_size, value_name = "BYTES")]
    pub buffer_size: u32,
}

/// `sdtrace cert`: the agents' TLS key and certificate, and the CA that
/// signs it, into files or into the Secret the manifests mount.
#[derive(Parser, Debug)]
#[command(
    name = "sdtrace cert",
    about = "Make a CA and an agent TLS certificate it signs (always naming sdtrace-agent): into files (ca.crt, tls.crt, tls.key) for `sdtrace agent --tls-cert/--tls-key` and clients' --agent-ca, or into the kubernetes.io/tls Secret the manifests mount (deploy/ runs this as a Job)",
    after_help = "Examples:\n  sdtrace cert --out /etc/sdtrace --name node1.example,10.0.0.5\n  sdtrace cert --secret sdtrace/sdtrace-agent-tls"
)]
pub struct CertCli {
    /// Write ca.crt, tls.crt and tls.key (mode 0600) into this directory.
    #[arg(
        long = "out",
        value_name = "DIR",
        required_unless_present = "secret",
        conflicts_with = "secret"
    )]
    pub out: Option<PathBuf>,

    /// Create this Secret (NAMESPACE/NAME) through the API server, unless
    /// it exists.
    #[arg(long = "secret", value_name = "NAMESPACE/NAME")]
    pub secret: Option<String>,

    /// With --secret: issue a new pair even if the Secret exists, and
    /// replace it (clients read the new CA on their next run).
    #[arg(long = "replace", requires = "secret")]
    pub replace: bool,

    /// With --out: overwrite files that exist.
    #[arg(long = "force", requires = "out")]
    pub force: bool,

    /// More names and addresses the certificate carries (comma-separated),
    /// as clients reach the agents with --agent HOST.
    #[arg(long = "name", value_name = "NAME", value_delimiter = ',')]
    pub names: Vec<String>,

    /// Days the CA and certificate are valid.
    #[arg(long = "days", default_value_t = 825, value_name = "N")]
    pub days: u32,

    /// With --secret: the kubeconfig to use (default: $KUBECONFIG, the pod's
    /// service account, else ~/.kube/config).
    #[arg(long = "kubeconfig", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8192"), Ok(8192));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("16m"), Ok(16 << 20));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("4G").is_err());
    }

    #[test]
    fn filter_from_flag_or_words() {
        let cli = Cli::parse_from(["sdtrace", "proc.name=cat", "and", "evt.type=openat"]);
        assert_eq!(
            cli.filter_text().as_deref(),
            Some("proc.name=cat and evt.type=openat")
        );
        let cli = Cli::parse_from(["sdtrace", "-c", "evt.type=read"]);
        assert_eq!(cli.filter_text().as_deref(), Some("evt.type=read"));
        let cli = Cli::parse_from(["sdtrace"]);
        assert_eq!(cli.filter_text(), None);
    }
}
