//! The process-wide pool (`global()`): one per process, built lazily from `DATABASE_URL`,
//! shared by many tasks and threads; `shutdown` closes it within its timeout and later use
//! gets a clear error; a process that receives SIGTERM shuts down cleanly and exits 0.
//!
//! `global()` reads the process environment, which a test must not change in a shared test
//! process: each scenario runs in a child process (this binary again, `--exact` one test)
//! with `DATABASE_URL` pointing at the parent's test database.

// The SIGTERM test, and what only it uses, is Unix-only.
#![cfg_attr(not(unix), allow(unused_imports, dead_code))]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use persistence::db_test;
use persistence::postgres::{
    Error, ErrorCategory, Signal, TransactionOptions, global, shutdown, shutdown_signal,
    transaction,
};
use persistence::testing::TestDb;
use sqlx::{Connection, PgConnection};

use crate::common::scenario::{self, child, scenario_is, test_path, wait_with_timeout};
use crate::common::server::{eventually, url_for};

const APP: &str = "persistence-singleton";

/// The child running `scenario` against the parent's database.
async fn scenario(test: &str, scenario: &str, db: &TestDb) -> Command {
    let mut command = child(&test_path(module_path!(), test), scenario);
    command
        .env("DATABASE_URL", url_for(db.name()).await)
        // Env beats URL: the child's pool has a known size, whatever the caller's environment.
        .env("PERSISTENCE_CONNECTION_LIMIT", "4")
        .env("PERSISTENCE_POOL_TIMEOUT", "10")
        .env("PERSISTENCE_APPLICATION_NAME", APP)
        .env_remove("PERSISTENCE_STATEMENT_TIMEOUT")
        .env_remove("PERSISTENCE_SCHEMA");
    command
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Sessions the child's pool has open on the server (seen through a connection of our own).
async fn sessions_of_the_pool() -> i64 {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let mut observer = PgConnection::connect(&url).await.expect("observer");
    let count = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
         AND datname = current_database() AND pid <> pg_backend_pid()",
    )
    .bind(APP)
    .fetch_one(&mut observer)
    .await
    .expect("pg_stat_activity");
    let _ = observer.close().await;
    count
}

/// Waits (up to 5 s) for the pool's sessions to go from the server; fails with `what` if
/// they stay.
async fn assert_sessions_go(what: &str) {
    let gone = eventually(Duration::from_secs(5), async || {
        sessions_of_the_pool().await == 0
    })
    .await;
    assert!(gone, "{what}");
}

/// In the child started for scenario `name` (and only there), runs `body`, then says the
/// scenario passed.
fn act(name: &str, body: impl Future<Output = ()>) {
    if scenario_is(name) {
        runtime().block_on(body);
        println!("scenario {name}: ok");
    }
}

/// Runs the child test `test` acting out `name` against `db`; it must pass and say so.
async fn act_out(test: &str, name: &str, db: &TestDb) {
    let (output, text) = scenario::run(scenario(test, name, db).await);
    assert!(output.status.success(), "{text}");
    assert!(text.contains(&format!("scenario {name}: ok")), "{text}");
}

/// After shutdown: `global()` and the pool itself refuse work with a clear error.
async fn assert_refuses_work(pool: &'static sqlx::PgPool) {
    let shut_down = |error: Error| {
        assert_eq!(error.category(), ErrorCategory::ShuttingDown, "{error:?}");
        assert_eq!(
            error.to_string(),
            "the connection pool has been shut down; the process is stopping and runs no new \
             queries"
        );
    };
    shut_down(global().expect_err("the pool is shut down"));
    shut_down(Error::from(
        sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .expect_err("closed"),
    ));
    shut_down(
        transaction(pool, TransactionOptions::new(), async |_tx| {
            Ok::<_, Error>(())
        })
        .await
        .expect_err("closed"),
    );
}

