//! The production core (`persistence::postgres`) against real servers, one module per
//! behaviour, and the layering of the library's source.

#[path = "../common/mod.rs"]
mod common;

/// The tables of the tests that need some (`tests/migrations`): users, sites, pages, blocks.
static SCHEMA: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations");

mod health;
mod layering;
mod pool;
mod singleton;
mod transactions;
