//! A failed database-mode test's database is kept by default, as `#[sqlx::test]` keeps it,
//! and its URL printed; it goes when that test passes again; at most a few are kept per
//! template; `PERSISTENCE_TEST_KEEP` turns keeping off, or on for every test.

use persistence::db_test;
use sqlx::{Connection, PgConnection, PgPool};

use crate::common::kept::kept_database;
use crate::common::scenario::{self, child, scenario_is, test_path};

/// At most this many kept databases per template (the harness's bound).
const MAX_KEPT: usize = 10;

#[db_test(migrations = "tests/migrations_keep")]
async fn writes_then_fails_unless_fixed(pool: PgPool) {
    if !scenario_is("fail") && !scenario_is("pass") {
        return;
    }
    sqlx::query("INSERT INTO notes (body) VALUES ('kept')")
        .execute(&pool)
        .await
        .expect("insert");
    assert!(!scenario_is("fail"), "failing on purpose");
}

/// The databases kept for the test whose kept database is `example`: its name up to the
/// time, which is the last part.
async fn kept_like(admin: &mut PgConnection, example: &str) -> Vec<String> {
    let (prefix, _time) = example.rsplit_once('_').expect("a kept name");
    sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)")
        .bind(format!("{prefix}_"))
        .fetch_all(admin)
        .await
        .expect("list")
}

fn fail() -> String {
    let (output, text) = scenario::run(child(
        &test_path(module_path!(), "writes_then_fails_unless_fixed"),
        "fail",
    ));
    assert!(!output.status.success(), "{text}");
    kept_database(&text)
}

fn pass() {
    let (output, text) = scenario::run(child(
        &test_path(module_path!(), "writes_then_fails_unless_fixed"),
        "pass",
    ));
    assert!(output.status.success(), "{text}");
}

#[tokio::test]
async fn a_failed_tests_database_is_kept_until_the_test_passes_and_bounded() {
    // Held, so that the server outlives each child test.
    let server = persistence::ephemeral::server().await.expect("server");
    let mut admin = PgConnection::connect_with(server.admin_options())
        .await
        .expect("admin");

    let first = fail();
    let kept = PgPool::connect_with(server.options_for(&first))
        .await
        .expect("the kept database opens");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notes WHERE body = 'kept'")
        .fetch_one(&kept)
        .await
        .expect("count");
    assert_eq!(rows, 1, "the failed test's data is there to inspect");
    kept.close().await;

    let mut last = first.clone();
    for _ in 0..15 {
        last = fail();
    }
    let all = kept_like(&mut admin, &last).await;
    assert!(
        (1..=MAX_KEPT).contains(&all.len()) && all.contains(&last),
        "15 more failures keep at most {MAX_KEPT}, the newest included: {all:?}"
    );
    assert!(!all.contains(&first), "the oldest went first: {all:?}");

    pass();
    assert_eq!(
        kept_like(&mut admin, &last).await,
        Vec::<String>::new(),
        "the test passed: its kept databases are dropped"
    );
    let _ = admin.close().await;
}

#[test]
fn keeping_can_be_turned_off() {
    let mut command = child(
        &test_path(module_path!(), "writes_then_fails_unless_fixed"),
        "fail",
    );
    command.env("PERSISTENCE_TEST_KEEP", "none");
    let (output, text) = scenario::run(command);
    assert!(!output.status.success(), "{text}");
    assert!(!text.contains("kept the database"), "{text}");
}

#[test]
fn a_bad_keep_setting_is_named() {
    let mut command = child(
        &test_path(module_path!(), "writes_then_fails_unless_fixed"),
        "pass",
    );
    command.env("PERSISTENCE_TEST_KEEP", "sometimes");
    let (output, text) = scenario::run(command);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains("PERSISTENCE_TEST_KEEP=\"sometimes\" is not valid")
            && text.contains("failed (the default), none or all"),
        "{text}"
    );
}

#[db_test(migrations = "tests/migrations_keep")]
async fn a_transaction_test_that_fails(conn: &mut PgConnection) {
    if !scenario_is("fail") {
        return;
    }
    sqlx::query("INSERT INTO notes (body) VALUES ('written in a transaction')")
        .execute(&mut *conn)
        .await
        .expect("insert");
    panic!("failing on purpose");
}

#[tokio::test]
async fn a_failed_transaction_test_says_how_to_see_its_data() {
    let server = persistence::ephemeral::server().await.expect("server");
    let (output, text) = scenario::run(child(
        &test_path(module_path!(), "a_transaction_test_that_fails"),
        "fail",
    ));
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains("ran in a transaction that was rolled back")
            && text.contains("PERSISTENCE_TEST_ISOLATION=database"),
        "{text}"
    );
    assert!(!text.contains("kept the database"), "{text}");

    // Run as the line says: its data is committed into a database of its own, kept.
    let mut command = child(
        &test_path(module_path!(), "a_transaction_test_that_fails"),
        "fail",
    );
    command.env("PERSISTENCE_TEST_ISOLATION", "database");
    let (output, text) = scenario::run(command);
    assert!(!output.status.success(), "{text}");
    let database = kept_database(&text);
    let kept = PgPool::connect_with(server.options_for(&database))
        .await
        .expect("the kept database opens");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
        .fetch_one(&kept)
        .await
        .expect("count");
    assert_eq!(rows, 1, "{text}");
    kept.close().await;

    // Fixed (here: not failing), it passes and its kept database goes.
    let mut command = child(
        &test_path(module_path!(), "a_transaction_test_that_fails"),
        "pass",
    );
    command.env("PERSISTENCE_TEST_ISOLATION", "database");
    let (output, text) = scenario::run(command);
    assert!(output.status.success(), "{text}");
    let mut admin = PgConnection::connect_with(server.admin_options())
        .await
        .expect("admin");
    assert!(kept_like(&mut admin, &database).await.is_empty());
    let _ = admin.close().await;
}
