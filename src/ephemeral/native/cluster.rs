use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::PgBinaries;
use crate::ephemeral::EphemeralError;
use crate::ephemeral::platform::{self, RunAs, free_bytes, hand_over};
use crate::ephemeral::state_dir::{
    INSTANCE_DATA_DIR, INSTANCE_LOG, INSTANCE_PREFIX, INSTANCE_SOCKET_DIR, OWNER_FILE,
    PRISTINE_BUILDING_PREFIX, StateDir,
};

/// Bumped whenever the tuning below (or initdb's arguments) changes, so cached pristine
/// clusters are rebuilt.
const TUNING_REVISION: u32 = 2;

/// Settings for a server whose data is thrown away: durability off, no background work that
/// tests would wait for, room for many test processes.
const TEST_TUNING: &str = "
# persistence: a throwaway server for tests
listen_addresses = '127.0.0.1'
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
checkpoint_timeout = 1h
max_wal_size = 4GB
autovacuum = off
jit = off
log_min_messages = warning
log_min_error_statement = panic
log_checkpoints = off
";

/// tmpfs is used when it has at least this much room for a server's data.
const TMPFS_MIN_FREE: u64 = 1 << 30;

/// Every place instance directories may be, for sweeps: the state directory, the RAM
/// directory asked for, the system's usual one (an earlier run may have used it), and
/// PostgreSQL's own directories under those and the temporary directory (run as root).
pub(crate) fn instances_roots(state_dir: &Path, ram_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut roots = vec![StateDir::new(state_dir).instances_dir()];
    let shared: Vec<PathBuf> = [ram_dir.map(Path::to_path_buf), platform::ram_dir()]
        .into_iter()
        .flatten()
        .collect();
    let homes = shared
        .iter()
        .chain([&std::env::temp_dir()])
        .map(|parent| platform::postgres_home_path(parent))
        .collect::<Vec<_>>();
    for dir in shared.into_iter().chain(homes) {
        if !roots.contains(&dir) {
            roots.push(dir);
        }
    }
    roots
}

/// The RAM directory, when it has room for a server's data.
fn ram_with_room(ram_dir: Option<&Path>) -> Option<&Path> {
    ram_dir.filter(|ram| free_bytes(ram).is_some_and(|free| free >= TMPFS_MIN_FREE))
}

/// Where a new instance directory goes: the RAM directory when it has room, else the state
/// directory; run as root, PostgreSQL's own directory in the RAM directory, else in the
/// system's temporary one (its user cannot be let into the state directory without opening
/// the user's folders to everyone).
pub(crate) fn instance_root(
    state_dir: &Path,
    ram_dir: Option<&Path>,
    run_as: Option<RunAs>,
) -> Result<PathBuf, EphemeralError> {
    let ram = ram_with_room(ram_dir);
    match run_as {
        None => Ok(ram.map_or_else(
            || StateDir::new(state_dir).instances_dir(),
            Path::to_path_buf,
        )),
        Some(user) => postgres_home(ram.map_or_else(std::env::temp_dir, Path::to_path_buf), user),
    }
}

fn postgres_home(parent: PathBuf, user: RunAs) -> Result<PathBuf, EphemeralError> {
    platform::postgres_home(&parent, user)
        .map_err(|e| EphemeralError::io("make PostgreSQL's own directory in", &parent, e))
}

/// Where the cached pristine clusters are: the state directory, or run as root
/// PostgreSQL's own directory in the system's temporary one (on disk: a cache, not a
/// server's data).
pub(crate) fn pristine_root(
    state_dir: &Path,
    run_as: Option<RunAs>,
) -> Result<PathBuf, EphemeralError> {
    match run_as {
        None => Ok(state_dir.to_path_buf()),
        Some(user) => postgres_home(std::env::temp_dir(), user),
    }
}

/// Every place pristine clusters may be built, for sweeps of half-built ones.
pub(crate) fn pristine_roots(state_dir: &Path) -> Vec<PathBuf> {
    vec![
        state_dir.to_path_buf(),
        platform::postgres_home_path(&std::env::temp_dir()),
    ]
}

/// The files of one running server: `<root>/persistence-<id>/{data,sock,server.log}`.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub(crate) id: String,
    pub(crate) dir: PathBuf,
}

impl Instance {
    /// Makes the directory of a new instance, mode 0700 (nobody else reaches its socket or
    /// data), and records its owner, so that a later sweep can tell a live instance from an
    /// orphan.
    pub(crate) fn create(
        state_dir: &Path,
        ram_dir: Option<&Path>,
        owner_pid: u32,
        run_as: Option<RunAs>,
    ) -> Result<Self, EphemeralError> {
        let root = instance_root(state_dir, ram_dir, run_as)?;
        std::fs::create_dir_all(&root).map_err(|e| EphemeralError::io("create", &root, e))?;
        let id = format!("{owner_pid}-{:08x}", rand::random::<u32>());
        let dir = root.join(format!("{INSTANCE_PREFIX}{id}"));
        platform::private_dir(&dir).map_err(|e| EphemeralError::io("create", &dir, e))?;
        write_owner(&dir, owner_pid)?;
        Ok(Self { id, dir })
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.join(INSTANCE_DATA_DIR)
    }

