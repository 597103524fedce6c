//! The test harness behind [`#[db_test]`](crate::db_test) (cargo feature `testing`).
//!
//! Each test gets a PostgreSQL it can trust: a server shared by every test process of the
//! run ([`crate::ephemeral`]), a template database per migration set built once, and either a
//! transaction that is rolled back ([`TestTransaction`]) or a database of its own cloned from
//! the template ([`TestDb`]). Its settings are environment variables, read once
//! ([`crate::ephemeral::Settings`]).
//!
//! The modules, by job (dependencies point down this list, never up):
//!
//! | module | job |
//! |---|---|
//! | `run` | one test: the entry points, its spec, runtimes, handles, kept databases |
//! | `pool` | the clones tests lease: leases, reset of a used clone, the janitor |
//! | `session` | what a process resolves once per schema: the server and the template |
//! | `schema` | templates, database names, stale test binaries, fixtures |
//! | `sql` | statements about whole databases, advisory locks, error locations |

pub(crate) mod error;
pub(crate) mod home;
pub(crate) mod pool;
pub mod queries;
#[doc(hidden)]
pub mod run;
pub(crate) mod schema;
mod seed;
pub(crate) mod session;
pub(crate) mod sql;
mod supervisor_hook;
pub(crate) mod timings;
mod token;

pub use error::HarnessError;
pub use queries::{QueryCountError, QueryCounter};
pub use run::args::FromTestDb;
pub use run::outcome::TestOutcome;
pub use run::spec::{RuntimeFlavor, TestSpec};
pub use run::test_db::TestDb;
pub use run::test_transaction::TestTransaction;
pub use schema::Migrations;
pub use schema::fixtures::Fixture;
pub use seed::{SEED_VAR, SeedError, current_seed, run_seed, test_seed, with_rng};
pub use token::unique_token;
