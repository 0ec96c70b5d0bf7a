//! `sdtrace follow`: a request followed from the process that made it,
//! through the kernel's NAT, into the process (often in a container) that
//! accepted it, as one trace of spans. Everything is real: the kernel's
//! connection tracking, iptables rules Docker or the test installed, nginx in
//! a Docker container. Traffic goes only to the host's own addresses and to
//! containers the test created; a virtual service address is DNAT'd before
//! anything is sent to it.
mod net;
mod run;
mod trace;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{
    e2e, env::unavailable, images, require_docker, require_program, Container, EventExt, TempDir,
};

use net::{bridge_gateway, docker_proxy_serves, token, virtual_ip, NatChains};
use run::{Finished, Follow};
use trace::{event_ms, traces, SpanExt, Trace};

/// How long one run may take: attaching is awaited separately, and a trace
/// is printed at most 2 s after its root connection closed.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// `-M` for runs that end after `-n` traces: a safety net, not the way
/// they are meant to end.
const MAX_SECONDS: &str = "45";

const NGINX_IMAGE: &str = "sdtrace-e2e-follow-nginx:1";
const BUSYBOX_IMAGE: &str = "sdtrace-e2e-busybox:1";

/// What every follow test needs beside its tracer: Docker, and the
/// programs named.
fn require(test: &str, programs: &[&str]) -> Option<PathBuf> {
    let docker = require_docker(test)?;
    for program in programs {
        require_program(test, program)?;
    }
    Some(docker)
}

/// The nginx image, built once per test binary.
fn nginx_image(test: &str, docker: &Path) -> Option<&'static str> {
    static BUILT: OnceLock<bool> = OnceLock::new();
    if *BUILT.get_or_init(|| images::nginx_image(docker, NGINX_IMAGE).is_some()) {
        Some(NGINX_IMAGE)
    } else {
        unavailable(
            test,
            "Debian's nginx package is not downloaded (`cargo xtask setup` fetches it into $SDTRACE_DEBS)",
        )
    }
}

/// nginx in a container named `sdtrace-follow-<role>-<token>`, once it
/// answers. `args` go before the image (`-p 80`, `-v`).
fn nginx(docker: &Path, image: &str, role: &str, args: &[&str]) -> Container {
    let name = format!("sdtrace-follow-{role}-{}", token());
    let mut run_args = args.to_vec();
    run_args.extend([image, "/usr/sbin/nginx", "-g", "daemon off;"]);
    let web = Container::run(docker, &name, &run_args);
    // busybox's wget, from inside. No `-T`: Debian's static busybox 1.35
    // wget dies of SIGSEGV with a timeout set.
    let page = ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !web.exec(&page) {
        assert!(Instant::now() < deadline, "nginx in {name} never answered");
        // Polling a server's start-up, not synchronising with an event.
        std::thread::sleep(Duration::from_millis(100));
    }
    web
}

fn str_of<'a>(span: &'a Value, key: &str) -> &'a str {
    span.str_field(key)
        .unwrap_or_else(|| panic!("no string {key:?} in {span}"))
}

/// What an event should be: named for the message, and a test of it.
type Step<'s> = (&'s str, &'s dyn Fn(&Value) -> bool);

/// The first event of `span` matching each step in turn, each after the
/// one before; panics naming the step that has no such event.
fn in_order<'a>(span: &'a Value, steps: &[Step]) -> Vec<&'a Value> {
    let events = span.events();
    assert!(
        events
            .windows(2)
            .all(|w| event_ms(&w[0]) <= event_ms(&w[1])),
        "events in rel_ms order: {span}"
    );
    let mut from = 0;
    steps
        .iter()
        .map(|(what, matches)| {
            let at = events[from..]
                .iter()
                .position(*matches)
                .unwrap_or_else(|| panic!("no {what} after event {from} in {span}"));
            from += at + 1;
            &events[from - 1]
        })
        .collect()
}

