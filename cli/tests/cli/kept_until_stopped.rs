//! A failed test's kept database lives as long as its server: `persistence test-server
//! status` lists it with its URL; the idle grace ends the server with it, unless `persistence
//! test-server keep` keeps the server; `persistence test-server stop` stops it, after which
//! nothing of it is left. A server with `PERSISTENCE_TEST_IDLE_GRACE=never` is listed and
//! stopped the same way.
//!
//! Each test's server lives in a private state directory, with a short idle grace: a kept
//! server still answers after five times its grace, which proves that the grace no longer
//! removes it, without sleeping a minute.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;
use std::time::Duration;

use persistence::db_test;
use persistence::ephemeral::platform::process_alive;
use persistence::ephemeral::state_dir::{ServerState, StateDir};
use persistence::ephemeral::{BackendKind, Settings};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::support::cli::cli;
use crate::support::docker::harness_containers;
use crate::support::kept::{kept_url, write_a_user_then_fail};
use crate::support::scenario::{self, child, scenario_is};
use crate::support::server::wait_for_server_to_go;
use crate::support::tempdir::temp_dir;

#[db_test(migrations = "tests/cli/migrations")]
async fn fails_after_writing(pool: sqlx::PgPool) {
    write_a_user_then_fail(&pool, "stays@example.com", "Stays").await;
}

/// A scenario that only starts (or joins) the server of its state directory.
#[test]
fn starts_a_server() {
    if scenario_is("start") {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime
            .block_on(persistence::ephemeral::server())
            .expect("a server");
    }
}

/// Whether the outer run uses an external server, where the harness starts nothing (then
/// says that the test is skipped).
fn external() -> bool {
    let external = Settings::from_env().is_ok_and(|s| {
        s.backend == BackendKind::External
            || (s.backend == BackendKind::Auto && s.external_url.is_some())
    });
    if external {
        eprintln!("skipped: an external server is not started or stopped by the harness");
    }
    external
}

fn in_state_dir(mut command: Command, state: &Path, grace: &str) -> Command {
    command
        .env("PERSISTENCE_STATE_DIR", state)
        .env("PERSISTENCE_TEST_IDLE_GRACE", grace);
    command
}

/// Runs the failing test (its database kept, as by default) on the server of `state`, which
/// outlives its last user by `grace` seconds; returns what it printed.
fn fail_keeping(state: &Path, grace: &str) -> String {
    let failing = in_state_dir(
        child("kept_until_stopped::fails_after_writing", "fail"),
        state,
        grace,
    );
    let (output, text) = scenario::run(failing);
    assert!(!output.status.success(), "{text}");
    text
}

fn test_server(state: &Path, args: &[&str]) -> (Output, String) {
    let mut all = vec!["test-server"];
    all.extend(args);
    let mut command = cli(state, &all);
    command.env("PERSISTENCE_STATE_DIR", state);
    let (output, text) = scenario::run(command);
    assert!(output.status.success(), "test-server {args:?}: {text}");
    (output, text)
}

/// Everything a server leaves while it runs, to check that each is gone afterwards.
struct Traces {
    state: ServerState,
    files: PathBuf,
}

impl Traces {
    fn of(state_dir: &Path) -> Self {
        let dir = StateDir::new(state_dir);
        let state = dir.live_server().expect("a running server");
        let files = dir.server_files(&state.instance_id);
        Self { state, files }
    }

    fn assert_gone(&self, state_dir: &Path) {
        let state = &self.state;
        assert!(
            !process_alive(state.supervisor_pid),
            "supervisor still runs"
        );
        if let Some(pid) = state.process.postmaster_pid() {
            assert!(!process_alive(pid), "postmaster {pid} still runs");
        }
        if let Some(dir) = state.process.instance_dir() {
            assert!(!dir.exists(), "{} is left", dir.display());
        }
        assert!(!self.files.exists(), "{} is left", self.files.display());
        assert!(
            !state_dir.join("server.json").exists(),
            "server.json is left"
        );
        if let Some(container) = state.process.container_id() {
            let listed = harness_containers();
            assert!(
                !listed.iter().any(|c| c == container),
                "container {container} is left"
            );
        }
    }
}

