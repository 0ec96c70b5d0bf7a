//! conntrack's netlink socket overflowing during `sdtrace follow`: the
//! kernel drops notifications (ENOBUFS); sdtrace counts them, reads the
//! table again once the queue is drained, and says both at the end.
//! The overflow is provoked: `SDTRACE_TEST_CONNTRACK_RCVBUF` (test only)
//! shrinks the event socket's buffer to 4 KiB, and a burst of loopback
//! connections (each a NEW, UPDATEs and a DESTROY) fills it.
use std::{fs, os::unix::fs::PermissionsExt, time::Duration};

use tests::{e2e, json_run::JsonRun, require_program, TempDir, Tracer};

/// 3 000 connections to a listener of its own on 127.0.0.1.
const BURST: &str = "use IO::Socket::INET; \
    my $l = IO::Socket::INET->new(Listen => 128, LocalAddr => '127.0.0.1', ReuseAddr => 1) or die; \
    my $p = $l->sockport; \
    for (1..3000) { my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p) or die; \
    my $a = $l->accept; close $c; close $a; }";

e2e!(
    conntrack_overflow_is_counted_said_and_the_table_read_again,
    |tracer, test| {
        let Some(perl) = require_program(test, "perl") else {
            return;
        };
        let dir = TempDir::new("conntrack-overflow");
        let wrapper = dir.path().join("sdtrace-small-rcvbuf");
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nSDTRACE_TEST_CONNTRACK_RCVBUF=4096 exec {} \"$@\"\n",
                tracer.bin.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
        let small = Tracer { bin: wrapper };
        let perl = perl.display().to_string();
        let done = JsonRun::start(&small, "follow", &["--", &perl, "-e", BURST])
            .wait_exit(Duration::from_secs(120));
        assert!(
            done.status.success(),
            "{:?}: {:?}",
            done.status,
            done.stderr
        );
        let said: Vec<&String> = done
            .stderr
            .iter()
            .filter(|l| l.contains("connection tracking dropped notifications"))
            .collect();
        eprintln!("3 000 loopback connections, 4 KiB conntrack buffer: {said:?}");
        assert_eq!(said.len(), 1, "said once: {:?}", done.stderr);
        let number_before = |words: &str| -> u64 {
            let line = said[0].as_str();
            let end = line
                .find(words)
                .unwrap_or_else(|| panic!("{words:?} in {line}"));
            line[..end]
                .split_whitespace()
                .last()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a count before {words:?} in {line}"))
        };
        assert!(number_before(" time(s),") > 0, "{}", said[0]);
        assert!(number_before(" time(s):") > 0, "read again: {}", said[0]);
    }
);