fn is_type(event: &Value, types: &[&str]) -> bool {
    event.evt_type().is_some_and(|t| types.contains(&t))
}

const WRITES: &[&str] = &["write", "writev", "sendfile", "sendto", "sendmsg"];
const READS: &[&str] = &["read", "recvfrom", "readv", "recvmsg"];

/// The span of nginx in `web` that served the request, with its accept,
/// the open of the file it sent (whose name ends with `file`) and a write,
/// in that order; returns its first write.
fn assert_nginx_served<'a>(server: &'a Value, web: &Container, file: &str) -> &'a Value {
    assert_eq!(server.kind(), "server", "{server}");
    assert_eq!(str_of(server, "proc.name"), "nginx", "{server}");
    assert_eq!(str_of(server, "container.name"), web.name(), "{server}");
    assert_eq!(
        str_of(server, "container.id"),
        &web.full_id()[..12],
        "{server}"
    );
    let steps = in_order(
        server,
        &[
            ("accept", &|e: &Value| is_type(e, &["accept", "accept4"])),
            (&format!("openat of …{file}"), &|e: &Value| {
                is_type(e, &["openat"]) && e.str_field("fd.name").is_some_and(|n| n.ends_with(file))
            }),
            ("write", &|e: &Value| is_type(e, WRITES)),
        ],
    );
    steps[2]
}

/// A run's traces, asserting it printed exactly `n`.
fn exactly(run: &Finished, n: usize) -> Vec<Trace> {
    let found = traces(&run.spans);
    assert_eq!(found.len(), n, "{n} trace(s)\n{}", run.describe());
    found
}

/// The NAT a client span went through: the client's own view of its
/// connection before it, and the server's after it.
fn assert_nat_joins(client: &Value, nat: &Value, server_tuple: &str) {
    assert_eq!(
        str_of(nat, "original"),
        str_of(client, "tuple"),
        "the NAT's original flow is the client's connection\n{client}\n{nat}"
    );
    assert!(str_of(nat, "rule").contains("DNAT"), "{nat}");
    assert_eq!(
        str_of(nat, "translated"),
        server_tuple,
        "the NAT's translated flow is what the server accepted\n{nat}"
    );
}

e2e!(
    curl_to_a_published_port_is_followed_into_nginx,
    |tracer, test| {
        let Some(docker) = require(test, &["curl"]) else {
            return;
        };
        let Some(image) = nginx_image(test, &docker) else {
            return;
        };
        let web = nginx(&docker, image, "web", &["-p", "80"]);
        let (gateway, port, web_ip) = (bridge_gateway(&docker), web.host_port(80), web.ip());
        // The gateway, not 127.0.0.1: Docker's DNAT in the nat OUTPUT chain
        // applies to it. curl's page goes to /dev/null, so sdtrace's stdout (the
        // same terminal for a user) holds JSON only.
        let url = format!("http://{gateway}:{port}/");
        let curl = tests::which("curl");
        let curl = curl.to_str().expect("a UTF-8 path");
        let run =
            Follow::start(&tracer, &["--", curl, "-s", "-o", "/dev/null", &url]).wait(RUN_TIMEOUT);
        assert!(
            run.status.success(),
            "sdtrace exits with curl's status\n{}",
            run.describe()
        );
        let trace = &exactly(&run, 1)[0];

        let client = trace.root();
        assert_eq!(client.kind(), "client", "{trace}");
        assert_eq!(str_of(client, "proc.name"), "curl", "{trace}");
        let connect = client
            .first_event(&["connect"])
            .unwrap_or_else(|| panic!("curl's connect in {client}"));
        assert!(
            connect
                .str_field("fd.name")
                .is_some_and(|n| n.ends_with(&format!("{gateway}:{port}"))),
            "curl connected to {gateway}:{port}: {connect}"
        );

        let nat = trace.child(client, "nat");
        let server = trace.child(nat, "server");
        assert_nat_joins(client, nat, str_of(server, "tuple"));
        assert!(
            str_of(nat, "translated").ends_with(&format!("->{web_ip}:80")),
            "DNAT'd to the container's port 80: {nat}"
        );

        let first_write = assert_nginx_served(server, &web, "/index.html");
        let carries =
            |e: &Value, text: &str| e.str_field("evt.info").is_some_and(|i| i.contains(text));
        assert!(
            carries(first_write, "200 OK"),
            "nginx wrote the answer: {first_write}"
        );
        let answer = client
            .events()
            .iter()
            .find(|e| is_type(e, READS) && carries(e, "200 OK"))
            .unwrap_or_else(|| panic!("curl read the answer: {client}"));
        // Event times are syscall returns, and curl's read may return before
        // nginx's write does (nginx preempted once the bytes are queued): the
        // answer is ordered after the request nginx read before writing it.
        let request = server
            .events()
            .iter()
            .find(|e| is_type(e, READS) && carries(e, "GET / "))
            .unwrap_or_else(|| panic!("nginx read the request: {server}"));
        assert!(
            event_ms(answer) > event_ms(request),
            "curl's read of the answer {answer} comes after nginx's read of the request {request}"
        );

        for span in &trace.spans {
            if span.kind() != "nat" {
                assert!(
                    matches!(span.str_field("proc.name"), Some("curl" | "nginx")),
                    "only curl and nginx: {span}"
                );
            }
        }
    }
);

