//! The state directory (`PERSISTENCE_STATE_DIR`, `target/persistence` by default): every
//! path, file format and name through which the processes of a run meet, with a typed read
//! API for the tools and tests that look at a run from outside.
//!
//! ```text
//! <state dir>/
//!   users.lock                       held shared by every process using the server
//!   start.lock                       held while a server is started or retired
//!   server.json                      the running server (ServerState), written atomically
//!   starts.log                       one line per server started: `<instance> <backend> <version> <place>`
//!   pristine-<version>-r<revision>/  the cached initdb'd cluster (native)
//!   pristine-building-<pid>/         one being built
//!   instances/persistence-<id>/      a native server's files when there is no RAM directory:
//!     owner.pid  data/  sock/  server.log  relay/
//!                                    (run as root: under the PostgreSQL user's own directory,
//!                                    see `platform::postgres_home`; every instance 0700)
//!   servers/<instance>/              files of the test harness that go with one started
//!                                    server (ServerFiles); removed when it stops
//!     secret                         the superuser's generated password (mode 0600)
//!     <clone>.lock                   the lease of a pooled clone, with its state
//!     <key>.profile.json             what a template's clean clone holds
//!     janitor.lock                   held by the janitor while it runs
//!     kept/<database>                a failed test's database kept for inspection
//!     users/<pid>                    a process that has used the server (alive or not)
//!     stop                           asks the supervisor to stop the server now
//!     keep                           asks the supervisor to keep the server past its grace
//!   servers/external-<hash>/         the same for an external server (kept: its clones stay)
//! ```
//!
//! Containers carry the labels [`HARNESS_LABEL`] (the state directory's key),
//! [`OWNER_PID_LABEL`] and [`OWNER_HOST_LABEL`].

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use super::platform::process_alive;
use super::secret::Secret;
use super::{BackendKind, EphemeralError};

/// The running server's description.
pub const SERVER_FILE: &str = "server.json";
/// The history of the servers this state directory has had.
pub const STARTS_LOG: &str = "starts.log";
/// Held shared by every process that uses the server, for its whole life.
pub const USERS_LOCK: &str = "users.lock";
/// Held exclusively while a server is started or retired.
pub const START_LOCK: &str = "start.lock";
/// Native servers' files when there is no RAM directory.
pub const INSTANCES_DIR: &str = "instances";
/// The prefix of every native instance directory, wherever it is.
pub const INSTANCE_PREFIX: &str = "persistence-";
/// Files of the harness that belong to one server.
pub const SERVERS_DIR: &str = "servers";
/// The prefix of an external server's directory under [`SERVERS_DIR`].
pub const EXTERNAL_SERVER_PREFIX: &str = "external-";
/// Under a native instance directory: the data directory.
pub(crate) const INSTANCE_DATA_DIR: &str = "data";
/// Under a native instance directory: the server's unix socket directory.
pub(crate) const INSTANCE_SOCKET_DIR: &str = "sock";
/// Under a native instance directory: the server's log.
pub(crate) const INSTANCE_LOG: &str = "server.log";
/// The file naming the process that owns an instance directory.
pub const OWNER_FILE: &str = "owner.pid";
/// Under a server's files: one empty file per kept database, named after it.
pub const KEPT_DIR: &str = "kept";
/// Under a server's files: one empty file per process that joined the server, named by pid.
pub const USERS_DIR: &str = "users";
/// Under a server's files: present when `persistence test-server stop` asked for the stop.
pub const STOP_FILE: &str = "stop";
/// Under a server's files: present when `persistence test-server keep` asked the supervisor
/// to keep the server past its idle grace.
pub const KEEP_FILE: &str = "keep";
/// What a lease file's name adds to its clone's name.
pub const LEASE_SUFFIX: &str = ".lock";
/// Under a server's files: held by the janitor while it runs.
pub const JANITOR_LOCK: &str = "janitor.lock";
/// Under a server's files: held by the harness's relay while it runs.
pub const RELAY_LOCK: &str = "relay.lock";
/// Under a server's files: its superuser's generated password, mode 0600.
pub const SECRET_FILE: &str = "secret";
/// Under a native server's instance directory: the harness's relay's socket directory.
pub const RELAY_DIR: &str = "relay";
/// The prefix of a pristine cluster being built, followed by the builder's pid.
pub(crate) const PRISTINE_BUILDING_PREFIX: &str = "pristine-building-";
/// Every container of the harness carries this label, valued with the state directory's key.
pub const HARNESS_LABEL: &str = "org.persistence.harness";
/// The label naming the pid of the process that owns a container.
pub const OWNER_PID_LABEL: &str = "org.persistence.owner-pid";
/// The label naming the host of that process.
pub const OWNER_HOST_LABEL: &str = "org.persistence.owner-host";

