//! Writes `cri/src/runtime.v1.rs` (the sdtrace-cri crate), the CRI v1 messages and
//! the RuntimeService client, from `proto/api.proto` (Kubernetes' cri-api,
//! Apache-2.0, as the k8s-cri crate 0.11 vendors it).
//!
//!     cargo run --manifest-path tools/cri-gen/Cargo.toml
//!
//! The generated file is committed so building sdtrace needs no protoc; the
//! protoc used here is the one the protoc-bin-vendored crate ships.

use std::path::Path;

fn main() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = here.join("../../cri/src");
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("a vendored protoc for this host");
    // SAFETY: single-threaded, before anything reads the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .out_dir(&out)
        .compile_protos(&[here.join("proto/api.proto")], &[here.join("proto")])
        .expect("compile the CRI proto");
}