e2e!(through_docker_proxy_is_one_more_hop, |tracer, test| {
    let Some(docker) = require(test, &["curl"]) else {
        return;
    };
    let Some(image) = nginx_image(test, &docker) else {
        return;
    };
    let web = nginx(&docker, image, "web", &["-p", "80"]);
    let (port, web_ip) = (web.host_port(80), web.ip());
    if !docker_proxy_serves(port) {
        unavailable::<()>(
            test,
            &format!(
                "no docker-proxy serves port {port} (dockerd runs with --userland-proxy=false)"
            ),
        );
        return;
    }
    // 127.0.0.1 is outside Docker's DNAT: docker-proxy accepts, and connects
    // to the container itself.
    let url = format!("http://127.0.0.1:{port}/");
    let curl = tests::which("curl");
    let curl = curl.to_str().expect("a UTF-8 path");
    let run =
        Follow::start(&tracer, &["--", curl, "-s", "-o", "/dev/null", &url]).wait(RUN_TIMEOUT);
    assert!(run.status.success(), "{}", run.describe());
    let trace = &exactly(&run, 1)[0];

    let client = trace.root();
    assert_eq!(str_of(client, "proc.name"), "curl", "{trace}");
    assert!(
        str_of(client, "tuple").ends_with(&format!("->127.0.0.1:{port}")),
        "{client}"
    );
    let proxy_in = trace.child(client, "server");
    assert_eq!(str_of(proxy_in, "proc.name"), "docker-proxy", "{trace}");
    assert_eq!(
        proxy_in.str_field("container.name"),
        None,
        "docker-proxy runs on the host: {proxy_in}"
    );
    let proxy_out = trace.child(proxy_in, "client");
    assert_eq!(str_of(proxy_out, "proc.name"), "docker-proxy", "{trace}");
    assert_eq!(
        proxy_out.int_field("proc.pid"),
        proxy_in.int_field("proc.pid"),
        "the proxy that accepted is the one that connected on\n{trace}"
    );
    assert!(
        str_of(proxy_out, "tuple").ends_with(&format!("->{web_ip}:80")),
        "{proxy_out}"
    );
    let server = trace.child(proxy_out, "server");
    assert_nginx_served(server, &web, "/index.html");
    assert!(
        trace.of_kind("nat").is_empty(),
        "no NAT on this path\n{trace}"
    );
    assert_eq!(trace.spans.len(), 4, "four hops\n{trace}");
});

