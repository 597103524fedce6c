//! The entry points `#[db_test]` expands to. Not meant to be called by hand: use the macro, or
//! [`TestDb`](super::TestDb) / [`TestTransaction`](super::TestTransaction) from a fixture.

use std::future::Future;
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::pin::Pin;

use futures_util::FutureExt;
use sqlx::{Connection, PgConnection};

use super::FromTestDb;
use super::clones;
use super::connections::{PoolPolicy, Target};
use super::database::TestDb;
use super::error::HarnessError;
use super::fixtures;
use super::outcome::TestOutcome;
use super::runtime::block_on;
use super::spec::{Isolation, TestSpec};
use super::sql::is_in_failed_transaction;

/// The future a transaction-mode body returns: it borrows the connection.
pub type BodyFuture<'c, R> = Pin<Box<dyn Future<Output = R> + 'c>>;

/// Runs `body` inside a transaction that is rolled back afterwards.
pub fn run_in_transaction<R, F>(spec: &TestSpec, body: F) -> R
where
    R: TestOutcome,
    F: for<'c> FnOnce(&'c mut PgConnection) -> BodyFuture<'c, R>,
{
    check_isolation(spec, Isolation::Transaction);
    super::stale::check(spec).unwrap_or_else(|e| harness_failure(spec.name, e));
    let pools = PoolPolicy::of(spec.runtime);
    block_on(spec.runtime, async {
        let target = Target::resolve(spec.migrations)
            .await
            .unwrap_or_else(|e| harness_failure(spec.name, e));
        let mut clone = clones::take_tx(&target, pools)
            .await
            .unwrap_or_else(|e| harness_failure(spec.name, e));
        let mut tx = clone
            .conn
            .begin()
            .await
            .unwrap_or_else(|e| harness_failure(spec.name, HarnessError::sql("BEGIN")(e)));
        if let Err(err) = fixtures::apply(&mut tx, spec.fixtures).await {
            harness_failure(spec.name, err);
        }
        let body = super::global_scope::in_transaction_mode(spec.name, body(&mut tx));
        let outcome = AssertUnwindSafe(body).catch_unwind().await;
        let passed = matches!(&outcome, Ok(r) if !r.is_failure());
        if passed {
            // A panic here still rolls back: the connection is closed, not reused.
            check_deferred(&mut tx, spec.name).await;
        }
        let rolled_back = tx.rollback().await.is_ok();
        match outcome {
            Ok(result) if rolled_back => {
                clones::give_back_tx(&target, pools, clone).await;
                result
            }
            // Ending the session rolls back whatever is left and frees the clone.
            Ok(result) => {
                drop(clone.conn.detach());
                result
            }
            Err(panic) => {
                drop(clone.conn.detach());
                resume_unwind(panic)
            }
        }
    })
}

/// Runs `body` against a database of its own, which no other running test touches.
pub fn run_with_database<A, R, F, Fut>(spec: &TestSpec, body: F) -> R
where
    A: FromTestDb,
    R: TestOutcome,
    F: FnOnce(A) -> Fut,
    Fut: Future<Output = R>,
{
    check_isolation(spec, Isolation::Database);
    super::stale::check(spec).unwrap_or_else(|e| harness_failure(spec.name, e));
    let pools = PoolPolicy::of(spec.runtime);
    block_on(spec.runtime, async {
        let db = TestDb::create_with(spec, pools)
            .await
            .unwrap_or_else(|e| harness_failure(spec.name, e));
        let arg = match A::from_test_db(&db).await {
            Ok(arg) => arg,
            Err(source) => harness_failure(spec.name, HarnessError::connect(db.url(), source)),
        };
        let body = super::global_scope::in_database_mode(spec.name, db.pool().clone(), body(arg));
        let outcome = AssertUnwindSafe(body).catch_unwind().await;
        let failed = !matches!(&outcome, Ok(r) if !r.is_failure());
        let finished = db.finish(failed).await;
        match outcome {
            Ok(result) => {
                if let Err(err) = finished {
                    harness_failure(spec.name, err);
                }
                result
            }
            Err(panic) => resume_unwind(panic),
        }
    })
}

/// Runs a body that takes no database (`#[db_test] async fn t()`), on the test's runtime.
/// Such a test has no isolation: `spec.isolation` is whatever the macro filled in.
pub fn run_without_database<R, Fut>(spec: &TestSpec, body: Fut) -> R
where
    R: TestOutcome,
    Fut: Future<Output = R>,
{
    let body = super::global_scope::without_database(spec.name, body);
    block_on(spec.runtime, body)
}

/// Checks deferred constraints before the rollback: a violation the test made must fail it,
/// as it would have at COMMIT. A transaction that an error already aborted (a test that
/// expects a failing statement) has nothing left to check.
async fn check_deferred(conn: &mut PgConnection, test: &str) {
    // A simple query: one round trip, where a prepared statement takes two on the fresh
    // connection of a nextest process.
    let checked = sqlx::raw_sql("SET CONSTRAINTS ALL IMMEDIATE")
        .execute(conn)
        .await;
    if let Err(err) = checked
        && !is_in_failed_transaction(&err)
    {
        panic!("{test}: a deferred constraint is violated by what the test wrote: {err}");
    }
}

/// Fails the test `test` for a reason of the harness's, not of its body.
fn harness_failure(test: &str, err: HarnessError) -> ! {
    panic!("persistence: {test}: {err}")
}

/// `spec.isolation` is what the macro read from the test's arguments; the entry point it
/// called says the same thing by its name. A hand-built spec can disagree: say so rather than
/// run the test in a mode it did not ask for.
fn check_isolation(spec: &TestSpec, ran: Isolation) {
    if spec.isolation != ran {
        harness_failure(
            spec.name,
            HarnessError::IsolationMismatch {
                asked: spec.isolation,
                ran,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "asks for Transaction isolation but was run in Database isolation")]
    fn a_spec_run_in_the_other_mode_fails_before_any_database() {
        run_with_database(&TestSpec::new("mismatch"), |_db: TestDb| async {});
    }
}
