//! sdtrace's kernel side: one hook on every syscall's exit that emits one
//! complete record per call, the sched hooks that keep userspace's process table
//! exact, an optional entry hook for latency, and the push-down checks that
//! keep events nobody asked for from crossing into userspace.
#![no_std]
#![no_main]
#![warn(clippy::undocumented_unsafe_blocks)]

mod area;
mod batch;
mod batch_flush;
mod capture;
mod cgroup_attach;
mod filters;
mod identity;
mod kernel;
mod maps;
mod record;
mod sched_exec;
mod sched_exit;
mod sched_fork;
mod scratch;
mod stages;
mod sys_enter;
mod sys_exit;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

// SAFETY: the section and symbol the loader looks for the license in; no
// other item uses either.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
