//! Removal of what dead owners left behind: servers and their data directories.
//!
//! Runs under the start lock, before a new server is started. An instance directory is an
//! orphan when the process named in its owner file is gone (its supervisor was killed, or
//! the machine rebooted with data on disk); its postmaster, if still running, is stopped.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::native::{instances_roots, pristine_roots};
use super::platform::{self, process_alive};
use super::state_dir::{
    EXTERNAL_SERVER_PREFIX, INSTANCE_DATA_DIR, INSTANCE_PREFIX, OWNER_FILE,
    PRISTINE_BUILDING_PREFIX, SERVERS_DIR,
};

/// A directory without an owner file younger than this may be one being created right now.
const CREATION_WINDOW: Duration = Duration::from_secs(60);

pub(crate) fn orphans(state_dir: &Path, ram_dir: Option<&Path>) {
    super::process::sweep_orphan_containers();
    for root in instances_roots(state_dir, ram_dir) {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let is_instance = name
                .to_str()
                .is_some_and(|n| n.starts_with(INSTANCE_PREFIX));
            if is_instance && is_orphan(&entry.path()) {
                remove_instance(&entry.path());
            }
        }
    }
    // Half-built pristine clusters of crashed starts.
    for root in pristine_roots(state_dir) {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(PRISTINE_BUILDING_PREFIX))
                && pid.parse().is_ok_and(|pid| !process_alive(pid))
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn is_orphan(dir: &Path) -> bool {
    match std::fs::read_to_string(dir.join(OWNER_FILE)) {
        Ok(pid) => pid.trim().parse().is_ok_and(|pid: u32| !process_alive(pid)),
        Err(_) => std::fs::metadata(dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| SystemTime::now().duration_since(modified).ok())
            .is_some_and(|age| age > CREATION_WINDOW),
    }
}

fn remove_instance(dir: &Path) {
    let data_dir = dir.join(INSTANCE_DATA_DIR);
    // `postmaster.pid` starts with the pid, then the data directory as the server saw it.
    let postmaster = std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()
        .and_then(|text| {
            let mut lines = text.lines();
            let pid = lines.next()?.trim().parse::<u32>().ok()?;
            let recorded = lines.next().map(|line| PathBuf::from(line.trim()));
            Some((pid, recorded.unwrap_or_else(|| data_dir.clone())))
        });
    // Only if that pid is still this directory's postmaster: it may be any process by now.
    let postmaster = postmaster
        .filter(|(pid, data)| platform::is_postmaster_of(*pid, data))
        .map(|(pid, _)| pid);
    if let Some(pid) = postmaster {
        platform::stop_now(pid);
        for _ in 0..200 {
            if !process_alive(pid) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        platform::kill(pid);
    }
    tracing::info!(dir = %dir.display(), "persistence: removing an orphaned test server");
    let _ = std::fs::remove_dir_all(dir);
}

/// Removes the harness's files of started servers other than `current` (one started server
/// runs per state directory at a time: any other is gone, its supervisor killed before it
/// could remove them). External servers' files stay, as their clones do.
pub(crate) fn stale_server_files(state_dir: &Path, current: &Path) {
    let Ok(entries) = std::fs::read_dir(state_dir.join(SERVERS_DIR)) else {
        return;
    };
    for entry in entries.flatten() {
        let external = entry
            .file_name()
            .to_string_lossy()
            .starts_with(EXTERNAL_SERVER_PREFIX);
        if !external && entry.path() != current {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// An orphan's `postmaster.pid` whose pid now belongs to another process (here a
    /// `sleep`): the directory goes, the process stays.
    #[test]
    fn a_reused_pid_of_an_orphan_is_not_signalled() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join(format!("{INSTANCE_PREFIX}1-reused"));
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let mut stranger = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        std::fs::write(
            data.join("postmaster.pid"),
            format!("{}\n{}\n1700000000\n5432\n", stranger.id(), data.display()),
        )
        .expect("postmaster.pid");

        remove_instance(&dir);

        let still_running = stranger.try_wait().expect("try_wait").is_none();
        let _ = stranger.kill();
        let _ = stranger.wait();
        assert!(
            still_running,
            "the process that reused the pid was signalled"
        );
        assert!(!dir.exists(), "the orphan's directory is left");
    }
}
