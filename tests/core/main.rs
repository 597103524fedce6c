//! The production core (`persistence::postgres`) against real servers, one module per
//! behaviour, and the layering of the library's source.

#[path = "../common/mod.rs"]
mod common;

mod health;
mod layering;
mod pool;
mod singleton;
mod transactions;
