//! `nginx-image TAG`: builds the nginx image the end-to-end tests run (from
//! the Debian package `cargo xtask setup` downloads into `$SDTRACE_DEBS`),
//! for `cargo xtask bench`'s nginx row, so both load the same server. Exits
//! with 2, saying why, when the package is not there.
use std::process::ExitCode;

fn main() -> ExitCode {
    let tag = std::env::args().nth(1).expect("usage: nginx-image TAG");
    let docker = tests::which("docker");
    if tests::images::nginx_image(&docker, &tag).is_some() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "nginx-image: Debian's nginx package is not in $SDTRACE_DEBS (`cargo xtask setup` downloads it)"
        );
        ExitCode::from(2)
    }
}
