//! A netfilter netlink socket (ctnetlink speaks over it), its options, and
//! whole-datagram sends and receives.

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub struct Socket(OwnedFd);

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Socket {
    /// A NETLINK_NETFILTER socket bound to `groups`.
    pub fn open(groups: u32) -> io::Result<Socket> {
        // SAFETY: plain socket(2); the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor just opened and owned by no one.
        let socket = Socket(unsafe { OwnedFd::from_raw_fd(raw) });
        let mut addr = kernel_address();
        addr.nl_groups = groups;
        // SAFETY: `addr` is a valid sockaddr_nl of the length given.
        let rc = unsafe {
            libc::bind(
                socket.fd(),
                (&raw const addr).cast(),
                mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(socket)
    }

    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Asks for `bytes` of receive buffer, past `rmem_max` when
    /// privileged (SO_RCVBUFFORCE), else as much as `rmem_max` allows.
    pub fn set_receive_buffer(&self, bytes: libc::c_int) {
        if self.set_option(libc::SO_RCVBUFFORCE, &bytes).is_err() {
            let _ = self.set_option(libc::SO_RCVBUF, &bytes);
        }
    }

    pub fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: libc::suseconds_t::from(timeout.subsec_micros() as i32),
        };
        self.set_option(libc::SO_RCVTIMEO, &tv)
    }

    fn set_option<T>(&self, name: libc::c_int, value: &T) -> io::Result<()> {
        // SAFETY: `value` points to a T of the size given.
        let rc = unsafe {
            libc::setsockopt(
                self.fd(),
                libc::SOL_SOCKET,
                name,
                (value as *const T).cast(),
                mem::size_of::<T>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sends one request to the kernel.
    pub fn send(&self, msg: &[u8]) -> io::Result<()> {
        let addr = kernel_address();
        // SAFETY: `msg` and `addr` are valid for the lengths given.
        let rc = unsafe {
            libc::sendto(
                self.fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&raw const addr).cast(),
                mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One datagram into `buf`: its length (cut to `buf`) and the
    /// sender's port id (0 for the kernel).
    pub fn recv(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<(usize, u32)> {
        let mut addr = kernel_address();
        let mut addr_len = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: `buf` and `addr` are valid and writable for the
        // lengths given.
        let rc = unsafe {
            libc::recvfrom(
                self.fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags,
                (&raw mut addr).cast(),
                &raw mut addr_len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((rc as usize, addr.nl_pid))
    }
}

fn kernel_address() -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain integers, valid when zeroed.
    let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr
}
