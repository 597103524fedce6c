//! One server for every process of a test run.
//!
//! `cargo nextest run` runs each test in a process of its own and `cargo test` runs one
//! binary after another; all of them must use one server, started once. They meet through
//! two lock files in the state directory:
//!
//! - `users.lock`, held shared by every process that uses the server, for its whole life
//!   (the kernel releases it when the process ends, however it ends);
//! - `start.lock`, held exclusively while a server is started or retired.
//!
//! Joining a running server costs two `flock`s and reading a small JSON file.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use sqlx::postgres::PgConnectOptions;
use tokio::sync::OnceCell;

use super::native::PgBinaries;
use super::settings::{IdleGrace, Settings};
use super::state_dir::{START_LOCK, ServerFiles, ServerState, StateDir, USERS_LOCK};
use super::supervisor::{Report, Request, SUPERVISOR_ENV, ServerKind};
use super::{BackendKind, EphemeralError, Secret, mismatch, platform, sweep};
use crate::postgres::redact_passwords;

/// A PostgreSQL server the harness may create databases on.
pub struct Server {
    backend: BackendKind,
    /// With the password (sqlx's `Debug` of it shows the password: see `Debug` below).
    admin: PgConnectOptions,
    url_base: String,
    /// The generated password of a server the harness started; `None` for an external one.
    secret: Option<Secret>,
    version: Option<String>,
    instance: String,
    /// The harness's files of this server in the state directory.
    files: ServerFiles,
    /// Why `auto` chose this backend, when this process started the server.
    choice: Option<String>,
    /// Where the harness's relay of this (native) server listens, if it can.
    relay_dir: Option<std::path::PathBuf>,
    // Held for the life of the process: it tells the supervisor we still use the server.
    _users_lock: Option<File>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("backend", &self.backend)
            .field("url", &self.url_base)
            .field("secret", &self.secret)
            .field("version", &self.version)
            .field("instance", &self.instance)
            .field("files", &self.files)
            .field("relay_dir", &self.relay_dir)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// The backend the server came from (never `Auto`).
    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// Options to connect as a superuser (or the URL's user) to the maintenance database,
    /// with its password: the generated one of a server the harness started, the URL's of
    /// an external one. Every connection of the owner's tools starts from these.
    pub fn admin_options(&self) -> &PgConnectOptions {
        &self.admin
    }

    /// The generated password of the superuser `postgres` of a server the harness started
    /// (`None` for an external server, whose roles are the user's).
    pub fn secret(&self) -> Option<&Secret> {
        self.secret.as_ref()
    }

    /// Options to connect to `database` on this server.
    pub fn options_for(&self, database: &str) -> PgConnectOptions {
        self.admin.clone().database(database)
    }

    /// A URL for `database` without its password, for errors and logs.
    pub fn display_url(&self, database: &str) -> String {
        format!("{}/{database}", self.url_base)
    }

    /// The URL of `database` that its owner pastes into psql or hands a program: with the
    /// generated password of a server the harness started, so that it works as printed.
    /// Printed to the owner's terminal only (`persistence dev`, a test's output), never into
    /// an error or a log. For an external server, [`Server::display_url`]: its password is
    /// the user's own, shown as `***`.
    pub fn owner_url(&self, database: &str) -> String {
        match &self.secret {
            Some(secret) => self.display_url(database).replacen(
                "postgres@",
                &format!("postgres:{}@", secret.expose()),
                1,
            ),
            None => self.display_url(database),
        }
    }

    /// The server's version (`15.18`) when the harness started it.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// An id unique to this server's life (`external` for an external server).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The harness's files of this server in the state directory (leases, kept databases).
    pub fn files(&self) -> &ServerFiles {
        &self.files
    }

    /// Where the test harness's relay of warm sessions listens for this server, when it is
    /// a native one (see `testing::pool::relay`).
    pub fn relay_dir(&self) -> Option<&std::path::Path> {
        self.relay_dir.as_deref()
    }

