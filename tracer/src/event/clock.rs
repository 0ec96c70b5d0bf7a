//! Kernel timestamps (`CLOCK_BOOTTIME`) to wall-clock time, formatted the way
//! sysdig prints `evt.time` and `evt.datetime`, without a time library call
//! per event.

use super::num::push_padded;

/// Converts boot-time nanoseconds to local wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Clock {
    /// realtime - boottime, in ns, sampled at start-up.
    boot_to_epoch_ns: i128,
    /// Local time zone's offset from UTC, in seconds, at start-up.
    utc_offset_s: i64,
}

impl Clock {
    pub fn now() -> Self {
        let boot = crate::sys::clock::ns(libc::CLOCK_BOOTTIME);
        let real = crate::sys::clock::ns(libc::CLOCK_REALTIME);
        Clock {
            boot_to_epoch_ns: real - boot,
            utc_offset_s: crate::sys::host::utc_offset_s((real / 1_000_000_000) as i64),
        }
    }

    /// A clock with the given offsets (a capture file's, or a test's).
    pub fn fixed(boot_to_epoch_ns: i128, utc_offset_s: i64) -> Self {
        Clock {
            boot_to_epoch_ns,
            utc_offset_s,
        }
    }

    /// Nanoseconds since the Unix epoch for a kernel timestamp.
    pub fn epoch_ns(&self, boot_ns: u64) -> u64 {
        (boot_ns as i128 + self.boot_to_epoch_ns).max(0) as u64
    }

    /// The kernel timestamp of a time since the Unix epoch.
    pub fn boot_ns(&self, epoch_ns: u64) -> u64 {
        (epoch_ns as i128 - self.boot_to_epoch_ns).max(0) as u64
    }

    /// What to add to this clock's kernel times to have `other`'s for the
    /// same moments (two machines booted at different times).
    pub fn shift_to(&self, other: &Clock) -> i128 {
        self.boot_to_epoch_ns - other.boot_to_epoch_ns
    }

    fn local(&self, boot_ns: u64) -> (i64, u64) {
        let ns = self.epoch_ns(boot_ns);
        let secs = (ns / 1_000_000_000) as i64 + self.utc_offset_s;
        (secs, ns % 1_000_000_000)
    }

    /// `HH:MM:SS.nnnnnnnnn`, local time.
    pub fn write_time(&self, out: &mut Vec<u8>, boot_ns: u64) {
        let (secs, nanos) = self.local(boot_ns);
        let day = secs.rem_euclid(86_400) as u64;
        push_padded(out, day / 3600, 2);
        out.push(b':');
        push_padded(out, day / 60 % 60, 2);
        out.push(b':');
        push_padded(out, day % 60, 2);
        out.push(b'.');
        push_padded(out, nanos, 9);
    }

    /// `YYYY-MM-DD HH:MM:SS.nnnnnnnnn`, local time.
    pub fn write_datetime(&self, out: &mut Vec<u8>, boot_ns: u64) {
        let (secs, _) = self.local(boot_ns);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        push_padded(out, y.max(0) as u64, 4);
        out.push(b'-');
        push_padded(out, u64::from(m), 2);
        out.push(b'-');
        push_padded(out, u64::from(d), 2);
        out.push(b' ');
        self.write_time(out, boot_ns);
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_local_time_and_date() {
        // 2026-11-25 13:35:38.121421318 UTC is 1795613738.121421318 s after the epoch.
        let epoch_ns: i128 = 1_795_613_738_121_421_318;
        let boot_ns = 5_000_000_000u64;
        let c = Clock::fixed(epoch_ns - boot_ns as i128, 0);
        let mut out = Vec::new();
        c.write_datetime(&mut out, boot_ns);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-11-25 13:35:38.121421318"
        );
        let east = Clock::fixed(epoch_ns - boot_ns as i128, 3600);
        let mut out = Vec::new();
        east.write_time(&mut out, boot_ns);
        assert_eq!(String::from_utf8(out).unwrap(), "14:35:38.121421318");
    }

    #[test]
    fn calendar_edges() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
