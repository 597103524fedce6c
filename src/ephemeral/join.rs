//! Join the server of a test run, or start it: one server for every process of the run.
//!
//! `cargo nextest run` runs each test in a process of its own and `cargo test` runs one
//! binary after another; all of them must use one server, started once. They meet through
//! two lock files in the state directory:
//!
//! - `users.lock`, held shared by every process that uses the server, for its whole life
//!   (the kernel releases it when the process ends, however it ends);
//! - `start.lock`, held exclusively while a server is started or retired.
//!
//! Joining a running server costs two `flock`s and reading a small JSON file. The process
//! that finds none starts a detached supervisor (`supervisor`) with what `choose` decided.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tokio::sync::OnceCell;

use super::process::Launch;
use super::server::Server;
use super::settings::{IdleGrace, Settings};
use super::state_dir::{START_LOCK, ServerState, StateDir, USERS_LOCK};
use super::supervisor::{Report, Request, SUPERVISOR_ENV};
use super::{EphemeralError, choose, mismatch, platform, sweep};

static SERVER: OnceCell<Server> = OnceCell::const_new();

/// The server of this test run: joined if another process started it, started otherwise.
/// Resolved once per process; later calls are free.
pub async fn server() -> Result<&'static Server, EphemeralError> {
    SERVER
        .get_or_try_init(|| async {
            let server = server_with(Settings::get()?.clone()).await?;
            if let Some(choice) = server.choice() {
                // libtest shows it with the output of the test that started the server.
                eprintln!("persistence: test server backend: {choice}");
            }
            Ok(server)
        })
        .await
}

/// A server chosen and found (or started) with explicit `settings`, for programs that are not
/// tests, such as the CLI's `dev` command. Unlike [`server`], nothing is cached: the caller
/// owns the returned handle, and the server goes once every handle's process has ended and
/// the idle grace has passed.
// Used by the persistence CLI, not a stable API (see the re-export in `ephemeral`).
#[doc(hidden)]
pub async fn server_with(settings: Settings) -> Result<Server, EphemeralError> {
    if choose::is_external(&settings) {
        return super::external::server(&settings).await;
    }
    // Joining a running server is a few file operations, done on this thread: a thread of
    // the blocking pool would cost a test process more than the join itself (its start, two
    // hand-overs between threads, and its join when the runtime ends). Starting a server
    // takes seconds, and waiting for a lock may too: those go to the blocking pool.
    if let Some(server) = joined(&settings)? {
        return Ok(server);
    }
    tokio::task::spawn_blocking(move || started(&settings))
        .await
        .map_err(|e| EphemeralError::Start {
            detail: format!("start task failed: {e}"),
        })?
}

/// Joins the server of this run if one runs and its users lock is free to share at once;
/// `None` otherwise (nothing is held then), for [`started`] to wait, or start one.
fn joined(settings: &Settings) -> Result<Option<Server>, EphemeralError> {
    let dir = &settings.state_dir;
    std::fs::create_dir_all(dir).map_err(|e| EphemeralError::io("create", dir, e))?;
    let users = StateDir::new(dir).lock_file(USERS_LOCK)?;
    match users.try_lock_shared() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(EphemeralError::io("lock", dir.join(USERS_LOCK), e));
        }
    }
    match StateDir::new(dir).live_server() {
        Some(state) => attach(settings, users, state, None).map(Some),
        None => Ok(None),
    }
}

/// Joins the server of this run, or starts one (native or docker) if there is none.
fn started(settings: &Settings) -> Result<Server, EphemeralError> {
    let dir = &settings.state_dir;
    std::fs::create_dir_all(dir).map_err(|e| EphemeralError::io("create", dir, e))?;
    let users = StateDir::new(dir).lock_file(USERS_LOCK)?;
    users
        .lock_shared()
        .map_err(|e| EphemeralError::io("lock", dir.join(USERS_LOCK), e))?;
    // Joining costs a lock and a small file: no binary or daemon is asked anything.
    let (state, choice) = match StateDir::new(dir).live_server() {
        Some(state) => (state, None),
        None => start_or_join(settings)?,
    };
    attach(settings, users, state, choice)
}

