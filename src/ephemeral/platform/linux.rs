//! Linux: tmpfs for data, the kernel's parent-death signal, Debian's install locations.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use super::{InstallRoot, Watcher};

/// `sun_path` is 108 bytes with its NUL.
pub(super) const MAX_SOCKET_PATH: Option<usize> = Some(107);

pub(super) fn ram_dir() -> Option<PathBuf> {
    let shm = PathBuf::from("/dev/shm");
    shm.is_dir().then_some(shm)
}

/// Whether `pid` runs, from the state letter of `/proc/<pid>/stat`: every test process asks
/// this twice when it joins a server, and one small read costs less than `sysinfo`'s (which
/// also reads `/proc/stat` and `/proc/uptime`). `None` when the file cannot be read.
pub(super) fn process_alive(pid: u32) -> Option<bool> {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S ...`: the command may hold spaces and parentheses, the state follows
        // the last `)`.
        Ok(stat) => Some(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| !matches!(state, "Z" | "X" | "x")),
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

pub(super) fn native_unavailable() -> Option<&'static str> {
    None
}

pub(super) fn install_roots() -> Vec<InstallRoot> {
    vec![InstallRoot {
        parent: PathBuf::from("/usr/lib/postgresql"),
        prefix: "",
    }]
}

pub(super) fn prepare_parent_death(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe. std runs pre_exec hooks after changing uid/gid,
    // which clears the parent-death signal, so setting it here keeps it: if the supervisor
    // dies, even by SIGKILL, the kernel tells postgres to shut down at once.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGQUIT)
                .map_err(std::io::Error::from)
        });
    }
}

pub(super) fn arm_parent_death(_pid: u32) -> std::io::Result<Option<Watcher>> {
    Ok(None)
}
