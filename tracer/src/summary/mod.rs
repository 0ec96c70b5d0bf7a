//! Summaries of the event stream: the tables behind the live view
//! (`sdtrace ui`) and `sdtrace top`, `spy users`, `echo fds`.
//!
//! [`aggregate::Aggregator`] turns events into one [`table::View`]'s
//! [`table::Table`]; [`live::LiveAggregator`] drives it from the UI over
//! the [`link`]; [`top`], [`spy`] and [`echo`] are the command-line modes.

pub mod aggregate;
mod converge_rows;
mod counts;
pub mod echo;
pub mod histogram;
pub mod link;
pub mod live;
pub mod render;
pub mod spy;
pub mod table;
pub mod top;
mod views;
pub mod window;

#[cfg(test)]
mod tests;
