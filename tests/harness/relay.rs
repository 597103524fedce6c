//! Under nextest a test process gets its session from the relay of the server's supervisor:
//! a warm session a process before it used, which shows it nothing of that process.
//!
//! Each scenario runs as a child acting out nextest's process-per-test mode, on a native
//! server of a private state directory (so that the relay is that server's, started with
//! the settings the test gives).

use std::path::Path;
use std::process::Command;

use persistence::db_test;
use persistence::ephemeral::state_dir::StateDir;
use sqlx::{Connection, PgConnection};

use crate::common::scenario::{self, child, scenario_is, test_path};
use crate::common::server::wait_for_server_to_go;
use crate::common::tempdir::temp_dir;

/// Prints this session's process id, then leaves every kind of session state behind.
#[db_test(migrator = "crate::SCHEMA")]
async fn leaves_session_state(conn: &mut PgConnection) {
    if !scenario_is("leave") {
        return;
    }
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .expect("pid");
    println!("BACKEND {pid}");
    sqlx::raw_sql(
        "SET statement_timeout = 1234; \
         SET SESSION application_name = 'left behind'; \
         CREATE TEMPORARY TABLE scratch (n int); \
         LISTEN left_channel; \
         PREPARE left_statement AS SELECT 1; \
         SELECT pg_advisory_lock(42)",
    )
    .execute(&mut *conn)
    .await
    .expect("leave state");
    sqlx::query("INSERT INTO users (email, display_name) VALUES ('left@example.com', 'Left')")
        .execute(&mut *conn)
        .await
        .expect("an uncommitted row");
}

/// Prints this session's process id and what it sees of the state a session can have.
#[db_test(migrator = "crate::SCHEMA")]
async fn looks_at_session_state(conn: &mut PgConnection) {
    if !scenario_is("look") {
        return;
    }
    let row: (i32, String, String, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT pg_backend_pid(), current_setting('statement_timeout'), \
         current_setting('application_name'), \
         (SELECT count(*) FROM pg_class WHERE relname = 'scratch' AND relpersistence = 't'), \
         (SELECT count(*) FROM pg_listening_channels()), \
         (SELECT count(*) FROM pg_prepared_statements WHERE name = 'left_statement'), \
         (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'), \
         (SELECT count(*) FROM users WHERE email = 'left@example.com')",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("look");
    println!("BACKEND {}", row.0);
    println!(
        "STATE timeout={} name={} temp={} listens={} prepared={} advisory={} rows={}",
        row.1, row.2, row.3, row.4, row.5, row.6, row.7
    );
}

/// A child acting out one nextest process on the server of `state`.
fn nextest_child(state: &Path, test: &str, scenario: &str, relay: &str) -> Command {
    let mut command = child(&test_path(module_path!(), test), scenario);
    command
        .env("NEXTEST_EXECUTION_MODE", "process-per-test")
        .env("PERSISTENCE_STATE_DIR", state)
        .env("PERSISTENCE_TEST_BACKEND", "native")
        .env("PERSISTENCE_TEST_IDLE_GRACE", "2")
        .env("PERSISTENCE_TEST_RELAY", relay);
    command
}

fn backend_of(text: &str) -> i32 {
    // libtest writes `test <name> ... ` before the test's own output, on the same line.
    text.lines()
        .find_map(|l| l.split_once("BACKEND ").map(|(_, pid)| pid))
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("no backend printed: {text}"))
}

fn run_ok(command: Command) -> String {
    let (output, text) = scenario::run(command);
    assert!(output.status.success(), "{text}");
    text
}

/// Whether this run's backend is one the harness starts (the relay is a native server's).
fn native_possible() -> bool {
    std::env::var("PERSISTENCE_TEST_BACKEND").map_or(true, |b| b == "native" || b == "auto")
        && std::env::var_os("TEST_DATABASE_URL").is_none()
}

/// Waits until the relay has cleaned the session `pid` up and keeps it idle.
fn wait_until_idle_in_the_relay(state: &Path, pid: i32) {
    let server = StateDir::new(state).live_server().expect("the server runs");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut admin = PgConnection::connect_with(&server.admin_options())
            .await
            .expect("admin");
        for _ in 0..500 {
            let name: Option<String> =
                sqlx::query_scalar("SELECT application_name FROM pg_stat_activity WHERE pid = $1")
                    .bind(pid)
                    .fetch_optional(&mut admin)
                    .await
                    .expect("activity");
            if name.as_deref() == Some("persistence relay") {
                let _ = admin.close().await;
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the relay never kept session {pid}");
    });
}

#[test]
fn the_next_process_gets_the_warm_session_clean() {
    if !native_possible() {
        eprintln!("skipped: the relay serves native servers, and this run uses another backend");
        return;
    }
    let scratch = temp_dir("relay");
    let state = scratch.path();
    let left = run_ok(nextest_child(state, "leaves_session_state", "leave", "1"));
    wait_until_idle_in_the_relay(state, backend_of(&left));
    let looked = run_ok(nextest_child(state, "looks_at_session_state", "look", "1"));
    assert_eq!(
        backend_of(&left),
        backend_of(&looked),
        "the second process got the first one's session (the relay's): {left}\n{looked}"
    );
    assert!(
        // Its application_name is its own test's name, which the session took at its
        // hand-over, not the one the first process left.
        looked.contains(
            "STATE timeout=0 name=harness::relay::looks_at_session_state temp=0 listens=0 \
             prepared=0 advisory=0 rows=0"
        ),
        "it shows nothing of the first process's session: {looked}"
    );
    wait_for_server_to_go(state);
}

#[test]
fn without_the_relay_each_process_has_a_session_of_its_own() {
    if !native_possible() {
        eprintln!("skipped: the relay serves native servers, and this run uses another backend");
        return;
    }
    let scratch = temp_dir("no-relay");
    let state = scratch.path();
    let left = run_ok(nextest_child(state, "leaves_session_state", "leave", "0"));
    let looked = run_ok(nextest_child(state, "looks_at_session_state", "look", "0"));
    assert_ne!(backend_of(&left), backend_of(&looked));
    assert!(
        looked.contains(
            "STATE timeout=0 name=harness::relay::looks_at_session_state temp=0 listens=0 \
             prepared=0 advisory=0 rows=0"
        ),
        "{looked}"
    );
    wait_for_server_to_go(state);
}
