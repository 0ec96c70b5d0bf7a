//! What each agent sent and lost, and the lines on stderr that say so.
//!
//! Drops come in every mark as running totals; a line is said when one
//! grows, but at most once a second per agent, so an agent losing events
//! all the time does not bury the output in its own complaints.

use std::time::{Duration, Instant};

/// Least time between two drop lines about one agent.
const SAY_EVERY: Duration = Duration::from_secs(1);

/// One agent's counts.
#[derive(Debug)]
pub struct Tally {
    pub node: String,
    pub events: u64,
    /// The kernel drops in the first mark: the agent's own since it
    /// started, before we came.
    kernel_base: Option<u64>,
    kernel: u64,
    queue: u64,
    said_kernel: u64,
    said_queue: u64,
    said_at: Option<Instant>,
}

impl Tally {
    pub fn new(node: &str) -> Self {
        Tally {
            node: node.to_owned(),
            events: 0,
            kernel_base: None,
            kernel: 0,
            queue: 0,
            said_kernel: 0,
            said_queue: 0,
            said_at: None,
        }
    }

    /// Kernel drops since we attached.
    pub fn kernel_drops(&self) -> u64 {
        self.kernel
            .saturating_sub(self.kernel_base.unwrap_or(self.kernel))
    }

    /// Our events this agent dropped because we read too slowly.
    pub fn queue_drops(&self) -> u64 {
        self.queue
    }

    /// A mark's totals; the lines to say about them now, if any.
    pub fn mark(&mut self, kernel_drops: u64, queue_drops: u64, now: Instant) -> Vec<String> {
        self.kernel_base.get_or_insert(kernel_drops);
        self.kernel = self.kernel.max(kernel_drops);
        self.queue = self.queue.max(queue_drops);
        if self
            .said_at
            .is_some_and(|at| now.saturating_duration_since(at) < SAY_EVERY)
        {
            return Vec::new();
        }
        let mut lines = Vec::new();
        let queue = self.queue_drops();
        if queue > self.said_queue {
            lines.push(format!(
                "sdtrace: {}: the agent dropped {} of our events because we read too slowly ({queue} so far)",
                self.node,
                queue - self.said_queue,
            ));
            self.said_queue = queue;
        }
        let kernel = self.kernel_drops();
        if kernel > self.said_kernel {
            lines.push(format!(
                "sdtrace: {}: the kernel dropped {} events before the agent read them ({kernel} since we attached)",
                self.node,
                kernel - self.said_kernel,
            ));
            self.said_kernel = kernel;
        }
        if !lines.is_empty() {
            self.said_at = Some(now);
        }
        lines
    }

    /// The line at the end.
    pub fn summary(&self) -> String {
        format!(
            "sdtrace: {}: {} events, {} kernel drops, {} queue drops",
            self.node,
            self.events,
            self.kernel_drops(),
            self.queue_drops()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_said_when_they_grow_at_most_once_a_second() {
        let t = Instant::now();
        let mut tally = Tally::new("n1");
        // The agent lost 5 before we came: not ours to report.
        assert!(tally.mark(5, 0, t).is_empty());
        let lines = tally.mark(7, 3, t);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("sdtrace: n1: the agent dropped 3 of our events"),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("sdtrace: n1: the kernel dropped 2 events"),
            "{lines:?}"
        );
        // Within the second: counted, not said.
        assert!(tally.mark(9, 4, t + Duration::from_millis(100)).is_empty());
        let later = tally.mark(9, 4, t + SAY_EVERY);
        assert_eq!(later.len(), 2, "{later:?}");
        assert!(
            later[0].contains("dropped 1 of our events because we read too slowly (4 so far)"),
            "{later:?}"
        );
        assert!(later[1].contains("dropped 2 events"), "{later:?}");
        tally.events = 10;
        assert_eq!(
            tally.summary(),
            "sdtrace: n1: 10 events, 4 kernel drops, 4 queue drops"
        );
    }
}