/// A state directory, to read what the processes of a run recorded there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// The state directory at `path` (nothing is created).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value of [`HARNESS_LABEL`] on this state directory's containers, so that two
    /// state directories' containers are told apart.
    pub fn harness_key(&self) -> String {
        digest_tag(self.path.to_string_lossy().as_bytes(), 6)
    }

    /// The server recorded as running, whether or not its processes still live, with its
    /// password when this user can read it.
    pub fn server(&self) -> Option<ServerState> {
        let text = std::fs::read(self.path.join(SERVER_FILE)).ok()?;
        let mut state: ServerState = serde_json::from_slice(&text).ok()?;
        state.load_secret(&self.path);
        Some(state)
    }

    /// The recorded server, if its supervisor (and postmaster) still live.
    pub fn live_server(&self) -> Option<ServerState> {
        self.server()
            .filter(|state| process_alive(state.supervisor_pid) && state.process.is_alive())
    }

    /// Every server this state directory has had, oldest first.
    pub fn starts(&self) -> Vec<StartRecord> {
        std::fs::read_to_string(self.path.join(STARTS_LOG))
            .unwrap_or_default()
            .lines()
            .filter_map(StartRecord::parse)
            .collect()
    }

    /// Where native instance directories go when there is no RAM directory.
    pub fn instances_dir(&self) -> PathBuf {
        self.path.join(INSTANCES_DIR)
    }

    /// The directory of files that live and die with the started server `instance` (the
    /// supervisor removes it when it stops the server).
    pub fn server_files(&self, instance: &str) -> PathBuf {
        let name: String = instance
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.path.join(SERVERS_DIR).join(name)
    }

    /// The harness's files of the started server `instance`.
    pub fn files_of(&self, instance: &str) -> ServerFiles {
        ServerFiles {
            dir: self.server_files(instance),
        }
    }

    /// The harness's files of the external server `url` (without password): they stay with
    /// the state directory, as the clones stay on the server.
    pub fn external_files(&self, url: &str) -> ServerFiles {
        // The URL's digest: two external servers must not share leases.
        let tag = digest_tag(url.as_bytes(), 6);
        ServerFiles {
            dir: self
                .path
                .join(SERVERS_DIR)
                .join(format!("{EXTERNAL_SERVER_PREFIX}{tag}")),
        }
    }

    /// The databases recorded as kept on the server `instance` (whether they still exist is
    /// for the server to say), sorted.
    pub fn kept_databases(&self, instance: &str) -> Vec<String> {
        self.files_of(instance).kept()
    }

    /// Forgets a kept database that no longer exists.
    pub(crate) fn forget_kept(&self, instance: &str, database: &str) {
        self.files_of(instance).forget_kept(database);
    }

    /// Records that this process uses the server `instance` (for `test-server status`).
    pub(crate) fn record_user(&self, instance: &str) {
        let dir = self.server_files(instance).join(USERS_DIR);
        if std::fs::create_dir_all(&dir).is_ok() {
            let _ = std::fs::write(dir.join(std::process::id().to_string()), b"");
        }
    }

    /// The processes that joined the server `instance` and still run, sorted.
    pub fn users(&self, instance: &str) -> Vec<u32> {
        let mut pids: Vec<u32> = file_names(&self.server_files(instance).join(USERS_DIR))
            .iter()
            .filter_map(|name| name.parse().ok())
            .filter(|pid| process_alive(*pid))
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Asks the supervisor of `instance` to stop its server now.
    pub(crate) fn request_stop(&self, instance: &str) -> Result<(), EphemeralError> {
        let dir = self.server_files(instance);
        std::fs::create_dir_all(&dir).map_err(|e| EphemeralError::io("create", &dir, e))?;
        let path = dir.join(STOP_FILE);
        std::fs::write(&path, b"").map_err(|e| EphemeralError::io("write", &path, e))
    }

    /// Whether a stop of `instance` was asked for.
    pub(crate) fn stop_requested(&self, instance: &str) -> bool {
        self.server_files(instance).join(STOP_FILE).exists()
    }

    /// Opens (creating it) one of the lock files.
    pub(crate) fn lock_file(&self, name: &str) -> Result<File, EphemeralError> {
        let path = self.path.join(name);
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| EphemeralError::io("open", &path, e))
    }

    /// Appends a started server to `starts.log`.
    pub(crate) fn record_start(&self, state: &ServerState) {
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path.join(STARTS_LOG))
        {
            let _ = writeln!(log, "{}", StartRecord::from(state).line());
        }
    }
}

