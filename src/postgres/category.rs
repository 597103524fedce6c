//! [`ErrorCategory`]: what failed, sorted by what the caller does about it.
//!
//! sqlx reports failures by *where* they happened (I/O, pool, database, ...). A service needs
//! to know *what to do*: reconnect, back off, rerun the transaction, or give up. The
//! classification rules are pure functions, so they are tested without a server.

use std::fmt;
use std::io;

use serde::Serialize;
use sqlx::migrate::MigrateError;

/// What kind of failure an [`Error`](super::Error) is, and so what to do about it: the one
/// answer to both questions (see [`Error::category`](super::Error::category)).
///
/// | category | SQLSTATE / cause | what to do |
/// |---|---|---|
/// | `Unreachable` | connection refused, DNS, socket missing, class 08 | reconnect, with backoff |
/// | `Timeout` | connect / pool / statement timeout (57014, 25P03, 55P03, 57P05), a pool close that timed out | the caller decides: the same work may time out again |
/// | `AuthFailed` | class 28 (28000, 28P01) | never retry: fix the credentials |
/// | `DatabaseMissing` | 3D000 | never retry: create the database or fix its name |
/// | `TooManyConnections` | 53300 | retry after a backoff |
/// | `ShuttingDown` | 57P01, 57P02, 57P03; this process closed its pool | reconnect, with backoff, while the server restarts; a pool this process closed refuses for good: the process is stopping |
/// | `Conflict` | 40001 serialization failure, 40P01 deadlock | run the whole transaction again |
/// | `CommitOutcomeUnknown` | the connection broke during `COMMIT` | never rerun blindly: the transaction may have committed, check first |
/// | `Constraint` | class 23 | no: the data breaks a rule |
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
    /// The connection was lost while `COMMIT` was in flight: the transaction may or may not
    /// have been committed.
    CommitOutcomeUnknown,
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

impl ErrorCategory {
    /// Classifies a PostgreSQL SQLSTATE code (five characters, e.g. `"23505"`).
    pub(crate) fn from_sqlstate(code: &str) -> Self {
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
    pub(crate) fn from_io(error: &io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::TimedOut => Self::Timeout,
            // Refused, reset, unknown host (DNS errors are `Other` kinds), missing unix socket,
            // broken pipe: in every case the server is not there for us right now.
            _ => Self::Unreachable,
        }
    }

    /// Classifies an error returned by sqlx.
    pub(crate) fn from_sqlx(error: &sqlx::Error) -> Self {
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
    pub(crate) fn from_migrate(error: &MigrateError) -> Self {
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
            Self::CommitOutcomeUnknown => "commit_outcome_unknown",
            Self::Constraint => "constraint",
            Self::Tls => "tls",
            Self::Config => "config",
            Self::Migration => "migration",
            Self::Other => "other",
        }
    }

    /// A short human description, used as the first words of error messages.
    pub(crate) fn headline(self) -> &'static str {
        match self {
            Self::Unreachable => "cannot reach the database server",
            Self::Timeout => "database operation timed out",
            Self::AuthFailed => "database authentication failed",
            Self::DatabaseMissing => "the database does not exist",
            Self::TooManyConnections => "the database server has no free connection slot",
            Self::ShuttingDown => "the database server is shutting down or starting up",
            Self::Conflict => "transaction conflict (run the transaction again)",
            Self::CommitOutcomeUnknown => "the outcome of COMMIT is unknown",
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::borrow::Cow;
    use std::error::Error as StdError;

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
    fn every_category_has_a_stable_name() {
        use ErrorCategory::*;
        for category in [
            Unreachable,
            Timeout,
            AuthFailed,
            DatabaseMissing,
            TooManyConnections,
            ShuttingDown,
            Conflict,
            CommitOutcomeUnknown,
            Constraint,
            Tls,
            Config,
            Migration,
            Other,
        ] {
            let json = serde_json::to_value(category).expect("serializes");
            assert_eq!(json, category.as_str(), "{category}");
            assert_eq!(category.to_string(), category.as_str());
            assert!(!category.headline().is_empty());
        }
    }

    /// sqlx errors of every kind, with their category.
    pub(crate) fn sqlx_cases() -> Vec<(sqlx::Error, ErrorCategory)> {
        use ErrorCategory::*;
        let io = |kind| sqlx::Error::Io(io::Error::new(kind, "boom"));
        vec![
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
        ]
    }

    #[test]
    fn classifies_sqlx_errors() {
        for (error, expected) in sqlx_cases() {
            assert_eq!(ErrorCategory::from_sqlx(&error), expected, "{error}");
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
}
