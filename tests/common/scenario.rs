//! Runs one test of the current test binary in a child process, for tests that must watch a
//! test fail, crash or run with other environment variables.

use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The variable that makes a scenario test (a test that does nothing on its own) act.
pub const SCENARIO: &str = "PERSISTENCE_SCENARIO";

/// Whether this process was started to act out `name`.
pub fn scenario_is(name: &str) -> bool {
    std::env::var(SCENARIO).is_ok_and(|v| v == name)
}

/// The name libtest gives the test `name` of the module `module` (pass `module_path!()`):
/// the module's path without its first part, the test binary's crate.
pub fn test_path(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_, path)) => format!("{path}::{name}"),
        None => name.to_owned(),
    }
}

/// A command running exactly `test` (its full name, see [`test_path`]) of this binary with
/// `SCENARIO=scenario`.
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

/// Waits up to `limit` for `child` to exit; kills and reaps it if it does not.
pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