    pub(crate) fn socket_dir(&self) -> PathBuf {
        self.dir.join(INSTANCE_SOCKET_DIR)
    }

    pub(crate) fn log_file(&self) -> PathBuf {
        self.dir.join(INSTANCE_LOG)
    }

    /// Fills the data directory from the cached pristine cluster, running initdb first if
    /// the cache does not exist yet.
    pub(crate) fn populate(
        &self,
        bins: &PgBinaries,
        state_dir: &Path,
        run_as: Option<RunAs>,
    ) -> Result<(), EphemeralError> {
        hand_over(&self.dir, run_as).map_err(|e| EphemeralError::io("hand over", &self.dir, e))?;
        let pristine = pristine_cluster(bins, &pristine_root(state_dir, run_as)?, run_as)?;
        copy_tree(&pristine, &self.data_dir())?;
        let sock = self.socket_dir();
        platform::private_dir(&sock).map_err(|e| EphemeralError::io("create", &sock, e))?;
        hand_over(&sock, run_as).map_err(|e| EphemeralError::io("hand over", &sock, e))
    }

    /// Removes everything of this instance.
    pub(crate) fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write_owner(dir: &Path, pid: u32) -> Result<(), EphemeralError> {
    let path = dir.join(OWNER_FILE);
    std::fs::write(&path, pid.to_string()).map_err(|e| EphemeralError::io("write", &path, e))
}

/// `<root>/pristine-<version>-r<revision>`: an initdb'd, tuned cluster, built once.
///
/// Its superuser has no password yet (each server sets its own, see `Postmaster`): over TCP
/// nobody logs in (scram-sha-256 with no password fails), over the unix socket its owner does
/// without one (trust), the socket's directory being the owner's alone. Trust on the socket
/// saves the SCRAM exchange, about 2 ms of a 3-4 ms connection (`pgbench -C`, PostgreSQL 15,
/// this project's 2-core machine), which every test process under nextest pays.
fn pristine_cluster(
    bins: &PgBinaries,
    root: &Path,
    run_as: Option<RunAs>,
) -> Result<PathBuf, EphemeralError> {
    let ready = root.join(format!("pristine-{}-r{TUNING_REVISION}", bins.version));
    if ready.join("PG_VERSION").is_file() {
        return Ok(ready);
    }
    // Built beside its final name and renamed, so a crash never leaves a half cluster that
    // looks complete. Callers hold their state directory's start lock; a root shared by
    // several state directories (run as root) may see two builds, and the second rename
    // finds the first one's cluster in place.
    let building = root.join(format!("{PRISTINE_BUILDING_PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building).map_err(|e| EphemeralError::io("create", &building, e))?;
    hand_over(&building, run_as).map_err(|e| EphemeralError::io("hand over", &building, e))?;

    let mut initdb = platform::command_as(bins.bin("initdb"), run_as);
    initdb.arg("-D").arg(&building).args([
        "-U",
        "postgres",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
    ]);
    run(initdb, "initdb")?;
    let conf = building.join("postgresql.conf");
    let mut text =
        std::fs::read_to_string(&conf).map_err(|e| EphemeralError::io("read", &conf, e))?;
    text.push_str(TEST_TUNING);
    std::fs::write(&conf, text).map_err(|e| EphemeralError::io("write", &conf, e))?;
    if !ready.join("PG_VERSION").is_file() {
        let _ = std::fs::remove_dir_all(&ready);
    }
    match std::fs::rename(&building, &ready) {
        Ok(()) => Ok(ready),
        Err(_) if ready.join("PG_VERSION").is_file() => {
            let _ = std::fs::remove_dir_all(&building);
            Ok(ready)
        }
        Err(e) => Err(EphemeralError::io("rename", &building, e)),
    }
}

/// Copies a cluster keeping owners and modes (PostgreSQL insists on a 0700 data directory).
fn copy_tree(from: &Path, to: &Path) -> Result<(), EphemeralError> {
    let mut cp = Command::new("cp");
    cp.arg("-a").arg(from).arg(to);
    run(cp, "cp -a (copy of the pristine cluster)")
}

fn run(mut command: Command, what: &str) -> Result<(), EphemeralError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| EphemeralError::Command {
            command: what.to_owned(),
            detail: e.to_string(),
        })?;
    if output.status.success() {
        return Ok(());
    }
    let mut detail = format!("{}: ", output.status);
    detail.push_str(&String::from_utf8_lossy(&output.stderr));
    detail.push_str(&String::from_utf8_lossy(&output.stdout));
    Err(EphemeralError::Command {
        command: what.to_owned(),
        detail: tail(&detail, 2000),
    })
}

/// The last `max` bytes of `text`, cut at a char boundary.
pub(crate) fn tail(text: &str, max: usize) -> String {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].trim().to_owned()
}
