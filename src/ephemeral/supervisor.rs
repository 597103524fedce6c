//! The detached process that owns a started server and removes it when nobody uses it.
//!
//! The first test process to need a server spawns a copy of its own executable with
//! [`SUPERVISOR_ENV`] set; that copy runs [`run_if_requested`] before `main` (the harness
//! registers it with `ctor`; the CLI calls it first thing), so no extra binary has to be
//! installed. The supervisor starts `postgres` as its own child, reports the server on its
//! stdout, closes its stdio (so nextest sees no leaked handle), and then polls the users lock:
//! every test process holds it shared for as long as it lives, and the kernel drops it when a
//! process dies, even by SIGKILL. Once the lock has been free for the idle grace, the
//! supervisor stops the server and deletes its data, kept databases included (unless
//! `persistence test-server keep` asked it to stay); `persistence test-server stop` stops it at
//! any time. If the supervisor itself is killed,
//! postgres gets SIGQUIT from the kernel (parent-death signal) and the next run sweeps the
//! data directory.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::platform;
use super::process::{Launch, Running};
use super::state_dir::{START_LOCK, ServerState, StateDir, USERS_LOCK};
use super::{EphemeralError, Secret};

/// The environment variable that turns an executable into a supervisor.
pub const SUPERVISOR_ENV: &str = "PERSISTENCE_SUPERVISOR";

/// How often the supervisor looks at the users lock.
const POLL: Duration = Duration::from_millis(100);

/// What the supervisor is asked to do, passed as JSON in [`SUPERVISOR_ENV`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Request {
    pub(crate) state_dir: PathBuf,
    pub(crate) server: Launch,
    /// `None`: keep the server until the supervisor is killed.
    pub(crate) idle_grace_ms: Option<u64>,
}

/// The one line the supervisor prints on its stdout.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Report {
    Ready(Box<ServerState>),
    Failed(String),
}

/// Work a supervisor does on a thread of its own while its server runs. The harness makes
/// clones that tests left used clean again there, off the tests' critical path; this module
/// knows nothing of clones (the layers point one way), so the harness hands it in.
pub(crate) type SideJob = fn(SideJobContext);

/// What a [`SideJob`] gets: the server, and a flag raised when it must return (the
/// supervisor is about to stop the server).
// Only the harness (feature `testing`) runs a side job; the CLI's supervisor has none.
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) struct SideJobContext {
    pub(crate) state_dir: PathBuf,
    pub(crate) server: ServerState,
    pub(crate) stop: Arc<AtomicBool>,
    /// Sent (or dropped) once what test processes look for when they join is in place (the
    /// relay's socket): the server is reported ready only then, so that the process that
    /// started it finds the same server as every later one.
    pub(crate) in_place: std::sync::mpsc::SyncSender<()>,
}

/// How long the supervisor waits for its side job to be in place before it reports the
/// server ready anyway.
const SIDE_JOB_SETUP: Duration = Duration::from_secs(2);

/// Runs the supervisor and exits if this process was spawned as one; returns at once
/// otherwise. Call it first thing in `main` of a binary that starts servers.
pub fn run_if_requested() {
    run_with(None);
}

/// [`run_if_requested`], with `side_job` running beside the watch.
pub(crate) fn run_with(side_job: Option<SideJob>) {
    let Some(request) = std::env::var_os(SUPERVISOR_ENV) else {
        return;
    };
    let code = match serde_json::from_str::<Request>(&request.to_string_lossy()) {
        Ok(request) => supervise(&request, side_job),
        Err(err) => {
            report(&Report::Failed(format!("bad supervisor request: {err}")));
            2
        }
    };
    std::process::exit(code);
}

