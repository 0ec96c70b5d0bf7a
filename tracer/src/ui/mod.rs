//! `sdtrace ui`: a live, csysdig-like view of what the containers and
//! processes are doing, drilled into row by row. The state and its keys
//! ([`app`]) are apart from the drawing ([`draw`]), and both from the
//! terminal ([`screen`]) and the capture run ([`cli`]).

pub mod app;
pub mod cli;
pub mod draw;
pub mod editor;
pub mod format;
pub mod screen;
pub mod sort;
#[cfg(test)]
mod tests;