    /// Why `PERSISTENCE_TEST_BACKEND=auto` chose this backend (`docker (image ... is
    /// present)`, `native (... docker is not usable: ...)`), when this call started the
    /// server; `None` when it joined one, or the backend was named. The harness prints it
    /// with the test's output; a program such as `persistence dev` says what matters to its
    /// user its own way.
    pub fn choice(&self) -> Option<&str> {
        self.choice.as_deref()
    }
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

/// The server of this test run: joined if another process started it, started otherwise.
/// Resolved once per process; later calls are free.
pub async fn server() -> Result<&'static Server, EphemeralError> {
    SERVER
        .get_or_try_init(|| async {
            let server = server_with(Settings::get()?.clone()).await?;
            if let Some(choice) = server.choice() {
                // libtest shows it with the output of the test that started the server.
                eprintln!("persistence: test server backend: {choice}");
            }
            Ok(server)
        })
        .await
}

/// A server chosen and found (or started) with explicit `settings`, for programs that are not
/// tests, such as the CLI's `dev` command. Unlike [`server`], nothing is cached: the caller
/// owns the returned handle, and the server goes once every handle's process has ended and
/// the idle grace has passed.
// Used by the persistence CLI, not a stable API (see the re-export in `ephemeral`).
#[doc(hidden)]
pub async fn server_with(settings: Settings) -> Result<Server, EphemeralError> {
    match choose(&settings) {
        BackendKind::External => external(&settings).await,
        _ => {
            // Joining a running server is a few file operations, done on this thread: a
            // thread of the blocking pool would cost a test process more than the join
            // itself (its start, two hand-overs between threads, and its join when the
            // runtime ends). Starting a server takes seconds, and waiting for a lock may
            // too: those go to the blocking pool.
            if let Some(server) = joined(&settings)? {
                return Ok(server);
            }
            tokio::task::spawn_blocking(move || started(&settings))
                .await
                .map_err(|e| EphemeralError::Start {
                    detail: format!("start task failed: {e}"),
                })?
        }
    }
}

/// `auto`: external if `TEST_DATABASE_URL` is set, else native if the binaries are there.
fn choose(settings: &Settings) -> BackendKind {
    match settings.backend {
        BackendKind::Auto if settings.external_url.is_some() => BackendKind::External,
        chosen => chosen,
    }
}

/// The `external` backend: the server `TEST_DATABASE_URL` names; nothing to start or stop.
async fn external(settings: &Settings) -> Result<Server, EphemeralError> {
    let Some(url) = settings.external_url.as_deref() else {
        return Err(EphemeralError::BadSetting {
            name: "TEST_DATABASE_URL",
            value: String::new(),
            expected: "a postgres:// URL when PERSISTENCE_TEST_BACKEND=external",
        });
    };
    let redacted = redact_passwords(url).into_owned();
    let admin: PgConnectOptions =
        url.parse()
            .map_err(|e: sqlx::Error| EphemeralError::External {
                url: redacted.clone(),
                problem: format!(
                    "is not a valid PostgreSQL URL: {}",
                    redact_passwords(&e.to_string())
                ),
            })?;
    super::external::probe(&redacted, &admin).await?;
    let url_base = redacted
        .rsplit_once('/')
        .filter(|(base, _)| base.contains("://") && !base.ends_with('/'))
        .map_or_else(|| redacted.clone(), |(base, _)| base.to_owned());
    let files = StateDir::new(&settings.state_dir).external_files(&redacted);
    files
        .create()
        .map_err(|e| EphemeralError::io("create", files.dir(), e))?;
    Ok(Server {
        backend: BackendKind::External,
        admin,
        url_base,
        secret: None,
        version: None,
        instance: "external".to_owned(),
        files,
        choice: None,
        relay_dir: None,
        _users_lock: None,
    })
}