#[test]
fn test_server_keep_keeps_the_server_of_a_kept_database_until_it_is_stopped() {
    if external() {
        return;
    }
    let scratch = temp_dir("kept-stays");
    let state = scratch.path();
    let text = fail_keeping(state, "2");
    let url = kept_url(&text);
    let traces = Traces::of(state);
    // Within the grace: the server is kept from now on.
    let (_, kept) = test_server(state, &["keep"]);
    assert!(
        kept.contains(&format!("keeping test server {}", traces.state.instance_id))
            && kept.contains("1 kept database(s)"),
        "{kept}"
    );

    // Five idle graces after the test process ended, the database still answers.
    std::thread::sleep(Duration::from_secs(10));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let rows: i64 = runtime.block_on(async {
        let options = PgConnectOptions::from_str(&url).expect("the printed URL parses");
        let mut kept = PgConnection::connect_with(&options)
            .await
            .unwrap_or_else(|e| panic!("the kept database {url} answers: {e}"));
        let rows =
            sqlx::query_scalar("SELECT count(*) FROM users WHERE email = 'stays@example.com'")
                .fetch_one(&mut kept)
                .await
                .expect("count");
        let _ = kept.close().await;
        rows
    });
    assert_eq!(rows, 1, "the failed test's row is there");

    let (_, status) = test_server(state, &["status"]);
    let backend = traces.state.backend().to_string();
    assert!(
        status.contains(&format!(
            "test server {} ({backend}",
            traces.state.instance_id
        )) && status.contains(&format!("kept database: {url}"))
            && status.contains("idle grace: kept (`persistence test-server keep`)")
            && status.contains(&format!("supervisor pid: {}", traces.state.supervisor_pid))
            && status.contains("used by pids: none"),
        "{status}"
    );

    let (_, stopped) = test_server(state, &["stop"]);
    assert!(
        stopped.contains(&format!("stopped test server {}", traces.state.instance_id))
            && stopped.contains("1 kept database(s)"),
        "{stopped}"
    );
    traces.assert_gone(state);
    let (_, after) = test_server(state, &["status"]);
    assert!(after.starts_with("no test server runs"), "{after}");
}

#[test]
fn a_server_without_idle_grace_is_listed_and_stopped_the_same_way() {
    if external() {
        return;
    }
    let scratch = temp_dir("never-stops");
    let state = scratch.path();
    let (output, text) = scenario::run(in_state_dir(
        child("kept_until_stopped::starts_a_server", "start"),
        state,
        "never",
    ));
    assert!(output.status.success(), "{text}");
    let traces = Traces::of(state);
    std::thread::sleep(Duration::from_millis(500));
    assert!(process_alive(traces.state.supervisor_pid), "it stays");

    let (_, status) = test_server(state, &["status"]);
    assert!(
        status.contains(&format!("test server {}", traces.state.instance_id))
            && status.contains(&format!("url: {}", traces.state.owner_url("postgres")))
            && status.contains("idle grace: never")
            && status.contains("kept databases: none"),
        "{status}"
    );
    let (_, stopped) = test_server(state, &["stop", &traces.state.instance_id]);
    assert!(stopped.contains("stopped test server"), "{stopped}");
    traces.assert_gone(state);
}

#[test]
fn a_kept_database_goes_with_its_server_after_the_idle_grace() {
    if external() {
        return;
    }
    let scratch = temp_dir("kept-goes");
    let state = scratch.path();
    let text = fail_keeping(state, "3");
    let url = kept_url(&text);
    let traces = Traces::of(state);
    let (_, status) = test_server(state, &["status"]);
    assert!(
        status.contains(&format!("kept database: {url}"))
            && status
                .contains("idle grace: 3 s (stops once unused that long, with its kept databases"),
        "{status}"
    );
    // Nothing holds it past its grace: the server goes, and its kept database with it.
    wait_for_server_to_go(state);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while process_alive(traces.state.supervisor_pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    traces.assert_gone(state);
}

#[test]
fn keep_without_a_running_server_says_what_to_do() {
    let scratch = temp_dir("keep-nothing");
    let mut command = cli(scratch.path(), &["test-server", "keep"]);
    command.env("PERSISTENCE_STATE_DIR", scratch.path());
    let (output, text) = scenario::run(command);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains("no test server runs for this project")
            && text.contains("PERSISTENCE_TEST_IDLE_GRACE=never"),
        "{text}"
    );
}
