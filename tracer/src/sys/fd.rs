//! Descriptors: a pipe, waiting for readable ones, and fd 2 pointed
//! elsewhere and back (the live view keeps diagnostics off its screen).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are open descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Waits up to `timeout` until one of `fds` is readable (or hung up);
/// which ones are. An interrupted wait is an `Interrupted` error.
pub fn wait_readable<const N: usize>(
    fds: [BorrowedFd<'_>; N],
    timeout: Duration,
) -> io::Result<[bool; N]> {
    let mut polled = fds.map(|fd| libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    });
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `polled` is a valid array of N pollfd for the call.
    let ready = unsafe { libc::poll(polled.as_mut_ptr(), N as libc::nfds_t, ms) };
    if ready < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(polled.map(|p| p.revents != 0))
}

/// fd 2 as it was before [`redirect_stderr`], to put back.
pub struct SavedStderr(OwnedFd);

/// Points fd 2 at `to`; what it pointed at is returned, to restore.
pub fn redirect_stderr(to: OwnedFd) -> io::Result<SavedStderr> {
    // SAFETY: dup of fd 2, which exists for the whole process.
    let saved = unsafe { libc::dup(libc::STDERR_FILENO) };
    if saved < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: dup succeeded: a descriptor we now own.
    let saved = unsafe { OwnedFd::from_raw_fd(saved) };
    // SAFETY: both are open descriptors; `to` stays owned (closed on drop).
    if unsafe { libc::dup2(to.as_raw_fd(), libc::STDERR_FILENO) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(SavedStderr(saved))
}

impl SavedStderr {
    /// Points fd 2 back where it was.
    pub fn restore(self) {
        // SAFETY: both are open descriptors; the saved one is closed when
        // `self` drops, fd 2 keeps its own copy.
        unsafe { libc::dup2(self.0.as_raw_fd(), libc::STDERR_FILENO) };
    }
}
