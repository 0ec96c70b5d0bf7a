//! One event as every consumer sees it: the record with the process table,
//! users, container, pod and node as of its syscall (`EventView`), each
//! field's value read from it (`extract`), and how it is written — its
//! times (`clock`), its arguments and buffers (`info`), numbers (`num`).
//! Above the tables it reads (state, container, k8s) and the field names
//! (fields); below every output and mode.

pub mod clock;
pub mod extract;
pub mod info;
pub mod num;
