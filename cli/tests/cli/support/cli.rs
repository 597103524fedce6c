//! The `persistence` binary, run as a user would, with one environment clean-up.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The `persistence` binary, run in an empty directory (no `.env`), without `DATABASE_URL`,
/// logging or `PERSISTENCE_*` overrides of the configuration (the harness's variables stay,
/// so `dev` chooses its backend as the tests do). That directory is also its temporary
/// directory: what it keeps there for a directory outside any crate (a server's state, the
/// per-user records of servers) goes with the test's directory, and no test sees another's.
pub fn cli(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_persistence"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in ["TMPDIR", "TMP", "TEMP"] {
        command.env(name, dir);
    }
    for (name, _) in std::env::vars() {
        let harness = name.starts_with("PERSISTENCE_TEST_")
            || matches!(
                name.as_str(),
                "PERSISTENCE_PG_BIN" | "PERSISTENCE_STATE_DIR" | "PERSISTENCE_SCENARIO"
            );
        if name.starts_with("PERSISTENCE_") && !harness {
            command.env_remove(name);
        }
    }
    command
}

/// stdout and stderr of a finished command, as text.
pub fn texts(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
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

/// Runs `command` with `stdin` written to its standard input, and waits for its output.
pub fn output_with_stdin(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("the binary finishes")
}
