//! Reading fields of sdtrace's `-j` events. Numbers may arrive as JSON numbers
//! or numeric strings (ports, pids); both read the same here.
use serde_json::Value;

pub trait EventExt {
    /// A string field (`None` when absent or null).
    fn str_field(&self, key: &str) -> Option<&str>;
    /// An integer field given as a number or a numeric string.
    fn int_field(&self, key: &str) -> Option<i64>;
    /// The event's `evt.type`.
    fn evt_type(&self) -> Option<&str> {
        self.str_field("evt.type")
    }
    /// The event's `proc.pid` as a u32.
    fn pid(&self) -> Option<u32> {
        self.int_field("proc.pid")
            .and_then(|p| u32::try_from(p).ok())
    }
}

impl EventExt for Value {
    fn str_field(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    fn int_field(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}
