//! [`PgConfig`]: where the database is and how the pool behaves, from `DATABASE_URL`, the
//! environment or code.
//!
//! # Sources and precedence
//!
//! Settings come from four places; the first one that says something wins:
//!
//! 1. the [builder](PgConfigBuilder) (code),
//! 2. `PERSISTENCE_*` environment variables (or the same lines in `.env`),
//! 3. parameters of the database URL (Prisma's names, so URLs move over unchanged),
//! 4. the defaults below.
//!
//! | URL parameter | environment variable | default | maps to |
//! |---|---|---|---|
//! | `connection_limit` | `PERSISTENCE_CONNECTION_LIMIT` | CPUs * 2 + 1 | pool max size |
//! | `pool_timeout` | `PERSISTENCE_POOL_TIMEOUT` | 10 s (0 = wait forever) | wait for a free connection |
//! | `connect_timeout` | `PERSISTENCE_CONNECT_TIMEOUT` | 5 s (0 = none) | opening one connection |
//! | `statement_timeout` / `socket_timeout` | `PERSISTENCE_STATEMENT_TIMEOUT` | off | server-side per-statement limit |
//! | `max_idle_connection_lifetime` | `PERSISTENCE_MAX_IDLE_CONNECTION_LIFETIME` | 300 s (0 = keep) | close idle connections |
//! | `max_connection_lifetime` | `PERSISTENCE_MAX_CONNECTION_LIFETIME` | 30 min (0 = keep) | recycle old connections |
//! | `pgbouncer` | `PERSISTENCE_PGBOUNCER` | false | statement cache 0 |
//! | `statement_cache_size` | `PERSISTENCE_STATEMENT_CACHE_SIZE` | 100 | prepared statements kept per connection |
//! | `sslmode`, `sslrootcert` | `PERSISTENCE_SSLMODE`, `PERSISTENCE_SSLROOTCERT` | libpq's | TLS |
//! | `application_name` | `PERSISTENCE_APPLICATION_NAME` | none | shown in `pg_stat_activity` |
//! | `schema` | `PERSISTENCE_SCHEMA` | server's | `search_path` |
//! | `slow_acquire_threshold` | `PERSISTENCE_SLOW_ACQUIRE_THRESHOLD` | 1 s (0 = never) | warn about slow pool waits |
//!
//! Durations are whole seconds, as in Prisma, or a number with a unit: `500ms`, `10s`, `2min`,
//! `1h`. The tuning parameters are removed from the URL before sqlx sees it; `host`, `port`,
//! `user`, `password`, `dbname`, `sslcert`, `sslkey` and `options` keep their libpq meaning.
//! Anything else is rejected, with a suggestion when it looks like a typo.
//!
//! The password is never shown: not by `Display`, `Debug`, errors or logs.

mod builder;
mod error;
mod layer;
mod params;
mod target;
mod url;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use self::builder::PgConfigBuilder;
pub use self::error::{ConfigError, Origin};
pub use self::params::SslMode;
pub use self::target::Host;
use self::target::Target;

/// `pool_timeout=0` means "wait forever". sqlx needs a finite duration (it adds it to
/// `Instant::now()`), and a year is forever for a request while far from overflowing.
const WAIT_FOREVER: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A validated PostgreSQL configuration: the connection target and the pool settings.
///
/// Build one with [`PgConfig::from_env`], [`PgConfig::from_url`] or [`PgConfig::builder`],
/// then hand it to [`connect`](crate::postgres::connect), or take the sqlx options with
/// [`connect_options`](Self::connect_options) and [`pool_options`](Self::pool_options).
///
/// # Example
/// ```
/// use std::time::Duration;
/// use persistence::postgres::PgConfig;
///
/// let config = PgConfig::from_url(
///     "postgres://app:secret@db.internal:5432/app?connection_limit=8&pool_timeout=2",
/// )?;
/// assert_eq!(config.connection_limit(), 8);
/// assert_eq!(config.pool_timeout(), Some(Duration::from_secs(2)));
/// assert_eq!(config.redacted_url(), "postgres://app:***@db.internal:5432/app");
/// assert!(!format!("{config:?}").contains("secret"));
/// # Ok::<(), persistence::postgres::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PgConfig {
    target: Target,
    connection_limit: u32,
    pool_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    statement_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
    pgbouncer: bool,
    statement_cache_size: usize,
    ssl_mode: Option<SslMode>,
    ssl_root_cert: Option<PathBuf>,
    application_name: Option<String>,
    schema: Option<String>,
    slow_acquire_threshold: Option<Duration>,
    test_before_acquire: bool,
}

