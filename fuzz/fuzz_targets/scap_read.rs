//! Any bytes as a capture file for `-r`: read up to the first bad block and
//! say what is wrong, never panic. The records read go through the whole
//! pipeline (state, fields, a filter that reads many of them and then never
//! matches, so nothing is printed).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use tracer::filter::Filter;
use tracer::event::info::BufferMode;
use tracer::output::Format;
use tracer::pipeline::{Options, Pipeline};
use tracer::run;
use tracer::scap::reader::ScapReader;
use tracer::state::{ProcFs, ProcessTable, Users};

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = ScapReader::from_reader(Cursor::new(data.to_vec())) else {
        return;
    };
    let procs = ProcessTable::restore(ProcFs::replaying(), std::mem::take(&mut reader.start));
    let users = Users::parse(&reader.info.passwd, &reader.info.group);
    let filter = Filter::parse(
        "(fd.name contains x or proc.aname=y or evt.args contains z or fd.sport=1 \
         or evt.info contains w) and evt.num=0",
    )
    .expect("a valid filter");
    let opts = Options {
        format: Format::Text,
        count: None,
        duration: None,
        stats_interval: None,
        latency: true,
        buffers: BufferMode::Dots,
    };
    let mut pipe = Pipeline::new(procs, users, Some(filter), &opts);
    pipe.set_clock(reader.info.clock);
    if let Err(e) = run::replay(&mut reader, &mut pipe, &opts) {
        let _ = e.to_string();
    }
});
