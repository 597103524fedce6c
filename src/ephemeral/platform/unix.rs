//! What Linux and macOS share: signals, sessions, users and file systems through `nix`.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{RunAs, Watcher};

fn send(pid: u32, signal: Signal) {
    if let Ok(raw) = i32::try_from(pid)
        && raw > 0
    {
        let _ = nix::sys::signal::kill(Pid::from_raw(raw), signal);
    }
}

pub(super) fn stop_now(pid: u32) {
    send(pid, Signal::SIGQUIT);
}

pub(super) fn kill(pid: u32) {
    send(pid, Signal::SIGKILL);
}

pub(super) fn spawn_detached(command: &mut Command) -> std::io::Result<Child> {
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    command.spawn()
}

pub(super) fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
}

pub(super) fn unprivileged_user() -> Option<RunAs> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    ["postgres", "_postgres", "nobody"].iter().find_map(|name| {
        let user = nix::unistd::User::from_name(name).ok()??;
        Some(RunAs {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    })
}

pub(super) fn command_as(program: PathBuf, run_as: Option<RunAs>) -> Command {
    let mut command = Command::new(program);
    if let Some(user) = run_as {
        command.uid(user.uid).gid(user.gid);
        // initdb and postgres look at HOME/USER only for messages; keep root's out of them.
        command.env_remove("HOME").env("USER", "postgres");
    }
    command
}

pub(super) fn hand_over(path: &Path, run_as: Option<RunAs>) -> std::io::Result<()> {
    match run_as {
        Some(user) => std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)),
        None => Ok(()),
    }
}

pub(super) fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(dir)
}

pub(super) fn postgres_home(dir: &Path, user: RunAs) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid))?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let refuse = |why: String| {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{} {why}; remove it and run again", dir.display()),
        ))
    };
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return refuse("is not a directory".to_owned());
    }
    // In a directory all users share (/dev/shm, /tmp), someone else may have made it first.
    if meta.uid() != user.uid {
        return refuse(format!(
            "belongs to uid {}, not to PostgreSQL's user (uid {})",
            meta.uid(),
            user.uid
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

pub(super) fn free_bytes(path: &Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    // The field types differ between systems (u32 or u64).
    #[allow(clippy::useless_conversion, reason = "u64 on some systems only")]
    let (available, fragment) = (
        u64::from(stat.blocks_available()),
        u64::from(stat.fragment_size()),
    );
    Some(available.saturating_mul(fragment))
}

pub(super) fn owner_only_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let refuse = |why: String| {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{} {why}", dir.display()),
        ))
    };
    if meta.file_type().is_symlink() {
        return refuse("is a symbolic link, not a directory of this user's".to_owned());
    }
    if !meta.is_dir() {
        return refuse("is not a directory".to_owned());
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return refuse(format!(
            "belongs to uid {}, not to this user (uid {me})",
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & !0o077))?;
    }
    Ok(())
}

pub(super) fn user_tag() -> String {
    nix::unistd::geteuid().as_raw().to_string()
}

// Used by the docker backend only (feature `docker`).
#[cfg_attr(not(feature = "docker"), allow(dead_code))]
pub(super) fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|name| name.to_string_lossy().trim().to_owned())
        .unwrap_or_default()
}

/// Starts a watcher that sends `SIGQUIT` to `pid` once this process is gone: a shell that
/// reads its stdin, a pipe whose only writer is this process, until end of file. The kernel
/// closes the pipe when this process dies, however it dies.
#[cfg_attr(
    target_os = "linux",
    allow(
        dead_code,
        reason = "Linux has PR_SET_PDEATHSIG; tested here all the same"
    )
)]
pub(super) fn watch_parent_of(pid: u32) -> std::io::Result<Watcher> {
    let mut command = Command::new("/bin/sh");
    command
        .args([
            "-c",
            "while read -r _; do :; done; kill -QUIT \"$1\" 2>/dev/null",
            "persistence-watcher",
        ])
        .arg(pid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // The pipe's write end stays in this process (std opens it close-on-exec, so no other
    // child inherits it): holding it is what keeps the watcher waiting.
    command.spawn().map(Watcher)
}

/// Other Unix systems: no RAM directory, no parent-death signal, the usual locations.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub(super) mod generic {
    use std::path::PathBuf;
    use std::process::Command;

    use super::super::InstallRoot;

    pub(in super::super) const MAX_SOCKET_PATH: Option<usize> = Some(103);

    pub(in super::super) fn ram_dir() -> Option<PathBuf> {
        None
    }

    pub(in super::super) fn native_unavailable() -> Option<&'static str> {
        None
    }

    pub(in super::super) fn install_roots() -> Vec<InstallRoot> {
        Vec::new()
    }

    pub(in super::super) fn prepare_parent_death(_command: &mut Command) {}

    pub(in super::super) fn arm_parent_death(
        pid: u32,
    ) -> std::io::Result<Option<super::super::Watcher>> {
        super::watch_parent_of(pid).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn the_watcher_stops_its_process_when_the_pipe_closes() {
        let mut server = Command::new("sleep").arg("60").spawn().expect("sleep");
        let mut watcher = watch_parent_of(server.id()).expect("watcher");
        // Closing our end is what the kernel does when this process dies.
        drop(watcher.0.stdin.take());
        let status = server.wait().expect("wait");
        assert_eq!(status.signal(), Some(Signal::SIGQUIT as i32), "{status:?}");
        assert!(watcher.0.wait().expect("watcher exits").success());
    }

    #[test]
    fn a_dropped_watcher_leaves_its_process_alone() {
        let mut server = Command::new("sleep").arg("60").spawn().expect("sleep");
        let watcher = watch_parent_of(server.id()).expect("watcher");
        drop(watcher);
        assert!(
            matches!(server.try_wait(), Ok(None)),
            "the server still runs"
        );
        server.kill().expect("kill");
        server.wait().expect("reap");
    }
}