impl PgConfig {
    /// Starts a configuration in code; see [`PgConfigBuilder`].
    pub fn builder() -> PgConfigBuilder {
        PgConfigBuilder::new()
    }

    /// Reads `DATABASE_URL` and the `PERSISTENCE_*` overrides from the process environment,
    /// falling back to a `.env` file (in the current directory or a parent) for unset variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        PgConfigBuilder::new().with_env().build()
    }

    /// Parses a URL; no environment variable is read.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        PgConfigBuilder::new().url(url).build()
    }

    /// Parses a URL and applies `PERSISTENCE_*` overrides read through `env`, so tests can
    /// inject an environment without touching the process's.
    ///
    /// # Example
    /// ```
    /// use persistence::postgres::PgConfig;
    ///
    /// let env = |name: &str| (name == "PERSISTENCE_CONNECTION_LIMIT").then(|| "3".to_owned());
    /// let config = PgConfig::from_url_and_env("postgres://localhost/app?connection_limit=9", env)?;
    /// assert_eq!(config.connection_limit(), 3); // env beats URL
    /// # Ok::<(), persistence::postgres::ConfigError>(())
    /// ```
    pub fn from_url_and_env(
        url: &str,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        PgConfigBuilder::new().url(url).env_source(env).build()
    }

    /// The same configuration pointed at another database on the same server (e.g. the
    /// `postgres` maintenance database, or a per-test clone).
    pub fn with_database(&self, database: impl Into<String>) -> Self {
        let mut config = self.clone();
        config.target.set_database(&database.into());
        config
    }

    /// Where the server listens.
    pub fn host(&self) -> &Host {
        self.target.host()
    }

    /// The port, when one was given (otherwise libpq's default: `PGPORT` or 5432).
    pub fn port(&self) -> Option<u16> {
        self.target.port()
    }

    /// The user name, when one was given (otherwise `PGUSER` or the OS user).
    pub fn username(&self) -> Option<&str> {
        self.target.username()
    }

    /// Whether a password was given (the password itself is never exposed).
    pub fn has_password(&self) -> bool {
        self.target.named.password
    }

    /// The database name.
    pub fn database(&self) -> &str {
        self.target.database()
    }

    /// The pool's maximum number of connections.
    pub fn connection_limit(&self) -> u32 {
        self.connection_limit
    }

    /// How long to wait for a free pooled connection; `None` waits forever.
    pub fn pool_timeout(&self) -> Option<Duration> {
        self.pool_timeout
    }

    /// How long opening one connection may take; `None` means no limit.
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// The server-side `statement_timeout` of every connection; `None` leaves the server's.
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }

    /// How long a connection may stay idle before the pool closes it; `None` keeps it.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// How old a connection may get before the pool replaces it; `None` keeps it.
    pub fn max_lifetime(&self) -> Option<Duration> {
        self.max_lifetime
    }

    /// Whether the server is behind PgBouncer in transaction mode.
    pub fn pgbouncer(&self) -> bool {
        self.pgbouncer
    }

    /// Prepared statements cached per connection (0 with `pgbouncer=true`).
    pub fn statement_cache_size(&self) -> usize {
        if self.pgbouncer {
            0
        } else {
            self.statement_cache_size
        }
    }

    /// The TLS mode, when one was given (otherwise libpq's default: `PGSSLMODE` or `prefer`).
    pub fn ssl_mode(&self) -> Option<SslMode> {
        self.ssl_mode
    }

    /// The CA certificate file used to verify the server.
    pub fn ssl_root_cert(&self) -> Option<&Path> {
        self.ssl_root_cert.as_deref()
    }

    /// The `application_name` the connections report.
    pub fn application_name(&self) -> Option<&str> {
        self.application_name.as_deref()
    }

    /// The schema put on the `search_path`.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Pool waits longer than this are logged as warnings; `None` never logs them.
    pub fn slow_acquire_threshold(&self) -> Option<Duration> {
        self.slow_acquire_threshold
    }

    /// Whether idle connections are pinged before being handed out.
    pub fn test_before_acquire(&self) -> bool {
        self.test_before_acquire
    }

    /// The connection URL with the password replaced by `***`, safe to log.
    /// Tuning parameters are not repeated; libpq parameters (`sslcert`, ...) are.
    pub fn redacted_url(&self) -> String {
        self.target.redacted_url()
    }

    /// `host:port` or the socket directory, for messages.
    pub fn endpoint(&self) -> String {
        self.target.endpoint()
    }

    /// The sqlx connection options: target, TLS, statement cache, `application_name`, and the
    /// `statement_timeout` and `search_path` sent as startup options.
    ///
    /// PgBouncer in transaction mode rejects startup options unless it lists them in
    /// `ignore_startup_parameters`; set `statement_timeout` and `schema` on the role there.
    pub fn connect_options(&self) -> PgConnectOptions {
        let mut options = self
            .target
            .options
            .clone()
            .statement_cache_capacity(self.statement_cache_size());
        if let Some(mode) = self.ssl_mode {
            options = options.ssl_mode(mode.to_sqlx());
        }
        if let Some(path) = &self.ssl_root_cert {
            options = options.ssl_root_cert(path);
        }
        if let Some(name) = &self.application_name {
            options = options.application_name(name);
        }
        let startup = self.startup_parameters();
        if !startup.is_empty() {
            options = options.options(startup);
        }
        options
    }

    /// `-c name=value` settings sent when connecting (they cost no extra round trip).
    pub(crate) fn startup_parameters(&self) -> Vec<(&'static str, String)> {
        let mut startup = Vec::new();
        if let Some(timeout) = self.statement_timeout {
            startup.push(("statement_timeout", timeout.as_millis().to_string()));
        }
        if let Some(schema) = &self.schema {
            startup.push(("search_path", quote_identifier(schema)));
        }
        startup
    }

    /// The sqlx pool options. Every default is chosen on purpose; see the comments.
    ///
    /// [`connect`](crate::postgres::connect) adds connection-event logging on top of these.
    pub fn pool_options(&self) -> PgPoolOptions {
        PgPoolOptions::new()
            // Prisma's default (CPUs * 2 + 1) instead of sqlx's fixed 10: scales with the
            // machine and stays well under PostgreSQL's default max_connections (100).
            .max_connections(self.connection_limit)
            // Open connections on demand; a cold pool costs one connect (3-4 ms) per slot.
            .min_connections(0)
            // sqlx's 30 s default keeps a request hanging long after its caller gave up;
            // Prisma's 10 s fails it while an error is still useful. 0 means "forever".
            .acquire_timeout(self.pool_timeout.unwrap_or(WAIT_FOREVER))
            // Give idle connections back to the server (sqlx: 10 min, Prisma: 5 min).
            .idle_timeout(self.idle_timeout)
            // Recycle connections so server-side caches and memory are freed now and then.
            .max_lifetime(self.max_lifetime)
            // A ping before reuse turns "connection reset" errors (server restarted, idle
            // connection cut by a firewall) into a transparent reconnect, for one round trip.
            .test_before_acquire(self.test_before_acquire)
            // sqlx logs acquires slower than this at WARN (target `sqlx::pool::acquire`): the
            // earliest sign of an undersized pool or leaked connections.
            .acquire_slow_threshold(self.slow_acquire_threshold.unwrap_or(Duration::MAX))
    }
}

impl fmt::Display for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_url())
    }
}

/// Quotes an SQL identifier (schema, table, column, database name) so that any name works
/// and none can end the identifier early: `we"ird` becomes `"we""ird"`.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests;
