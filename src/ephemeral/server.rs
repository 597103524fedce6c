//! The handle of a server a process uses: how to connect to it, what it is, and (for a
//! started one) the hold that keeps it running while this process lives.

use std::fs::File;

use sqlx::postgres::PgConnectOptions;

use super::state_dir::{ServerFiles, ServerState, StateDir};
use super::{BackendKind, Secret};

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
    pub(super) choice: Option<String>,
    /// Where the harness's relay of this (native) server listens, if it can.
    relay_dir: Option<std::path::PathBuf>,
    // Held for the life of the process: it tells the supervisor we still use the server.
    pub(super) users_lock: Option<File>,
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

    /// The started server `state` (of the state directory `state_dir`) describes, without
    /// a hold on it (its users lock).
    pub(crate) fn from_state(state: ServerState, state_dir: &std::path::Path) -> Self {
        let files = StateDir::new(state_dir).files_of(&state.instance_id);
        let relay_dir = state.relay_sockets().map(|(dir, _)| dir);
        Self {
            backend: state.backend(),
            admin: state.admin_options(),
            url_base: format!("postgres://postgres@127.0.0.1:{}", state.port),
            secret: state.secret.clone(),
            version: Some(state.version),
            instance: state.instance_id,
            files,
            choice: None,
            relay_dir,
            users_lock: None,
        }
    }

    /// The external server `admin` connects to, shown as `url_base` (no password), its
    /// harness files `files`: nothing of it is started or held.
    pub(super) fn external(admin: PgConnectOptions, url_base: String, files: ServerFiles) -> Self {
        Self {
            backend: BackendKind::External,
            admin,
            url_base,
            secret: None,
            version: None,
            instance: "external".to_owned(),
            files,
            choice: None,
            relay_dir: None,
            users_lock: None,
        }
    }
}