/// The test harness's files that belong to one server (`servers/<instance>/`, or
/// `servers/external-<hash>/`): the clones' leases, the templates' profiles, the kept
/// databases. Every path below it is named here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFiles {
    dir: PathBuf,
}

impl ServerFiles {
    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes the directory if it is missing.
    pub fn create(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)
    }

    /// The lease file of the clone `clone`.
    pub fn lease(&self, clone: &str) -> PathBuf {
        self.dir.join(format!("{clone}{LEASE_SUFFIX}"))
    }

    /// The clones that have a lease file, by name.
    pub fn leased_clones(&self) -> Vec<String> {
        file_names(&self.dir)
            .into_iter()
            .filter_map(|name| name.strip_suffix(LEASE_SUFFIX).map(str::to_owned))
            .filter(|name| {
                !name.is_empty()
                    && name != JANITOR_LOCK.trim_end_matches(LEASE_SUFFIX)
                    && name != RELAY_LOCK.trim_end_matches(LEASE_SUFFIX)
            })
            .collect()
    }

    /// Where the profile of the template `key` is written for the other processes.
    pub fn profile(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.profile.json"))
    }

    /// The directory of the tests' connection budget: `size` (the server's limits, as the
    /// first test read them) and one `<n>.lock` per connection a test may hold.
    pub fn budget_dir(&self) -> PathBuf {
        self.dir.join("budget")
    }

    /// The budget's `size` file: `<max_connections> <superuser_reserved_connections>`.
    pub fn budget_size(&self) -> PathBuf {
        self.budget_dir().join("size")
    }

    /// The superuser's password of the server (mode 0600).
    pub fn secret(&self) -> PathBuf {
        self.dir.join(SECRET_FILE)
    }

    /// The file the janitor holds locked while it runs.
    pub fn janitor_lock(&self) -> PathBuf {
        self.dir.join(JANITOR_LOCK)
    }

    /// The file the harness's relay holds locked while it runs.
    pub fn relay_lock(&self) -> PathBuf {
        self.dir.join(RELAY_LOCK)
    }

    /// The databases recorded as kept (whether they still exist is for the server to say),
    /// sorted.
    pub fn kept(&self) -> Vec<String> {
        let mut names = file_names(&self.dir.join(KEPT_DIR));
        names.sort();
        names
    }

    /// Records that `database` is kept. A file survives the process that wrote it, however
    /// it ends.
    pub fn record_kept(&self, database: &str) -> Result<(), EphemeralError> {
        let dir = self.dir.join(KEPT_DIR);
        let path = dir.join(database);
        if database.is_empty()
            || !database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            let why = std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a kept database's name must be letters, digits and `_`",
            );
            return Err(EphemeralError::io("record", path, why));
        }
        std::fs::create_dir_all(&dir).map_err(|e| EphemeralError::io("create", &dir, e))?;
        std::fs::write(&path, b"").map_err(|e| EphemeralError::io("write", &path, e))
    }

    /// Forgets a kept database (dropped, or found gone).
    pub fn forget_kept(&self, database: &str) {
        let _ = std::fs::remove_file(self.dir.join(KEPT_DIR).join(database));
    }

    /// Whether `persistence test-server keep` asked to keep the server past its grace.
    pub fn keep_requested(&self) -> bool {
        self.dir.join(KEEP_FILE).exists()
    }

    /// Asks the supervisor to keep the server past its idle grace, until it is stopped.
    pub fn request_keep(&self) -> Result<(), EphemeralError> {
        self.create()
            .map_err(|e| EphemeralError::io("create", &self.dir, e))?;
        let path = self.dir.join(KEEP_FILE);
        std::fs::write(&path, b"").map_err(|e| EphemeralError::io("write", &path, e))
    }
}

