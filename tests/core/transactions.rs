//! `persistence::postgres::transaction` against a real server: commit on `Ok`, rollback on
//! `Err` and on panic, a nested call is a savepoint whose failure leaves the outer
//! transaction usable, a real serialization conflict between two SERIALIZABLE transactions
//! is retried to success, and a real deadlock is a `Conflict`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use persistence::db_test;
use persistence::postgres::{
    Error, ErrorCategory, IsolationLevel, RetryPolicy, TransactionDepth, TransactionOptions,
    transaction,
};
use sqlx::{PgConnection, PgPool};
use tokio::sync::Barrier;

/// An application's error type that wraps the core's, as the docs suggest.
#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Db(#[from] Error),
    #[error("the page was rejected")]
    Rejected,
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        Self::Db(error.into())
    }
}

async fn insert_user(conn: &mut PgConnection, email: &str) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "INSERT INTO users (email, display_name) VALUES ($1, 'Someone') RETURNING id",
    )
    .bind(email)
    .fetch_one(conn)
    .await?)
}

async fn emails(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT email FROM users ORDER BY email")
        .fetch_all(pool)
        .await
        .expect("list users")
}

/// No session of the test database is left inside a transaction.
async fn assert_no_open_transaction(pool: &PgPool) {
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(pool)
    .await
    .expect("pg_stat_activity");
    assert_eq!(open, 0, "a pooled connection was left inside a transaction");
}

#[db_test(migrator = "crate::SCHEMA")]
async fn ok_commits_and_err_rolls_back(pool: PgPool) {
    let id = transaction(&pool, TransactionOptions::new(), async |tx| {
        assert_eq!(tx.transaction_depth(), 1);
        assert!(!tx.is_nested());
        insert_user(tx, "ada@example.com").await
    })
    .await
    .expect("committed");
    assert!(id > 0);

    // An application error after a successful write.
    let rejected = transaction(&pool, TransactionOptions::new(), async |tx| {
        insert_user(tx, "grace@example.com").await?;
        Err::<(), _>(AppError::Rejected)
    })
    .await;
    assert!(matches!(rejected, Err(AppError::Rejected)), "{rejected:?}");

    // A database error after a successful write.
    let duplicate = transaction(&pool, TransactionOptions::new(), async |tx| {
        insert_user(tx, "linus@example.com").await?;
        insert_user(tx, "ada@example.com").await
    })
    .await
    .expect_err("unique violation");
    assert_eq!(duplicate.category(), ErrorCategory::Constraint);
    assert_eq!(duplicate.sqlstate().as_deref(), Some("23505"));

    assert_eq!(emails(&pool).await, ["ada@example.com"]);
    assert_no_open_transaction(&pool).await;
}

#[db_test(migrator = "crate::SCHEMA")]
async fn a_panic_rolls_back_and_goes_on_unwinding(pool: PgPool) {
    let outcome = AssertUnwindSafe(transaction(&pool, TransactionOptions::new(), async |tx| {
        insert_user(tx, "ada@example.com").await?;
        if tx.transaction_depth() == 1 {
            panic!("the body panicked");
        }
        Ok::<_, Error>(())
    }))
    .catch_unwind()
    .await;
    let panic = outcome.expect_err("the panic continues");
    assert_eq!(
        panic.downcast_ref::<&str>().copied(),
        Some("the body panicked")
    );
    assert!(emails(&pool).await.is_empty(), "the insert was rolled back");
    assert_no_open_transaction(&pool).await;

    // The pool is still fine, and so is its connection.
    transaction(&pool, TransactionOptions::new(), async |tx| {
        insert_user(tx, "grace@example.com").await
    })
    .await
    .expect("committed");
    assert_eq!(emails(&pool).await, ["grace@example.com"]);
}

