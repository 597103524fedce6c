//! What the code under test gets from [`global()`](crate::postgres::global) in a
//! `#[db_test]`, and the seeded generator around the body: the wrappers `run` puts around
//! every test's body.
//!
//! - database mode: the test's own pool, for everything the body awaits and for tasks it
//!   starts with [`spawn_scoped`](crate::postgres::spawn_scoped);
//! - transaction mode and tests without a database: an error saying why and what to do;
//! - anywhere else in a process that ran a `#[db_test]` (a bare `tokio::spawn`, another
//!   thread): an error too, never a pool built from `DATABASE_URL`.

use std::future::Future;

use sqlx::PgPool;

use super::outcome::TestOutcome;
use crate::postgres::{GlobalScope, forbid_unscoped_global};
use crate::testing::seed;

/// Why a transaction-mode test has no process-wide pool, and what to do.
pub(crate) const IN_TRANSACTION_MODE: &str = "a transaction-mode #[db_test] has no \
     process-wide pool: a pooled connection would neither see the test's uncommitted rows nor \
     be rolled back with them; to test code that uses global(), take a `PgPool` (database \
     mode, or isolation = \"database\"), or pass the test's connection to the code under test";

/// Why a test that takes no database has no process-wide pool either.
pub(crate) const WITHOUT_DATABASE: &str = "this #[db_test] takes no database argument; take \
     a `PgPool` to give the code under test a database of the test's own";

/// What `global()` says outside any test's scope in a test process.
pub(crate) const OUTSIDE_TESTS: &str = "this process runs #[db_test]s, which never connect \
     to DATABASE_URL";

/// Runs a database-mode body with `pool` (the test's) as the process-wide pool.
pub(crate) async fn in_database_mode<R, F>(test: &str, pool: PgPool, body: F) -> R
where
    R: TestOutcome,
    F: Future<Output = R>,
{
    forbid_unscoped_global(OUTSIDE_TESTS);
    seed::seeded(test, GlobalScope::pool(pool).run(body)).await
}

/// Runs a transaction-mode body, in which `global()` fails with [`IN_TRANSACTION_MODE`].
pub(crate) async fn in_transaction_mode<R, F>(test: &str, body: F) -> R
where
    R: TestOutcome,
    F: Future<Output = R>,
{
    denied(test, IN_TRANSACTION_MODE, body).await
}

/// Runs a body that took no database, in which `global()` fails with [`WITHOUT_DATABASE`].
pub(crate) async fn without_database<R, F>(test: &str, body: F) -> R
where
    R: TestOutcome,
    F: Future<Output = R>,
{
    denied(test, WITHOUT_DATABASE, body).await
}

async fn denied<R, F>(test: &str, reason: &str, body: F) -> R
where
    R: TestOutcome,
    F: Future<Output = R>,
{
    forbid_unscoped_global(OUTSIDE_TESTS);
    seed::seeded(test, GlobalScope::deny(reason).run(body)).await
}
