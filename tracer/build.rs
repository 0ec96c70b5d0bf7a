//! Embeds the eBPF object that `cargo xtask build-ebpf` produced. When it is
//! missing (a plain `cargo test` of the unit tests), an empty object is embedded
//! and sdtrace says at start-up which command builds the real one.
use std::{env, fs, path::PathBuf};

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    // Where xtask builds it: the same target directory as this build.
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let target =
        env::var_os("CARGO_TARGET_DIR").map_or_else(|| manifest.join("../target"), PathBuf::from);
    let object = target.join("ebpf/bpfel-unknown-none/release/tracer");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("tracer.bpf.o");
    println!("cargo:rerun-if-changed={}", object.display());
    match fs::read(&object) {
        Ok(bytes) => fs::write(&out, bytes).expect("write embedded eBPF object"),
        Err(_) => {
            println!(
                "cargo:warning=eBPF object not built yet ({}); run `cargo xtask build-ebpf`",
                object.display()
            );
            fs::write(&out, b"").expect("write empty eBPF object placeholder");
        }
    }
}
