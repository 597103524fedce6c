//! The runtime a test body sees is `#[tokio::test]`'s (and `#[sqlx::test]`'s): a
//! current-thread runtime of the test's own. The body and the tasks it spawns share the
//! test's thread, so a thread-local the body sets is what its tasks see, and whatever the test
//! spawned ends with it.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use persistence::db_test;
use persistence::testing::{TestSpec, run};
use sqlx::{PgConnection, PgPool};

static JOBS: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations_jobs");

thread_local! {
    /// How many attempts of a job the worker fails on purpose, as a test sets it.
    static FAILURES_TO_INJECT: Cell<u32> = const { Cell::new(0) };
    static MARK: Cell<u64> = const { Cell::new(0) };
}

#[db_test(migrations = "tests/migrations_jobs")]
async fn a_spawned_task_sees_a_thread_local_the_body_set(pool: PgPool) {
    MARK.set(42);
    let seen = tokio::spawn(async { MARK.get() })
        .await
        .expect("the task ran");
    assert_eq!(seen, 42, "the task ran on another thread than the body");
    let _ = pool;
}

#[db_test(migrations = "tests/migrations_jobs")]
async fn in_transaction_mode_too(conn: &mut PgConnection) {
    MARK.set(7);
    let seen = tokio::spawn(async { MARK.get() })
        .await
        .expect("the task ran");
    assert_eq!(seen, 7);
    sqlx::query("SELECT 1")
        .execute(&mut *conn)
        .await
        .expect("query");
}

#[db_test(migrations = "tests/migrations_jobs")]
async fn a_local_set_runs_non_send_tasks(pool: PgPool) {
    let local = tokio::task::LocalSet::new();
    let counter = std::rc::Rc::new(Cell::new(0));
    let inner = counter.clone();
    local
        .run_until(async move {
            tokio::task::spawn_local(async move { inner.set(inner.get() + 1) })
                .await
                .expect("local task");
        })
        .await;
    assert_eq!(counter.get(), 1);
    let _ = pool;
}

/// A worker of the kind a durable-execution library runs: it claims a pending job, and an
/// attempt fails while the thread's injected failures last; a failed attempt is retried
/// until the job's `max_attempts`.
async fn worker(pool: PgPool) {
    loop {
        let claimed: Option<(i64, i32)> = sqlx::query_as(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1 \
             WHERE id = (SELECT id FROM jobs WHERE status = 'pending' ORDER BY id \
                         FOR UPDATE SKIP LOCKED LIMIT 1) \
             RETURNING id, attempts",
        )
        .fetch_optional(&pool)
        .await
        .expect("claim");
        let Some((id, _attempts)) = claimed else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let fail = FAILURES_TO_INJECT.with(|left| {
            let fail = left.get() > 0;
            left.set(left.get().saturating_sub(1));
            fail
        });
        let next = if fail {
            "CASE WHEN attempts < max_attempts THEN 'pending' ELSE 'failed' END"
        } else {
            "'completed'"
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET status = {next} WHERE id = $1"
        )))
        .bind(id)
        .execute(&pool)
        .await
        .expect("record the attempt");
    }
}

#[db_test(migrations = "tests/migrations_jobs")]
async fn a_retried_job_completes_on_the_tests_thread(pool: PgPool) -> anyhow::Result<()> {
    // The first attempt fails, the retry succeeds: both on the worker, which runs on this
    // test's thread and so sees the one failure injected here.
    FAILURES_TO_INJECT.set(1);
    let id: i64 = sqlx::query_scalar("INSERT INTO jobs (payload) VALUES ('x') RETURNING id")
        .fetch_one(&pool)
        .await?;
    tokio::spawn(worker(pool.clone()));
    let (status, attempts) = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (status, attempts): (String, i32) =
                sqlx::query_as("SELECT status, attempts FROM jobs WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await?;
            if status == "completed" || status == "failed" {
                return Ok::<_, sqlx::Error>((status, attempts));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await??;
    assert_eq!((status.as_str(), attempts), ("completed", 2));
    Ok(())
}

/// Ticks of a task the first of two tests spawned.
static TICKS: AtomicU64 = AtomicU64::new(0);

#[test]
fn a_task_a_test_spawned_does_not_run_during_the_next_test() {
    let first = TestSpec::new("runtime::spawns_a_ticker").migrator(&JOBS);
    run::database(&first, |pool: PgPool| async move {
        tokio::spawn(async move {
            loop {
                TICKS.fetch_add(1, Ordering::SeqCst);
                // Holds one of the test's connections too, as a worker's listener would.
                let _ = sqlx::query("SELECT 1").execute(&pool).await;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        while TICKS.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let after_first = TICKS.load(Ordering::SeqCst);
    let next = TestSpec::new("runtime::the_next_test").migrator(&JOBS);
    run::database(&next, |pool: PgPool| async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = pool;
    });
    assert_eq!(
        TICKS.load(Ordering::SeqCst),
        after_first,
        "the first test's task kept running after it ended"
    );
}
