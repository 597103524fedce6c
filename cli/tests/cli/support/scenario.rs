//! Runs one test of the current test binary in a child process, for tests that must watch a
//! test fail, crash or run with other environment variables.

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
