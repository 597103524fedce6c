//! One error type for the whole production core, sorted into the categories a caller acts on.
//!
//! sqlx reports failures by *where* they happened (I/O, pool, database, ...). A service needs
//! to know *what to do*: reconnect, back off, rerun the transaction, or give up. [`Error`]
//! keeps the original sqlx error as its source and adds an [`ErrorCategory`] saying that.
//!
//! The classification rules are pure functions ([`ErrorCategory::from_sqlstate`],
//! [`ErrorCategory::from_sqlx`]) so they are tested without a server.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

use serde::Serialize;
use sqlx::migrate::MigrateError;

use super::config::ConfigError;
use super::global_scope::GlobalUnavailable;
use super::redact::redact_passwords;

/// What kind of failure an [`Error`] is, and therefore what the caller should do about it.
///
/// | category | SQLSTATE / cause | retry |
/// |---|---|---|
/// | `Unreachable` | connection refused, DNS, socket missing, class 08 | reconnect with backoff |
/// | `Timeout` | connect / pool / statement timeout (57014, 25P03, 55P03, 57P05) | caller decides |
/// | `AuthFailed` | class 28 (28000, 28P01) | never |
/// | `DatabaseMissing` | 3D000 | never |
/// | `TooManyConnections` | 53300 | backoff |
/// | `ShuttingDown` | 57P01, 57P02, 57P03, our pool was shut down | reconnect |
/// | `Conflict` | 40001 serialization failure, 40P01 deadlock | rerun the transaction |
/// | `Constraint` | class 23 | no |
/// | `Tls`, `Config`, `Migration`, `Other` | | no |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCategory {
    /// The server could not be reached: refused, unknown host, missing socket, connection lost.
    Unreachable,
    /// Something took too long: connecting, waiting for a pooled connection, or a statement.
    Timeout,
    /// The server rejected the credentials.
    AuthFailed,
    /// The database named in the configuration does not exist.
    DatabaseMissing,
    /// The server has no connection slot left (`max_connections`).
    TooManyConnections,
    /// The server (or this process's pool) is shutting down or not yet accepting connections.
    ShuttingDown,
    /// A serialization failure or deadlock: the transaction can be run again.
    Conflict,
    /// An integrity constraint (unique, foreign key, check, not null, exclusion) was violated.
    Constraint,
    /// The TLS handshake or certificate verification failed.
    Tls,
    /// The configuration is invalid.
    Config,
    /// A migration failed, was edited after being applied, or is missing.
    Migration,
    /// Anything else: programming errors, decoding errors, unexpected server errors.
    Other,
}

/// What a caller should do about an error of a given [`ErrorCategory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAdvice {
    /// Open a new connection, with backoff: the server may come back.
    Reconnect,
    /// Wait (with backoff) and try again: a resource is exhausted for now.
    Backoff,
    /// Run the whole transaction again, from its first statement.
    RerunTransaction,
    /// It depends on the operation: a timed-out statement may time out again.
    CallerDecides,
    /// Trying again gives the same result.
    Never,
}

impl ErrorCategory {
    /// Classifies a PostgreSQL SQLSTATE code (five characters, e.g. `"23505"`).
    ///
    /// # Example
    /// ```
    /// use persistence::postgres::ErrorCategory;
    /// assert_eq!(ErrorCategory::from_sqlstate("40P01"), ErrorCategory::Conflict);
    /// assert_eq!(ErrorCategory::from_sqlstate("23505"), ErrorCategory::Constraint);
    /// ```
    pub fn from_sqlstate(code: &str) -> Self {
        match code {
            "40001" | "40P01" => Self::Conflict,
            "3D000" => Self::DatabaseMissing,
            "53300" => Self::TooManyConnections,
            // admin_shutdown, crash_shutdown, cannot_connect_now (starting up / recovering).
            "57P01" | "57P02" | "57P03" => Self::ShuttingDown,
            // query_canceled is how statement_timeout surfaces; idle_in_transaction_session_timeout,
            // lock_not_available (lock_timeout) and idle_session_timeout are timeouts as well.
            "57014" | "25P03" | "55P03" | "57P05" => Self::Timeout,
            _ if code.starts_with("28") => Self::AuthFailed,
            _ if code.starts_with("23") => Self::Constraint,
            _ if code.starts_with("08") => Self::Unreachable,
            _ => Self::Other,
        }
    }