/// Joins the server of this run if one runs and its users lock is free to share at once;
/// `None` otherwise (nothing is held then), for [`started`] to wait, or start one.
fn joined(settings: &Settings) -> Result<Option<Server>, EphemeralError> {
    let dir = &settings.state_dir;
    std::fs::create_dir_all(dir).map_err(|e| EphemeralError::io("create", dir, e))?;
    let users = StateDir::new(dir).lock_file(USERS_LOCK)?;
    match users.try_lock_shared() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(EphemeralError::io("lock", dir.join(USERS_LOCK), e));
        }
    }
    match StateDir::new(dir).live_server() {
        Some(state) => attach(settings, users, state, None).map(Some),
        None => Ok(None),
    }
}

/// Joins the server of this run, or starts one (native or docker) if there is none.
fn started(settings: &Settings) -> Result<Server, EphemeralError> {
    let dir = &settings.state_dir;
    std::fs::create_dir_all(dir).map_err(|e| EphemeralError::io("create", dir, e))?;
    let users = StateDir::new(dir).lock_file(USERS_LOCK)?;
    users
        .lock_shared()
        .map_err(|e| EphemeralError::io("lock", dir.join(USERS_LOCK), e))?;
    // Joining costs a lock and a small file: no binary or daemon is asked anything.
    let (state, choice) = match StateDir::new(dir).live_server() {
        Some(state) => (state, None),
        None => start_or_join(settings)?,
    };
    attach(settings, users, state, choice)
}

/// The server `state` describes, used by this process from now on: `users` is its users
/// lock, held shared; `choice` is why `auto` chose its backend, when this process started it.
fn attach(
    settings: &Settings,
    users: File,
    state: ServerState,
    choice: Option<String>,
) -> Result<Server, EphemeralError> {
    let dir = &settings.state_dir;
    StateDir::new(dir).record_user(&state.instance_id);
    if let Some(line) = mismatch::line(settings, &state) {
        mismatch::say_once(&line);
    }
    let mut server = Server::from_state(state, dir);
    // Files of servers that no longer run (a supervisor killed before it removed them) go:
    // one started server runs per state directory at a time.
    sweep::stale_server_files(dir, server.files.dir());
    server
        .files
        .create()
        .map_err(|e| EphemeralError::io("create", server.files.dir(), e))?;
    server._users_lock = Some(users);
    server.choice = choice;
    Ok(server)
}

impl Server {
    /// The started server `state` (of the state directory `state_dir`) describes, without
    /// a hold on it (its users lock).
    pub(crate) fn from_state(state: ServerState, state_dir: &std::path::Path) -> Self {
        let files = StateDir::new(state_dir).files_of(&state.instance_id);
        let relay_dir = state.relay_sockets().map(|(dir, _)| dir);
        Self {
            backend: state.backend,
            admin: state.admin_options(),
            url_base: format!("postgres://postgres@127.0.0.1:{}", state.port),
            secret: state.secret.clone(),
            version: Some(state.version),
            instance: state.instance_id,
            files,
            choice: None,
            relay_dir,
            _users_lock: None,
        }
    }
}

/// The running server, or one this process starts (then with `auto`'s choice, if it chose).
fn start_or_join(settings: &Settings) -> Result<(ServerState, Option<String>), EphemeralError> {
    let dir = &settings.state_dir;
    let start = StateDir::new(dir).lock_file(START_LOCK)?;
    start
        .lock()
        .map_err(|e| EphemeralError::io("lock", dir.join(START_LOCK), e))?;
    // Another process may have started it while we waited for the lock.
    if let Some(state) = StateDir::new(dir).live_server() {
        return Ok((state, None));
    }
    sweep::orphans(dir, settings.ram_dir.as_deref());
    let (kind, choice) = server_kind(settings)?;
    let mut state = spawn_supervisor(settings, kind)?;
    // Not in the supervisor's report: it wrote it to its file, as for every joiner.
    state.load_secret(dir);
    state.write(dir)?;
    // So that `persistence test-server` finds it from anywhere. A test process knows its
    // package from cargo (`CARGO_MANIFEST_DIR`); a program that knows better records again.
    let project = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from);
    super::registry::record(dir, project.as_deref());
    Ok((state, choice))
    // `start` is unlocked when dropped.
}

