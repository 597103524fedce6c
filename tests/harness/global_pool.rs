//! Code under test that uses the process-wide pool (`global()`) gets the test's own database
//! in database mode, and a clear error in transaction mode, in a task that escaped the
//! test's scope, or in a test without a database: never a pool built from `DATABASE_URL`.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::{LazyLock, Mutex};

use persistence::db_test;
use persistence::postgres::{self as pg, ErrorCategory, global};
use sqlx::{PgConnection, PgPool};

use crate::common::scenario::{self, scenario_is};

/// The service code under test: it knows nothing of tests and reaches the database through
/// the process-wide pool.
mod service {
    use persistence::postgres::{self as pg, global};

    pub async fn register(email: &str) -> Result<i64, pg::Error> {
        let id = sqlx::query_scalar(
            "INSERT INTO users (email, display_name) VALUES ($1, 'Registered') RETURNING id",
        )
        .bind(email)
        .fetch_one(global()?)
        .await?;
        Ok(id)
    }

    pub async fn database() -> Result<String, pg::Error> {
        Ok(sqlx::query_scalar("SELECT current_database()")
            .fetch_one(global()?)
            .await?)
    }
}

async fn emails(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT email FROM users ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("emails")
}

#[db_test(migrator = "crate::SCHEMA")]
async fn a_row_written_through_global_is_seen_through_the_test_pool(pool: PgPool) {
    let id = service::register("ada@example.com")
        .await
        .expect("through global()");
    let email: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .expect("the row, through the test's pool");
    assert_eq!(email, "ada@example.com");
    let mine: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .expect("database");
    assert_eq!(service::database().await.expect("global"), mine);
}

#[db_test(migrator = "crate::SCHEMA")]
async fn tasks_spawned_with_the_scope_see_the_test_pool_and_bare_ones_are_refused(pool: PgPool) {
    let mine: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .expect("database");
    let scoped = pg::spawn_scoped(service::database())
        .await
        .expect("task")
        .expect("the test's pool");
    assert_eq!(scoped, mine);

    for error in [
        tokio::spawn(service::database())
            .await
            .expect("task")
            .expect_err("a bare spawn has no scope"),
        std::thread::spawn(|| global().map(|_| ()))
            .join()
            .expect("thread")
            .expect_err("another thread has no scope"),
    ] {
        assert_eq!(error.category(), ErrorCategory::Config);
        let message = error.to_string();
        assert!(
            message.starts_with(
                "the process-wide pool is not available outside a scope in this process: "
            ),
            "{message}"
        );
        assert!(
            message.contains("never connect to DATABASE_URL"),
            "{message}"
        );
        assert!(
            message.contains("persistence::postgres::spawn_scoped"),
            "{message}"
        );
    }
    assert!(emails(&pool).await.is_empty());
}

#[db_test]
async fn global_in_transaction_mode_says_why_and_what_to_do(conn: &mut PgConnection) {
    let error = service::register("ada@example.com")
        .await
        .expect_err("transaction mode has no process-wide pool");
    assert_eq!(error.category(), ErrorCategory::Config);
    assert_eq!(
        error.to_string(),
        "the process-wide pool is not available here: a transaction-mode #[db_test] has no \
         process-wide pool: a pooled connection would neither see the test's uncommitted rows \
         nor be rolled back with them; to test code that uses global(), take a `PgPool` \
         (database mode, or isolation = \"database\"), or pass the test's connection to the \
         code under test"
    );
    // The test's own connection is unaffected.
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut *conn)
        .await
        .expect("the test's connection");
    assert_eq!(one, 1);
}

#[db_test]
async fn a_test_without_a_database_has_no_global_pool() {
    let error = global().expect_err("no database");
    assert!(
        error.to_string().contains("takes no database argument"),
        "{error}"
    );
}

/// Tests of the concurrent scenario that have inserted their row.
static INSERTED: LazyLock<tokio::sync::Barrier> =
    LazyLock::new(|| tokio::sync::Barrier::new(CONCURRENT));
static DATABASES: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);
const CONCURRENT: usize = 8;

/// Run by the child started below, with 8 test threads: every test writes through
/// `global()`, waits until all 8 have written, then sees its own row alone.
async fn concurrent_body(pool: PgPool, n: usize) {
    if !scenario_is("concurrent") {
        return;
    }
    let email = format!("user{n}@example.com");
    service::register(&email).await.expect("through global()");
    INSERTED.wait().await;
    assert_eq!(emails(&pool).await, vec![email]);
    let database = service::database().await.expect("global");
    assert!(
        DATABASES.lock().expect("lock").insert(database.clone()),
        "{database} used by two tests"
    );
}

macro_rules! concurrent_tests {
    ($($name:ident = $n:literal),*) => {$(
        #[db_test(migrator = "crate::SCHEMA")]
        async fn $name(pool: PgPool) {
            concurrent_body(pool, $n).await;
        }
    )*};
}

concurrent_tests!(
    writer_0 = 0,
    writer_1 = 1,
    writer_2 = 2,
    writer_3 = 3,
    writer_4 = 4,
    writer_5 = 5,
    writer_6 = 6,
    writer_7 = 7
);

#[test]
fn concurrent_tests_in_one_process_each_see_their_own_database() {
    let mut command = Command::new(std::env::current_exe().expect("this test binary"));
    command
        .args([
            &scenario::test_path(module_path!(), "writer_"),
            "--test-threads",
            &CONCURRENT.to_string(),
        ])
        .env(scenario::SCENARIO, "concurrent")
        .env_remove("NEXTEST_EXECUTION_MODE")
        .stdin(Stdio::null());
    let (output, text) = scenario::run(command);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains(&format!("test result: ok. {CONCURRENT} passed")),
        "{text}"
    );
}