/// The first `bytes` bytes of `data`'s SHA-256, in hex: the short, stable tag that names a
/// thing by its content or its path (an external server's files, a state directory's
/// containers and record, a template, a kept database).
pub(crate) fn digest_tag(data: &[u8], bytes: usize) -> String {
    use sha2::{Digest, Sha256};
    hex_tag(&Sha256::digest(data), bytes)
}

/// The first `bytes` bytes of a finished `digest`, in hex (see [`digest_tag`]).
pub(crate) fn hex_tag(digest: &[u8], bytes: usize) -> String {
    digest
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The names of the files in `dir` (none if it cannot be read).
fn file_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// What runs a started server, as `server.json` records it for the processes that join it
/// and for the tools that stop or sweep it.
///
/// In the file its fields sit beside the server's others, tagged by `backend` (`native` or
/// `docker`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum ServerProcess {
    /// A postmaster started from local binaries.
    Native {
        /// `<root>/persistence-<id>`, with data, socket and log.
        instance_dir: PathBuf,
        /// The unix socket directory the harness connects through, if the platform has one.
        socket_dir: Option<PathBuf>,
        /// The postmaster's pid.
        postmaster_pid: u32,
        /// The directory of the PostgreSQL binaries it runs.
        pg_bin: PathBuf,
    },
    /// A container.
    Docker {
        /// The container's id.
        container_id: String,
        /// The image it runs.
        image: String,
    },
}

impl ServerProcess {
    /// The backend it came from.
    pub fn backend(&self) -> BackendKind {
        match self {
            Self::Native { .. } => BackendKind::Native,
            Self::Docker { .. } => BackendKind::Docker,
        }
    }

    /// A native server's instance directory.
    pub fn instance_dir(&self) -> Option<&Path> {
        match self {
            Self::Native { instance_dir, .. } => Some(instance_dir),
            Self::Docker { .. } => None,
        }
    }

    /// A native server's unix socket directory, when it has one.
    pub fn socket_dir(&self) -> Option<&Path> {
        match self {
            Self::Native { socket_dir, .. } => socket_dir.as_deref(),
            Self::Docker { .. } => None,
        }
    }

    /// A native server's postmaster.
    pub fn postmaster_pid(&self) -> Option<u32> {
        match self {
            Self::Native { postmaster_pid, .. } => Some(*postmaster_pid),
            Self::Docker { .. } => None,
        }
    }

    /// A docker server's container.
    pub fn container_id(&self) -> Option<&str> {
        match self {
            Self::Native { .. } => None,
            Self::Docker { container_id, .. } => Some(container_id),
        }
    }

