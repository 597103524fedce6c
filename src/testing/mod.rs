//! The test harness behind [`#[db_test]`](crate::db_test) (cargo feature `testing`).
//!
//! Each test gets a PostgreSQL it can trust: a server shared by every test process of the
//! run ([`crate::ephemeral`]), a template database per migration set built once, and either a
//! transaction that is rolled back ([`TestTransaction`]) or a database cloned from the
//! template and dropped afterwards ([`TestDb`]).
//!
//! Environment variables (besides those of [`crate::ephemeral::Settings`]):
//!
//! | variable | meaning |
//! |---|---|
//! | `PERSISTENCE_TEST_KEEP=failed` | keep the database of a failed database-mode test and print its URL; its server stays until the database is dropped or `persistence test-server stop` |
//! | `PERSISTENCE_TEST_READY_CLONES=N` | clean database-mode clones the server's supervisor keeps ready per template under nextest; default 2; `0` turns its janitor off |

mod args;
mod clones;
mod connections;
mod context;
mod database;
mod error;
mod fixtures;
mod global_scope;
mod janitor;
mod leases;
mod locks;
mod names;
mod outcome;
mod profile;
pub mod queries;
#[doc(hidden)]
pub mod run;
mod runtime;
mod seed;
mod spec;
mod sql;
mod stale;
mod statements;
mod supervisor_hook;
mod template;
mod token;
mod transaction;

pub use args::FromTestDb;
pub use database::TestDb;
pub use error::HarnessError;
pub use outcome::TestOutcome;
pub use queries::{QueryCountError, QueryCounter};
pub use seed::{SEED_VAR, SeedError, current_seed, run_seed, test_seed, with_rng};
pub use spec::{Fixture, Isolation, Migrations, RuntimeFlavor, TestSpec};
pub use token::unique_token;
pub use transaction::TestTransaction;
