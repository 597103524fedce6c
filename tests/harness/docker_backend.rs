//! The docker backend leaves nothing behind: a container whose test process was killed goes
//! after the idle grace, and an orphaned labelled container is removed by the next start.

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::{Duration, Instant};

use persistence::db_test;
use persistence::ephemeral::state_dir::{
    HARNESS_LABEL, OWNER_HOST_LABEL, OWNER_PID_LABEL, StateDir,
};
use sqlx::PgPool;

use crate::common::docker::{harness_containers, local_image};
use crate::common::scenario::{self, child, scenario_is, test_path};
use crate::common::server::wait_for_server_to_go;
use crate::common::tempdir::temp_dir;

#[db_test]
async fn holds_a_database_until_killed(pool: PgPool) {
    if !scenario_is("hold") {
        return;
    }
    sqlx::query("SELECT 1").execute(&pool).await.expect("query");
    println!("HOLDING");
    tokio::time::sleep(Duration::from_secs(120)).await;
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn container_of(state_dir: &std::path::Path) -> String {
    StateDir::new(state_dir)
        .server()
        .and_then(|server| server.process.container_id().map(str::to_owned))
        .expect("server.json names a container")
}

#[test]
fn a_killed_test_leaves_no_container_after_the_grace() {
    let Some(image) = local_image() else {
        eprintln!(
            "no Docker daemon or image here (ci/build-postgres-image.sh builds one): not exercised"
        );
        return;
    };
    let scratch = temp_dir("docker-kill");
    let state_dir = scratch.path();
    let mut command = child(
        &test_path(module_path!(), "holds_a_database_until_killed"),
        "hold",
    );
    command
        .env("PERSISTENCE_STATE_DIR", state_dir)
        .env("PERSISTENCE_TEST_BACKEND", "docker")
        .env("PERSISTENCE_TEST_IMAGE", &image)
        .env("PERSISTENCE_TEST_IDLE_GRACE", "1");
    let mut victim = scenario::spawn(command);
    let stdout = victim.stdout.take().expect("stdout");
    let held = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("HOLDING"));
    assert!(held, "the child did not reach its test body");
    let container = container_of(state_dir);
    assert!(harness_containers().contains(&container));

    victim.kill().expect("SIGKILL");
    victim.wait().expect("reap");
    wait_until("the container to be removed", || {
        !harness_containers().contains(&container)
    });
}

#[test]
fn an_orphaned_container_is_removed_by_the_next_start() {
    let Some(image) = local_image() else {
        eprintln!(
            "no Docker daemon or image here (ci/build-postgres-image.sh builds one): not exercised"
        );
        return;
    };
    // A pid that surely is dead: a child that has exited and been reaped.
    let mut gone = Command::new("true").spawn().expect("true");
    let dead_pid = gone.id().to_string();
    gone.wait().expect("reap");
    let hostname = Command::new("hostname").output().expect("hostname").stdout;
    let hostname = String::from_utf8_lossy(&hostname);
    // Created but never started, as a crash between create and start would leave it.
    let created = Command::new("docker")
        .args(["create", "--label", &format!("{HARNESS_LABEL}=orphan-test")])
        .args(["--label", &format!("{OWNER_PID_LABEL}={dead_pid}")])
        .args([
            "--label",
            &format!("{OWNER_HOST_LABEL}={}", hostname.trim()),
        ])
        .arg(&image)
        .output()
        .expect("docker create");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let orphan = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(harness_containers().contains(&orphan));

    let scratch = temp_dir("docker-orphan");

    let state_dir = scratch.path();
    let mut command = child(
        &test_path(module_path!(), "holds_a_database_until_killed"),
        "none",
    );
    command
        .env("PERSISTENCE_STATE_DIR", state_dir)
        .env("PERSISTENCE_TEST_BACKEND", "docker")
        .env("PERSISTENCE_TEST_IMAGE", &image)
        .env("PERSISTENCE_TEST_IDLE_GRACE", "0");
    let (output, text) = scenario::run(command);
    assert!(output.status.success(), "{text}");
    assert!(
        !harness_containers().contains(&orphan),
        "the orphan survived a start"
    );
    wait_for_server_to_go(state_dir);
}
