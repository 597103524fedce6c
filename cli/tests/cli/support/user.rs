//! A user's world: fresh crates of their own outside this workspace, and the `persistence`
//! binary run there as from a shell (no variable of this test run that a user would not
//! have, and a temporary directory of its own, where the binary keeps its per-user records),
//! plus a `persistence dev` left serving in the background.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::cargo::without_cargo_test_env;
use super::cli::cli;

/// Writes a crate as `cargo new --lib NAME` would, with one migration of `sql` in
/// `migrations/<version>_<description>.sql`; returns its directory.
pub fn fresh_crate(
    parent: &Path,
    name: &str,
    version: &str,
    description: &str,
    sql: &str,
) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(dir.join("src")).expect("create the crate");
    std::fs::create_dir_all(dir.join("migrations")).expect("create migrations");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n"),
    )
    .expect("Cargo.toml");
    std::fs::write(dir.join("src/lib.rs"), "").expect("lib.rs");
    std::fs::write(
        dir.join("migrations")
            .join(format!("{version}_{description}.sql")),
        sql,
    )
    .expect("the migration");
    dir
}

/// `persistence ARGS` in `dir` as a user runs it: the harness's backend variables stay (the
/// server comes from where this run's does), but no state directory, target directory or
/// variable cargo sets for tests; `tmp` is its temporary directory.
pub fn user_cli(dir: &Path, tmp: &Path, args: &[&str]) -> Command {
    let mut command = cli(dir, args);
    without_cargo_test_env(&mut command);
    command
        .env_remove("PERSISTENCE_STATE_DIR")
        .env_remove("CARGO_TARGET_DIR")
        .env("TMPDIR", tmp)
        .env("TMP", tmp)
        .env("TEMP", tmp);
    command
}

/// A `persistence dev` serving in the background, ready.
pub struct Serving {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// What it printed up to `ready:`.
    pub printed: Vec<String>,
}

impl Serving {
    /// Spawns `command` (a `persistence dev` without `--once`) and waits (up to 60 s) for
    /// its `ready:` line.
    pub fn start(mut command: Command) -> Self {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn persistence dev");
        let (sender, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut printed = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !printed.iter().any(|l: &String| l.starts_with("ready:")) {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => printed.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("persistence dev never got ready: {}", printed.join("\n"));
                }
            }
        }
        Self {
            child,
            lines,
            printed,
        }
    }

    /// The `DATABASE_URL=` it printed.
    pub fn url(&self) -> String {
        self.printed
            .iter()
            .find_map(|l| l.strip_prefix("DATABASE_URL="))
            .unwrap_or_else(|| panic!("no DATABASE_URL: {}", self.printed.join("\n")))
            .to_owned()
    }

    /// Sends SIGTERM and waits (up to 60 s) for it to exit; its status and the rest of what
    /// it printed.
    #[cfg(unix)]
    pub fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        use super::cli::wait_with_timeout;

        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: signals our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(60))
            .expect("persistence dev exits on SIGTERM");
        // Its output threads end once the process's pipes close.
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            rest.push(line);
        }
        (status, rest)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        // A test that failed half-way: take the server down with it (SIGKILL would leave
        // it to its supervisor, which removes it too).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