/// What to start, and why when `auto` chose. Looking for binaries (`pg_config`, `postgres
/// --version`: ~12 ms) or asking the Docker daemon happens only here, in the process that
/// starts the server.
fn server_kind(settings: &Settings) -> Result<(ServerKind, Option<String>), EphemeralError> {
    let native = || {
        if let Some(reason) = platform::native_unavailable() {
            return Err(EphemeralError::NativeUnavailable { reason });
        }
        PgBinaries::find(settings.pg_bin.as_deref()).map(|b| ServerKind::Native {
            bins: b.dir,
            ram_dir: settings.ram_dir.clone(),
        })
    };
    let docker = || ServerKind::Docker {
        image: settings.image.clone(),
        key: harness_key(settings),
    };
    match settings.backend {
        BackendKind::Native => native().map(|kind| (kind, None)),
        BackendKind::Docker => Ok((docker(), None)),
        _ => {
            let docker_state = docker_availability(&settings.image);
            if docker_state.is_none() {
                let choice = format!("docker (image {} is present)", settings.image);
                return Ok((docker(), Some(choice)));
            }
            match native() {
                Ok(kind) => {
                    let choice = format!(
                        "native (TEST_DATABASE_URL is not set; docker is not usable: {})",
                        docker_state.unwrap_or_default()
                    );
                    Ok((kind, Some(choice)))
                }
                Err(err) => Err(EphemeralError::NoBackend {
                    docker: docker_state.unwrap_or_default(),
                    native: err.to_string(),
                }),
            }
        }
    }
}

/// `None` when docker can be used, else why not.
fn docker_availability(image: &str) -> Option<String> {
    #[cfg(feature = "docker")]
    {
        match super::docker::availability(image) {
            super::docker::Availability::Ready => None,
            super::docker::Availability::Unusable(why) => Some(why),
        }
    }
    #[cfg(not(feature = "docker"))]
    {
        let _ = image;
        Some(super::backend::NO_DOCKER_BACKEND.to_owned())
    }
}

/// Labels this state directory's containers, so that they can be told apart.
fn harness_key(settings: &Settings) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(settings.state_dir.to_string_lossy().as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn spawn_supervisor(
    settings: &Settings,
    server: ServerKind,
) -> Result<ServerState, EphemeralError> {
    let request = Request {
        state_dir: settings.state_dir.clone(),
        server,
        idle_grace_ms: match settings.idle_grace {
            IdleGrace::After(grace) => Some(u64::try_from(grace.as_millis()).unwrap_or(u64::MAX)),
            IdleGrace::Never => None,
        },
    };
    let exe = std::env::current_exe()
        .map_err(|e| EphemeralError::io("locate", "current executable", e))?;
    let mut command = Command::new(&exe);
    command
        .env(
            SUPERVISOR_ENV,
            serde_json::to_string(&request).unwrap_or_default(),
        )
        // If the executable has no supervisor hook (not built with the harness), these
        // arguments make a libtest binary run no test and exit at once.
        .args(["--exact", "__persistence_supervisor__", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child =
        platform::spawn_detached(&mut command).map_err(|e| EphemeralError::io("run", &exe, e))?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    match serde_json::from_str::<Report>(line.trim()) {
        Ok(Report::Ready(state)) => Ok(*state),
        Ok(Report::Failed(detail)) => {
            let _ = child.wait();
            Err(EphemeralError::Start { detail })
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(EphemeralError::Start {
                detail: format!(
                    "{} did not run the supervisor: build the test with the `testing` feature of \
                     persistence, or call persistence::ephemeral::supervisor::run_if_requested() \
                     first in main",
                    exe.display()
                ),
            })
        }
    }
}