    /// Whether the server itself still runs, as far as this machine can tell cheaply: a
    /// native postmaster is a process here; a container is the supervisor's to watch.
    pub(crate) fn is_alive(&self) -> bool {
        match self {
            Self::Native { postmaster_pid, .. } => process_alive(*postmaster_pid),
            Self::Docker { .. } => true,
        }
    }
}

/// What a joining process needs to know about a started server (`server.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerState {
    /// Unique per server start: `<supervisor pid>-<suffix>`.
    pub instance_id: String,
    /// What runs it: a native postmaster or a container, with what each needs.
    #[serde(flatten)]
    pub process: ServerProcess,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// `15.18`.
    pub version: String,
    /// The detached process that owns the server.
    pub supervisor_pid: u32,
    /// How long it outlives its last user: milliseconds, or `None` for `never`.
    #[serde(default)]
    pub idle_grace_ms: Option<u64>,
    /// The superuser's password: kept in its own file of mode 0600 (`servers/<instance>/
    /// secret`), never in `server.json`, which tools and people read.
    #[serde(skip)]
    pub(crate) secret: Option<Secret>,
}

impl ServerState {
    /// The backend it came from (`native` or `docker`).
    pub fn backend(&self) -> BackendKind {
        self.process.backend()
    }

    /// Reads the server's password from its file under `state_dir`, if this user may.
    pub(crate) fn load_secret(&mut self, state_dir: &Path) {
        let files = StateDir::new(state_dir).files_of(&self.instance_id);
        self.secret = Secret::read(&files.secret());
    }

    /// The superuser's password, for its owner's tools (see [`ServerState::admin_options`]).
    pub fn secret(&self) -> Option<&Secret> {
        self.secret.as_ref()
    }

    /// Options to connect as the superuser `postgres` to its maintenance database, with its
    /// password: the one way every tool of the owner's connects (the unix socket when there
    /// is one: it skips TCP's handshake, and its directory is the owner's alone).
    pub fn admin_options(&self) -> PgConnectOptions {
        let tcp = PgConnectOptions::new().host("127.0.0.1");
        let options = match self.process.socket_dir() {
            Some(socket) => tcp.socket(socket),
            None => tcp,
        };
        // No TLS: the server is this machine's own, reached over loopback or a socket, and
        // sqlx's default (`prefer`) would cost a round trip per connection to ask for it,
        // or a handshake where the server offers it. A `PGSSLMODE` of the user's is for
        // their servers, not this one.
        let options = options
            .port(self.port)
            .username("postgres")
            .database("postgres")
            .ssl_mode(PgSslMode::Disable);
        match &self.secret {
            Some(secret) => options.password(secret.expose()),
            None => options,
        }
    }

    /// Where the harness's relay of a native server listens, and the server's own socket it
    /// relays to (see `testing::pool::relay`); `None` for a server reached over TCP only.
    pub fn relay_sockets(&self) -> Option<(PathBuf, PathBuf)> {
        let (instance, socket) = (self.process.instance_dir()?, self.process.socket_dir()?);
        Some((
            instance.join(RELAY_DIR),
            socket.join(format!(".s.PGSQL.{}", self.port)),
        ))
    }

    /// The URL of `database` on it, without password: `postgres://postgres@127.0.0.1:PORT/db`,
    /// for errors and logs.
    pub fn display_url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The URL of `database` on it with the password, for its owner to paste into psql or a
    /// program: printed to the owner's terminal only, never into an error or a log.
    pub fn owner_url(&self, database: &str) -> String {
        match &self.secret {
            Some(secret) => format!(
                "postgres://postgres:{}@127.0.0.1:{}/{database}",
                secret.expose(),
                self.port
            ),
            None => self.display_url(database),
        }
    }

