//! One logger for the diagnostics that are not results, to stderr with
//! `sdtrace: ` first (the live view points stderr at its `--log` file).
//! Warnings change what the user sees (NAT following stopped, a view not
//! shown) and are always printed, each once; debug lines only with `-v` or
//! `SDTRACE_DEBUG` set. ripgrep's `logger.rs` is the model.

use std::collections::BTreeSet;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Logger {
    /// The warnings and errors already printed.
    said: Mutex<BTreeSet<String>>,
}

static LOGGER: Logger = Logger {
    said: Mutex::new(BTreeSet::new()),
};

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = match record.level() {
            Level::Error => format!("sdtrace: error: {}", record.args()),
            Level::Warn => format!("sdtrace: warning: {}", record.args()),
            _ => format!("sdtrace: {}: {}", record.target(), record.args()),
        };
        if record.level() <= Level::Warn {
            let mut said = self
                .said
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !said.insert(line.clone()) {
                return;
            }
        }
        eprintln!("{line}");
    }

    fn flush(&self) {}
}

/// Installs the logger: warnings, and debug lines when `SDTRACE_DEBUG` is set.
pub fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(if std::env::var_os("SDTRACE_DEBUG").is_some() {
            LevelFilter::Debug
        } else {
            LevelFilter::Warn
        });
    }
}

/// `-v`: debug lines too.
pub fn verbose() {
    log::set_max_level(LevelFilter::Debug);
}

/// Whether debug lines are printed.
pub fn debugging() -> bool {
    log::log_enabled!(Level::Debug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_is_said_once() {
        init();
        let record = |text: &str| {
            let args = format_args!("{text}");
            let r = Record::builder().level(Level::Warn).args(args).build();
            LOGGER.log(&r);
        };
        record("conntrack: no more events");
        record("conntrack: no more events");
        let said = LOGGER.said.lock().unwrap();
        assert_eq!(
            said.iter()
                .filter(|l| l.ends_with("conntrack: no more events"))
                .count(),
            1
        );
    }
}
