//! Runs one test of the current test binary in a child process, for tests that must watch a
//! test fail, crash or run with other environment variables.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

/// The variable that makes a scenario test (a test that does nothing on its own) act.
pub const SCENARIO: &str = "PERSISTENCE_SCENARIO";

/// Whether this process was started to act out `name`.
pub fn scenario_is(name: &str) -> bool {
    std::env::var(SCENARIO).is_ok_and(|v| v == name)
}

/// A command running exactly `test` of this binary with `SCENARIO=scenario`.
pub fn child(test: &str, scenario: &str) -> Command {
    let exe = std::env::current_exe().expect("current test binary");
    let mut command = Command::new(exe);
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .env_remove("NEXTEST_EXECUTION_MODE")
        .stdin(Stdio::null());
    command
}

/// Runs the command and returns its output with stdout and stderr together.
pub fn run(mut command: Command) -> (Output, String) {
    let output = command.output().expect("run child test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

/// Spawns the command with piped stdout.
pub fn spawn(mut command: Command) -> Child {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child test")
}

/// A fresh directory for a child's harness state (lock files, server state), so that its
/// server is not this process's.
pub fn private_state_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "persistence-test-{tag}-{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).expect("state dir");
    dir
}

/// Whether a Docker daemon answers here.
pub fn docker_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ID}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The PostgreSQL image the docker tests use (`PERSISTENCE_TEST_IMAGE`, else the one
/// `ci/build-postgres-image.sh` builds), if a daemon answers and has it.
pub fn local_image() -> Option<String> {
    let image = std::env::var("PERSISTENCE_TEST_IMAGE")
        .unwrap_or_else(|_| "persistence/postgres:15-local".to_owned());
    let present = Command::new("docker")
        .args(["image", "inspect", &image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    present.then_some(image)
}

/// The harness's containers (by label), running or not.
pub fn harness_containers() -> Vec<String> {
    let output = Command::new("docker")
        .args([
            "ps",
            "-a",
            "-q",
            "--no-trunc",
            "--filter",
            "label=org.persistence.harness",
        ])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits (up to 30 s) until the server recorded in `state_dir` is gone.
pub fn wait_for_server_to_go(state_dir: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while state_dir.join("server.json").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server of {} did not stop",
            state_dir.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Removes the variables cargo sets for a test process from a nested `cargo` command. Left
/// in, `OUT_DIR` and `CARGO_MANIFEST_DIR` reach build scripts that watch them (ring's), so
/// every nested run rebuilds ring, rustls and all above them, and the next outer build
/// rebuilds them back.
#[allow(dead_code)]
pub fn without_cargo_test_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let set_for_tests = name.to_str().is_some_and(|name| {
            name == "OUT_DIR"
                || name == "CARGO_BIN_NAME"
                || name == "CARGO_CRATE_NAME"
                || name == "CARGO_PRIMARY_PACKAGE"
                || name == "CARGO_TARGET_TMPDIR"
                || name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || name.starts_with("CARGO_BIN_EXE_")
        });
        if set_for_tests {
            command.env_remove(name);
        }
    }
}

/// The URL a failed test's output gives for its kept database (`PERSISTENCE_TEST_KEEP=failed`).
pub fn kept_url(text: &str) -> String {
    text.lines()
        .find_map(|l| {
            l.split_once("kept the database of this failed test: ")?
                .1
                .split_whitespace()
                .next()
        })
        .unwrap_or_else(|| panic!("no URL printed: {text}"))
        .to_owned()
}
