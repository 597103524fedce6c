//! The example application's tests: the harness (`#[db_test]`) on the page builder's schema,
//! as a user's crate runs it, one module per behaviour.

mod factories;
mod fixtures;
mod models;
mod scenario;
mod schema;
mod seeds;
