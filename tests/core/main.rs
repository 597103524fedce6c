//! The production core (`persistence::postgres`) against real servers, one module per
//! behaviour, and checks on the source: the library's layering, no import loops in any member
//! crate, and that the library knows nothing of the example application.

#[path = "../common/mod.rs"]
mod common;

/// The tables of the tests that need some (`tests/migrations`): users, sites, pages, blocks.
static SCHEMA: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations");

mod health;
mod import_loops;
mod layering;
mod library_source;
mod pool;
mod rust_paths;
mod singleton;
mod transactions;