    /// Classifies an I/O error met while connecting or talking to the server.
    pub fn from_io(error: &io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::TimedOut => Self::Timeout,
            // Refused, reset, unknown host (DNS errors are `Other` kinds), missing unix socket,
            // broken pipe: in every case the server is not there for us right now.
            _ => Self::Unreachable,
        }
    }

    /// Classifies an error returned by sqlx.
    pub fn from_sqlx(error: &sqlx::Error) -> Self {
        match error {
            sqlx::Error::Io(io) => Self::from_io(io),
            sqlx::Error::Tls(_) => Self::Tls,
            sqlx::Error::PoolTimedOut => Self::Timeout,
            sqlx::Error::PoolClosed => Self::ShuttingDown,
            sqlx::Error::Configuration(_) => Self::Config,
            sqlx::Error::Database(db) => db.code().map_or(Self::Other, |c| Self::from_sqlstate(&c)),
            sqlx::Error::Migrate(migrate) => Self::from_migrate(migrate),
            _ => Self::Other,
        }
    }

    /// Classifies a migration error: a connection problem keeps its own category (the
    /// migration itself may be fine), everything else is [`ErrorCategory::Migration`].
    pub fn from_migrate(error: &MigrateError) -> Self {
        let inner = match error {
            MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => Self::from_sqlx(e),
            _ => Self::Migration,
        };
        if inner.is_connection_problem() {
            inner
        } else {
            Self::Migration
        }
    }

    /// True for the categories that say the connection, not the statement, failed.
    fn is_connection_problem(self) -> bool {
        matches!(
            self,
            Self::Unreachable
                | Self::Timeout
                | Self::AuthFailed
                | Self::DatabaseMissing
                | Self::TooManyConnections
                | Self::ShuttingDown
                | Self::Tls
        )
    }

    /// What to do about errors of this category.
    pub fn retry_advice(self) -> RetryAdvice {
        match self {
            Self::Unreachable | Self::ShuttingDown => RetryAdvice::Reconnect,
            Self::TooManyConnections => RetryAdvice::Backoff,
            Self::Conflict => RetryAdvice::RerunTransaction,
            Self::Timeout => RetryAdvice::CallerDecides,
            Self::AuthFailed
            | Self::DatabaseMissing
            | Self::Constraint
            | Self::Tls
            | Self::Config
            | Self::Migration
            | Self::Other => RetryAdvice::Never,
        }
    }

    /// True when trying again (reconnecting, backing off, rerunning) can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self.retry_advice(),
            RetryAdvice::Reconnect | RetryAdvice::Backoff | RetryAdvice::RerunTransaction
        )
    }

    /// The stable snake_case name used in logs and JSON (`"too_many_connections"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::AuthFailed => "auth_failed",
            Self::DatabaseMissing => "database_missing",
            Self::TooManyConnections => "too_many_connections",
            Self::ShuttingDown => "shutting_down",
            Self::Conflict => "conflict",
            Self::Constraint => "constraint",
            Self::Tls => "tls",
            Self::Config => "config",
            Self::Migration => "migration",
            Self::Other => "other",
        }
    }

    /// A short human description, used as the first words of error messages.
    fn headline(self) -> &'static str {
        match self {
            Self::Unreachable => "cannot reach the database server",
            Self::Timeout => "database operation timed out",
            Self::AuthFailed => "database authentication failed",
            Self::DatabaseMissing => "the database does not exist",
            Self::TooManyConnections => "the database server has no free connection slot",
            Self::ShuttingDown => "the database server is shutting down or starting up",
            Self::Conflict => "transaction conflict (run the transaction again)",
            Self::Constraint => "constraint violation",
            Self::Tls => "TLS error while connecting to the database",
            Self::Config => "invalid database configuration",
            Self::Migration => "migration error",
            Self::Other => "database error",
        }
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of the production core. Its messages never contain a password.
///
/// Use [`Error::category`] to decide what to do, [`Error::is_retryable`] for the common
/// yes/no question, and [`std::error::Error::source`] for the underlying sqlx error.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// sqlx (or the server through it) reported an error.
    #[error("{}: {}", category.headline(), describe_sqlx(source))]
    Database {
        /// What kind of failure this is.
        category: ErrorCategory,
        /// The error sqlx returned.
        #[source]
        source: sqlx::Error,
    },

    /// Opening a connection failed because nothing answered at the server's address
    /// (refused, unknown host, missing unix socket). Category [`ErrorCategory::Unreachable`].
    #[error(
        "cannot reach the database server: {target}: {}; check the host and port (or socket \
         directory), and that PostgreSQL runs there",
        describe_sqlx(source)
    )]
    Unreachable {
        /// Where we tried to connect (host:port or socket; never credentials).
        target: String,
        /// The error sqlx returned.
        #[source]
        source: sqlx::Error,
    },

    /// Opening a connection took longer than `connect_timeout`.
    #[error(
        "connecting to {target} timed out after {timeout:?} (connect_timeout); check that the \
         server is up and reachable, or raise connect_timeout"
    )]
    ConnectTimeout {
        /// Where we tried to connect (host:port or socket; never credentials).
        target: String,
        /// The limit that was exceeded.
        timeout: Duration,
    },

    /// No pooled connection became free within `pool_timeout` although the server answers:
    /// every connection the pool may open is in use. Built by
    /// [`acquire`](crate::postgres::acquire) (and [`transaction`](crate::postgres::transaction)
    /// on a pool), which know the pool; a bare `sqlx::Error::PoolTimedOut` converts to
    /// [`Error::Database`] with category [`ErrorCategory::Timeout`].
    #[error(
        "no pooled connection was free within {waited:?} (pool_timeout): {in_use} of the pool's \
         {max_connections} connections (connection_limit) are in use; look for slow queries or \
         connections held too long, or raise connection_limit or pool_timeout"
    )]
    PoolExhausted {
        /// The pool's limit (`connection_limit`).
        max_connections: u32,
        /// Connections checked out when the wait ended.
        in_use: u32,
        /// How long the caller waited.
        waited: Duration,
    },

    /// The pool was closed by `shutdown` or `close`: the
    /// process is stopping and accepts no new database work.
    #[error(
        "the connection pool has been shut down; the process is stopping and runs no new queries"
    )]
    PoolShutDown,

    /// `shutdown` gave up waiting for connections still in use.
    #[error(
        "shutting down the connection pool timed out after {timeout:?} with {in_use} connection(s) \
         still in use; they will be closed when released"
    )]
    ShutdownTimedOut {
        /// Connections that were still checked out when the timeout expired.
        in_use: u32,
        /// How long we waited.
        timeout: Duration,
    },

    /// The connection broke while `COMMIT` was in flight: the transaction may or may not have
    /// been committed. Never retried automatically; check the data before doing it again.
    #[error(
        "the connection was lost during COMMIT, so it is unknown whether the transaction was \
         committed; check before running it again: {}",
        describe_sqlx(source)
    )]
    CommitOutcomeUnknown {
        /// The error that interrupted the commit.
        #[source]
        source: sqlx::Error,
    },

    /// sqlx's migrator failed while running, reverting or inspecting migrations; holds its
    /// [`MigrateError`].
    #[error("{}: {}", category.headline(), redact_passwords(&source.to_string()))]
    Migrator {
        /// [`ErrorCategory::Migration`], or the connection problem that stopped the migration.
        category: ErrorCategory,
        /// The error sqlx's migrator returned.
        #[source]
        source: MigrateError,
    },

    /// [`global`](crate::postgres::global) was called where a
    /// [`GlobalScope`](crate::postgres::GlobalScope) forbids it.
    #[error(transparent)]
    GlobalUnavailable(#[from] GlobalUnavailable),

    /// A migration workflow problem found by this crate, not by sqlx's migrator (nothing to
    /// revert, a migration file missing): holds its description.
    #[error("migration error: {0}")]
    MigrationWorkflow(String),

    /// A file operation failed (e.g. writing new migration files).
    #[error("{action}: {source}")]
    Io {
        /// What we were doing, including the path.
        action: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// The text of a sqlx error, with the SQLSTATE for server errors and any password masked.
fn describe_sqlx(error: &sqlx::Error) -> String {
    let text = match error {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_owned(),
        },
        other => other.to_string(),
    };
    redact_passwords(&text).into_owned()
}

impl Error {
    /// What kind of failure this is.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Self::Config(_) | Self::GlobalUnavailable(_) => ErrorCategory::Config,
            Self::Database { category, .. } | Self::Migrator { category, .. } => *category,
            Self::ConnectTimeout { .. }
            | Self::ShutdownTimedOut { .. }
            | Self::PoolExhausted { .. } => ErrorCategory::Timeout,
            Self::PoolShutDown => ErrorCategory::ShuttingDown,
            Self::CommitOutcomeUnknown { .. } | Self::Unreachable { .. } => {
                ErrorCategory::Unreachable
            }
            Self::MigrationWorkflow(_) => ErrorCategory::Migration,
            Self::Io { .. } => ErrorCategory::Other,
        }
    }

    /// True when trying again can succeed (see [`ErrorCategory::retry_advice`]).
    ///
    /// Always false for [`Error::CommitOutcomeUnknown`] (the first attempt may have committed)
    /// and [`Error::PoolShutDown`] (this process is stopping).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::CommitOutcomeUnknown { .. }
            | Self::PoolShutDown
            | Self::ShutdownTimedOut { .. } => false,
            _ => self.category().is_retryable(),
        }
    }

    /// True when the connection broke during `COMMIT` and the outcome is unknown.
    pub fn is_commit_outcome_unknown(&self) -> bool {
        matches!(self, Self::CommitOutcomeUnknown { .. })
    }

    /// The SQLSTATE code when the server reported the error.
    pub fn sqlstate(&self) -> Option<String> {
        self.as_sqlx()
            .and_then(|e| e.as_database_error())
            .and_then(|db| db.code())
            .map(|code| code.into_owned())
    }

    /// The underlying sqlx error, if there is one.
    pub fn as_sqlx(&self) -> Option<&sqlx::Error> {
        match self {
            Self::Database { source, .. }
            | Self::CommitOutcomeUnknown { source }
            | Self::Unreachable { source, .. } => Some(source),
            Self::Migrator {
                source: MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _),
                ..
            } => Some(e),
            _ => None,
        }
    }

    /// Builds an [`Error::Io`] naming what was being done.
    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            action: redact_passwords(&action.into()).into_owned(),
            source,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(source: sqlx::Error) -> Self {
        match source {
            sqlx::Error::PoolClosed => Self::PoolShutDown,
            sqlx::Error::Migrate(migrate) => Self::from(*migrate),
            source => Self::Database {
                category: ErrorCategory::from_sqlx(&source),
                source,
            },
        }
    }
}