#[test]
fn shared_pool_scenario() {
    act("shared", async {
        let pool = global().expect("built from DATABASE_URL");
        assert_eq!(pool.size(), 0, "lazy: no connection before the first query");
        assert_eq!(pool.options().get_max_connections(), 4);
        assert!(std::ptr::eq(pool, global().expect("again")), "one pool");
        // From other threads, without a runtime, the same pool.
        let address = pool as *const sqlx::PgPool as usize;
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| global().map(|p| p as *const sqlx::PgPool as usize)))
            .collect();
        for thread in threads {
            assert_eq!(thread.join().expect("thread").expect("global"), address);
        }

        // Many tasks on several worker threads, all through the one pool.
        let expected: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(pool)
            .await
            .expect("first query");
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..32_i32 {
            tasks.spawn(async move {
                let pool = global()?;
                let (database, doubled): (String, i32) =
                    sqlx::query_as("SELECT current_database(), $1 * 2 FROM pg_sleep(0.01)")
                        .bind(i)
                        .fetch_one(pool)
                        .await?;
                assert_eq!(doubled, i * 2);
                Ok::<_, Error>((database, pool.size()))
            });
        }
        while let Some(result) = tasks.join_next().await {
            let (database, size) = result.expect("task").expect("query");
            assert_eq!(database, expected);
            assert!(size <= 4, "{size}");
        }
        assert!(sessions_of_the_pool().await <= 4);

        // Shutdown waits for a connection in use, within its timeout.
        let held = pool.acquire().await.expect("a connection");
        let releaser = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(held);
        });
        let started = Instant::now();
        shutdown(Duration::from_secs(10))
            .await
            .expect("closed in time");
        let took = started.elapsed();
        releaser.await.expect("releaser");
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert!(pool.is_closed());
        assert_eq!(pool.size(), 0);
        assert_refuses_work(pool).await;
        // The server sees the sessions go.
        assert_sessions_go("the pool's sessions outlived the shutdown").await;
    });
}

#[db_test]
async fn one_lazy_pool_shared_by_tasks_and_closed_by_shutdown(db: TestDb) {
    act_out("shared_pool_scenario", "shared", &db).await;
}

#[test]
fn shutdown_timeout_scenario() {
    act("shutdown-timeout", async {
        let pool = global().expect("built");
        let held = pool.acquire().await.expect("a connection");
        let started = Instant::now();
        let error = shutdown(Duration::from_millis(300))
            .await
            .expect_err("a connection is still in use");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(2),
            "gave up at the timeout: {took:?}"
        );
        assert_eq!(error.category(), ErrorCategory::Timeout, "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("shutting down the connection pool timed out after 300ms with 1 connection(s) still in use"),
            "{error}"
        );
        // Closed all the same: no new work, and the straggler closes when released.
        assert!(pool.is_closed());
        assert_refuses_work(pool).await;
        drop(held);
        assert_sessions_go("the straggler was not closed on release").await;
    });
}

#[db_test]
async fn shutdown_gives_up_at_its_timeout(db: TestDb) {
    act_out("shutdown_timeout_scenario", "shutdown-timeout", &db).await;
}

#[test]
fn sigterm_scenario() {
    if !scenario_is("sigterm") {
        return;
    }
    runtime().block_on(async {
        let pool = global().expect("built");
        sqlx::query("SELECT 1").execute(pool).await.expect("serves");
        // A request in flight when the signal comes; it finishes, then the pool closes. It
        // holds its connection before READY is printed, so the signal cannot overtake it.
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let in_flight = tokio::spawn(async move {
            let mut conn = global().expect("open").acquire().await?;
            let _ = started_tx.send(());
            sqlx::query("SELECT pg_sleep(0.3)")
                .execute(&mut *conn)
                .await
        });
        started_rx.await.expect("the request in flight started");
        let mut stop = Box::pin(async {
            let signal = shutdown_signal().await?;
            shutdown(Duration::from_secs(10)).await?;
            Ok::<_, Error>(signal)
        });
        // Polled once, so the signal handlers are installed before the parent is told.
        tokio::select! {
            biased;
            _ = &mut stop => panic!("stopped before any signal"),
            () = std::future::ready(()) => {}
        }
        println!("READY");
        let signal = stop.await.expect("clean shutdown");
        assert_eq!(signal, Signal::Terminate);
        in_flight
            .await
            .expect("task")
            .expect("the request in flight completed");
        assert!(pool.is_closed());
        assert_refuses_work(pool).await;
        println!("scenario sigterm: shut down cleanly");
    });
}

// SIGTERM is a Unix signal.
#[cfg(unix)]
#[db_test]
async fn sigterm_shuts_a_process_down_cleanly_with_exit_0(db: TestDb) {
    let mut command = scenario("sigterm_scenario", "sigterm", &db).await;
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn the child");
    let stdout = child.stdout.take().expect("stdout");
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn({
        let lines = lines.clone();
        move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.ends_with("READY") {
                    let _ = ready_tx.send(());
                }
                lines.lock().expect("lines").push(line);
            }
        }
    });
    let ready = ready_rx.recv_timeout(Duration::from_secs(30)).is_ok();
    if ready {
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }
    let status = wait_with_timeout(&mut child, Duration::from_secs(30));
    let _ = reader.join();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    let stdout = lines.lock().expect("lines").join("\n");
    assert!(ready, "the child never got ready: {stdout}\n{stderr}");
    let status = status.unwrap_or_else(|| panic!("the child did not exit: {stdout}\n{stderr}"));
    assert_eq!(status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("scenario sigterm: shut down cleanly"),
        "{stdout}\n{stderr}"
    );
}