    /// Writes the state atomically (a reader never sees half a file).
    pub(crate) fn write(&self, state_dir: &Path) -> Result<(), EphemeralError> {
        let path = state_dir.join(SERVER_FILE);
        let tmp = state_dir.join(format!("{SERVER_FILE}.{}", std::process::id()));
        let text = serde_json::to_vec_pretty(self).map_err(|e| {
            EphemeralError::io("encode", &path, std::io::Error::other(e.to_string()))
        })?;
        std::fs::write(&tmp, text).map_err(|e| EphemeralError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| EphemeralError::io("rename", &tmp, e))
    }

    /// Removes the state file if it still describes this server.
    pub(crate) fn remove_if_current(&self, state_dir: &Path) {
        let current = StateDir::new(state_dir).server();
        if current.is_some_and(|c| c.instance_id == self.instance_id) {
            let _ = std::fs::remove_file(state_dir.join(SERVER_FILE));
        }
    }
}

/// One line of `starts.log`: a server this state directory had.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StartRecord {
    /// The server's instance id (`<supervisor pid>-<suffix>`).
    pub instance_id: String,
    /// `native` or `docker` (as written; unknown names are kept).
    pub backend: String,
    /// The server's version.
    pub version: String,
    /// Where its data was.
    pub place: Place,
}

/// Where a started server's data lived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A native instance directory.
    Dir(PathBuf),
    /// A container, by id.
    Container(String),
    /// Not recorded.
    Unknown,
}

impl StartRecord {
    /// The supervisor that owned the server.
    pub fn supervisor_pid(&self) -> Option<u32> {
        self.instance_id.split('-').next()?.parse().ok()
    }

    /// The instance directory of a native server.
    pub fn instance_dir(&self) -> Option<&Path> {
        match &self.place {
            Place::Dir(dir) => Some(dir),
            _ => None,
        }
    }

    /// The container of a docker server.
    pub fn container(&self) -> Option<&str> {
        match &self.place {
            Place::Container(id) => Some(id),
            _ => None,
        }
    }

    fn parse(line: &str) -> Option<Self> {
        let mut fields = line.splitn(4, ' ');
        let instance_id = fields.next().filter(|id| !id.trim().is_empty())?.to_owned();
        let backend = fields.next()?.to_owned();
        let version = fields.next()?.to_owned();
        let place = match fields.next().map(str::trim).unwrap_or("") {
            "" => Place::Unknown,
            place => match place.strip_prefix("container:") {
                Some(id) => Place::Container(id.to_owned()),
                None => Place::Dir(PathBuf::from(place)),
            },
        };
        Some(Self {
            instance_id,
            backend,
            version,
            place,
        })
    }

    fn line(&self) -> String {
        let place = match &self.place {
            Place::Dir(dir) => dir.display().to_string(),
            Place::Container(id) => format!("container:{id}"),
            Place::Unknown => String::new(),
        };
        format!(
            "{} {} {} {place}",
            self.instance_id, self.backend, self.version
        )
    }
}

