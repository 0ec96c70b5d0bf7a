use std::time::Duration;

use tracer::capture::{Capture, CaptureOptions, KernelFilter};
use tracer::decode::{decode, Body};
use tracer_common::syscall_names::SYSCALL_NAMES;

fn main() -> anyhow::Result<()> {
    let mut cap = Capture::start(&CaptureOptions { buffer_size: 16 << 20, snaplen: 80, latency: false, filter: KernelFilter::default() })?;
    eprintln!("sdtrace: attached");
    let start = std::time::Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        while let Some(item) = cap.ring.next() {
            n += 1;
            match decode(&item) {
                Ok(rec) => {
                    if n % 5000 == 0 || !matches!(rec.body, Body::Syscall(_)) {
                        let comm = String::from_utf8_lossy(&rec.hdr.comm);
                        println!("{} {} {} {:?} ret={} mnt={} pidns={} cg={} cg1={} body={:?}", rec.hdr.tgid, rec.hdr.tid, comm.trim_end_matches('\0'), SYSCALL_NAMES.get(rec.hdr.nr as usize), rec.hdr.ret, rec.hdr.mnt_ns, rec.hdr.pid_ns, rec.hdr.cgroup_id, rec.hdr.cgroup_v1_id, rec.body);
                    }
                }
                Err(e) => println!("decode error {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    eprintln!("events {n} drops {:?}", cap.drops_per_cpu());
    Ok(())
}
