//! What a network client can send the agent, and what an agent can send a
//! client: any bytes as a subscription (the JSON, then the filter, format
//! and mode it names, as the agent admits it), and any bytes as the lines
//! of a stream (each frame as the client parses it), and any bytes as a
//! record to send a client without I/O buffers. An error, never a panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tracer::agent::auth::Access;
use tracer::agent::clients::Subscriber;
use tracer::agent::protocol::{Frame, Subscribe};
use tracer::agent::queue::queue;

fuzz_target!(|data: &[u8]| {
    if let Ok(sub) = serde_json::from_slice::<Subscribe>(data) {
        let (tx, _body) = queue(1 << 16);
        let access = Access {
            who: "fuzz".into(),
            buffers: false,
        };
        let _ = Subscriber::new(1, "fuzz".into(), &sub, &access, tx, Bytes::new());
    }
    if let Some(redacted) = tracer::decode::redact::raw_without_io_data(data) {
        // What is sent still reads as a record.
        assert!(tracer::decode::decode(&redacted).is_ok());
    }
    for line in String::from_utf8_lossy(data).lines() {
        if let Ok(frame) = Frame::parse(line) {
            let mut out = Vec::new();
            frame.write(&mut out);
        }
    }
});
