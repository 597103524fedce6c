//! A state directory's server seen and stopped from outside its run, for
//! `persistence test-server status|stop`.
//!
//! Stopping goes through the server's supervisor (it owns the postmaster or the container and
//! knows how to remove them): the command leaves a stop request among the server's files, the
//! supervisor sees it within a poll, takes the server out of service, stops it, deletes its
//! data and its files, and exits. The command waits for that and then checks that nothing is
//! left.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::platform::{self, process_alive};
use super::state_dir::{INSTANCE_DATA_DIR, ServerState, StateDir};
use super::{EphemeralError, kept};

/// How long [`stop`] waits for the supervisor (removing a container takes a few seconds).
const STOP_WAIT: Duration = Duration::from_secs(60);

/// A running server, as `test-server status` shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunningServer {
    /// The state directory it was found in.
    pub state_dir: PathBuf,
    /// What its supervisor recorded.
    pub state: ServerState,
    /// Processes using it now.
    pub users: Vec<u32>,
    /// The kept databases on it, or why the server could not be asked (then the recorded
    /// ones are listed by the caller, from [`StateDir::kept_databases`]).
    pub kept: Result<Vec<String>, String>,
}

/// The server running for `state_dir`, if any (one whose supervisor has died is not).
pub async fn running(state_dir: &Path) -> Option<RunningServer> {
    let dir = StateDir::new(state_dir);
    let state = dir.live_server()?;
    let kept = kept::existing(&dir, &state)
        .await
        .map_err(|e| crate::postgres::redact_passwords(&e.to_string()).into_owned());
    Some(RunningServer {
        state_dir: state_dir.to_path_buf(),
        users: dir.users(&state.instance_id),
        kept,
        state,
    })
}

/// Stops the server `state` of `state_dir` and waits until it and everything of it (process,
/// data directory, container, state files) is gone; processes still using it lose it.
pub fn stop(state_dir: &Path, state: &ServerState) -> Result<(), EphemeralError> {
    let dir = StateDir::new(state_dir);
    let instance = &state.instance_id;
    let failed = |detail: String| EphemeralError::Stop {
        instance: instance.clone(),
        detail,
    };
    dir.request_stop(instance)?;
    let deadline = Instant::now() + STOP_WAIT;
    while process_alive(state.supervisor_pid) {
        if Instant::now() >= deadline {
            return Err(failed(format!(
                "its supervisor (pid {}) did not stop it within {} s; end that process, and \
                 the next test run removes what is left",
                state.supervisor_pid,
                STOP_WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The supervisor removes all of it before it exits; if it was killed half-way, say what
    // is left instead of claiming success.
    let mut left = Vec::new();
    // Only if that pid is still the server's postmaster: a pid of a dead server may be any
    // process's by now.
    let instance_dir = state.process.instance_dir();
    if let Some(pid) = state.process.postmaster_pid().filter(|pid| {
        instance_dir
            .is_some_and(|dir| platform::is_postmaster_of(*pid, &dir.join(INSTANCE_DATA_DIR)))
    }) {
        platform::stop_now(pid);
        left.push(format!("postmaster pid {pid} (sent a fast shutdown)"));
    }
    for path in [
        instance_dir.map(Path::to_path_buf),
        Some(dir.server_files(instance)),
    ]
    .into_iter()
    .flatten()
    .filter(|path| path.exists())
    {
        left.push(path.display().to_string());
    }
    if dir.server().is_some_and(|s| s.instance_id == *instance) {
        left.push(
            dir.path()
                .join(super::state_dir::SERVER_FILE)
                .display()
                .to_string(),
        );
    }
    if left.is_empty() {
        Ok(())
    } else {
        Err(failed(format!(
            "its supervisor exited but left {}; the next test run removes them",
            left.join(", ")
        )))
    }
}
