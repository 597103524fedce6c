use std::path::PathBuf;

/// Why no throwaway PostgreSQL could be had. Each message says how to fix it and never
/// contains a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EphemeralError {
    /// No backend is usable in `auto` mode.
    #[error(
        "no PostgreSQL for tests: set TEST_DATABASE_URL=postgres://USER:PASSWORD@HOST/DB \
         (external, needs CREATEDB); or start Docker with the image PERSISTENCE_TEST_IMAGE \
         present or pullable (docker: {docker}); or install the PostgreSQL server binaries \
         (`apt-get install postgresql`, or set PERSISTENCE_PG_BIN to their directory) \
         (native: {native})"
    )]
    NoBackend {
        /// Why the docker backend was not usable.
        docker: String,
        /// Why the native backend was not usable.
        native: String,
    },
    /// The native backend cannot run on this system.
    #[error(
        "the native backend is {reason}: use Docker (PERSISTENCE_TEST_BACKEND=docker) or a \
         server of your own (TEST_DATABASE_URL=postgres://USER:PASSWORD@HOST/DB)"
    )]
    NativeUnavailable {
        /// Why, e.g. `not available on Windows`.
        reason: &'static str,
    },
    /// The PostgreSQL server binaries were not found.
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found; looked in: {}; install them \
         (`apt-get install postgresql`) or set PERSISTENCE_PG_BIN to the directory that has them",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    BinariesNotFound {
        /// Every directory that was searched.
        searched: Vec<PathBuf>,
    },
    /// An environment variable has a value the harness does not understand.
    #[error("{name}={value:?} is not valid: expected {expected}")]
    BadSetting {
        /// The variable's name.
        name: &'static str,
        /// Its value (never a URL with a password: those are redacted before).
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// `TEST_DATABASE_URL` could not be used.
    #[error("TEST_DATABASE_URL ({url}) {problem}")]
    External {
        /// The URL, password redacted.
        url: String,
        /// What went wrong and what to check.
        problem: String,
    },
    /// A file system or process operation failed.
    #[error("could not {action} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A command (initdb, postgres) failed.
    #[error("{command} failed: {detail}")]
    Command {
        /// The command.
        command: String,
        /// Its exit status and the end of its output.
        detail: String,
    },
    /// `persistence test-server stop` could not stop a server.
    #[error("could not stop the test server {instance}: {detail}")]
    Stop {
        /// The server's instance id.
        instance: String,
        /// What is left and how to remove it.
        detail: String,
    },
    /// The server did not start or did not answer `SELECT 1` in time.
    #[error("the test PostgreSQL server did not start: {detail}")]
    Start {
        /// What happened, with the end of the server's log when there is one.
        detail: String,
    },
}

impl EphemeralError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
