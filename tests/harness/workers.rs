//! Workers that LISTEN for work and for a shutdown notification, as a job queue's tests run
//! them, behave under `#[db_test]` as under `#[sqlx::test]`.
//!
//! A public job-queue suite renamed from `#[sqlx::test]` failed one such test every time:
//! the harness gave the test's pool 10 connections where `#[sqlx::test]` gives 5. Its workers
//! hold a connection each for their listener and one per running job; with 5, the test body's
//! own statements waited for a connection, which set the pace the test's timed waits relied
//! on; with 10 they never waited, the shutdown came earlier, and fewer jobs had started.

use std::sync::Arc;
use std::time::{Duration, Instant};

use persistence::db_test;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Semaphore;

/// The channel a worker hears about new jobs on.
const JOBS_CHANNEL: &str = "jobs_changed";
/// The channel a worker is told to shut down on.
const SHUTDOWN_CHANNEL: &str = "workers_shutdown";

/// A worker: a listener on both channels (one connection, held), and up to `concurrency`
/// jobs at a time, each in a transaction of its own (one connection each) that takes a
/// second. Once told to shut down, it takes no new job and lets the running ones finish.
async fn worker(pool: PgPool, concurrency: usize) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(&pool).await?;
    listener
        .listen_all([JOBS_CHANNEL, SHUTDOWN_CHANNEL])
        .await?;
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut running = tokio::task::JoinSet::new();
    loop {
        // Take jobs while there are pending ones and free slots.
        while let Ok(slot) = slots.clone().try_acquire_owned() {
            let mut tx = pool.begin().await?;
            let claimed: Option<i64> = sqlx::query_scalar(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1 \
                 WHERE id = (SELECT id FROM jobs WHERE status = 'pending' ORDER BY id \
                             FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id",
            )
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = claimed else {
                break;
            };
            running.spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                sqlx::query("UPDATE jobs SET status = 'completed' WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                drop(slot);
                Ok::<_, sqlx::Error>(())
            });
        }
        tokio::select! {
            notification = listener.recv() => {
                if notification?.channel() == SHUTDOWN_CHANNEL {
                    break;
                }
            }
            // A finished job frees a slot: look for more work.
            Some(done) = running.join_next() => {
                done.expect("a job task")?;
            }
        }
    }
    while let Some(done) = running.join_next().await {
        done.expect("a job task")?;
    }
    Ok(())
}

async fn enqueue(pool: &PgPool, payload: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO jobs (payload) VALUES ($1)")
        .bind(payload)
        .execute(pool)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(JOBS_CHANNEL)
        .execute(pool)
        .await?;
    Ok(())
}

async fn count(pool: &PgPool, status: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = $1")
        .bind(status)
        .fetch_one(pool)
        .await
}

/// Shaped like the job queue's graceful-shutdown test: two workers, a second's wait, five
/// one-second jobs, the shutdown notification once they are all taken, two seconds' wait,
/// all five done; a job enqueued after the shutdown is left alone.
#[db_test(migrations = "tests/migrations_jobs")]
async fn workers_finish_their_jobs_after_the_shutdown_notification(
    pool: PgPool,
) -> Result<(), sqlx::Error> {
    // As `#[sqlx::test]`'s: the workers' connections compete with the body's.
    assert_eq!(pool.options().get_max_connections(), 5);
    for _ in 0..2 {
        tokio::spawn(worker(pool.clone(), 2));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for n in 0..5 {
        enqueue(&pool, &format!("job {n}")).await?;
    }
    // Two listeners and three running jobs take the five connections: the body waits for
    // one, as under `#[sqlx::test]`, while the workers take the remaining jobs.
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&pool, "pending").await? > 0 {
        assert!(
            Instant::now() < deadline,
            "the workers never took every job"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(SHUTDOWN_CHANNEL)
        .execute(&pool)
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count(&pool, "completed").await?, 5);

    enqueue(&pool, "after the shutdown").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count(&pool, "completed").await?, 5);
    assert_eq!(count(&pool, "pending").await?, 1);
    Ok(())
}

/// The cause itself, without timing: a test's pool holds at most five connections, and a
/// sixth acquire waits until one is given back.
#[db_test(migrations = "tests/migrations_jobs")]
async fn a_sixth_connection_waits_for_one_of_five(pool: PgPool) {
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(pool.acquire().await.expect("one of five"));
    }
    let waited = tokio::time::timeout(Duration::from_millis(200), pool.acquire()).await;
    assert!(waited.is_err(), "a sixth connection was handed out");
    held.pop();
    tokio::time::timeout(Duration::from_secs(5), pool.acquire())
        .await
        .expect("given back, it is handed on")
        .expect("a connection");
}

/// `#[sqlx::test]`'s two-argument form gets its pool options too.
#[db_test(migrations = "tests/migrations_jobs")]
async fn the_two_argument_form_gets_sqlx_tests_pool_options(
    opts: sqlx::postgres::PgPoolOptions,
    connect: sqlx::postgres::PgConnectOptions,
) {
    assert_eq!(opts.get_max_connections(), 5);
    assert_eq!(opts.get_idle_timeout(), Some(Duration::from_secs(1)));
    let pool = opts.connect_with(connect).await.expect("connect");
    sqlx::query("SELECT 1").execute(&pool).await.expect("query");
    pool.close().await;
}
