//! `sdtrace top`: one view's busiest rows, at the end of the run and,
//! with `--interval`, while it runs; as sysdig's topfiles, topprocs_cpu,
//! topconns... chisels.

use crate::cli::TopCli;
use crate::event::clock::Clock;
use crate::event::extract::EventView;
use crate::session;
use crate::sink::Sink;
use crate::sink_mode;

use super::aggregate::{Aggregator, Rates};
use super::render;
use super::table::View;

const NS: f64 = 1e9;

pub struct Top {
    agg: Aggregator,
    rows: usize,
    json: bool,
    /// Kernel time between tables, and when the next is due.
    every: Option<u64>,
    next: Option<u64>,
    due: bool,
}

impl Top {
    /// The top `rows` of `view` (every event the pipeline lets through is
    /// counted); with `every`, a table every that many ns of kernel time.
    #[must_use]
    pub fn new(view: View, rows: usize, json: bool, every: Option<u64>) -> Self {
        Self {
            // A run's summary: rates over all of it.
            agg: Aggregator::new(view, None).with_rates(Rates::Whole),
            rows,
            json,
            every,
            next: None,
            due: false,
        }
    }

    fn passed(&mut self, now: u64) {
        let Some(every) = self.every else { return };
        match self.next {
            None => self.next = Some(now + every),
            Some(next) if now >= next => {
                self.due = true;
                self.next = Some(now + every);
            }
            Some(_) => {}
        }
    }

    /// The table as it stands, ranked.
    #[must_use]
    pub fn render(&self) -> String {
        let table = self.agg.table();
        let rows = render::top_rows(&table, table.main_column(), self.rows);
        let mut out = String::new();
        if self.json {
            render::write_json(&mut out, &table, &rows);
        } else {
            render::write_text(&mut out, &table, &rows);
        }
        out
    }
}

impl Sink for Top {
    fn observe(&mut self, view: &EventView<'_>, shown: bool) {
        if shown {
            self.agg.add(view);
        }
        // A capture file has no ticks: its own time drives the tables.
        self.passed(view.rec.hdr.ts_ns);
    }

    fn tick(&mut self, now: u64) {
        self.agg.advance(now);
        self.passed(now);
    }

    fn finish(&mut self) {
        self.due = true;
    }

    fn write_ready(&mut self, out: &mut Vec<u8>, _clock: &Clock) -> u64 {
        if !std::mem::take(&mut self.due) {
            return 0;
        }
        if self.every.is_some() && !self.json {
            out.push(b'\n');
        }
        out.extend_from_slice(self.render().as_bytes());
        1
    }
}

/// `sdtrace top WHAT`.
pub fn main(cli: &TopCli) -> anyhow::Result<std::process::ExitCode> {
    let filter = session::parse_filter(cli.common.filter.as_deref())?;
    let latency = cli.view == View::Syscalls;
    let every = match cli.interval {
        Some(s) if s > 0.0 => Some((s * NS) as u64),
        Some(_) => anyhow::bail!("top: --interval must be more than 0 seconds"),
        None => None,
    };
    let opts = sink_mode::options(&cli.common, latency);
    let source = sink_mode::source_or_agents(&cli.common, &cli.reach, 0, latency)?;
    let top = Top::new(cli.view, cli.rows, cli.json, every);
    sink_mode::run(source, filter, opts, Box::new(top))?;
    Ok(std::process::ExitCode::SUCCESS)
}
