//! The tracker's questions about NAT, answered from the kernel's
//! connection tracking and the iptables rules that explain it.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::conntrack::{Conntrack, Entry};
use super::flow::Flow;
use super::nat_rules::NatRules;
use super::trace::{Translation, Translations};

/// Rules change when containers start; a translation no rule explains is
/// asked about again after reloading them, this often at most.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

pub struct KernelNat {
    conntrack: Conntrack,
    rules: Option<NatRules>,
    loaded: Instant,
    /// Why the rules cannot be read, said once.
    rules_error: Option<String>,
}

fn translation(e: Entry) -> Translation {
    Translation {
        refused: e.refused(),
        original: e.original,
        reply: e.reply,
    }
}

impl KernelNat {
    #[must_use]
    pub fn new(conntrack: Conntrack) -> Self {
        let mut nat = Self {
            conntrack,
            rules: None,
            loaded: Instant::now(),
            rules_error: None,
        };
        nat.reload();
        nat
    }

    fn reload(&mut self) {
        self.loaded = Instant::now();
        match NatRules::load() {
            Ok(rules) => self.rules = Some(rules),
            Err(e) => {
                if self.rules_error.is_none() {
                    eprintln!("sdtrace: {e}: NAT hops are shown without the rule that made them");
                }
                self.rules_error = Some(e);
            }
        }
    }

    fn explain(&self, t: &Translation) -> Vec<String> {
        self.rules
            .as_ref()
            .map(|r| r.explain(&t.original, &t.reply))
            .unwrap_or_default()
    }
}

/// A rule list that names no rule of the table (only says one is missing).
fn unexplained(rules: &[String]) -> bool {
    rules.is_empty() || rules.iter().any(|r| r.contains("not found"))
}

impl Translations for KernelNat {
    fn by_original(&mut self, original: &Flow) -> Option<Translation> {
        self.conntrack
            .by_original(original)
            .or_else(|| self.conntrack.query(original))
            .map(translation)
    }

    fn by_reply(&mut self, reply: &Flow) -> Option<Translation> {
        self.conntrack.by_reply(reply).map(translation)
    }

    fn newest_between(&mut self, proto: u8, src: IpAddr, dst: SocketAddr) -> Option<Translation> {
        self.conntrack
            .newest_between(proto, src, dst)
            .map(translation)
    }

    fn rules(&mut self, t: &Translation) -> Vec<String> {
        let rules = self.explain(t);
        if unexplained(&rules) && self.loaded.elapsed() >= RELOAD_EVERY {
            self.reload();
            return self.explain(t);
        }
        rules
    }

    fn summary(&self) -> Option<String> {
        let lost = self.conntrack.lost();
        let redumped = self.conntrack.redumped();
        (lost > 0).then(|| {
            format!(
                "sdtrace: connection tracking dropped notifications {lost} time(s), \
                 the table was read again {redumped} time(s): some NAT hops may be missing"
            )
        })
    }
}
