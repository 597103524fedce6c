//! Every operating-system call of the throwaway servers, behind one small API.
//!
//! The rest of `ephemeral` is written once for every system; what differs between Linux,
//! macOS and Windows lives here, chosen with `cfg`:
//!
//! | concern | Linux | macOS | Windows |
//! |---|---|---|---|
//! | process liveness | `/proc/<pid>/stat` (a zombie is dead) | `sysinfo` (a zombie is dead) | `sysinfo` |
//! | stopping postgres at once | `SIGQUIT` | `SIGQUIT` | - (no native backend) |
//! | detaching the supervisor | `setsid` | `setsid` | a detached process of its own group |
//! | postgres dies with its supervisor | `PR_SET_PDEATHSIG` | a watcher on a pipe | - |
//! | running as `postgres` when root | `setuid`/`setgid` | `setuid`/`setgid` | - |
//! | RAM-backed data directory | `/dev/shm` | none (the state directory) | none |
//! | native backend | yes | yes | no |
//!
//! Nothing outside this module calls `libc`, uses `std::os::unix` or reads `/proc`.

use std::path::{Path, PathBuf};
use std::process::Command;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(target_os = "linux")]
use linux as os;
#[cfg(target_os = "macos")]
use macos as os;
#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
use unix::generic as os;
#[cfg(windows)]
use windows as os;

#[cfg(unix)]
use unix as family;
#[cfg(windows)]
use windows as family;

/// Whether a process with this pid is running. A zombie counts as dead: an orphan's zombie
/// stays until init reaps it (some container inits never do), and a child that has exited
/// stays one until its parent waits for it.
pub fn process_alive(pid: u32) -> bool {
    use sysinfo::ProcessStatus;
    if pid == 0 || i32::try_from(pid).is_err() {
        return false;
    }
    #[cfg(target_os = "linux")]
    if let Some(alive) = os::process_alive(pid) {
        return alive;
    }
    with_process(pid, |p| {
        !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead)
    })
    .unwrap_or(false)
}

/// Whether `pid` is a running postmaster of the data directory `data_dir` (its command line
/// names the directory). A pid read from the files of a server that died may belong to any
/// process since: the system hands pids out again (32768 of them by default on Linux, which
/// a test run goes through, each connection being a process), and a signal meant for the dead
/// server would end whichever process has it now, such as a backend of another server,
/// which takes that server's every session down with it.
pub(crate) fn is_postmaster_of(pid: u32, data_dir: &Path) -> bool {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
    if !process_alive(pid) {
        return false;
    }
    let sys_pid = Pid::from_u32(pid);
    let mut system = System::new();
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[sys_pid]),
        false,
        ProcessRefreshKind::nothing().with_cmd(UpdateKind::Always),
    );
    system
        .process(sys_pid)
        .is_some_and(|process| process.cmd().iter().any(|arg| Path::new(arg) == data_dir))
}

/// Runs `act` on the process `pid`, if there is one; only that process is read, not the
/// whole process table.
pub(super) fn with_process<T>(pid: u32, act: impl FnOnce(&sysinfo::Process) -> T) -> Option<T> {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let pid = Pid::from_u32(pid);
    let mut system = System::new();
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        false,
        ProcessRefreshKind::nothing(),
    );
    system.process(pid).map(act)
}

/// Asks `pid` to stop at once: for PostgreSQL, an immediate shutdown (`SIGQUIT`), nothing
/// being worth saving. A process that is already gone is ignored.
pub(crate) fn stop_now(pid: u32) {
    family::stop_now(pid);
}

/// Ends `pid` without asking (`SIGKILL`). A process that is already gone is ignored.
pub(crate) fn kill(pid: u32) {
    family::kill(pid);
}

/// Spawns `command` independent of this process: out of our session and process group
/// (out of the test runner's job object on Windows, where it allows that), so that Ctrl-C or
/// a test runner's cleanup of our group does not reach it.
pub(crate) fn spawn_detached(command: &mut Command) -> std::io::Result<std::process::Child> {
    family::spawn_detached(command)
}

/// Points this process's stdin, stdout and stderr at the null device, so that whoever
/// spawned it (and nextest, which watches for handles that outlive a test) sees them closed.
pub(crate) fn detach_stdio() {
    family::detach_stdio();
}

/// The user PostgreSQL runs as when we are root (it refuses to run as root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunAs {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// `None` when PostgreSQL can run as ourselves; else the `postgres` system user (`_postgres`
/// on macOS), or `nobody` where there is none.
pub(crate) fn unprivileged_user() -> Option<RunAs> {
    family::unprivileged_user()
}

/// A command for `program` that runs as `run_as` when there is one.
pub(crate) fn command_as(program: PathBuf, run_as: Option<RunAs>) -> Command {
    family::command_as(program, run_as)
}

/// Hands `path` (not recursively) to `run_as`, when there is one.
pub(crate) fn hand_over(path: &Path, run_as: Option<RunAs>) -> std::io::Result<()> {
    family::hand_over(path, run_as)
}

/// Makes the directory `dir` (not its parents), mode 0700 on Unix: only its owner enters.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    family::private_dir(dir)
}

/// The name of PostgreSQL's own directory under a shared parent (see [`postgres_home`]).
/// Not an instance's prefix (`persistence-`): sweeps of instances pass it by.
const POSTGRES_HOME: &str = "persistence.postgres";

/// Where PostgreSQL's files go under `parent` (the RAM directory, the system's temporary
/// one) when it runs as `run_as`; nothing is created.
pub(crate) fn postgres_home_path(parent: &Path) -> PathBuf {
    parent.join(POSTGRES_HOME)
}

