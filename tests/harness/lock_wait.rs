//! Lock waits that explain themselves: a database-mode test whose transaction holds a row
//! lock while the code under test updates that row through the pool fails within seconds,
//! naming the wait, both statements and the test; a test that merely runs a slow statement
//! is not flagged; a wait of another process's test of the same name is neither reported
//! nor cancelled.

use std::time::{Duration, Instant};

use persistence::db_test;
use persistence::testing::{TestDb, TestSpec};
use sqlx::{Connection, PgConnection, PgPool};

use crate::common::scenario::{self, child, scenario_is, test_path};

/// The threshold the scenarios run with (`PERSISTENCE_TEST_LOCK_WAIT`).
const LIMIT_SECS: &str = "2";

/// The row both sides of a lock wait update.
const INSERT_ONE: &str = "INSERT INTO users (id, email, display_name) OVERRIDING SYSTEM VALUE \
                          VALUES (1, 'one@example.com', 'One')";

#[db_test(migrator = "crate::SCHEMA")]
async fn blocks_itself(pool: PgPool) {
    if !scenario_is("lock-wait") {
        return;
    }
    sqlx::query(INSERT_ONE)
        .execute(&pool)
        .await
        .expect("insert");
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("UPDATE users SET display_name = 'held by tx' WHERE id = 1")
        .execute(&mut *tx)
        .await
        .expect("the transaction takes the row lock");
    // The code under test, through the pool: waits for the transaction above, forever.
    sqlx::query("UPDATE users SET display_name = 'through the pool' WHERE id = 1")
        .execute(&pool)
        .await
        .expect("never reached while the transaction holds the row");
    tx.commit().await.expect("commit");
}

#[db_test(migrator = "crate::SCHEMA")]
async fn runs_a_slow_statement(pool: PgPool) {
    if !scenario_is("lock-wait") {
        return;
    }
    // Longer than the threshold, but waiting on a timer, not on a lock.
    sqlx::query("SELECT pg_sleep(3.5)")
        .execute(&pool)
        .await
        .expect("pg_sleep");
}

/// Runs the scenario `name` of this module in a child process, as under `cargo test` or,
/// with `nextest`, as nextest runs a test (a process of its own); returns whether it passed,
/// how long it took and what it printed.
fn run_child(name: &str, nextest: bool) -> (bool, Duration, String) {
    let mut command = child(&test_path(module_path!(), name), "lock-wait");
    command.env("PERSISTENCE_TEST_LOCK_WAIT", LIMIT_SECS);
    if nextest {
        command.env("NEXTEST_EXECUTION_MODE", "process-per-test");
    }
    let started = Instant::now();
    let (output, text) = scenario::run(command);
    (output.status.success(), started.elapsed(), text)
}

fn assert_names_the_wait(nextest: bool) {
    let (passed, took, text) = run_child("blocks_itself", nextest);
    assert!(!passed, "the test that blocks itself passed:\n{text}");
    assert!(took < Duration::from_secs(30), "it took {took:?}:\n{text}");
    for expected in [
        "lock_wait::blocks_itself",
        "on a lock",
        "waiting (session",
        "UPDATE users SET display_name = 'through the pool' WHERE id = 1",
        "this test's own session",
        "UPDATE users SET display_name = 'held by tx' WHERE id = 1",
        "the test waits for itself",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }
}

#[test]
fn a_test_that_blocks_itself_fails_naming_the_lock_wait() {
    if scenario::scenario_is("lock-wait") {
        return;
    }
    assert_names_the_wait(false);
}

#[test]
fn a_test_that_blocks_itself_fails_naming_the_lock_wait_in_a_process_of_its_own() {
    if scenario::scenario_is("lock-wait") {
        return;
    }
    assert_names_the_wait(true);
}

#[test]
fn a_slow_statement_is_not_a_lock_wait() {
    if scenario::scenario_is("lock-wait") {
        return;
    }
    let (passed, _, text) = run_child("runs_a_slow_statement", false);
    assert!(passed, "a slow statement was flagged:\n{text}");
    assert!(!text.contains("on a lock"), "{text}");
}

/// Another process runs a test of the same name as `blocks_itself` at the same time (two
/// suites at once, or two crates with a test of that path): here, two sessions named as
/// that test's, one waiting for the other, in a database of their own. When
/// `blocks_itself` is stopped, its report is about its own statements only, and the other
/// process's waiting statement is not cancelled. (Seen in CI: the two tests above, running
/// at once, each cancelled the other's statement, which then failed with a bare
/// "canceling statement due to user request".)
#[tokio::test]
async fn a_wait_of_another_process_with_the_same_test_name_is_left_alone() {
    if scenario::scenario_is("lock-wait") {
        return;
    }
    let db = TestDb::create(&TestSpec::new("lock_wait::elsewhere").migrator(&crate::SCHEMA))
        .await
        .expect("database");
    let same_name = concat!(module_path!(), "::blocks_itself");
    let options = db.connect_options().application_name(same_name);
    let mut holder = PgConnection::connect_with(&options).await.expect("connect");
    sqlx::query(INSERT_ONE)
        .execute(&mut holder)
        .await
        .expect("insert");
    let mut held = holder.begin().await.expect("begin");
    sqlx::query("UPDATE users SET display_name = 'held elsewhere' WHERE id = 1")
        .execute(&mut *held)
        .await
        .expect("the other process's transaction takes the row lock");
    let mut waiter = PgConnection::connect_with(&options).await.expect("connect");
    let waiting = tokio::spawn(async move {
        let result = sqlx::query("UPDATE users SET display_name = 'waits elsewhere' WHERE id = 1")
            .execute(&mut waiter)
            .await;
        (result.map(|done| done.rows_affected()), waiter)
    });

    let (passed, _, text) = tokio::task::spawn_blocking(|| run_child("blocks_itself", false))
        .await
        .expect("child");
    assert!(!passed, "the test that blocks itself passed:\n{text}");
    for expected in [
        "UPDATE users SET display_name = 'through the pool' WHERE id = 1",
        "the test waits for itself",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }
    assert!(
        !text.contains("elsewhere"),
        "the report names the other process's statements:\n{text}"
    );

    // The other process's statement still waits, and goes through once its lock is free.
    assert!(
        !waiting.is_finished(),
        "the other process's statement ended early"
    );
    held.commit().await.expect("commit");
    let (updated, waiter) = waiting.await.expect("waiting task");
    assert_eq!(
        updated.expect("the other process's statement was cancelled"),
        1,
        "its update went through"
    );
    let _ = waiter.close().await;
    let _ = holder.close().await;
    db.close().await.expect("dropped");
}
