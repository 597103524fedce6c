//! Running one test: the entry points `#[db_test]` expands to, the spec it builds, the
//! runtimes, the handles a test holds ([`TestTransaction`], [`TestDb`]) and what becomes of
//! a failed test's database.
//!
//! The entry points are public for the macro's expansion only: use the macro, or the
//! handles from a fixture. Which one a test is run with is decided by its signature, at
//! compile time: `&mut PgConnection` ([`transaction`]), an owned handle ([`database`]), or
//! nothing ([`without_database`]).

pub(crate) mod args;
pub(crate) mod kept;
pub(crate) mod outcome;
pub(crate) mod runtime;
pub(crate) mod scope;
pub(crate) mod spec;
pub(crate) mod test_db;
pub(crate) mod test_transaction;
pub(crate) mod watchdog;

use std::future::Future;
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::pin::Pin;

use futures_util::FutureExt;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres};

use self::args::FromTestDb;
use self::outcome::TestOutcome;
use self::runtime::TestRuntime;
use self::spec::TestSpec;
use self::test_db::TestDb;
use self::test_transaction::TestTransaction;
use self::watchdog::LockWait;
use crate::ephemeral::{IsolationOverride, Settings};
use crate::testing::error::HarnessError;
use crate::testing::schema::stale;
use crate::testing::timings::{self, mark};

/// The future a transaction-mode body returns: it borrows the connection.
pub type BodyFuture<'c, R> = Pin<Box<dyn Future<Output = R> + 'c>>;

/// Runs `body` inside a transaction that is rolled back afterwards.
///
/// With `PERSISTENCE_TEST_ISOLATION=database`, runs it in a database of its own instead,
/// outside any transaction, so that what it writes is committed and kept when it fails.
pub fn transaction<R, F>(spec: &TestSpec, body: F) -> R
where
    R: TestOutcome,
    F: for<'c> FnOnce(&'c mut PgConnection) -> BodyFuture<'c, R>,
{
    mark("entry");
    if Settings::get().is_ok_and(|s| s.isolation == IsolationOverride::Database) {
        return database(spec, move |mut conn: PoolConnection<Postgres>| async move {
            body(&mut conn).await
        });
    }
    fail_if_stale(spec);
    mark("settings, stale-build check");
    let runtime = TestRuntime::new(spec.runtime);
    mark("runtime start");
    let mut test = runtime
        .harness(TestTransaction::open(spec))
        .unwrap_or_else(|e| harness_failure(spec.name, e));
    let (session, database) = (test.session(), test.database().to_owned());
    let outcome = runtime.block_on(async {
        let body = scope::in_transaction_mode(spec.name, body(&mut test));
        let body = AssertUnwindSafe(body).catch_unwind();
        let outcome = match watchdog::guard(session, spec.name, &database, body).await {
            Ok(outcome) => {
                mark("test body");
                outcome
            }
            Err(wait) => {
                // A statement of the test may still wait: end its session, no ROLLBACK.
                test.discard();
                return (Err(lock_wait(wait)), None);
            }
        };
        let passed = matches!(&outcome, Ok(r) if !r.is_failure());
        let deferred = if passed {
            test.check_deferred().await.err()
        } else {
            None
        };
        mark("deferred-constraint check");
        // No task of the test can hold the connection (the body only borrowed it), so the
        // rollback can run before the test's runtime ends, on which the connection may live.
        test.finish().await;
        mark("rollback, give back");
        (outcome, deferred)
    });
    drop(runtime);
    mark("runtime end");
    timings::finish(spec.name, "transaction");
    match outcome {
        (Ok(result), None) => {
            if result.is_failure() {
                say_how_to_see_the_data(spec.name);
            }
            result
        }
        (Ok(_), Some(violation)) => {
            say_how_to_see_the_data(spec.name);
            panic!(
                "{}: a deferred constraint is violated by what the test wrote: {violation}",
                spec.name
            )
        }
        (Err(panic), _) => {
            say_how_to_see_the_data(spec.name);
            fail_with(spec.name, panic)
        }
    }
}

/// Runs `body` against a database of its own, which no other running test touches.
pub fn database<A, R, F, Fut>(spec: &TestSpec, body: F) -> R
where
    A: FromTestDb,
    R: TestOutcome,
    F: FnOnce(A) -> Fut,
    Fut: Future<Output = R>,
{
    mark("entry");
    fail_if_stale(spec);
    mark("settings, stale-build check");
    let runtime = TestRuntime::new(spec.runtime);
    mark("runtime start");
    let db = runtime
        .harness(TestDb::open(spec))
        .unwrap_or_else(|e| harness_failure(spec.name, e));
    let outcome = runtime.block_on(async {
        let arg = match A::from_test_db(&db).await {
            Ok(arg) => arg,
            Err(source) => harness_failure(spec.name, HarnessError::connect(db.url(), source)),
        };
        let body = scope::in_database_mode(spec.name, db.pool().clone(), body(arg));
        let body = AssertUnwindSafe(body).catch_unwind();
        let outcome = watchdog::guard(db.session(), spec.name, db.name(), body)
            .await
            .unwrap_or_else(|wait| Err(lock_wait(wait)));
        mark("test body (with its first connect)");
        db.after_body().await;
        mark("connections back, closed");
        outcome
    });
    // The test's tasks end here, before its database is reset for the next test.
    let after = runtime.end();
    mark("runtime end");
    let failed = !matches!(&outcome, Ok(r) if !r.is_failure());
    let finished = after.harness(db.finish(failed));
    mark("give back");
    timings::finish(spec.name, "database");
    match outcome {
        Ok(result) => {
            if let Err(err) = finished {
                harness_failure(spec.name, err);
            }
            result
        }
        Err(panic) => fail_with(spec.name, panic),
    }
}

/// Runs a body that takes no database (`#[db_test] async fn t()`), on the test's runtime.
pub fn without_database<R, Fut>(spec: &TestSpec, body: Fut) -> R
where
    R: TestOutcome,
    Fut: Future<Output = R>,
{
    TestRuntime::new(spec.runtime).block_on(scope::without_database(spec.name, body))
}

/// A lock wait the watchdog stopped the body for, carried as the body's panic would be.
fn lock_wait(wait: LockWait) -> Box<dyn std::any::Any + Send> {
    Box::new(wait)
}

/// Goes on with the body's panic; a lock wait fails the test with its report (a panic of
/// its own, so that the report is printed as a panic's message is).
fn fail_with(test: &str, panic: Box<dyn std::any::Any + Send>) -> ! {
    match panic.downcast::<LockWait>() {
        Ok(wait) => panic!("persistence: {test}: {wait}"),
        Err(panic) => resume_unwind(panic),
    }
}

/// Fails the test if its binary is older than its migrations on disk.
fn fail_if_stale(spec: &TestSpec) {
    stale::check(spec.migrations, spec.migrations_dir)
        .unwrap_or_else(|e| harness_failure(spec.name, e));
}

/// A failed transaction-mode test's writes were rolled back: says how to see them.
fn say_how_to_see_the_data(test: &str) {
    eprintln!(
        "persistence: {test} ran in a transaction that was rolled back, so what it wrote is \
         gone; to look at it, run the test again with PERSISTENCE_TEST_ISOLATION=database: it \
         then writes into a database of its own, which is kept when it fails"
    );
}

/// Fails the test `test` for a reason of the harness's, not of its body.
fn harness_failure(test: &str, err: HarnessError) -> ! {
    panic!("persistence: {test}: {err}")
}
