//! Configuration errors: each one names the parameter, the bad value and how to fix it.

use std::fmt;
use std::path::PathBuf;

use super::params::{SslMode, known_url_parameters};

/// Where a configuration value came from; error messages say it so the user knows what to edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A parameter of the database URL (`?connection_limit=5`).
    Url,
    /// A `PERSISTENCE_*` environment variable (or the same line in `.env`).
    Env(&'static str),
    /// A [`PgConfigBuilder`](super::PgConfigBuilder) method.
    Code,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url => f.write_str("in the database URL"),
            Self::Env(var) => write!(f, "in environment variable {var}"),
            Self::Code => f.write_str("set in code"),
        }
    }
}

/// An invalid or incomplete database configuration. Messages never contain the password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `DATABASE_URL` is not set (neither in the environment nor in `.env`).
    #[error(
        "DATABASE_URL is not set: set it (in the environment or a .env file) to \
         postgres://USER:PASSWORD@HOST:5432/DATABASE, or build the configuration in code with \
         PgConfig::builder()"
    )]
    MissingUrl,

    /// A builder was given neither a URL nor a host and database.
    #[error(
        "no database to connect to: call .url(...) on the builder, or .host(...) and \
         .database(...), or .with_env() to read DATABASE_URL"
    )]
    MissingTarget,

    /// The URL does not parse.
    #[error(
        "the database URL `{url}` is not a valid URL ({reason}); expected \
         postgres://USER:PASSWORD@HOST:PORT/DATABASE, with special characters of the password \
         percent-encoded (e.g. @ as %40)"
    )]
    InvalidUrl {
        /// The URL with its password masked.
        url: String,
        /// What the URL parser objected to.
        reason: String,
    },

    /// The URL is not a PostgreSQL URL.
    #[error("the database URL has scheme `{scheme}:`; use postgres:// or postgresql://")]
    UnsupportedScheme {
        /// The scheme that was found.
        scheme: String,
    },

    /// The port is not a number from 1 to 65535.
    #[error(
        "invalid port `{value}` {origin}: expected a number from 1 to 65535, e.g. \
         postgres://localhost:5432/app"
    )]
    InvalidPort {
        /// The text found where the port should be.
        value: String,
        /// Where it came from.
        origin: Origin,
    },

    /// Neither a host nor a unix socket directory was given.
    #[error(
        "the database URL names no host: add one (postgres://USER@localhost:5432/DATABASE) or a \
         unix socket directory (postgres:///DATABASE?host=/var/run/postgresql)"
    )]
    MissingHost,

    /// No database name was given.
    #[error(
        "the database URL names no database: add it as the path, e.g. \
         postgres://USER@HOST:5432/app"
    )]
    MissingDatabase,

    /// The database name cannot be used.
    #[error("invalid database name `{name}` {origin}: {reason}")]
    InvalidDatabase {
        /// The name that was given.
        name: String,
        /// Where it came from.
        origin: Origin,
        /// Why it is rejected and what to write instead.
        reason: &'static str,
    },

    /// A parameter has a value outside what it accepts.
    #[error("invalid {param} `{value}` {origin}: expected {expected}")]
    InvalidValue {
        /// The parameter's canonical name (`connection_limit`).
        param: &'static str,
        /// The value that was given.
        value: String,
        /// Where it came from.
        origin: Origin,
        /// What would be accepted, with an example.
        expected: &'static str,
    },

    /// The URL has a parameter neither this crate nor sqlx knows.
    #[error(
        "unknown parameter `{name}` in the database URL{}; remove it, or use one of: {}",
        suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(),
        known_url_parameters().collect::<Vec<_>>().join(", ")
    )]
    UnknownParameter {
        /// The parameter as written.
        name: String,
        /// The known parameter it most likely was meant to be.
        suggestion: Option<&'static str>,
    },

    /// A parameter Prisma or libpq accepts but sqlx cannot honour.
    #[error("parameter `{param}` {origin} is not supported: {hint}")]
    Unsupported {
        /// The parameter as written.
        param: String,
        /// Where it came from.
        origin: Origin,
        /// What to use instead.
        hint: &'static str,
    },

    /// Two parameters contradict each other.
    #[error("{first} conflicts with {second}: {hint}")]
    Conflict {
        /// The first parameter, with its value and origin.
        first: String,
        /// The second parameter, with its value and origin.
        second: String,
        /// How to resolve it.
        hint: &'static str,
    },

    /// TLS was required but the crate was built without TLS support.
    #[error(
        "sslmode={mode} needs TLS, but persistence-pg was built without its `tls` feature: add \
         `features = [\"tls\"]` to its dependency line, or use sslmode=disable or sslmode=prefer"
    )]
    TlsUnavailable {
        /// The mode that was asked for.
        mode: SslMode,
    },

    /// A file named by a parameter does not exist.
    #[error("{param} file `{}` {origin} does not exist; {hint}", path.display())]
    MissingFile {
        /// The parameter (`sslrootcert`).
        param: &'static str,
        /// The path that was given.
        path: PathBuf,
        /// Where it came from.
        origin: Origin,
        /// What the file should be.
        hint: &'static str,
    },

    /// The `.env` file exists but cannot be read or parsed.
    #[error("cannot read the .env file: {reason}; fix or remove it")]
    DotEnv {
        /// What went wrong (the offending line is not quoted: it may hold a password).
        reason: String,
    },

    /// [`init_global`](crate::postgres::init_global) was called after the global pool existed.
    #[error(
        "the process-wide pool is already initialized: call init_global() once, before the \
         first use of global()"
    )]
    GlobalAlreadyInitialized,

    /// A function that spawns pool maintenance tasks was called outside a Tokio runtime.
    #[error("{0}() must be called inside a Tokio runtime (e.g. from #[tokio::main])")]
    NoRuntime(&'static str),
}
