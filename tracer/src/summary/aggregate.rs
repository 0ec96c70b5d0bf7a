//! Events into the table of one view at a time: a row per key (container,
//! process, file, ...), counted since the view was set, with syscall rates
//! over a sliding window of kernel time.

use std::collections::{HashMap, VecDeque};

use crate::converge;
use crate::event::clock::Clock;
use crate::event::extract::EventView;
use crate::filter::Filter;
use crate::output::format::print_preset;
use crate::output::format::OutputFormat;
use crate::sink::Sink;

use super::converge_rows;
use super::counts::{Counts, Facts};
use super::histogram::Histogram;
use super::table::{Cell, Column, ColumnKind, Row, Snapshot, Table, Totals, View};
use super::views;
use super::window::Window;

/// How many raw lines the events view keeps (the newest).
pub const EVENT_LINES: usize = 500;

const NS: f64 = 1e9;

/// How a row's syscalls per second are reckoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rates {
    /// Over the last few seconds ([`super::window::WINDOW_SECS`]): the live view.
    Sliding,
    /// Over all the time since the view was set: `sdtrace top`'s summary
    /// of a run.
    Whole,
}

struct Entry {
    labels: Vec<Cell>,
    narrow: Option<String>,
    complete: bool,
    counts: Counts,
}

/// The table of one [`View`] of the events matching a filter.
pub struct Aggregator {
    view: View,
    filter: Option<Filter>,
    rates: Rates,
    rows: HashMap<String, Entry>,
    /// The current event's key, in a buffer kept so that an event of an
    /// existing row allocates nothing.
    key: String,
    /// Kernel time the view was set at (or its first event, before any tick).
    since: Option<u64>,
    /// The newest kernel time seen, from events or ticks.
    now: u64,
    /// Every event observed since the start, matching the view or not,
    /// and the first one's time.
    events: u64,
    started: Option<u64>,
    window: Window,
    /// The events view's lines, newest last.
    lines: VecDeque<String>,
    line_format: OutputFormat,
    line: Vec<u8>,
    /// The converge view's engine: it sees every event (ownership is by
    /// ancestry), and keys its own rows.
    converge: Option<converge::Tracker>,
    /// Whether events come from agents' nodes: rows then say which.
    nodes: bool,
}

impl Aggregator {
    /// `view` of the events that match `filter` (every event for `None`).
    #[must_use]
    pub fn new(view: View, filter: Option<Filter>) -> Self {
        Self {
            view,
            filter,
            rates: Rates::Sliding,
            rows: HashMap::new(),
            key: String::new(),
            since: None,
            now: 0,
            events: 0,
            started: None,
            window: Window::default(),
            lines: VecDeque::new(),
            line_format: OutputFormat::parse(print_preset("c"))
                .expect("sdtrace's -pc preset parses"),
            line: Vec::new(),
            converge: (view == View::Converge).then(converge::Tracker::default),
            nodes: false,
        }
    }

    #[must_use]
    pub fn with_rates(mut self, rates: Rates) -> Self {
        self.rates = rates;
        self
    }

    #[must_use]
    pub fn view(&self) -> View {
        self.view
    }

    /// Shows `view` of the events matching `filter` from now on; every
    /// number starts afresh.
    pub fn show(&mut self, view: View, filter: Option<Filter>) {
        self.view = view;
        self.filter = filter;
        self.rows.clear();
        self.lines.clear();
        self.converge = (view == View::Converge).then(converge::Tracker::default);
        self.since = (self.now > 0).then_some(self.now);
    }

    /// Kernel time has reached `now` (no later event can precede it).
    pub fn advance(&mut self, now: u64) {
        self.now = self.now.max(now);
        if let Some(c) = &mut self.converge {
            c.tick(now);
            // The view shows the summary; the lines are `sdtrace converge`'s.
            drop(c.take());
        }
    }

