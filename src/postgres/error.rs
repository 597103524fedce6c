//! One error type for the whole production core: [`Error`], whose [`category`](Error::category)
//! says what failed and what to do about it (see [`ErrorCategory`]). sqlx's own error stays
//! reachable as its source.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

use sqlx::migrate::MigrateError;

use super::category::ErrorCategory;
use super::config::ConfigError;
use super::redact::redact_passwords;

/// An error of the production core. Its messages never contain a password.
///
/// [`Error::category`] is the one way to ask what failed and whether trying again can help;
/// the message says what happened, [`Error::sqlstate`] gives the server's code, and
/// [`std::error::Error::source`] leads to the underlying sqlx error.
///
/// # Example
/// ```no_run
/// use persistence::postgres::{Error, ErrorCategory};
///
/// # async fn insert(pool: &sqlx::PgPool) -> Result<(), Error> { Ok(()) }
/// # async fn run(pool: sqlx::PgPool) -> Result<(), Error> {
/// match insert(&pool).await {
///     Err(error) if error.category() == ErrorCategory::Constraint => {
///         eprintln!("rejected: {error}");
///     }
///     other => other?,
/// }
/// # Ok(()) }
/// ```
#[derive(thiserror::Error)]
#[error(transparent)]
pub struct Error(#[from] Kind);

/// What happened: the message of an [`Error`], and where its category comes from.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Kind {
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
    /// `Database` with category [`ErrorCategory::Timeout`].
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

    /// The pool was closed by [`shutdown`](crate::postgres::shutdown) or
    /// [`close`](crate::postgres::close): the process is stopping and accepts no new database
    /// work.
    #[error(
        "the connection pool has been shut down; the process is stopping and runs no new queries"
    )]
    PoolShutDown,

    /// [`shutdown`](crate::postgres::shutdown) or [`close`](crate::postgres::close) gave up
    /// waiting for connections still in use.
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
    /// Category [`ErrorCategory::CommitOutcomeUnknown`].
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

    /// [`global`](crate::postgres::global) was called inside a
    /// [`GlobalScope::deny`](crate::postgres::GlobalScope::deny) scope.
    #[error("the process-wide pool is not available here: {reason}")]
    GlobalDenied {
        /// The scope's explanation: why, and what to do instead.
        reason: String,
    },

    /// [`global`](crate::postgres::global) was called outside any scope in a process that
    /// called [`forbid_unscoped_global`](crate::postgres::forbid_unscoped_global).
    #[error(
        "the process-wide pool is not available outside a scope in this process: {reason}; a \
         task started with a bare tokio::spawn, spawn_blocking or another thread does not \
         inherit the scope: start it with persistence::postgres::spawn_scoped, or wrap its future \
         with GlobalScope::current().run(...)"
    )]
    GlobalOutsideScope {
        /// What the process said when it forbade unscoped use.
        reason: String,
    },

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
    /// What failed, and so what to do about it (the table of [`ErrorCategory`]).
    pub fn category(&self) -> ErrorCategory {
        match &self.0 {
            Kind::Config(_) | Kind::GlobalDenied { .. } | Kind::GlobalOutsideScope { .. } => {
                ErrorCategory::Config
            }
            Kind::Database { category, .. } | Kind::Migrator { category, .. } => *category,
            Kind::ConnectTimeout { .. }
            | Kind::ShutdownTimedOut { .. }
            | Kind::PoolExhausted { .. } => ErrorCategory::Timeout,
            Kind::PoolShutDown => ErrorCategory::ShuttingDown,
            Kind::Unreachable { .. } => ErrorCategory::Unreachable,
            Kind::CommitOutcomeUnknown { .. } => ErrorCategory::CommitOutcomeUnknown,
            Kind::MigrationWorkflow(_) => ErrorCategory::Migration,
            Kind::Io { .. } => ErrorCategory::Other,
        }
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
        match &self.0 {
            Kind::Database { source, .. }
            | Kind::CommitOutcomeUnknown { source }
            | Kind::Unreachable { source, .. } => Some(source),
            Kind::Migrator {
                source: MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _),
                ..
            } => Some(e),
            _ => None,
        }
    }

    /// A failed file or signal operation, naming what was being done.
    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        Self::from(Kind::Io {
            action: redact_passwords(&action.into()).into_owned(),
            source,
        })
    }

    /// What happened, for tests that look past the category and the message.
    #[cfg(test)]
    pub(crate) fn kind(&self) -> &Kind {
        &self.0
    }
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Self {
        Self(Kind::Config(error))
    }
}

impl From<sqlx::Error> for Error {
    fn from(source: sqlx::Error) -> Self {
        Self(match source {
            sqlx::Error::PoolClosed => Kind::PoolShutDown,
            sqlx::Error::Migrate(migrate) => return Self::from(*migrate),
            source => Kind::Database {
                category: ErrorCategory::from_sqlx(&source),
                source,
            },
        })
    }
}

