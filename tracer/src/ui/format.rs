//! How a cell reads on screen: sizes and rates scaled to fit a column
//! (1.2K, 3.4M/s), durations in the unit that keeps them short (µs, ms).

use crate::summary::table::Cell;

/// The cell as the table shows it.
#[must_use]
pub fn cell(cell: &Cell) -> String {
    match cell {
        Cell::Text(t) => t.clone(),
        Cell::Count(n) => count(*n),
        Cell::Bytes(n) => bytes(*n),
        Cell::Rate(r) => rate(*r),
        Cell::Nanos(ns) => nanos(*ns),
        Cell::Empty => String::new(),
    }
}

/// Exact up to 99999, then in thousands (K), millions (M), ...
#[must_use]
pub fn count(n: u64) -> String {
    if n < 100_000 {
        n.to_string()
    } else {
        scaled(n as f64, 1000.0)
    }
}

/// Powers of 1024, as `ls -h` and csysdig show sizes.
#[must_use]
pub fn bytes(n: u64) -> String {
    if n < 1024 {
        n.to_string()
    } else {
        scaled(n as f64, 1024.0)
    }
}

/// Per second: one decimal below 10 (a rare event still shows), then whole
/// numbers, then scaled.
#[must_use]
pub fn rate(r: f64) -> String {
    let r = r.max(0.0);
    if r < 10.0 {
        format!("{r:.1}/s")
    } else if r < 1000.0 {
        format!("{r:.0}/s")
    } else {
        format!("{}/s", scaled(r, 1000.0))
    }
}

#[must_use]
pub fn nanos(ns: u64) -> String {
    const UNITS: [(f64, &str); 3] = [(1e3, "µs"), (1e6, "ms"), (1e9, "s")];
    if ns < 1000 {
        return format!("{ns}ns");
    }
    let ns = ns as f64;
    let (div, unit) = UNITS
        .into_iter()
        .rev()
        .find(|(div, _)| ns >= *div)
        .unwrap_or(UNITS[0]);
    short(ns / div, unit)
}

/// `x` (at least `base`) in K, M, G, T, P.
fn scaled(x: f64, base: f64) -> String {
    let mut x = x;
    for unit in ["K", "M", "G", "T", "P"] {
        x /= base;
        if x < base || unit == "P" {
            return short(x, unit);
        }
    }
    unreachable!("the last unit returns")
}

/// One decimal while the number is small, so every value stays within
/// five characters or so.
fn short(x: f64, unit: &str) -> String {
    if x < 100.0 {
        format!("{x:.1}{unit}")
    } else {
        format!("{x:.0}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_scale_by_1024() {
        assert_eq!(bytes(512), "512");
        assert_eq!(bytes(1229), "1.2K");
        assert_eq!(bytes(3_565_158), "3.4M");
        assert_eq!(bytes(200 << 20), "200M");
        assert_eq!(bytes(5 << 30), "5.0G");
    }

    #[test]
    fn counts_stay_exact_while_short() {
        assert_eq!(count(99_999), "99999");
        assert_eq!(count(123_456), "123K");
        assert_eq!(count(4_500_000), "4.5M");
    }

    #[test]
    fn rates_say_per_second() {
        assert_eq!(rate(0.25), "0.2/s");
        assert_eq!(rate(42.4), "42/s");
        assert_eq!(rate(12_345.0), "12.3K/s");
    }

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(nanos(850), "850ns");
        assert_eq!(nanos(12_300), "12.3µs");
        assert_eq!(nanos(4_560_000), "4.6ms");
        assert_eq!(nanos(250_000_000), "250ms");
        assert_eq!(nanos(3_000_000_000), "3.0s");
    }

    #[test]
    fn cells_by_kind() {
        assert_eq!(cell(&Cell::Empty), "");
        assert_eq!(cell(&Cell::Text("nginx".into())), "nginx");
        assert_eq!(cell(&Cell::Bytes(2048)), "2.0K");
    }
}