impl From<MigrateError> for Error {
    fn from(source: MigrateError) -> Self {
        Self::Migrator {
            category: ErrorCategory::from_migrate(&source),
            source,
        }
    }
}

// Debug is what `unwrap()` and `{:?}` print: the category and the (redacted) message, never
// the nested sqlx structures, which are not audited for secrets.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("category", &self.category())
            .field("message", &self.to_string())
            .finish()
    }
}

/// The category of the first error in `error`'s source chain that this crate can classify
/// (an [`Error`] or a `sqlx::Error`), so user error types wrapping ours are understood too.
pub(crate) fn category_in_chain(error: &(dyn StdError + 'static)) -> Option<ErrorCategory> {
    let mut current = Some(error);
    while let Some(e) = current {
        // The same answer as `category()`: a commit whose outcome is unknown is `Unreachable`
        // (the connection was lost) in both, and is kept from a rerun by `is_retryable` and by
        // `transaction` rerunning on `Conflict` only.
        if let Some(ours) = e.downcast_ref::<Error>() {
            return Some(ours.category());
        }
        if let Some(sqlx) = e.downcast_ref::<sqlx::Error>() {
            return Some(ErrorCategory::from_sqlx(sqlx));
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::borrow::Cow;

    /// A server error with a given SQLSTATE, as the server would send it.
    #[derive(Debug)]
    pub(crate) struct FakeDbError {
        pub(crate) code: Option<&'static str>,
        pub(crate) message: &'static str,
    }

    impl fmt::Display for FakeDbError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.message)
        }
    }

    impl StdError for FakeDbError {}

    impl sqlx::error::DatabaseError for FakeDbError {
        fn message(&self) -> &str {
            self.message
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            self.code.map(Cow::Borrowed)
        }
        fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    pub(crate) fn db_error(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(FakeDbError {
            code: Some(code),
            message: "server says no",
        }))
    }

    #[test]
    fn every_sqlstate_row_of_the_table() {
        use ErrorCategory::*;
        let table = [
            ("08000", Unreachable),
            ("08001", Unreachable),
            ("08003", Unreachable),
            ("08006", Unreachable),
            ("08P01", Unreachable),
            ("57014", Timeout),
            ("25P03", Timeout),
            ("55P03", Timeout),
            ("57P05", Timeout),
            ("28000", AuthFailed),
            ("28P01", AuthFailed),
            ("3D000", DatabaseMissing),
            ("53300", TooManyConnections),
            ("57P01", ShuttingDown),
            ("57P02", ShuttingDown),
            ("57P03", ShuttingDown),
            ("40001", Conflict),
            ("40P01", Conflict),
            ("23000", Constraint),
            ("23502", Constraint),
            ("23503", Constraint),
            ("23505", Constraint),
            ("23514", Constraint),
            ("23P01", Constraint),
            ("42P01", Other),
            ("40002", Other),
            ("53000", Other),
            ("", Other),
        ];
        for (code, expected) in table {
            assert_eq!(
                ErrorCategory::from_sqlstate(code),
                expected,
                "SQLSTATE {code}"
            );
        }
    }

    #[test]
    fn retry_advice_matches_the_design_table() {
        use ErrorCategory::*;
        let table = [
            (Unreachable, RetryAdvice::Reconnect, true),
            (Timeout, RetryAdvice::CallerDecides, false),
            (AuthFailed, RetryAdvice::Never, false),
            (DatabaseMissing, RetryAdvice::Never, false),
            (TooManyConnections, RetryAdvice::Backoff, true),
            (ShuttingDown, RetryAdvice::Reconnect, true),
            (Conflict, RetryAdvice::RerunTransaction, true),
            (Constraint, RetryAdvice::Never, false),
            (Tls, RetryAdvice::Never, false),
            (Config, RetryAdvice::Never, false),
            (Migration, RetryAdvice::Never, false),
            (Other, RetryAdvice::Never, false),
        ];
        for (category, advice, retryable) in table {
            assert_eq!(category.retry_advice(), advice, "{category}");
            assert_eq!(category.is_retryable(), retryable, "{category}");
            let json = serde_json::to_value(category).expect("serializes");
            assert_eq!(json, category.as_str(), "{category}");
            assert_eq!(category.to_string(), category.as_str());
            assert!(!category.headline().is_empty());
        }
    }

    #[test]
    fn classifies_sqlx_errors() {
        use ErrorCategory::*;
        let io = |kind| sqlx::Error::Io(io::Error::new(kind, "boom"));
        let cases = [
            (io(io::ErrorKind::ConnectionRefused), Unreachable),
            (io(io::ErrorKind::NotFound), Unreachable),
            (io(io::ErrorKind::ConnectionReset), Unreachable),
            (io(io::ErrorKind::Other), Unreachable),
            (io(io::ErrorKind::TimedOut), Timeout),
            (sqlx::Error::Tls("bad certificate".into()), Tls),
            (sqlx::Error::PoolTimedOut, Timeout),
            (sqlx::Error::PoolClosed, ShuttingDown),
            (sqlx::Error::Configuration("nope".into()), Config),
            (sqlx::Error::Protocol("garbage".into()), Other),
            (sqlx::Error::RowNotFound, Other),
            (sqlx::Error::WorkerCrashed, Other),
            (db_error("40001"), Conflict),
            (
                sqlx::Error::Database(Box::new(FakeDbError {
                    code: None,
                    message: "no code",
                })),
                Other,
            ),
            (
                sqlx::Error::Migrate(Box::new(MigrateError::VersionMismatch(3))),
                Migration,
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(ErrorCategory::from_sqlx(&error), expected, "{error}");
            assert_eq!(Error::from(error).category(), expected);
        }
    }

    #[test]
    fn classifies_migrate_errors() {
        use ErrorCategory::*;
        let refused = || sqlx::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        let cases = [
            (MigrateError::Execute(refused()), Unreachable),
            (MigrateError::ExecuteMigration(refused(), 1), Unreachable),
            (
                MigrateError::ExecuteMigration(db_error("42601"), 1),
                Migration,
            ),
            (MigrateError::Execute(db_error("28P01")), AuthFailed),
            (MigrateError::Dirty(4), Migration),
            (MigrateError::VersionMissing(4), Migration),
        ];
        for (error, expected) in cases {
            assert_eq!(ErrorCategory::from_migrate(&error), expected, "{error}");
        }
    }

    #[test]
    fn error_variants_have_categories_and_retryability() {
        let conflict = Error::from(db_error("40P01"));
        assert_eq!(conflict.category(), ErrorCategory::Conflict);
        assert!(conflict.is_retryable());
        assert_eq!(conflict.sqlstate().as_deref(), Some("40P01"));
        assert!(conflict.as_sqlx().is_some());
        assert!(conflict.to_string().contains("(SQLSTATE 40P01)"));

        let unknown = Error::CommitOutcomeUnknown {
            source: sqlx::Error::Io(io::Error::from(io::ErrorKind::ConnectionReset)),
        };
        assert!(unknown.is_commit_outcome_unknown());
        assert!(!unknown.is_retryable());
        assert_eq!(unknown.category(), ErrorCategory::Unreachable);
        assert!(unknown.as_sqlx().is_some());
        assert!(
            unknown
                .to_string()
                .contains("unknown whether the transaction was committed")
        );

        let closed = Error::from(sqlx::Error::PoolClosed);
        assert!(matches!(closed, Error::PoolShutDown));
        assert_eq!(closed.category(), ErrorCategory::ShuttingDown);
        assert!(!closed.is_retryable());
        assert!(closed.as_sqlx().is_none());
        assert!(closed.sqlstate().is_none());

        let shutdown = Error::ShutdownTimedOut {
            in_use: 2,
            timeout: Duration::from_secs(1),
        };
        assert_eq!(shutdown.category(), ErrorCategory::Timeout);
        assert!(!shutdown.is_retryable());
        assert!(shutdown.to_string().contains("2 connection(s)"));

        let exhausted = Error::PoolExhausted {
            max_connections: 4,
            in_use: 4,
            waited: Duration::from_millis(300),
        };
        assert_eq!(exhausted.category(), ErrorCategory::Timeout);
        assert!(!exhausted.is_retryable());
        assert!(exhausted.as_sqlx().is_none());
        assert!(
            exhausted
                .to_string()
                .starts_with("no pooled connection was free within 300ms (pool_timeout): 4 of the pool's 4 connections (connection_limit) are in use"),
            "{exhausted}"
        );

        let connect = Error::ConnectTimeout {
            target: "db:5432".into(),
            timeout: Duration::from_secs(5),
        };
        assert_eq!(connect.category(), ErrorCategory::Timeout);
        assert!(connect.to_string().contains("connect_timeout"));

        let migrate = Error::from(MigrateError::Execute(db_error("3D000")));
        assert_eq!(migrate.category(), ErrorCategory::DatabaseMissing);
        assert_eq!(migrate.sqlstate().as_deref(), Some("3D000"));
        let migrate = Error::from(sqlx::Error::Migrate(Box::new(MigrateError::Dirty(7))));
        assert_eq!(migrate.category(), ErrorCategory::Migration);
        assert!(migrate.as_sqlx().is_none());

        let workflow = Error::MigrationWorkflow("nothing to revert".into());
        assert_eq!(workflow.category(), ErrorCategory::Migration);

        let io = Error::io(
            "writing postgres://u:pw@h/db",
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(io.category(), ErrorCategory::Other);
        assert!(!io.to_string().contains("pw"));

        let config = Error::from(ConfigError::MissingUrl);
        assert_eq!(config.category(), ErrorCategory::Config);
        assert!(!config.is_retryable());
    }

    #[test]
    fn server_errors_without_a_code_show_the_message() {
        let error = Error::from(sqlx::Error::Database(Box::new(FakeDbError {
            code: None,
            message: "odd",
        })));
        assert_eq!(error.to_string(), "database error: odd");
        assert_eq!(error.sqlstate(), None);
    }

    #[test]
    fn messages_and_debug_never_show_a_password() {
        let leaky = sqlx::Error::Configuration("bad url postgres://app:hunter2@h/db".into());
        let error = Error::from(leaky);
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
        assert!(format!("{error:?}").contains("category: Config"));

        let migrate = Error::from(MigrateError::Source("postgres://a:hunter2@h".into()));
        assert!(!migrate.to_string().contains("hunter2"));
    }

    #[test]
    fn finds_categories_in_wrapping_error_types() {
        #[derive(Debug, thiserror::Error)]
        enum AppError {
            #[error("db")]
            Db(#[from] Error),
            #[error("raw")]
            Raw(#[source] sqlx::Error),
            #[error("mine")]
            Mine,
        }
        let wrapped = AppError::from(Error::from(db_error("40001")));
        assert_eq!(category_in_chain(&wrapped), Some(ErrorCategory::Conflict));
        let raw = AppError::Raw(db_error("23505"));
        assert_eq!(category_in_chain(&raw), Some(ErrorCategory::Constraint));
        assert_eq!(category_in_chain(&AppError::Mine), None);
        let unknown = Error::CommitOutcomeUnknown {
            source: sqlx::Error::Io(io::Error::from(io::ErrorKind::ConnectionReset)),
        };
        assert_eq!(
            category_in_chain(&unknown),
            Some(ErrorCategory::Unreachable)
        );
    }

    #[test]
    fn the_chain_and_the_error_agree_on_every_category() {
        let lost = || sqlx::Error::Io(io::Error::from(io::ErrorKind::ConnectionReset));
        let errors = [
            Error::CommitOutcomeUnknown { source: lost() },
            Error::from(db_error("40001")),
            Error::from(lost()),
            Error::from(sqlx::Error::PoolClosed),
            Error::from(MigrateError::Dirty(3)),
            Error::MigrationWorkflow("nothing to revert".into()),
            Error::from(ConfigError::MissingUrl),
            Error::PoolExhausted {
                max_connections: 1,
                in_use: 1,
                waited: Duration::from_secs(1),
            },
        ];
        for error in errors {
            assert_eq!(category_in_chain(&error), Some(error.category()), "{error}");
        }
    }
}
