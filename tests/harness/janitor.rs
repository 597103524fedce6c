//! Under nextest a database-mode test's process leaves its used clone to the janitor (the
//! server supervisor's side job), which makes it clean again once the process is gone, and
//! keeps a few clean clones ready.
//!
//! A child process plays the nextest test (`NEXTEST_EXECUTION_MODE=process-per-test`) on a
//! server of its own (a private state directory); this test then watches the clone's lease
//! file and the clone itself. Only a started server has a supervisor: on the external
//! backend's pass the child starts a native server instead.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use persistence::ephemeral::control;
use persistence::ephemeral::state_dir::{ServerState, StateDir};
use persistence::testing::{TestDb, TestSpec, run};
use sqlx::{ConnectOptions, Connection};

use crate::common::scenario::{self, child, scenario_is, test_path};
use crate::common::server::wait_for_server_to_go;
use crate::common::tempdir::temp_dir;

const WRITES: &str = "janitor-writes";
const FAILS: &str = "janitor-fails";

#[test]
fn a_clone_a_nextest_process_left_used_is_reset_by_the_janitor() {
    if scenario_is(WRITES) {
        return write_and_leave();
    }
    let scratch = temp_dir("janitor");
    let state = scratch.path();
    let (clone, server, leases) = leave_a_used_clone(
        "a_clone_a_nextest_process_left_used_is_reset_by_the_janitor",
        state,
        Some("2"),
    );
    // The child has ended: nobody but the janitor can have made its clone clean.
    wait_until("the janitor resets the clone", || {
        lease_state(&leases, &clone).starts_with("clean ")
    });
    let (users, sequence_called) = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(what_is_in(&server, &clone));
    assert_eq!(users, 0, "the rows the child wrote are gone from {clone}");
    assert!(
        !sequence_called,
        "the sequence of users.id is back at its start"
    );

    // Besides the reset one, clean clones are kept ready (two, as asked).
    wait_until("two clean clones are ready", || ready_clones(&leases) >= 2);
    wait_for_server_to_go(state);
    // Its supervisor stops the janitor and the server, then removes the server's files.
    wait_until("the lease files go with the server", || !leases.exists());
}

/// On by default; its session stays in the clone it reset (so that its next reset there
/// is planned already), and a failed test's clone is still kept: the harness ends that
/// session before it renames the clone.
#[test]
fn the_janitor_runs_by_default_and_its_session_never_keeps_a_failed_tests_clone() {
    if scenario_is(WRITES) {
        return write_and_leave();
    }
    if scenario_is(FAILS) {
        return fail_on_a_clone();
    }
    const TEST: &str =
        "the_janitor_runs_by_default_and_its_session_never_keeps_a_failed_tests_clone";
    let scratch = temp_dir("janitor-default");
    let state = scratch.path();
    let (clone, server, leases) = leave_a_used_clone(TEST, state, None);
    wait_until("the janitor resets the clone", || {
        lease_state(&leases, &clone).starts_with("clean ")
    });
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    assert_eq!(
        runtime.block_on(janitor_sessions(&server, &clone)),
        1,
        "the janitor keeps one idle session in {clone}"
    );

    // A failing test on that server (within its grace) takes that clone, the only one whose
    // lease is free (the janitor made others ready, in any order), and keeps it.
    let others = hold_every_lease_but(&leases, &clone);
    let mut command = nextest_child(TEST, FAILS, state);
    command.env("PERSISTENCE_TEST_KEEP", "failed");
    let (output, text) = scenario::run(command);
    drop(others);
    assert!(
        !output.status.success(),
        "the child test was meant to fail:\n{text}"
    );
    assert!(
        text.contains("kept the database of this failed test"),
        "the failed test's clone was not kept (the janitor's session in it stops a rename):\n{text}"
    );
    let failed_on = text
        .lines()
        .find_map(|line| Some(line.split_once("KEPT-FROM ")?.1))
        .unwrap_or_else(|| panic!("the child printed no clone name:\n{text}"))
        .trim();
    assert_eq!(failed_on, clone, "the failing test got the reset clone");
    let kept = text
        .lines()
        .find_map(|line| {
            let url = line
                .split_once("kept the database of this failed test: ")?
                .1;
            Some(
                url.split_whitespace()
                    .next()?
                    .rsplit_once('/')?
                    .1
                    .to_owned(),
            )
        })
        .unwrap_or_else(|| panic!("no kept database named:\n{text}"));
    assert_eq!(
        runtime.block_on(janitor_sessions(&server, &kept)),
        0,
        "no janitor session is left in {kept}"
    );
    // As `persistence test-server stop` does: the kept database holds the server past its
    // grace, until it is stopped.
    control::stop(state, &server).expect("stop the server and its kept database");
    wait_for_server_to_go(state);
}

#[test]
fn with_no_ready_clones_there_is_no_janitor_and_a_process_resets_its_own_clone() {
    if scenario_is(WRITES) {
        return write_and_leave();
    }
    let scratch = temp_dir("no-janitor");
    let state = scratch.path();
    let (clone, _, leases) = leave_a_used_clone(
        "with_no_ready_clones_there_is_no_janitor_and_a_process_resets_its_own_clone",
        state,
        Some("0"),
    );
    // Clean as soon as the child is gone: it reset the clone itself.
    assert!(
        lease_state(&leases, &clone).starts_with("clean "),
        "{clone}: {:?}",
        lease_state(&leases, &clone)
    );
    assert_eq!(ready_clones(&leases), 1, "no clone was made ahead");
    wait_for_server_to_go(state);
}

