//! sysdig's output as the tests compare it with sdtrace's.

/// sysdig names a unix socket `<kernel address>-><peer address> <path>`,
/// sdtrace by its path alone; and a socket whose connect failed `NULL`,
/// sdtrace by nothing.
pub fn without_unix_addresses(line: &str) -> String {
    line.split(' ')
        .filter(|w| {
            !w.split_once("->").is_some_and(|(a, b)| {
                let hex = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_hexdigit());
                hex(a) && hex(b)
            })
        })
        .map(|w| if w == "NULL" { "" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}
