use sqlx::postgres::{PgDatabaseError, PgErrorPosition};

use super::sql::text::{failed, line_of, split};
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
    #[error("migration {file} failed while building the test template{location}: {detail}")]
    Migration {
        /// The migration's file: its path on disk when the test names its directory, else
        /// its name, e.g. `20260101000001_users.up.sql`.
        file: String,
        /// ` at line N, in statement M `...``, when PostgreSQL said where; else empty.
        location: String,
        /// What PostgreSQL or sqlx reported.
        detail: String,
    },
    /// A fixture's SQL failed.
    #[error("fixture {path} failed{location}: {detail}")]
    Fixture {
        /// The fixture's path.
        path: &'static str,
        /// ` at line N, in statement M `...``: where in the file.
        location: String,
        /// What PostgreSQL reported (message, SQLSTATE, detail, hint).
        detail: String,
        /// The error itself.
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
    /// The tests running at once held the whole connection budget for too long.
    #[error(
        "waited {waited:?} for {wanted} of the {size} connections the tests may hold on the \
         server at once, held {holders}; run fewer tests at once (--test-threads, nextest -j), \
         end the tests that hold them, or raise the server's max_connections (or \
         PERSISTENCE_TEST_CONNECTIONS, this machine's budget)"
    )]
    Budget {
        /// How long the test waited.
        waited: std::time::Duration,
        /// The connections the test asked for.
        wanted: u32,
        /// The budget's size.
        size: u32,
        /// Who holds the budget: counts by process and test.
        holders: String,
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
    #[error("{action} failed: {}", describe(source))]
    Sql {
        /// What the harness was doing.
        action: String,
        /// What PostgreSQL reported.
        #[source]
        source: sqlx::Error,
    },
}

impl HarnessError {
    /// A connection to `url` (without password) failed with `source`.
    pub(crate) fn connect(url: impl Into<String>, source: sqlx::Error) -> Self {
        Self::Connect {
            url: url.into(),
            source,
        }
    }

    pub(crate) fn sql(action: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        let action = action.into();
        move |source| Self::Sql { action, source }
    }
}

/// What PostgreSQL reported: its message, SQLSTATE, DETAIL and HINT; without sqlx's
/// `at line N`, which is a line of PostgreSQL's C source, not of anything the user wrote.
pub(crate) fn describe(err: &sqlx::Error) -> String {
    let Some(db) = err.as_database_error() else {
        return crate::postgres::redact_passwords(&err.to_string()).into_owned();
    };
    let mut text = db.message().to_owned();
    if let Some(code) = db.code() {
        text.push_str(&format!(" (SQLSTATE {code})"));
    }
    if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
        if let Some(detail) = pg.detail() {
            text.push_str(&format!("; DETAIL: {detail}"));
        }
        if let Some(hint) = pg.hint() {
            text.push_str(&format!("; HINT: {hint}"));
        }
    }
    text
}

/// Where in `sql` (a user's file, sent whole) the statement that failed with `err` is:
/// ` at line N, in statement M `...``, from PostgreSQL's position of the error or, without
/// one, from the number of statements that `completed`; empty when neither tells.
pub(crate) fn locate(sql: &str, err: &sqlx::Error, completed: Option<usize>) -> String {
    let position = err
        .as_database_error()
        .and_then(|db| db.try_downcast_ref::<PgDatabaseError>())
        .and_then(|pg| match pg.position() {
            Some(PgErrorPosition::Original(position)) => Some(position),
            _ => None,
        });
    let statements = split(sql);
    let statement = match (position, completed) {
        // Nothing says which one, unless there is only one.
        (None, None) if statements.len() == 1 => statements.first(),
        (position, completed) => failed(&statements, position, completed.unwrap_or(usize::MAX)),
    };
    let Some(statement) = statement else {
        return String::new();
    };
    let number = statements
        .iter()
        .position(|s| s == statement)
        .map_or(0, |i| i + 1);
    let line = position.map_or(statement.line, |p| line_of(sql, p));
    format!(
        " at line {line}, in statement {number} `{}`",
        statement.one_line(120)
    )
}