e2e!(
    container_to_container_through_kube_proxy_style_dnat,
    |tracer, test| {
        let Some(docker) = require(test, &["iptables"]) else {
            return;
        };
        let Some(image) = nginx_image(test, &docker) else {
            return;
        };
        let web = nginx(&docker, image, "web", &[]);
        let web_ip = web.ip();
        images::busybox_image(&docker, BUSYBOX_IMAGE);
        let client_name = format!("sdtrace-follow-client-{}", token());
        let client_box =
            Container::run(&docker, &client_name, &[BUSYBOX_IMAGE, "/bin/sleep", "600"]);

        // A ClusterIP as kube-proxy (iptables mode) makes one: DNAT in a chain
        // of its own, jumped to from PREROUTING and OUTPUT, and masquerading of
        // what was DNAT'd.
        let tok = token();
        let vip = virtual_ip(&tok);
        let mut chains = NatChains::create(&tok);
        chains.dnat(&vip, 80, &format!("{web_ip}:80"));
        chains.masquerade(&vip, 80);

        let follow = Follow::start(
            &tracer,
            &["--conn", &format!("{vip}:80"), "-n", "1", "-M", MAX_SECONDS],
        );
        // busybox's wget stands for curl: no image with curl can be pulled here.
        let fetched = client_box
            .exec_command(&["wget", "-q", "-O", "/dev/null", &format!("http://{vip}/")])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(fetched.success(), "wget of http://{vip}/ in {client_name}");
        let run = follow.wait(RUN_TIMEOUT);
        assert!(run.status.success(), "{}", run.describe());
        let trace = &exactly(&run, 1)[0];

        let client = trace.root();
        assert_eq!(client.kind(), "client", "{trace}");
        assert_eq!(str_of(client, "proc.name"), "wget", "{trace}");
        assert_eq!(str_of(client, "container.name"), client_name, "{trace}");
        assert!(
            str_of(client, "tuple").ends_with(&format!("->{vip}:80")),
            "{client}"
        );
        let nat = trace.child(client, "nat");
        let server = trace.child(nat, "server");
        assert_nat_joins(client, nat, str_of(server, "tuple"));
        assert!(
            str_of(nat, "rule").contains(&chains.service),
            "the rule names the test's chain {}: {nat}",
            chains.service
        );
        assert!(
            str_of(nat, "translated").ends_with(&format!("->{web_ip}:80")),
            "{nat}"
        );
        assert_nginx_served(server, &web, "/index.html");
    }
);

e2e!(two_concurrent_requests_are_not_mixed, |tracer, test| {
    let Some(docker) = require(test, &["curl"]) else {
        return;
    };
    let Some(image) = nginx_image(test, &docker) else {
        return;
    };
    // Two pages of 512 KiB, sent by nginx at 1 MiB/s each (its
    // `limit_rate`: curl 7.88's --limit-rate let such a page through in a few
    // ms here): about half a second per request, so the two overlap and
    // nginx's one worker interleaves its writes to both connections.
    let www = TempDir::new("follow-www");
    for page in ["a", "b"] {
        fs::write(
            www.path().join(format!("{page}.html")),
            format!("{page}\n").repeat(256 * 1024),
        )
        .unwrap();
    }
    // What `nginx()` asks for to know it is up.
    fs::write(www.path().join("index.html"), "up\n").unwrap();
    let conf = TempDir::new("follow-conf");
    let conf_file = conf.path().join("nginx.conf");
    fs::write(&conf_file, images::nginx_conf("limit_rate 1m;")).unwrap();
    let www_mount = format!("{}:/www:ro", www.path().display());
    let conf_mount = format!("{}:/etc/nginx/nginx.conf:ro", conf_file.display());
    let web = nginx(
        &docker,
        image,
        "web",
        &["-p", "80", "-v", &www_mount, "-v", &conf_mount],
    );
    let (gateway, port) = (bridge_gateway(&docker), web.host_port(80));
    let curl = tests::which("curl");

    let follow = Follow::start(&tracer, &["--comm", "curl", "-n", "2", "-M", MAX_SECONDS]);
    let fetch = |page: &str| {
        Command::new(&curl)
            .args(["-s", "-o", "/dev/null"])
            .arg(format!("http://{gateway}:{port}/{page}.html"))
            .spawn()
            .unwrap()
    };
    let mut a = fetch("a");
    let mut b = fetch("b");
    let overlapped = a.try_wait().unwrap().is_none();
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    assert!(overlapped, "the first curl ended before the second started");
    let run = follow.wait(RUN_TIMEOUT);
    assert!(run.status.success(), "{}", run.describe());

    let mut served = Vec::new();
    for trace in exactly(&run, 2) {
        let client = trace.root();
        assert_eq!(str_of(client, "proc.name"), "curl", "{trace}");
        let pid = client.int_field("proc.pid").expect("curl's pid");
        let page = if pid == i64::from(a.id()) {
            "a.html"
        } else if pid == i64::from(b.id()) {
            "b.html"
        } else {
            panic!("a trace of neither curl ({}, {}):\n{trace}", a.id(), b.id())
        };
        let server = trace.of_kind("server");
        assert_eq!(server.len(), 1, "one server span\n{trace}");
        assert_nginx_served(server[0], &web, &format!("/{page}"));
        let opened: Vec<&str> = server[0]
            .events()
            .iter()
            .filter(|e| is_type(e, &["openat"]))
            .filter_map(|e| e.str_field("fd.name"))
            .filter(|n| n.ends_with(".html"))
            .collect();
        assert_eq!(
            opened,
            [format!("/www/{page}")],
            "curl {pid} asked for {page}; its server opened only that\n{trace}"
        );
        served.push(page);
    }
    served.sort_unstable();
    assert_eq!(served, ["a.html", "b.html"], "{}", run.describe());
});