/// The server `state` describes, used by this process from now on: `users` is its users
/// lock, held shared; `choice` is why `auto` chose its backend, when this process started it.
fn attach(
    settings: &Settings,
    users: File,
    state: ServerState,
    choice: Option<String>,
) -> Result<Server, EphemeralError> {
    let dir = &settings.state_dir;
    StateDir::new(dir).record_user(&state.instance_id);
    if let Some(line) = mismatch::line(settings, &state) {
        mismatch::say_once(&line);
    }
    let mut server = Server::from_state(state, dir);
    // Files of servers that no longer run (a supervisor killed before it removed them) go:
    // one started server runs per state directory at a time.
    sweep::stale_server_files(dir, server.files().dir());
    server
        .files()
        .create()
        .map_err(|e| EphemeralError::io("create", server.files().dir(), e))?;
    server.users_lock = Some(users);
    server.choice = choice;
    Ok(server)
}

/// The running server, or one this process starts (then with `auto`'s choice, if it chose).
fn start_or_join(settings: &Settings) -> Result<(ServerState, Option<String>), EphemeralError> {
    let dir = &settings.state_dir;
    let start = StateDir::new(dir).lock_file(START_LOCK)?;
    start
        .lock()
        .map_err(|e| EphemeralError::io("lock", dir.join(START_LOCK), e))?;
    // Another process may have started it while we waited for the lock.
    if let Some(state) = StateDir::new(dir).live_server() {
        return Ok((state, None));
    }
    sweep::orphans(dir, settings.ram_dir.as_deref());
    let (launch, choice) = choose::launch(settings)?;
    let mut state = spawn_supervisor(settings, launch)?;
    // Not in the supervisor's report: it wrote it to its file, as for every joiner.
    state.load_secret(dir);
    state.write(dir)?;
    // So that `persistence test-server` finds it from anywhere. A test process knows its
    // package from cargo (`CARGO_MANIFEST_DIR`); a program that knows better records again.
    let project = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from);
    super::registry::record(dir, project.as_deref());
    Ok((state, choice))
    // `start` is unlocked when dropped.
}

/// Spawns the supervisor of a new server and waits for its one line: the server, ready.
fn spawn_supervisor(settings: &Settings, launch: Launch) -> Result<ServerState, EphemeralError> {
    let request = Request {
        state_dir: settings.state_dir.clone(),
        server: launch,
        idle_grace_ms: match settings.idle_grace {
            IdleGrace::After(grace) => Some(u64::try_from(grace.as_millis()).unwrap_or(u64::MAX)),
            IdleGrace::Never => None,
        },
    };
    let exe = std::env::current_exe()
        .map_err(|e| EphemeralError::io("locate", "current executable", e))?;
    let mut command = Command::new(&exe);
    command
        .env(
            SUPERVISOR_ENV,
            serde_json::to_string(&request).unwrap_or_default(),
        )
        // If the executable has no supervisor hook (not built with the harness), these
        // arguments make a libtest binary run no test and exit at once.
        .args(["--exact", "__persistence_supervisor__", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child =
        platform::spawn_detached(&mut command).map_err(|e| EphemeralError::io("run", &exe, e))?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    match serde_json::from_str::<Report>(line.trim()) {
        Ok(Report::Ready(state)) => Ok(*state),
        Ok(Report::Failed(detail)) => {
            let _ = child.wait();
            Err(EphemeralError::Start { detail })
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(EphemeralError::Start {
                detail: format!(
                    "{} did not run the supervisor: build the test with the `testing` feature of \
                     persistence, or call persistence::ephemeral::supervisor::run_if_requested() \
                     first in main",
                    exe.display()
                ),
            })
        }
    }
}
