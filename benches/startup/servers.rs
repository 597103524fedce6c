//! The servers a run started, read through the state directory's API
//! (`persistence::ephemeral::state_dir`): waiting for each to go, and checking at the end
//! that nothing of them is left.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use persistence::ephemeral::platform::process_alive;
use persistence::ephemeral::state_dir::{HARNESS_LABEL, StartRecord, StateDir};

use crate::common::output_of;
use crate::scenarios::Backend;

/// How long a server may take to go after its last user.
const GONE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the servers of this run were, to check that they are gone.
#[derive(Default)]
pub struct Started {
    /// Supervisor pids.
    pub supervisors: Vec<u32>,
    /// Native instance directories.
    pub instance_dirs: Vec<PathBuf>,
    /// Containers of the docker servers.
    pub containers: Vec<String>,
    /// PostgreSQL version per backend.
    pub versions: std::collections::HashMap<Backend, String>,
    /// The directory of this run's private state directories, once made.
    pub scratch: Option<PathBuf>,
    /// `target/persistence-bench`, once known.
    pub out_dir: Option<PathBuf>,
}

/// The servers `starts.log` of the state directory `dir` records, each with its supervisor.
pub fn servers_started(dir: &Path) -> Result<Vec<(u32, StartRecord)>, String> {
    StateDir::new(dir)
        .starts()
        .into_iter()
        .map(|start| match start.supervisor_pid() {
            Some(supervisor) => Ok((supervisor, start)),
            None => Err(format!(
                "{}: no supervisor pid in the start of `{}`",
                dir.display(),
                start.instance_id
            )),
        })
        .collect()
}

/// Waits until the servers of `dir` have gone: no server recorded as running, supervisors
/// ended, native data removed, containers removed.
pub fn wait_gone(
    dir: &Path,
    servers: &[(u32, StartRecord)],
    started: &mut Started,
) -> Result<(), String> {
    for (supervisor, start) in servers {
        started.supervisors.push(*supervisor);
        if let Some(dir) = start.instance_dir() {
            started.instance_dirs.push(dir.to_path_buf());
        }
        if let Some(container) = start.container() {
            started.containers.push(container.to_owned());
        }
    }
    let state_dir = StateDir::new(dir);
    let deadline = Instant::now() + GONE_TIMEOUT;
    loop {
        let recorded = state_dir.server().is_some();
        let supervisors = servers.iter().any(|(pid, _)| process_alive(*pid));
        let data = servers
            .iter()
            .any(|(_, start)| start.instance_dir().is_some_and(Path::exists));
        let mut containers = false;
        for (_, start) in servers {
            if let Some(id) = start.container() {
                containers |= container_exists(id)?;
            }
        }
        if !(recorded || supervisors || data || containers) {
            for (supervisor, _) in servers {
                reap(*supervisor);
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the server of {} did not go within {GONE_TIMEOUT:?} (server recorded: \
                 {recorded}, supervisor: {supervisors}, data: {data}, containers: {containers})",
                dir.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the container `id` still exists, running or not.
fn container_exists(id: &str) -> Result<bool, String> {
    let filter = format!("id={id}");
    let out = output_of(Command::new("docker").args(["ps", "-aq", "--filter", &filter]))?;
    Ok(!out.trim().is_empty())
}

/// Ids of all the harness's containers, running or not.
fn harness_containers() -> Result<Vec<String>, String> {
    let filter = format!("label={HARNESS_LABEL}");
    let out = output_of(Command::new("docker").args(["ps", "-aq", "--filter", &filter]))?;
    Ok(out.split_whitespace().map(str::to_owned).collect())
}

/// Reaps `pid` if it is an ended child of this process (the supervisors of held servers are).
fn reap(pid: u32) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG on one pid; a pid that is not our child gives ECHILD.
        unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// Copies the `pristine-*` clusters of `source` into the new state directory `dir`, keeping
/// owners and modes.
pub fn copy_pristine(source: &Path, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let entries =
        std::fs::read_dir(source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    let mut copied = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let cluster = name.starts_with("pristine-") && !name.starts_with("pristine-building-");
        // Run as root, the cluster is in PostgreSQL's own directory in the state directory's
        // temporary one (`run_test`'s TMPDIR).
        let as_root = name == "tmp" && has_pristine(&entry.path());
        if cluster || as_root {
            output_of(Command::new("cp").arg("-a").arg(entry.path()).arg(dir))?;
            copied += 1;
        }
    }
    if copied == 0 {
        return Err(format!("no pristine cluster in {}", source.display()));
    }
    Ok(())
}

/// Whether a directory of `dir` (PostgreSQL's own directory in a temporary one) holds a
/// pristine cluster.
fn has_pristine(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|home| {
            std::fs::read_dir(home.path())
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.starts_with("pristine-") && !name.starts_with("pristine-building-")
                })
        })
}

pub fn remove_state_dir(dir: &Path) -> Result<(), String> {
    std::fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))
}

/// Checks that the servers of this run are gone; one line for the report.
pub fn leftovers(started: &Started) -> String {
    let mut problems = Vec::new();
    let supervisors: Vec<u32> = started
        .supervisors
        .iter()
        .copied()
        .filter(|&pid| process_alive(pid))
        .collect();
    if !supervisors.is_empty() {
        problems.push(format!("supervisors still running: {supervisors:?}"));
    }
    let dirs: Vec<String> = started
        .instance_dirs
        .iter()
        .filter(|d| d.exists())
        .map(|d| d.display().to_string())
        .collect();
    if !dirs.is_empty() {
        problems.push(format!("native data directories: {}", dirs.join(", ")));
    }
    let mut mine = 0;
    for id in &started.containers {
        match container_exists(id) {
            Ok(exists) => mine += usize::from(exists),
            Err(e) => problems.push(format!("cannot list containers: {e}")),
        }
    }
    if mine > 0 {
        problems.push(format!("{mine} containers of this run"));
    }
    if let Some(dir) = started.scratch.as_ref().filter(|d| d.exists()) {
        problems.push(format!("state directories under {}", dir.display()));
    }
    let all = harness_containers().map_or_else(|e| format!("? ({e})"), |ids| ids.len().to_string());
    let checked = format!(
        "{} servers started ({} native data dirs, {} containers); `docker ps -a --filter \
         label={HARNESS_LABEL}` now lists {all} containers",
        started.supervisors.len(),
        started.instance_dirs.len(),
        started.containers.len(),
    );
    if problems.is_empty() {
        format!(
            "nothing: every private state directory removed, every supervisor ended, no data \
             directory, no container of this run ({checked})."
        )
    } else {
        format!("{} ({checked}).", problems.join("; "))
    }
}