#[db_test(migrator = "crate::SCHEMA")]
async fn a_failed_savepoint_leaves_the_outer_transaction_usable(pool: PgPool) {
    transaction(&pool, TransactionOptions::new(), async |tx| {
        insert_user(tx, "ada@example.com").await?;
        let inner = transaction(&mut *tx, TransactionOptions::new(), async |sp| {
            assert!(sp.is_nested());
            assert_eq!(sp.transaction_depth(), 2);
            insert_user(sp, "grace@example.com").await?;
            // Fails: the whole savepoint goes, Grace included.
            insert_user(sp, "ada@example.com").await
        })
        .await;
        let error = inner.expect_err("unique violation");
        assert_eq!(error.category(), ErrorCategory::Constraint);
        assert_eq!(tx.transaction_depth(), 1, "back in the outer transaction");

        // Not "current transaction is aborted": the outer transaction goes on.
        let seen: Vec<String> = sqlx::query_scalar("SELECT email FROM users ORDER BY email")
            .fetch_all(&mut *tx)
            .await?;
        assert_eq!(seen, ["ada@example.com"]);

        // A savepoint that succeeds is kept.
        transaction(&mut *tx, TransactionOptions::new(), async |sp| {
            insert_user(sp, "linus@example.com").await
        })
        .await?;
        Ok::<_, Error>(())
    })
    .await
    .expect("the outer transaction commits");
    assert_eq!(
        emails(&pool).await,
        ["ada@example.com", "linus@example.com"]
    );
    assert_no_open_transaction(&pool).await;
}

#[db_test(migrator = "crate::SCHEMA")]
async fn inside_a_test_transaction_the_helper_nests(conn: &mut PgConnection) {
    // The harness's own transaction is the outer one here.
    assert_eq!(conn.transaction_depth(), 1);
    insert_user(conn, "ada@example.com").await.expect("insert");
    let failed = transaction(&mut *conn, TransactionOptions::new(), async |sp| {
        assert!(sp.is_nested());
        insert_user(sp, "ada@example.com").await
    })
    .await;
    assert_eq!(
        failed.expect_err("duplicate").category(),
        ErrorCategory::Constraint
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut *conn)
        .await
        .expect("the test's transaction is still usable");
    assert_eq!(count, 1);
}

/// Runs `transact` twice at once, once per pair of `pairs`, each with the barrier both share
/// and an attempt counter of its own. Returns each outcome and how many attempts it took.
async fn race<Fut>(
    pairs: [(i32, i32); 2],
    transact: impl Fn(i32, i32, Arc<Barrier>, Arc<AtomicU32>) -> Fut,
) -> Vec<(Result<(), Error>, u32)>
where
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(2));
    let mut tasks = Vec::new();
    for (a, b) in pairs {
        let attempts = Arc::new(AtomicU32::new(0));
        let task = tokio::spawn(transact(a, b, barrier.clone(), attempts.clone()));
        tasks.push((task, attempts));
    }
    let mut outcomes = Vec::new();
    for (task, attempts) in tasks {
        let result = task.await.expect("task");
        outcomes.push((result, attempts.load(Ordering::SeqCst)));
    }
    outcomes
}

/// Two SERIALIZABLE transactions that each read what the other writes ("write skew", the
/// example of PostgreSQL's documentation): both read before either writes, so one of them
/// must fail with 40001. Each task counts its attempts.
async fn write_skew(pool: &PgPool, options: TransactionOptions) -> Vec<(Result<(), Error>, u32)> {
    sqlx::raw_sql(
        "CREATE TABLE ledger (class int NOT NULL, value int NOT NULL); \
         INSERT INTO ledger VALUES (1, 10), (1, 20), (2, 100), (2, 200);",
    )
    .execute(pool)
    .await
    .expect("ledger");
    race([(1, 2), (2, 1)], |read, write, barrier, attempts| {
        let (pool, options) = (pool.clone(), options.clone());
        async move {
            transaction(&pool, options, async move |tx| {
                let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                let sum: i64 =
                    sqlx::query_scalar("SELECT sum(value)::int8 FROM ledger WHERE class = $1")
                        .bind(read)
                        .fetch_one(&mut *tx)
                        .await?;
                if attempt == 1 {
                    // Both have read before either writes.
                    barrier.wait().await;
                }
                sqlx::query("INSERT INTO ledger VALUES ($1, $2)")
                    .bind(write)
                    .bind(i32::try_from(sum).expect("small"))
                    .execute(&mut *tx)
                    .await?;
                Ok::<_, Error>(())
            })
            .await
        }
    })
    .await
}

#[db_test(migrator = "crate::SCHEMA")]
async fn a_serialization_failure_without_retry_is_a_conflict(pool: PgPool) {
    let options = TransactionOptions::new().isolation(IsolationLevel::Serializable);
    let outcomes = write_skew(&pool, options).await;
    let failures: Vec<&Error> = outcomes
        .iter()
        .filter_map(|(r, _)| r.as_ref().err())
        .collect();
    assert_eq!(failures.len(), 1, "exactly one loses: {outcomes:?}");
    let error = failures[0];
    assert_eq!(error.category(), ErrorCategory::Conflict, "{error}");
    assert_eq!(error.sqlstate().as_deref(), Some("40001"));
    assert!(
        outcomes.iter().all(|(_, attempts)| *attempts == 1),
        "no retry unless asked"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 5, "only the winner's row was written");
}