    /// Takes one event from the pipeline: counted when `shown`; the
    /// converge view also follows processes through the rest.
    pub fn observe(&mut self, ev: &EventView<'_>, shown: bool) {
        if let Some(c) = &mut self.converge {
            let shown = shown
                && self
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.matches(&mut EventView { ..*ev }));
            c.feed(ev, shown);
        }
        if shown {
            self.add(ev);
        }
    }

    /// Counts one event (one the pipeline's own filter let through).
    pub fn add(&mut self, ev: &EventView<'_>) {
        let ts = ev.rec.hdr.ts_ns;
        self.nodes |= ev.node.is_some();
        self.advance(ts);
        self.events += 1;
        self.started.get_or_insert(ts);
        self.window.add(ts);
        if let Some(f) = &self.filter {
            // The filter asks fields through `&mut`; the view is all
            // references, so a copy costs nothing.
            if !f.matches(&mut EventView { ..*ev }) {
                return;
            }
        }
        self.since.get_or_insert(ts);
        if self.view == View::Converge {
            return;
        }
        if self.view == View::Events {
            self.add_line(ev);
            return;
        }
        if !views::key(self.view, ev, &mut self.key) {
            return;
        }
        let facts = Facts::of(ev);
        let entry = match self.rows.get_mut(self.key.as_str()) {
            Some(entry) => {
                if !entry.complete || views::renames(ev) {
                    let labels = views::labels(self.view, ev);
                    entry.labels = labels.cells;
                    entry.complete = labels.complete;
                }
                entry
            }
            None => {
                let labels = views::labels(self.view, ev);
                let counts = Counts {
                    latency: (self.view == View::Syscalls).then(Histogram::default),
                    ..Counts::default()
                };
                self.rows.entry(self.key.clone()).or_insert(Entry {
                    labels: labels.cells,
                    narrow: labels.narrow,
                    complete: labels.complete,
                    counts,
                })
            }
        };
        entry.counts.add(&facts);
    }

    fn add_line(&mut self, ev: &EventView<'_>) {
        self.line.clear();
        self.line_format.write(&mut self.line, ev);
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        if self.lines.len() == EVENT_LINES {
            self.lines.pop_front();
        }
        self.lines
            .push_back(String::from_utf8_lossy(&self.line).into_owned());
    }

    fn rate(&self, c: &Counts) -> f64 {
        let since = self.since.unwrap_or(self.now);
        match self.rates {
            Rates::Sliding => c.window.rate(self.now, since),
            Rates::Whole => {
                let span = self.now.saturating_sub(since);
                if span == 0 {
                    0.0
                } else {
                    c.events as f64 * NS / span as f64
                }
            }
        }
    }

    /// The view's table now: rows in no particular order.
    #[must_use]
    pub fn table(&self) -> Table {
        if let Some(c) = &self.converge {
            return Table {
                view: self.view,
                columns: self.view.columns(),
                rows: converge_rows::rows(c.engine().summary()),
            };
        }
        let rows = self
            .rows
            .values()
            .map(|e| {
                let mut cells = e.labels.clone();
                cells.extend(views::numbers(self.view, &e.counts, self.rate(&e.counts)));
                Row {
                    cells,
                    narrow: e.narrow.clone(),
                }
            })
            .collect();
        let mut columns = self.view.columns();
        if self.nodes && views::has_node_column(self.view) {
            columns.insert(
                0,
                Column {
                    title: super::table::NODE,
                    kind: ColumnKind::Text,
                },
            );
        }
        Table {
            view: self.view,
            columns,
            rows,
        }
    }

    /// The events view's lines, newest last (empty in other views).
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }

    /// Every event observed (matching the view or not) and their rate;
    /// the drops are the capture's to tell.
    #[must_use]
    pub fn totals(&self) -> Totals {
        Totals {
            event_rate: self.window.rate(self.now, self.started.unwrap_or(self.now)),
            drops: 0,
            events: self.events,
        }
    }

    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            table: self.table(),
            events: self.lines(),
            totals: self.totals(),
        }
    }
}

/// An aggregator alone keeps its table for whoever owns it (tests, other
/// sinks wrapping it).
impl Sink for Aggregator {
    fn observe(&mut self, view: &EventView<'_>, shown: bool) {
        Aggregator::observe(self, view, shown);
    }

    fn tick(&mut self, now: u64) {
        self.advance(now);
    }

    fn write_ready(&mut self, _out: &mut Vec<u8>, _clock: &Clock) -> u64 {
        0
    }
}
