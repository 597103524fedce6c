use crate::ephemeral::EphemeralError;

/// Why the harness could not give a test its database. Messages name what failed (the
/// server, the migration file, the fixture) and never contain a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// No server could be found or started.
    #[error(transparent)]
    Server(#[from] EphemeralError),
    /// A connection to the test server failed.
    #[error("could not connect to the test database {url}: {source}")]
    Connect {
        /// The database's URL, without password.
        url: String,
        /// What sqlx reported.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed while the template was built.
    #[error("migration {file} failed while building the test template: {detail}")]
    Migration {
        /// The migration's file name, e.g. `20260101000001_users.up.sql`.
        file: String,
        /// What PostgreSQL or sqlx reported.
        detail: String,
    },
    /// A fixture's SQL failed.
    #[error("fixture {path} failed: {source}")]
    Fixture {
        /// The fixture's path.
        path: &'static str,
        /// What PostgreSQL reported.
        #[source]
        source: sqlx::Error,
    },
    /// Every clone slot is leased (more tests at once than the harness allows).
    #[error("all {limit} clones of the template are leased by running tests")]
    NoClone {
        /// The number of clones a template may have.
        limit: u32,
    },
    /// The server had no room for another clone or connection for too long.
    #[error(
        "waited {waited:?} for room on the test server and gave up: {detail}; run fewer tests \
         at once (--test-threads, nextest -j) or raise the server's max_connections"
    )]
    Capacity {
        /// How long the test waited.
        waited: std::time::Duration,
        /// The last thing that stood in the way.
        detail: String,
    },
    /// A file of the harness's state directory could not be used.
    #[error("{action} failed: {source} (check that the target directory is writable)")]
    State {
        /// What the harness was doing.
        action: &'static str,
        /// What the system reported.
        #[source]
        source: std::io::Error,
    },
    /// The test binary embeds other migrations than the directory on disk holds: cargo did
    /// not rebuild it after a migration file was added, removed or edited.
    #[error(
        "migration {file} was {change} after this test binary was built, so its tests would run \
         on the old schema (cargo does not watch the migrations directory by itself); fix it for \
         good with a build.rs holding `fn main() {{ println!(\"cargo:rerun-if-changed={dir}\"); }}` \
         (`persistence init` writes it), then run the tests again"
    )]
    StaleMigrations {
        /// The file that differs, as a path on disk.
        file: String,
        /// `added`, `removed` or `edited`.
        change: &'static str,
        /// The directory to watch, relative to the crate when it can be.
        dir: String,
    },
    /// A statement the harness runs itself failed.
    #[error("{action} failed: {source}")]
    Sql {
        /// What the harness was doing.
        action: String,
        /// What PostgreSQL reported.
        #[source]
        source: sqlx::Error,
    },
}

impl HarnessError {
    pub(crate) fn sql(action: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        let action = action.into();
        move |source| Self::Sql { action, source }
    }
}

/// Whether `err` is PostgreSQL's "database does not exist".
pub(crate) fn is_missing_database(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "3D000")
}
