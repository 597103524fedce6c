//! `persistence test-server status|stop`: the servers the test harness (and `dev`) started
//! for a target directory, with their kept databases; and stopping them.
//!
//! The harness keeps its state under `<target dir>/persistence` (`PERSISTENCE_STATE_DIR`), and
//! `dev` under its `dev/`. A test binary finds the target directory from its own path; this
//! command runs from elsewhere (`cargo install`), so it looks where cargo builds: `--target-dir`,
//! else `CARGO_TARGET_DIR`, else the `target/` of the crate or workspace the current directory
//! is in.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use persistence::ephemeral::control::{self, RunningServer};
use persistence::ephemeral::state_dir::StateDir;
use persistence::ephemeral::{BackendKind, Settings};

use crate::error::CliError;

/// What to do with the harness's servers.
#[derive(Debug, Subcommand)]
pub(crate) enum TestServerCommand {
    /// List the running test servers (and `dev` servers): backend, URL, processes using them,
    /// idle grace, and kept databases with their URLs.
    Status(Locate),
    /// Stop the test server now (with --all, also `dev`'s), removing its data and kept
    /// databases; tests still using it fail.
    Stop {
        #[command(flatten)]
        locate: Locate,
        /// Stop every server listed by `status`, `dev`'s too.
        #[arg(long, conflicts_with = "instance")]
        all: bool,
        /// Stop only the server with this instance id (as `status` shows it).
        instance: Option<String>,
    },
}

/// Where the servers are recorded.
#[derive(Debug, Args)]
pub(crate) struct Locate {
    /// cargo's target directory the tests were built in [default: CARGO_TARGET_DIR, else the
    /// target/ of the crate or workspace of the current directory]; PERSISTENCE_STATE_DIR, if
    /// set, names the harness's state directory itself.
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
}

pub(crate) async fn run(command: TestServerCommand) -> Result<ExitCode, CliError> {
    match command {
        TestServerCommand::Status(locate) => {
            let dirs = locate.state_dirs()?;
            let servers = running(&dirs).await;
            if servers.is_empty() {
                say!("no test server runs (looked in {})", dirs[0].display());
            }
            for (i, server) in servers.iter().enumerate() {
                if i > 0 {
                    say!("");
                }
                show(server, &dirs);
            }
            Ok(ExitCode::SUCCESS)
        }
        TestServerCommand::Stop {
            locate,
            all,
            instance,
        } => {
            let dirs = locate.state_dirs()?;
            let wanted: Vec<RunningServer> = running(&dirs)
                .await
                .into_iter()
                .filter(|s| match &instance {
                    Some(id) => s.state.instance_id == *id,
                    None => all || s.state_dir == dirs[0],
                })
                .collect();
            if wanted.is_empty() {
                return match instance {
                    Some(id) => Err(CliError::Refused(format!(
                        "no running test server has the instance id `{id}` (looked in {}); \
                         `persistence test-server status` lists them",
                        dirs[0].display()
                    ))),
                    None => {
                        say!("no test server runs (looked in {})", dirs[0].display());
                        Ok(ExitCode::SUCCESS)
                    }
                };
            }
            for server in wanted {
                stop(server, &dirs).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

impl Locate {
    /// The harness's state directory, then `dev`'s.
    fn state_dirs(&self) -> Result<Vec<PathBuf>, CliError> {
        let cwd = std::env::current_dir()
            .map_err(|e| CliError::Io("reading the current directory".to_owned(), e))?;
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let harness = match (&self.target_dir, var("PERSISTENCE_STATE_DIR")) {
            (Some(target), _) => cwd.join(target).join("persistence"),
            (None, Some(state)) => cwd.join(state),
            (None, None) => match var("CARGO_TARGET_DIR") {
                Some(target) => cwd.join(target).join("persistence"),
                None => match target_dir_above(&cwd) {
                    Some(target) => target.join("persistence"),
                    // Where a test binary outside any target directory keeps its state.
                    None => {
                        Settings::from_env()
                            .map_err(CliError::TestServer)?
                            .state_dir
                    }
                },
            },
        };
        let dev = harness.join("dev");
        Ok(vec![harness, dev])
    }
}

/// The nearest `target/` that cargo made (it holds `CACHEDIR.TAG`) in `dir` or above it.
fn target_dir_above(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join("target"))
        .find(|target| target.join("CACHEDIR.TAG").is_file())
}

async fn running(dirs: &[PathBuf]) -> Vec<RunningServer> {
    let mut servers = Vec::new();
    for dir in dirs {
        servers.extend(control::running(dir).await);
    }
    servers
}

fn kind(server: &RunningServer, dirs: &[PathBuf]) -> &'static str {
    if server.state_dir == dirs[0] {
        "test server"
    } else {
        "dev server"
    }
}

fn show(server: &RunningServer, dirs: &[PathBuf]) {
    let state = &server.state;
    let from = match (state.backend, &state.image, &state.pg_bin) {
        (BackendKind::Docker, Some(image), _) => format!(", image {image}"),
        (_, _, Some(bin)) => format!(", binaries in {}", bin.display()),
        _ => String::new(),
    };
    say!(
        "{} {} ({}, PostgreSQL {}{from})",
        kind(server, dirs),
        state.instance_id,
        state.backend,
        state.version
    );
    say!("  url: {}", state.display_url("postgres"));
    say!("  state dir: {}", server.state_dir.display());
    let users = if server.users.is_empty() {
        "none".to_owned()
    } else {
        server
            .users
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    say!(
        "  supervisor pid: {}; used by pids: {users}",
        state.supervisor_pid
    );
    let grace = match state.idle_grace_ms {
        Some(ms) => format!(
            "{} s (stops once unused that long, unless a kept database exists)",
            ms as f64 / 1000.0
        ),
        None => "never (stays until `persistence test-server stop`)".to_owned(),
    };
    say!("  idle grace: {grace}");
    let kept = match &server.kept {
        Ok(kept) => kept.clone(),
        Err(why) => {
            say!("  (could not ask the server which kept databases exist: {why})");
            StateDir::new(&server.state_dir).kept_databases(&state.instance_id)
        }
    };
    if kept.is_empty() {
        say!("  kept databases: none");
    }
    for name in kept {
        say!("  kept database: {}", state.display_url(&name));
    }
}

async fn stop(server: RunningServer, dirs: &[PathBuf]) -> Result<(), CliError> {
    let what = format!(
        "{} {} ({} on 127.0.0.1:{})",
        kind(&server, dirs),
        server.state.instance_id,
        server.state.backend,
        server.state.port
    );
    let kept = server.kept.as_ref().map_or(0, Vec::len);
    let users = server.users.clone();
    let RunningServer {
        state_dir, state, ..
    } = server;
    tokio::task::spawn_blocking(move || control::stop(&state_dir, &state))
        .await
        .map_err(|e| CliError::Refused(format!("stopping {what} failed: {e}")))?
        .map_err(CliError::TestServer)?;
    let also = if users.is_empty() {
        String::new()
    } else {
        format!("; it was in use by pids {users:?}")
    };
    say!("stopped {what}: removed it with its data and {kept} kept database(s){also}");
    Ok(())
}