#[db_test(migrator = "crate::SCHEMA")]
async fn a_serialization_failure_is_retried_to_success(pool: PgPool) {
    let options = TransactionOptions::new()
        .isolation(IsolationLevel::Serializable)
        .retry(RetryPolicy::new(5).base_delay(Duration::from_millis(5)));
    let outcomes = write_skew(&pool, options).await;
    for (result, _) in &outcomes {
        assert!(result.is_ok(), "{outcomes:?}");
    }
    let attempts: u32 = outcomes.iter().map(|(_, a)| a).sum();
    assert!(attempts >= 3, "one of them ran again: {outcomes:?}");
    // The retried one saw the other's row: the outcome is a serial order.
    let rows: Vec<(i32, i32)> =
        sqlx::query_as("SELECT class, value FROM ledger ORDER BY class, value")
            .fetch_all(&pool)
            .await
            .expect("rows");
    assert_eq!(rows.len(), 6);
    let serial_a = [(1, 10), (1, 20), (1, 330), (2, 30), (2, 100), (2, 200)];
    let serial_b = [(1, 10), (1, 20), (1, 300), (2, 100), (2, 200), (2, 330)];
    assert!(rows == serial_a || rows == serial_b, "{rows:?}");
}

/// Two transactions that lock two rows in opposite orders. Returns each outcome and how many
/// attempts it took.
async fn deadlock(pool: &PgPool, options: TransactionOptions) -> Vec<(Result<(), Error>, u32)> {
    sqlx::raw_sql(
        "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL); \
         INSERT INTO accounts VALUES (1, 100), (2, 100);",
    )
    .execute(pool)
    .await
    .expect("accounts");
    // A superuser may shorten the wait before the server looks for deadlocks (1 s).
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(pool)
            .await
            .expect("role");
    race([(1, 2), (2, 1)], |first, second, barrier, attempts| {
        let (pool, options) = (pool.clone(), options.clone());
        async move {
            transaction(&pool, options, async move |tx| {
                let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                if superuser {
                    sqlx::query("SET LOCAL deadlock_timeout = '100ms'")
                        .execute(&mut *tx)
                        .await?;
                }
                for (step, id) in [first, second].into_iter().enumerate() {
                    sqlx::query("UPDATE accounts SET balance = balance - 1 WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    if step == 0 && attempt == 1 {
                        // Each holds its first row before asking for the other's.
                        barrier.wait().await;
                    }
                }
                Ok::<_, Error>(())
            })
            .await
        }
    })
    .await
}

#[db_test(migrator = "crate::SCHEMA")]
async fn a_deadlock_is_a_conflict(pool: PgPool) {
    let outcomes = deadlock(&pool, TransactionOptions::new()).await;
    let failures: Vec<&Error> = outcomes
        .iter()
        .filter_map(|(r, _)| r.as_ref().err())
        .collect();
    assert_eq!(
        failures.len(),
        1,
        "the server breaks the cycle: {outcomes:?}"
    );
    let error = failures[0];
    assert_eq!(error.sqlstate().as_deref(), Some("40P01"), "{error}");
    assert_eq!(error.category(), ErrorCategory::Conflict);
    assert!(
        error.to_string().starts_with("transaction conflict"),
        "{error}"
    );
}

#[db_test(migrator = "crate::SCHEMA")]
async fn a_deadlock_is_retried_to_success(pool: PgPool) {
    let options =
        TransactionOptions::new().retry(RetryPolicy::new(4).base_delay(Duration::from_millis(5)));
    let outcomes = deadlock(&pool, options).await;
    for (result, _) in &outcomes {
        assert!(result.is_ok(), "{outcomes:?}");
    }
    assert_eq!(
        outcomes.iter().map(|(_, a)| a).sum::<u32>(),
        3,
        "{outcomes:?}"
    );
    let balances: Vec<i32> = sqlx::query_scalar("SELECT balance FROM accounts ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("balances");
    assert_eq!(balances, [98, 98], "both transfers happened once");
}
