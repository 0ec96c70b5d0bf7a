//! `cargo xtask bench` (placeholder, filled in below).
use anyhow::Result;

#[derive(clap::Args)]
pub struct Options {}

pub fn bench(_opts: &Options) -> Result<()> {
    Ok(())
}
