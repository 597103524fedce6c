//! Under `cargo nextest run`, which runs every test in a process of its own, the whole run
//! shares one PostgreSQL server (native) or one container (docker), gone after the run; and
//! the native backend runs the harness suite with its data under the state directory, as on
//! macOS, which has no `/dev/shm`.

use std::time::{Duration, Instant};

use persistence::ephemeral::state_dir::{StartRecord, StateDir};

use crate::common::cargo::nested_nextest;
use crate::common::docker::{harness_containers, local_image};
use crate::common::scenario::run;
use crate::common::tempdir::{TempDir, temp_dir};

/// Runs part of the suite under nextest with `backend` (and `env`) in a private state
/// directory and returns what `starts.log` records: one entry per server started.
fn nextest_run(backend: &str, env: &[(&str, &str)]) -> (Vec<StartRecord>, TempDir) {
    let state_dir = temp_dir(&format!("nextest-{backend}"));
    let mut command = nested_nextest(
        "binary_id(persistence-pg::harness) & test(/^(transaction_rollback|database_isolation|fixtures_and_migrations|rstest_cases)::/)",
    );
    command
        .env("PERSISTENCE_STATE_DIR", state_dir.path())
        .env("PERSISTENCE_TEST_BACKEND", backend)
        .env("PERSISTENCE_TEST_IDLE_GRACE", "1");
    for (name, value) in env {
        command.env(name, value);
    }
    let (output, text) = run(command);
    assert!(output.status.success(), "nextest run failed:\n{text}");
    let passed: usize = text
        .lines()
        .filter_map(|l| {
            l.split_once(" tests run: ")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .next()
        .unwrap_or(0);
    assert!(
        passed >= 20,
        "expected the run to have at least 20 tests:\n{text}"
    );
    (StateDir::new(state_dir.path()).starts(), state_dir)
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn one_native_server_for_a_whole_nextest_run() {
    let (starts, state_dir) = nextest_run("native", &[]);
    assert_eq!(
        starts.len(),
        1,
        "servers started by one nextest run: {starts:?}"
    );
    // After the run, once the idle grace has passed, the server and its data are gone.
    let instance_dir = starts[0].instance_dir().expect("instance dir").to_owned();
    wait_until("the server's data to go", || !instance_dir.exists());
    assert_eq!(StateDir::new(state_dir.path()).server(), None);
}

#[test]
fn one_container_for_a_whole_nextest_run() {
    let Some(image) = local_image() else {
        eprintln!(
            "no Docker daemon or image here (ci/build-postgres-image.sh builds one): not exercised"
        );
        return;
    };
    let (starts, _state_dir) = nextest_run("docker", &[("PERSISTENCE_TEST_IMAGE", &image)]);
    assert_eq!(
        starts.len(),
        1,
        "containers started by one nextest run: {starts:?}"
    );
    let container = starts[0].container().expect("a container").to_owned();
    wait_until("the container to be removed", || {
        !harness_containers().contains(&container)
    });
}

#[test]
fn without_a_ram_dir_the_native_data_lives_under_the_state_dir() {
    // `none` is what macOS gets by default: it has no /dev/shm.
    let (starts, state_dir) = nextest_run("native", &[("PERSISTENCE_TEST_RAM_DIR", "none")]);
    assert_eq!(
        starts.len(),
        1,
        "servers started by one nextest run: {starts:?}"
    );
    let instance_dir = starts[0].instance_dir().expect("instance dir").to_owned();
    // As root, PostgreSQL runs as its own user, whose files live in a directory of its own
    // in the temporary directory: the state directory's folders are not opened to it.
    #[cfg(unix)]
    let root = crate::common::other_user::is_root();
    #[cfg(not(unix))]
    let root = false;
    let expected = if root {
        std::env::temp_dir().join("persistence.postgres")
    } else {
        StateDir::new(state_dir.path()).instances_dir()
    };
    assert!(
        instance_dir.starts_with(&expected),
        "the data of {} is not under {}",
        instance_dir.display(),
        expected.display()
    );
    wait_until("the server's data to go", || !instance_dir.exists());
}