fn supervise(request: &Request, side_job: Option<SideJob>) -> i32 {
    let (mut running, state) = match start(request) {
        Ok(parts) => parts,
        Err(err) => {
            // The starting process wraps this in `EphemeralError::Start`: one prefix, not two.
            let detail = match err {
                EphemeralError::Start { detail } => detail,
                other => other.to_string(),
            };
            report(&Report::Failed(detail));
            return 1;
        }
    };
    StateDir::new(&request.state_dir).record_start(&state);
    let stop = Arc::new(AtomicBool::new(false));
    let (in_place, placed) = std::sync::mpsc::sync_channel(1);
    let side = side_job.map(|job| {
        let context = SideJobContext {
            state_dir: request.state_dir.clone(),
            server: state.clone(),
            stop: stop.clone(),
            in_place,
        };
        std::thread::spawn(move || job(context))
    });
    // Without a side job the sender is gone already, and this returns at once.
    let _ = placed.recv_timeout(SIDE_JOB_SETUP);
    report(&Report::Ready(Box::new(state.clone())));
    platform::detach_stdio();
    watch(request, &mut running, &state);
    // Its connections end before the server does.
    stop.store(true, Ordering::Relaxed);
    if let Some(side) = side {
        let _ = side.join();
    }
    running.stop();
    state.remove_if_current(&request.state_dir);
    let _ =
        std::fs::remove_dir_all(StateDir::new(&request.state_dir).server_files(&state.instance_id));
    0
}

/// Starts the server with a new password, which it writes to the server's files (mode
/// 0600) before anyone is told of the server.
fn start(request: &Request) -> Result<(Running, ServerState), EphemeralError> {
    let secret = Secret::generate();
    let (mut running, mut state) = Running::start(
        &request.server,
        &request.state_dir,
        request.idle_grace_ms,
        &secret,
    )?;
    let files = StateDir::new(&request.state_dir).files_of(&state.instance_id);
    let written = files
        .create()
        .map_err(|e| EphemeralError::io("create", files.dir(), e))
        .and_then(|()| secret.write(&files.secret()));
    if let Err(err) = written {
        running.stop();
        return Err(err);
    }
    state.secret = Some(secret);
    Ok((running, state))
}

/// Returns when the server should go: it died, `persistence test-server stop` asked, or
/// nobody has used it for the idle grace (and `persistence test-server keep` did not ask to
/// keep it).
/// On return for idleness the caller holds no lock, but the state file is already gone, so
/// a process that arrives now starts a new server instead of joining this one.
fn watch(request: &Request, running: &mut Running, state: &ServerState) {
    let state_dir = StateDir::new(&request.state_dir);
    let Ok(users) = state_dir.lock_file(USERS_LOCK) else {
        return;
    };
    let files = state_dir.files_of(&state.instance_id);
    let mut idle_since: Option<Instant> = None;
    loop {
        if running.has_exited() {
            return;
        }
        if state_dir.stop_requested(&state.instance_id) {
            withdraw(&request.state_dir, state);
            return;
        }
        let idle = users.try_lock().is_ok();
        if idle {
            let _ = users.unlock();
        }
        idle_since = if idle {
            idle_since.or(Some(Instant::now()))
        } else {
            None
        };
        let grace = request.idle_grace_ms.map(Duration::from_millis);
        if let (Some(since), Some(grace)) = (idle_since, grace)
            && since.elapsed() >= grace
            && !files.keep_requested()
            && retire(&request.state_dir, &users, state)
        {
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// Takes the server out of service at once (asked by `test-server stop`): processes that
/// still use it lose it, and a process that arrives now starts a new one.
fn withdraw(state_dir: &Path, state: &ServerState) {
    let start = StateDir::new(state_dir).lock_file(START_LOCK).ok();
    let locked = start.as_ref().is_some_and(|start| start.lock().is_ok());
    state.remove_if_current(state_dir);
    if let (true, Some(start)) = (locked, start) {
        let _ = start.unlock();
    }
}

/// Takes the server out of service if it is still unused: with both locks held, nobody is
/// using it and nobody is starting or joining, so removing the state file is safe.
fn retire(state_dir: &Path, users: &File, state: &ServerState) -> bool {
    // If the state directory was deleted (`cargo clean`, a test's temporary one), nobody
    // can find the server any more: there is no start lock to take, and no reason to stay.
    let start = StateDir::new(state_dir).lock_file(START_LOCK).ok();
    if start.as_ref().is_some_and(|start| start.lock().is_err()) {
        return false;
    }
    let retired = users.try_lock().is_ok();
    if retired {
        state.remove_if_current(state_dir);
        let _ = users.unlock();
    }
    if let Some(start) = start {
        let _ = start.unlock();
    }
    retired
}

fn report(report: &Report) {
    if let Ok(line) = serde_json::to_string(report) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
}