/// Makes PostgreSQL's own directory under `parent` when we are root and it runs as `user`:
/// owned by that user, mode 0700, so that it reaches its files without any directory of the
/// user's being opened to others, and nobody else reaches them. An error when the directory
/// exists and belongs to someone else.
pub(crate) fn postgres_home(parent: &Path, user: RunAs) -> std::io::Result<PathBuf> {
    let dir = postgres_home_path(parent);
    family::postgres_home(&dir, user)?;
    Ok(dir)
}

/// Bytes free for an unprivileged user on the file system holding `path`.
pub(crate) fn free_bytes(path: &Path) -> Option<u64> {
    family::free_bytes(path)
}

/// Makes `dir` (and its parents) exist, `dir` itself a directory only this user can enter
/// (mode 0700 on Unix: a socket inside is reached by nobody else, which is its
/// authentication), and checks that it is one: an error when it is a symbolic link or
/// belongs to another user (who could read what we put there, in a directory all users
/// share such as `/tmp`).
pub(crate) fn owner_only_dir(dir: &Path) -> std::io::Result<()> {
    family::owner_only_dir(dir)
}

/// This user, as a name for a per-user directory in a place all users share: the uid on
/// Unix, the user name on Windows (whose temporary directory is per user already).
pub(crate) fn user_tag() -> String {
    family::user_tag()
}

/// This machine's name, to tell its containers from other hosts' on a shared daemon.
// Used by the docker backend only (feature `docker`).
#[cfg_attr(not(feature = "docker"), allow(dead_code))]
pub(crate) fn hostname() -> String {
    family::hostname()
}

/// A RAM-backed directory for servers' data (`/dev/shm` on Linux), where the system has one.
pub(crate) fn ram_dir() -> Option<PathBuf> {
    os::ram_dir()
}

/// Why the native backend cannot run here, or `None` when it can.
pub(crate) fn native_unavailable() -> Option<&'static str> {
    os::native_unavailable()
}

/// Whether a unix socket can be bound at `path` (`sun_path` holds 104 bytes on macOS, 108
/// on Linux, with the NUL); never on Windows, where PostgreSQL is reached over TCP.
pub(crate) fn socket_path_fits(path: &Path) -> bool {
    os::MAX_SOCKET_PATH.is_some_and(|max| path.as_os_str().len() <= max)
}

/// A directory whose subdirectories are PostgreSQL installations, one per version:
/// `<parent>/<prefix><major>/bin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstallRoot {
    pub(crate) parent: PathBuf,
    pub(crate) prefix: &'static str,
}

/// Where packages put PostgreSQL on this system (Debian's `/usr/lib/postgresql/<major>`,
/// Homebrew's `postgresql@<major>`, Postgres.app's versions), searched after
/// `PERSISTENCE_PG_BIN`, `pg_config` and `PATH`.
pub(crate) fn install_roots() -> Vec<InstallRoot> {
    os::install_roots()
}

/// What makes PostgreSQL go down with the supervisor that started it, even when the
/// supervisor is killed with `SIGKILL`: on Linux the kernel's parent-death signal, elsewhere
/// a small watcher process that stops postgres once the supervisor's end of a pipe closes.
/// [`ParentDeath::prepare`] is called on the command before it is spawned,
/// [`ParentDeath::arm`] with the spawned pid; dropping the result disarms the watcher.
pub(crate) struct ParentDeath;

impl ParentDeath {
    /// Prepares `command` (on Linux: `PR_SET_PDEATHSIG`, set after any change of user,
    /// which would clear it).
    pub(crate) fn prepare(command: &mut Command) {
        os::prepare_parent_death(command);
    }

    /// Starts watching `pid` on systems without a parent-death signal.
    pub(crate) fn arm(pid: u32) -> std::io::Result<Armed> {
        os::arm_parent_death(pid).map(Armed)
    }
}

/// A running parent-death watcher (or nothing, where the kernel does it). Drop it before
/// stopping the server: a stopped watcher cannot signal a pid that has been reused.
#[derive(Debug)]
pub(crate) struct Armed(#[allow(dead_code, reason = "held for its Drop")] Option<Watcher>);

/// The watcher process of a server, stopped when dropped.
#[derive(Debug)]
pub(crate) struct Watcher(std::process::Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_whether_a_pid_lives() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
        let mut child = Command::new(std::env::current_exe().expect("exe"))
            .arg("--list")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!process_alive(pid), "a reaped child is gone");
    }

    #[cfg(unix)]
    #[test]
    fn an_exited_child_not_yet_waited_for_is_dead() {
        let mut child = Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        // A zombie until waited for: wait for it to exit without reaping it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while process_alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!process_alive(pid), "a zombie counts as dead");
        child.wait().expect("reap");
    }

    #[test]
    fn an_owner_only_dir_is_made_and_checked() {
        let base =
            std::env::temp_dir().join(format!("persistence-owner-only-{}", std::process::id()));
        let dir = base.join("a").join("b");
        owner_only_dir(&dir).expect("made");
        owner_only_dir(&dir).expect("checked again");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
            // Whatever others were given is taken back.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
            owner_only_dir(&dir).expect("checked again");
            let mode = std::fs::metadata(&dir)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
            let link = base.join("link");
            std::os::unix::fs::symlink(&dir, &link).expect("symlink");
            let error = owner_only_dir(&link).expect_err("a symbolic link is refused");
            assert!(error.to_string().contains("symbolic link"), "{error}");
        }
        assert!(!user_tag().is_empty());
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn free_space_is_known_for_the_temp_dir() {
        if cfg!(unix) {
            assert!(free_bytes(&std::env::temp_dir()).is_some_and(|free| free > 0));
        }
        assert_eq!(free_bytes(Path::new("/nonexistent/persistence")), None);
    }
}