e2e!(a_refused_request_says_where_it_failed, |tracer, test| {
    let Some(docker) = require(test, &["curl", "iptables"]) else {
        return;
    };
    let Some(image) = nginx_image(test, &docker) else {
        return;
    };
    let web = nginx(&docker, image, "web", &[]);
    let web_ip = web.ip();
    // A service whose endpoint's port is wrong: nothing listens on 81, so
    // the container's kernel answers the SYN with a reset. curl runs on the
    // host: its connect needs a route to the address before OUTPUT's DNAT
    // (the default route gives one; the DNAT keeps the SYN on the bridge).
    let tok = token();
    let vip = virtual_ip(&tok);
    let mut chains = NatChains::create(&tok);
    chains.dnat(&vip, 80, &format!("{web_ip}:81"));

    let curl = tests::which("curl");
    let curl = curl.to_str().expect("a UTF-8 path");
    let url = format!("http://{vip}/");
    let run = Follow::start(
        &tracer,
        &["--", curl, "-s", "-m", "3", "-o", "/dev/null", &url],
    )
    .wait(RUN_TIMEOUT);
    // curl's 7: failed to connect.
    assert_eq!(
        run.status.code(),
        Some(7),
        "sdtrace exits with curl's status\n{}",
        run.describe()
    );
    let trace = &exactly(&run, 1)[0];

    let client = trace.root();
    assert_eq!(str_of(client, "proc.name"), "curl", "{trace}");
    let nat = trace.child(client, "nat");
    // Only the destination: the reset comes back within curl's connect on
    // a local bridge, and a socket reset by then has given its port back
    // (sdtrace's client tuple read 192.0.2.2:0->… here).
    assert!(
        str_of(nat, "original").ends_with(&format!("->{vip}:80")),
        "{nat}"
    );
    assert!(str_of(nat, "rule").contains("DNAT"), "{nat}");
    assert!(
        str_of(nat, "translated").ends_with(&format!("->{web_ip}:81")),
        "{nat}"
    );
    assert!(
        trace.of_kind("server").is_empty(),
        "nobody accepted\n{trace}"
    );
    assert!(
        [client, nat]
            .iter()
            .any(|s| s.str_field("error").is_some_and(|e| e.contains("refused"))),
        "the client or NAT span says the connection was refused\n{trace}"
    );
});