impl From<&ServerState> for StartRecord {
    fn from(state: &ServerState) -> Self {
        let place = match &state.process {
            ServerProcess::Native { instance_dir, .. } => Place::Dir(instance_dir.clone()),
            ServerProcess::Docker { container_id, .. } => Place::Container(container_id.clone()),
        };
        Self {
            instance_id: state.instance_id.clone(),
            backend: state.backend().to_string(),
            version: state.version.clone(),
            place,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(process: ServerProcess) -> ServerState {
        ServerState {
            instance_id: "4242-00ab".into(),
            process,
            port: 5555,
            version: "17.2".into(),
            // No such process: never a live server.
            supervisor_pid: u32::MAX,
            idle_grace_ms: Some(5000),
            secret: None,
        }
    }

    fn native(instance_dir: &str) -> ServerProcess {
        ServerProcess::Native {
            instance_dir: PathBuf::from(instance_dir),
            socket_dir: None,
            postmaster_pid: u32::MAX,
            pg_bin: PathBuf::from("/pg/bin"),
        }
    }

    #[test]
    fn start_records_read_back_what_was_written() {
        for written in [
            state(native("/dev/shm/persistence-4242-00ab")),
            state(ServerProcess::Docker {
                container_id: "c0ffee".into(),
                image: "postgres:17".into(),
            }),
        ] {
            let record = StartRecord::from(&written);
            let read = StartRecord::parse(&record.line()).expect("parses");
            assert_eq!(read, record);
            assert_eq!(read.supervisor_pid(), Some(4242));
        }
        assert_eq!(StartRecord::parse(""), None);
    }

    #[test]
    fn a_server_json_of_the_flat_format_still_reads() {
        // Written before each backend had a type of its own: the other backend's fields
        // are there as nulls. A run upgraded while its server lives still joins it.
        let old = r#"{"instance_id":"4242-00ab","backend":"native",
            "instance_dir":"/x/persistence-4242-00ab","socket_dir":null,"container_id":null,
            "port":5555,"version":"17.2","supervisor_pid":4294967295,"postmaster_pid":4294967295,
            "pg_bin":"/pg/bin","image":null,"idle_grace_ms":5000}"#;
        let read: ServerState = serde_json::from_str(old).expect("reads");
        assert_eq!(read, state(native("/x/persistence-4242-00ab")));
        assert_eq!(read.backend(), BackendKind::Native);
    }

    #[test]
    fn reads_the_server_and_the_starts_of_a_directory() {
        let dir = std::env::temp_dir().join(format!("persistence-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let state_dir = StateDir::new(&dir);
        assert_eq!(state_dir.server(), None);
        let mut written = state(native("/x/persistence-4242-00ab"));
        written.write(&dir).expect("write");
        state_dir.record_start(&written);
        assert_eq!(state_dir.server(), Some(written.clone()));
        // The password: in its own file, read with the state, never in server.json.
        let secret = Secret::generate();
        let files = state_dir.files_of(&written.instance_id);
        files.create().expect("server files");
        secret.write(&files.secret()).expect("secret");
        written.secret = Some(secret.clone());
        written.write(&dir).expect("write again");
        let json = std::fs::read_to_string(dir.join(SERVER_FILE)).expect("server.json");
        assert!(!json.contains(secret.expose()), "{json}");
        let read = state_dir.server().expect("the server");
        assert_eq!(read.secret(), Some(&secret));
        assert!(read.owner_url("db").contains(secret.expose()));
        assert!(!read.display_url("db").contains(secret.expose()));
        assert!(!format!("{read:?}").contains(secret.expose()));
        assert_eq!(state_dir.live_server(), None);
        let starts = state_dir.starts();
        assert_eq!(starts.len(), 1);
        assert_eq!(
            starts[0].instance_dir(),
            Some(Path::new("/x/persistence-4242-00ab"))
        );
        written.remove_if_current(&dir);
        assert_eq!(state_dir.server(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn server_json_keeps_the_fields_of_its_backend_only() {
        let native = ServerProcess::Native {
            instance_dir: PathBuf::from("/dev/shm/persistence-1-ab"),
            socket_dir: Some(PathBuf::from("/dev/shm/persistence-1-ab/sock")),
            postmaster_pid: 42,
            pg_bin: PathBuf::from("/usr/lib/postgresql/15/bin"),
        };
        let docker = ServerProcess::Docker {
            container_id: "c0ffee".into(),
            image: "postgres:17".into(),
        };
        let json = serde_json::to_value(&native).expect("serializes");
        assert_eq!(json["backend"], "native");
        assert!(json.get("container_id").is_none(), "{json}");
        let json = serde_json::to_value(&docker).expect("serializes");
        assert_eq!(json["backend"], "docker");
        assert!(json.get("instance_dir").is_none(), "{json}");
        for process in [native, docker] {
            let text = serde_json::to_string(&process).expect("serializes");
            let read: ServerProcess = serde_json::from_str(&text).expect("reads back");
            assert_eq!(read, process);
        }
    }
}
