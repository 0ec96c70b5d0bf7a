//! `fd-paths rename|dirfd DIR`: prints `ready`, waits for a line on stdin
//! (the tracer starts in between), then makes the calls whose fd the kernel
//! path tests look at, and prints `done`:
//! - `rename`: creates DIR/before, renames it DIR/after, then fchmods the fd
//!   it still holds;
//! - `dirfd`: opens DIR/link (a symlink to DIR/sub) as a directory, creates
//!   `rel` relative to it, and fsyncs the new fd.
use std::{
    ffi::CString,
    fs::{self, File},
    io::{self, BufRead, Write},
    os::unix::{
        ffi::OsStrExt,
        fs::{symlink, PermissionsExt},
        io::FromRawFd,
    },
    path::Path,
};

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(mode), Some(dir)) = (args.next(), args.next()) else {
        eprintln!("usage: fd-paths rename|dirfd DIR");
        std::process::exit(2);
    };
    let dir = Path::new(&dir);
    if mode == "dirfd" {
        fs::create_dir_all(dir.join("sub"))?;
        symlink("sub", dir.join("link"))?;
    }
    writeln!(io::stdout(), "ready")?;
    io::stdout().flush()?;
    io::stdin().lock().read_line(&mut String::new())?;
    match mode.as_str() {
        "rename" => {
            let file = File::create(dir.join("before"))?;
            fs::rename(dir.join("before"), dir.join("after"))?;
            // fchmod(2) on the fd opened under the old name.
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        "dirfd" => {
            let link = CString::new(dir.join("link").as_os_str().as_bytes())?;
            // SAFETY: a NUL-terminated path; the fds are checked before use.
            let dirfd = unsafe { libc::open(link.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
            if dirfd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: as above.
            let fd = unsafe {
                libc::openat(
                    dirfd,
                    c"rel".as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY,
                    0o644,
                )
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: fd is a new descriptor this process owns.
            let file = unsafe { File::from_raw_fd(fd) };
            file.sync_all()?;
            // SAFETY: dirfd is open and not used again.
            unsafe { libc::close(dirfd) };
        }
        other => {
            eprintln!("fd-paths: unknown mode {other}");
            std::process::exit(2);
        }
    }
    writeln!(io::stdout(), "done")?;
    Ok(())
}