/// Runs `test` as a nextest process would (one test, then the process ends) on a server of
/// its own in `state`, with `PERSISTENCE_TEST_READY_CLONES` set to `ready` (unset if `None`).
/// Returns the name of the clone it wrote to, its server (which outlives it for its grace)
/// and that server's lease files.
fn leave_a_used_clone(
    test: &str,
    state: &Path,
    ready: Option<&str>,
) -> (String, ServerState, PathBuf) {
    let mut command = nextest_child(test, WRITES, state);
    if let Some(ready) = ready {
        command.env("PERSISTENCE_TEST_READY_CLONES", ready);
    }
    let (output, text) = scenario::run(command);
    assert!(output.status.success(), "the child test failed:\n{text}");
    let clone = text
        .lines()
        .find_map(|line| Some(line.split_once("CLONE ")?.1))
        .unwrap_or_else(|| panic!("the child printed no clone name:\n{text}"))
        .trim()
        .to_owned();
    let server = StateDir::new(state)
        .live_server()
        .expect("the child's server outlives it for its grace");
    let leases = StateDir::new(state).server_files(&server.instance_id);
    (clone, server, leases)
}

/// The child `scenario` of `test`, run as nextest runs a test, on a server of its own in
/// `state` (started by the first such child, joined by the next within its grace).
fn nextest_child(test: &str, scenario: &str, state: &Path) -> std::process::Command {
    let mut command = child(&test_path(module_path!(), test), scenario);
    command
        .env("NEXTEST_EXECUTION_MODE", "process-per-test")
        .env("PERSISTENCE_STATE_DIR", state)
        .env("PERSISTENCE_TEST_IDLE_GRACE", "3")
        .env_remove("PERSISTENCE_TEST_READY_CLONES")
        .env_remove("PERSISTENCE_TEST_KEEP");
    if std::env::var("PERSISTENCE_TEST_BACKEND").is_ok_and(|b| b == "external") {
        command.env("PERSISTENCE_TEST_BACKEND", "native");
    }
    command
}

/// The child: a database-mode test that fails, printing the clone it was given.
fn fail_on_a_clone() {
    let outcome = run::database(&database_spec("janitor::fails"), |db: TestDb| async move {
        println!("KEPT-FROM {}", db.name());
        Err::<(), _>("failing on purpose")
    });
    assert!(outcome.is_err());
    std::process::exit(1);
}

/// Takes the leases of every database-mode clone in `leases` but `clone`'s, as a test
/// process would, so that no test can take those clones while the returned files are open.
/// A lease the janitor holds for a moment (to read it) is waited for.
fn hold_every_lease_but(leases: &Path, clone: &str) -> Vec<std::fs::File> {
    let keep_free = format!("{clone}.lock");
    let mut held = Vec::new();
    for entry in std::fs::read_dir(leases)
        .expect("the lease files")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("persistence_db_") || !name.ends_with(".lock") || name == keep_free {
            continue;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(entry.path())
            .expect("a lease file");
        wait_until(&format!("the lease {name} is free"), || {
            file.try_lock().is_ok()
        });
        held.push(file);
    }
    held
}

/// The children's tests: database mode on this file's migrations.
fn database_spec(name: &'static str) -> TestSpec {
    TestSpec::new(name).migrator(&crate::SCHEMA)
}

/// A connection to `database` on the children's server.
async fn connect_to(server: &ServerState, database: &str) -> sqlx::PgConnection {
    server
        .admin_options()
        .database(database)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to {database}: {e}"))
}

/// The janitor's sessions in `database`.
async fn janitor_sessions(server: &ServerState, database: &str) -> i64 {
    let mut conn = connect_to(server, "postgres").await;
    let sessions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = 'persistence janitor'",
    )
    .bind(database)
    .fetch_one(&mut conn)
    .await
    .expect("pg_stat_activity");
    let _ = conn.close().await;
    sessions
}

/// The child: a database-mode test that writes rows and advances a sequence, then ends.
fn write_and_leave() {
    let name = run::database(&database_spec("janitor::writes"), |db: TestDb| async move {
        for n in 0..3 {
            sqlx::query("INSERT INTO users (email, display_name) VALUES ($1, 'J')")
                .bind(format!("j{n}@example.com"))
                .execute(db.pool())
                .await
                .expect("insert");
        }
        Ok::<_, std::convert::Infallible>(db.name().to_owned())
    })
    .expect("infallible");
    println!("CLONE {name}");
}

fn lease_state(leases: &Path, clone: &str) -> String {
    std::fs::read_to_string(leases.join(format!("{clone}.lock"))).unwrap_or_default()
}

fn ready_clones(leases: &Path) -> usize {
    std::fs::read_dir(leases)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with("persistence_db_")
                        && std::fs::read_to_string(e.path())
                            .is_ok_and(|text| text.starts_with("clean "))
                })
                .count()
        })
        .unwrap_or(0)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The rows of `users` in `clone`, and whether its id sequence was ever called.
async fn what_is_in(server: &ServerState, clone: &str) -> (i64, bool) {
    let mut conn = connect_to(server, clone).await;
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    let called: bool = sqlx::query_scalar(
        "SELECT last_value IS NOT NULL FROM pg_sequences \
         WHERE schemaname = 'public' AND sequencename = 'users_id_seq'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("sequence");
    let _ = conn.close().await;
    (users, called)
}
