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
    // One object per architecture (`cargo xtask build-ebpf --target ...`):
    // the one for the architecture this sdtrace is compiled for.
    let ebpf_dir = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "ebpf-aarch64",
        _ => "ebpf",
    };
    let object = target
        .join(ebpf_dir)
        .join("bpfel-unknown-none/release/tracer");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("tracer.bpf.o");
    println!("cargo:rerun-if-changed={}", object.display());
    match fs::read(&object) {
        Ok(bytes) => fs::write(&out, bytes).expect("write embedded eBPF object"),
        Err(_) => {
            println!(
                "cargo:warning=eBPF object not built yet ({}); run `cargo xtask build-ebpf` (with `--target aarch64` for arm64)",
                object.display()
            );
            fs::write(&out, b"").expect("write empty eBPF object placeholder");
        }
    }
}