impl From<MigrateError> for Error {
    fn from(source: MigrateError) -> Self {
        Self(Kind::Migrator {
            category: ErrorCategory::from_migrate(&source),
            source,
        })
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
mod tests {
    use super::*;
    use crate::postgres::category::tests::{FakeDbError, db_error, sqlx_cases};

    #[test]
    fn errors_from_sqlx_keep_their_category() {
        for (error, expected) in sqlx_cases() {
            assert_eq!(Error::from(error).category(), expected);
        }
    }

    #[test]
    fn every_kind_has_its_category() {
        let conflict = Error::from(db_error("40P01"));
        assert_eq!(conflict.category(), ErrorCategory::Conflict);
        assert_eq!(conflict.sqlstate().as_deref(), Some("40P01"));
        assert!(conflict.as_sqlx().is_some());
        assert!(conflict.to_string().contains("(SQLSTATE 40P01)"));

        let unknown = Error::from(Kind::CommitOutcomeUnknown {
            source: sqlx::Error::Io(io::Error::from(io::ErrorKind::ConnectionReset)),
        });
        assert_eq!(unknown.category(), ErrorCategory::CommitOutcomeUnknown);
        assert!(unknown.as_sqlx().is_some());
        assert!(
            unknown
                .to_string()
                .contains("unknown whether the transaction was committed")
        );

        let closed = Error::from(sqlx::Error::PoolClosed);
        assert!(matches!(closed.kind(), Kind::PoolShutDown));
        assert_eq!(closed.category(), ErrorCategory::ShuttingDown);
        assert!(closed.as_sqlx().is_none());
        assert!(closed.sqlstate().is_none());

        let shutdown = Error::from(Kind::ShutdownTimedOut {
            in_use: 2,
            timeout: Duration::from_secs(1),
        });
        assert_eq!(shutdown.category(), ErrorCategory::Timeout);
        assert!(shutdown.to_string().contains("2 connection(s)"));

        let exhausted = Error::from(Kind::PoolExhausted {
            max_connections: 4,
            in_use: 4,
            waited: Duration::from_millis(300),
        });
        assert_eq!(exhausted.category(), ErrorCategory::Timeout);
        assert!(exhausted.as_sqlx().is_none());
        assert!(
            exhausted
                .to_string()
                .starts_with("no pooled connection was free within 300ms (pool_timeout): 4 of the pool's 4 connections (connection_limit) are in use"),
            "{exhausted}"
        );

        let connect = Error::from(Kind::ConnectTimeout {
            target: "db:5432".into(),
            timeout: Duration::from_secs(5),
        });
        assert_eq!(connect.category(), ErrorCategory::Timeout);
        assert!(connect.to_string().contains("connect_timeout"));

        let migrate = Error::from(MigrateError::Execute(db_error("3D000")));
        assert_eq!(migrate.category(), ErrorCategory::DatabaseMissing);
        assert_eq!(migrate.sqlstate().as_deref(), Some("3D000"));
        let migrate = Error::from(sqlx::Error::Migrate(Box::new(MigrateError::Dirty(7))));
        assert_eq!(migrate.category(), ErrorCategory::Migration);
        assert!(migrate.as_sqlx().is_none());

        let workflow = Error::from(Kind::MigrationWorkflow("nothing to revert".into()));
        assert_eq!(workflow.category(), ErrorCategory::Migration);

        let io = Error::io(
            "writing postgres://u:pw@h/db",
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(io.category(), ErrorCategory::Other);
        assert!(!io.to_string().contains("pw"));

        let config = Error::from(ConfigError::MissingUrl);
        assert_eq!(config.category(), ErrorCategory::Config);

        for global in [
            Kind::GlobalDenied { reason: "x".into() },
            Kind::GlobalOutsideScope { reason: "x".into() },
        ] {
            assert_eq!(Error::from(global).category(), ErrorCategory::Config);
        }
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
    fn the_source_is_the_sqlx_error() {
        let error = Error::from(db_error("23505"));
        let source = error.source().expect("a source");
        assert!(source.downcast_ref::<sqlx::Error>().is_some(), "{source}");
        assert!(Error::from(ConfigError::MissingUrl).source().is_none());
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
        let unknown = Error::from(Kind::CommitOutcomeUnknown {
            source: sqlx::Error::Io(io::Error::from(io::ErrorKind::ConnectionReset)),
        });
        assert_eq!(
            category_in_chain(&unknown),
            Some(ErrorCategory::CommitOutcomeUnknown)
        );
    }

    #[test]
    fn the_chain_and_the_error_agree_on_every_category() {
        let lost = || sqlx::Error::Io(io::Error::from(io::ErrorKind::ConnectionReset));
        let errors = [
            Error::from(Kind::CommitOutcomeUnknown { source: lost() }),
            Error::from(db_error("40001")),
            Error::from(lost()),
            Error::from(sqlx::Error::PoolClosed),
            Error::from(MigrateError::Dirty(3)),
            Error::from(Kind::MigrationWorkflow("nothing to revert".into())),
            Error::from(ConfigError::MissingUrl),
            Error::from(Kind::PoolExhausted {
                max_connections: 1,
                in_use: 1,
                waited: Duration::from_secs(1),
            }),
        ];
        for error in errors {
            assert_eq!(category_in_chain(&error), Some(error.category()), "{error}");
        }
    }
}
