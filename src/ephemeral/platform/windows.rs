//! Windows: the supervisor and the docker and external backends; no native backend.

use std::os::windows::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use super::{InstallRoot, RunAs, Watcher, with_process};

/// No unix sockets are used on Windows.
pub(super) const MAX_SOCKET_PATH: Option<usize> = None;

/// `CreateProcess` flags: no console of its own, a process group of its own (so Ctrl-C in
/// the test's console does not reach it), and out of the test runner's job object, which
/// would otherwise end it with the test.
const DETACHED_PROCESS: u32 = 0x0000_0008;
const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
const CREATE_BREAKAWAY_FROM_JOB: u32 = 0x0100_0000;

/// Windows has no immediate-shutdown signal; only the native backend, which does not run
/// here, asks for one.
pub(super) fn stop_now(pid: u32) {
    kill(pid);
}

pub(super) fn kill(pid: u32) {
    let _ = with_process(pid, sysinfo::Process::kill);
}

pub(super) fn spawn_detached(command: &mut Command) -> std::io::Result<Child> {
    let detached = DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP;
    command.creation_flags(detached | CREATE_BREAKAWAY_FROM_JOB);
    match command.spawn() {
        // A job that does not allow breaking away refuses the flag: stay in it.
        Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
            command.creation_flags(detached);
            command.spawn()
        }
        other => other,
    }
}

/// A detached process has no console; the supervisor's pipes close with the spawner's ends.
pub(super) fn detach_stdio() {}

pub(super) fn unprivileged_user() -> Option<RunAs> {
    None
}

pub(super) fn command_as(program: PathBuf, _run_as: Option<RunAs>) -> Command {
    Command::new(program)
}

pub(super) fn hand_over(_path: &Path, _run_as: Option<RunAs>) -> std::io::Result<()> {
    Ok(())
}

pub(super) fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir(dir)
}

pub(super) fn postgres_home(_dir: &Path, _user: RunAs) -> std::io::Result<()> {
    Ok(())
}

pub(super) fn free_bytes(_path: &Path) -> Option<u64> {
    None
}

/// The temporary directory is the user's own on Windows: no owner to check.
pub(super) fn owner_only_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

pub(super) fn user_tag() -> String {
    std::env::var("USERNAME").unwrap_or_else(|_| "user".to_owned())
}

// Used by the docker backend only (feature `docker`).
#[cfg_attr(not(feature = "docker"), allow(dead_code))]
pub(super) fn hostname() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_default()
}

pub(super) fn ram_dir() -> Option<PathBuf> {
    None
}

pub(super) fn native_unavailable() -> Option<&'static str> {
    Some("not available on Windows")
}

pub(super) fn install_roots() -> Vec<InstallRoot> {
    Vec::new()
}

pub(super) fn prepare_parent_death(_command: &mut Command) {}

pub(super) fn arm_parent_death(_pid: u32) -> std::io::Result<Option<Watcher>> {
    Ok(None)
}
