//! The production core (`persistence::postgres`) against real servers, one module per
//! behaviour, and checks on the library's source: its layering, and that it knows nothing of
//! the example application.

#[path = "../common/mod.rs"]
mod common;

/// The tables of the tests that need some (`tests/migrations`): users, sites, pages, blocks.
static SCHEMA: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations");

mod health;
mod layering;
mod library_source;
mod pool;
mod singleton;
mod transactions;
