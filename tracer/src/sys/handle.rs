//! `open_by_handle_at`: a file named by the handle the kernel shows for it
//! (an inotify watch's `f_handle` in `/proc/PID/fdinfo`), opened again.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `struct file_handle`'s fixed part: `handle_bytes`, `handle_type`.
const HEADER: usize = 8;

/// Opens (`O_PATH`) the file `handle` of type `handle_type` names, on the
/// filesystem `mount` is a file of. Needs `CAP_DAC_READ_SEARCH`.
pub fn open_by_handle(mount: &File, handle_type: i32, handle: &[u8]) -> io::Result<OwnedFd> {
    let bytes = u32::try_from(handle.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // u32-aligned, as the kernel's struct is.
    let mut buf = vec![0u32; (HEADER + handle.len()).div_ceil(4)];
    buf[0] = bytes;
    buf[1] = handle_type as u32;
    // SAFETY: `buf` holds HEADER + handle.len() bytes; the copy writes the
    // handle right after the header, within it.
    unsafe {
        std::ptr::copy_nonoverlapping(
            handle.as_ptr(),
            buf.as_mut_ptr().cast::<u8>().add(HEADER),
            handle.len(),
        );
    }
    // SAFETY: `buf` is a valid `struct file_handle` with `bytes` bytes of
    // handle; the kernel only reads it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount.as_raw_fd(),
            buf.as_mut_ptr(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::ErrorKind::InvalidData)?;
    // SAFETY: the call succeeded: a descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
