//! A process that joins a running server of another backend or other binaries than its
//! settings ask for says so in one line on stderr, once, naming the variable and how to get
//! what it asked for (`persistence test-server stop`).
//!
//! A native server is started with `PERSISTENCE_TEST_IDLE_GRACE=never` in a private state
//! directory; later runs with `PERSISTENCE_TEST_BACKEND=docker` or another `PERSISTENCE_PG_BIN`
//! join it; it is stopped at the end.

use persistence::ephemeral::native::PgBinaries;
use persistence::ephemeral::state_dir::StateDir;
use persistence::ephemeral::{Settings, control, server_with};

use crate::common::scenario::{self, child, scenario_is, test_path};
use crate::common::tempdir::temp_dir;

/// A scenario that gets the server of its state directory twice, as two parts of one process
/// that ask for it would.
#[test]
fn joins_the_server() {
    if scenario_is("join") {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            persistence::ephemeral::server().await.expect("a server");
            let settings = Settings::from_env().expect("settings");
            server_with(settings).await.expect("the server again");
        });
    }
}

const LINE: &str = "not applied: this process joined the native server already running";

fn join(state: &std::path::Path, vars: &[(&str, &str)]) -> String {
    let mut command = child(&test_path(module_path!(), "joins_the_server"), "join");
    command
        .env("PERSISTENCE_STATE_DIR", state)
        .env("PERSISTENCE_TEST_IDLE_GRACE", "never")
        .env_remove("PERSISTENCE_PG_BIN")
        .env_remove("PERSISTENCE_TEST_IMAGE");
    for (name, value) in vars {
        command.env(name, value);
    }
    let (output, text) = scenario::run(command);
    assert!(output.status.success(), "{text}");
    text
}

#[test]
fn joining_a_server_of_other_settings_says_so_once() {
    if let Err(err) = PgBinaries::find(None) {
        eprintln!("skipped: no native PostgreSQL here ({err})");
        return;
    }
    let scratch = temp_dir("mismatch");
    let state = scratch.path();
    let started = join(state, &[("PERSISTENCE_TEST_BACKEND", "native")]);
    assert!(
        !started.contains(LINE),
        "the starter asked for it: {started}"
    );
    let running = StateDir::new(state).live_server().expect("a native server");

    let same = join(state, &[("PERSISTENCE_TEST_BACKEND", "native")]);
    assert!(!same.contains(LINE), "same settings, no line: {same}");

    let docker = join(state, &[("PERSISTENCE_TEST_BACKEND", "docker")]);
    let lines: Vec<&str> = docker.lines().filter(|l| l.contains(LINE)).collect();
    assert_eq!(lines.len(), 1, "one line per process: {docker}");
    let expected = format!(
        "persistence: PERSISTENCE_TEST_BACKEND=docker {LINE} (PostgreSQL {}, binaries in ",
        running.version
    );
    assert!(lines[0].starts_with(&expected), "{}", lines[0]);
    assert!(
        lines[0].ends_with(&format!(
            "stop it with `persistence test-server stop {}` (it has \
             PERSISTENCE_TEST_IDLE_GRACE=never: it stays until stopped), then run again",
            running.instance_id
        )),
        "{}",
        lines[0]
    );

    let bins = join(
        state,
        &[
            ("PERSISTENCE_TEST_BACKEND", "native"),
            ("PERSISTENCE_PG_BIN", "/nonexistent"),
        ],
    );
    assert!(
        bins.lines()
            .any(|l| l.starts_with("persistence: PERSISTENCE_PG_BIN=/nonexistent not applied")),
        "{bins}"
    );

    control::stop(state, &running).expect("stop the server");
}
