//! `--containers`: the containers a run saw, as one table at its end; a
//! sink that counts every event's container.
//!
//! Every event's container is counted (matched by the filter or not), so the
//! table answers "what ran in containers meanwhile" whatever was printed.

use std::collections::HashMap;
use std::sync::Arc;

use crate::container::{classify::ContainerRef, docker::Meta, Place};
use crate::event::{clock::Clock, extract::EventView};
use crate::sink::{Sink, Wants};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    events: u64,
    /// Boot-time ns of the first and last event.
    first: u64,
    last: u64,
}

/// Events per container, in the order containers were first seen.
#[derive(Debug, Default)]
pub struct Tally {
    order: Vec<Arc<ContainerRef>>,
    seen: HashMap<String, Seen>,
}

impl Tally {
    pub fn add(&mut self, c: &Arc<ContainerRef>, ts_ns: u64) {
        let s = self.seen.entry(c.id.clone()).or_insert_with(|| {
            self.order.push(Arc::clone(c));
            Seen {
                events: 0,
                first: ts_ns,
                last: ts_ns,
            }
        });
        s.events += 1;
        s.first = s.first.min(ts_ns);
        s.last = s.last.max(ts_ns);
    }

    pub fn containers(&self) -> impl Iterator<Item = &Arc<ContainerRef>> {
        self.order.iter()
    }

    /// The table, one line per container; `meta` gives what its runtime
    /// said of it (`<NA>` where it said nothing).
    pub fn render(
        &self,
        clock: &Clock,
        mut meta: impl FnMut(&ContainerRef) -> Option<Arc<Meta>>,
    ) -> String {
        let na = |s: &str| {
            if s.is_empty() {
                "<NA>".to_owned()
            } else {
                s.to_owned()
            }
        };
        let time = |ns| {
            let mut out = Vec::new();
            clock.write_time(&mut out, ns);
            String::from_utf8_lossy(&out).into_owned()
        };
        let mut rows = vec![[
            "CONTAINER.ID",
            "TYPE",
            "NAME",
            "IMAGE",
            "POD",
            "NAMESPACE",
            "EVENTS",
            "FIRST",
            "LAST",
        ]
        .map(str::to_owned)];
        for c in &self.order {
            let s = self.seen[&c.id];
            let m = meta(c);
            let m = m.as_deref();
            let label = |k: &str| na(m.and_then(|m| m.labels.get(k)).map_or("", String::as_str));
            rows.push([
                c.short_id().to_owned(),
                c.runtime.as_str().to_owned(),
                na(m.map_or("", |m| m.name.as_str())),
                na(m.map_or("", |m| m.image.as_str())),
                label("io.kubernetes.pod.name"),
                label("io.kubernetes.pod.namespace"),
                s.events.to_string(),
                time(s.first),
                time(s.last),
            ]);
        }
        let mut widths = [0usize; 9];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  "));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

impl Sink for Tally {
    fn observe(&mut self, view: &EventView<'_>, _shown: bool) {
        if let Some(Place::Container(c)) = view.place {
            self.add(c, view.rec.hdr.ts_ns);
        }
    }

    fn wants(&self) -> Wants {
        Wants {
            place: true,
            ..Wants::NOTHING
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::classify::Runtime;

    #[test]
    fn table() {
        let web = Arc::new(ContainerRef {
            runtime: Runtime::Containerd,
            id: "a".repeat(64),
        });
        let other = Arc::new(ContainerRef {
            runtime: Runtime::Docker,
            id: "b".repeat(64),
        });
        let mut t = Tally::default();
        t.add(&web, 3_000_000_000);
        t.add(&other, 2_000_000_000);
        t.add(&web, 1_000_000_000);
        let clock = Clock::fixed(0, 0);
        let text = t.render(&clock, |c| {
            (c.id == web.id).then(|| {
                Arc::new(Meta {
                    name: "nginx".into(),
                    image: "nginx:1.25".into(),
                    labels: [
                        ("io.kubernetes.pod.name".to_owned(), "web-0".to_owned()),
                        ("io.kubernetes.pod.namespace".to_owned(), "shop".to_owned()),
                    ]
                    .into(),
                    ..Meta::default()
                })
            })
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let cells = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            cells(lines[1]),
            [
                "aaaaaaaaaaaa",
                "containerd",
                "nginx",
                "nginx:1.25",
                "web-0",
                "shop",
                "2",
                "00:00:01.000000000",
                "00:00:03.000000000"
            ]
        );
        assert_eq!(
            cells(lines[2])[..7],
            [
                "bbbbbbbbbbbb",
                "docker",
                "<NA>",
                "<NA>",
                "<NA>",
                "<NA>",
                "1"
            ]
        );
        // Columns line up under the header.
        assert_eq!(lines[0].find("TYPE"), lines[1].find("containerd"));
    }
}
