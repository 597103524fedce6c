//! [`PgConfigBuilder`]: a configuration in code, optionally on top of a URL and the
//! environment. Builder settings win over the environment, which wins over the URL.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::PgConfig;
use super::error::{ConfigError, Origin};
use super::layer::{self, Layer, MAX_CONNECTION_LIMIT, MAX_DURATION};
use super::params::{Param, SslMode};
use super::target::{Host, Target, checked_port};
use super::url::parse_url;
use crate::postgres::redact::Secret;

/// The environment variable holding the connection URL.
pub(crate) const DATABASE_URL: &str = "DATABASE_URL";

/// Default `pool_timeout`: Prisma's.
const DEFAULT_POOL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `connect_timeout`: Prisma's.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default `max_idle_connection_lifetime`: Prisma's.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default `max_connection_lifetime`: sqlx's and Prisma's.
const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Default statement cache: sqlx's.
const DEFAULT_STATEMENT_CACHE_SIZE: usize = 100;
/// Default slow-acquire threshold: a tenth of the default pool timeout, so contention shows
/// in the logs well before requests start failing (sqlx's 2 s is a fifth).
const DEFAULT_SLOW_ACQUIRE_THRESHOLD: Duration = Duration::from_secs(1);

type EnvFn = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Where `PERSISTENCE_*` (and, without a URL, `DATABASE_URL`) are read from.
#[derive(Clone, Default)]
enum EnvSource {
    /// Nothing is read.
    #[default]
    None,
    /// The process environment, then `.env`.
    Process,
    /// A function, for tests.
    Custom(Arc<EnvFn>),
}

impl fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "None",
            Self::Process => "Process",
            Self::Custom(_) => "Custom",
        })
    }
}

/// The parts of the target set in code; each one wins over the URL's.
#[derive(Clone, Debug, Default)]
struct CodeTarget {
    host: Option<Host>,
    port: Option<u16>,
    username: Option<String>,
    password: Option<Secret>,
    database: Option<String>,
}

/// Builds a [`PgConfig`] in code, from a URL, the environment, or any mix of them.
///
/// Settings made here win over `PERSISTENCE_*` variables, which win over URL parameters.
/// The target's parts (host, port, user, password, database) go through sqlx's setters on top
/// of what sqlx read from the URL: as with sqlx's own builder, `~/.pgpass` was looked up for
/// the URL's target (or, without a URL, sqlx's default one), so give the password of a target
/// named in code in code too.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use persistence::postgres::{PgConfig, SslMode};
///
/// let config = PgConfig::builder()
///     .host("db.internal")
///     .port(5432)
///     .username("app")
///     .password("secret")
///     .database("app")
///     .connection_limit(20)
///     .statement_timeout(Duration::from_secs(30))
///     .ssl_mode(SslMode::VerifyFull)
///     .build()?;
/// assert_eq!(config.redacted_url(), "postgres://app:***@db.internal:5432/app");
/// # Ok::<(), persistence::postgres::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct PgConfigBuilder {
    url: Option<Secret>,
    env: EnvSource,
    target: CodeTarget,
    layer: Layer,
    test_before_acquire: Option<bool>,
}

impl PgConfigBuilder {
    /// An empty builder: nothing is read from the environment unless asked.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts from a `postgres://` URL (its Prisma parameters included).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(Secret::new(url));
        self
    }

    /// Reads `PERSISTENCE_*` overrides, and `DATABASE_URL` when no URL or host is given,
    /// from the process environment, then from a `.env` file for variables that are unset.
    pub fn with_env(mut self) -> Self {
        self.env = EnvSource::Process;
        self
    }

    /// Like [`with_env`](Self::with_env) but reads variables through `env` (for tests).
    pub fn env_source(
        mut self,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.env = EnvSource::Custom(Arc::new(env));
        self
    }

    /// The server's host name or IP address; an absolute path is a unix socket directory.
    pub fn host(mut self, host: impl AsRef<str>) -> Self {
        self.target.host = Some(Host::parse(host.as_ref()));
        self
    }

    /// The directory of the server's unix socket (e.g. `/var/run/postgresql`).
    pub fn socket(mut self, directory: impl Into<PathBuf>) -> Self {
        self.target.host = Some(Host::Socket(directory.into()));
        self
    }

    /// The server's port (default: `PGPORT` or 5432).
    pub fn port(mut self, port: u16) -> Self {
        self.target.port = Some(port);
        self
    }

    /// The user to log in as.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.target.username = Some(username.into());
        self
    }

    /// The password (never displayed).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.target.password = Some(Secret::new(password));
        self
    }

    /// The database to connect to.
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.target.database = Some(database.into());
        self
    }

    /// The pool's maximum size, 1 to 10000.
    ///
    /// # Example
    /// ```
    /// # use persistence::postgres::PgConfig;
    /// let config = PgConfig::builder().url("postgres://localhost/app").connection_limit(4).build()?;
    /// assert_eq!(config.connection_limit(), 4);
    /// # Ok::<(), persistence::postgres::ConfigError>(())
    /// ```
    pub fn connection_limit(mut self, limit: u32) -> Self {
        self.layer.connection_limit = Some(limit);
        self
    }

    /// How long to wait for a free pooled connection; `None` waits forever.
    ///
    /// # Example
    /// ```
    /// # use std::time::Duration;
    /// # use persistence::postgres::PgConfig;
    /// let config = PgConfig::builder()
    ///     .url("postgres://localhost/app")
    ///     .pool_timeout(Duration::from_millis(500))
    ///     .build()?;
    /// assert_eq!(config.pool_timeout(), Some(Duration::from_millis(500)));
    /// # Ok::<(), persistence::postgres::ConfigError>(())
    /// ```
    pub fn pool_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.layer.pool_timeout = Some(timeout.into());
        self
    }

    /// How long opening one connection may take; `None` means no limit.
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.layer.connect_timeout = Some(timeout.into());
        self
    }

    /// The server-side limit for every statement; `None` keeps the server's setting.
    ///
    /// # Example
    /// ```
    /// # use std::time::Duration;
    /// # use persistence::postgres::PgConfig;
    /// let config = PgConfig::builder()
    ///     .url("postgres://localhost/app")
    ///     .statement_timeout(Duration::from_secs(30))
    ///     .build()?;
    /// assert_eq!(config.statement_timeout(), Some(Duration::from_secs(30)));
    /// # Ok::<(), persistence::postgres::ConfigError>(())
    /// ```
    pub fn statement_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.layer.statement_timeout = Some(timeout.into());
        self
    }

    /// How long a connection may stay idle in the pool; `None` keeps idle connections.
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.layer.idle_timeout = Some(timeout.into());
        self
    }

    /// How old a connection may get before it is replaced; `None` keeps it forever.
    pub fn max_lifetime(mut self, lifetime: impl Into<Option<Duration>>) -> Self {
        self.layer.max_lifetime = Some(lifetime.into());
        self
    }

    /// Set when connecting through PgBouncer in transaction mode: disables named prepared
    /// statements, which PgBouncer cannot keep across transactions.
    ///
    /// # Example
    /// ```
    /// # use persistence::postgres::PgConfig;
    /// let config = PgConfig::builder().url("postgres://localhost/app").pgbouncer(true).build()?;
    /// assert_eq!(config.statement_cache_size(), 0);
    /// # Ok::<(), persistence::postgres::ConfigError>(())
    /// ```
    pub fn pgbouncer(mut self, enabled: bool) -> Self {
        self.layer.pgbouncer = Some(enabled);
        self
    }

    /// Prepared statements kept per connection (0 to 10000).
    pub fn statement_cache_size(mut self, size: usize) -> Self {
        self.layer.statement_cache_size = Some(size);
        self
    }

    /// How strictly to use TLS.
    pub fn ssl_mode(mut self, mode: SslMode) -> Self {
        self.layer.ssl_mode = Some(mode);
        self
    }

    /// The CA certificate (PEM file) that must have signed the server's certificate.
    pub fn ssl_root_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.layer.ssl_root_cert = Some(path.into());
        self
    }

    /// The name shown in `pg_stat_activity` and server logs.
    ///
    /// # Example
    /// ```
    /// # use persistence::postgres::PgConfig;
    /// let config = PgConfig::builder().url("postgres://localhost/app").application_name("billing").build()?;
    /// assert_eq!(config.application_name(), Some("billing"));
    /// # Ok::<(), persistence::postgres::ConfigError>(())
    /// ```
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.layer.application_name = Some(name.into());
        self
    }

    /// The schema to put on the `search_path` (Prisma's `schema`).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.layer.schema = Some(schema.into());
        self
    }

    /// Warn about pool waits longer than this; `None` never warns.
    pub fn slow_acquire_threshold(mut self, threshold: impl Into<Option<Duration>>) -> Self {
        self.layer.slow_acquire_threshold = Some(threshold.into());
        self
    }

    /// Whether to ping idle connections before handing them out (default true: one round trip
    /// that turns a connection cut while idle into a transparent reconnect).
    pub fn test_before_acquire(mut self, test: bool) -> Self {
        self.test_before_acquire = Some(test);
        self
    }

    /// Validates everything and resolves each setting by precedence.
    pub fn build(self) -> Result<PgConfig, ConfigError> {
        let process_env;
        let env: Option<&EnvFn> = match &self.env {
            EnvSource::None => None,
            EnvSource::Process => {
                let dotenv = dotenv_values()?;
                process_env = move |name: &str| {
                    std::env::var(name)
                        .ok()
                        .or_else(|| dotenv.get(name).cloned())
                };
                Some(&process_env)
            }
            EnvSource::Custom(f) => Some(f.as_ref()),
        };

        let code_names_target = self.target.host.is_some() && self.target.database.is_some();
        let url = match &self.url {
            Some(url) => Some(url.expose().to_owned()),
            None if code_names_target => None,
            None => env
                .and_then(|env| env(DATABASE_URL))
                .filter(|u| !u.trim().is_empty()),
        };
        let parsed = url.as_deref().map(parse_url).transpose()?;
        if parsed.is_none() && self.target.host.is_none() && self.target.database.is_none() {
            return Err(match env {
                Some(_) => ConfigError::MissingUrl,
                None => ConfigError::MissingTarget,
            });
        }
        let env_layer = match env {
            Some(env) => Layer::from_env(env)?,
            None => Layer::default(),
        };
        validate_code_layer(&self.layer)?;

        let (mut target, url_layer) =
            parsed.unwrap_or_else(|| (Target::unnamed(), Layer::default()));
        let code = self.target;
        if let Some(host) = code.host {
            target.set_host(host)?;
        }
        if let Some(port) = code.port {
            target.set_port(port);
        }
        if let Some(username) = &code.username {
            target.set_username(username);
        }
        if let Some(password) = &code.password {
            target.set_password(password.expose());
        }
        if let Some(database) = &code.database {
            target.set_database(database);
        }
        if !target.named.host {
            return Err(ConfigError::MissingHost);
        }
        if !target.named.database {
            return Err(ConfigError::MissingDatabase);
        }
        validate_database(target.database())?;
        if let Some(port) = code.port {
            checked_port(&port.to_string(), &Origin::Code)?;
        }

        let layers = [&self.layer, &env_layer, &url_layer];
        let config = PgConfig {
            target,
            connection_limit: layer::first(&layers, |l| &l.connection_limit)
                .unwrap_or_else(layer::default_connection_limit),
            pool_timeout: layer::first(&layers, |l| &l.pool_timeout)
                .unwrap_or(Some(DEFAULT_POOL_TIMEOUT)),
            connect_timeout: layer::first(&layers, |l| &l.connect_timeout)
                .unwrap_or(Some(DEFAULT_CONNECT_TIMEOUT)),
            statement_timeout: layer::first(&layers, |l| &l.statement_timeout).flatten(),
            idle_timeout: layer::first(&layers, |l| &l.idle_timeout)
                .unwrap_or(Some(DEFAULT_IDLE_TIMEOUT)),
            max_lifetime: layer::first(&layers, |l| &l.max_lifetime)
                .unwrap_or(Some(DEFAULT_MAX_LIFETIME)),
            pgbouncer: layer::first(&layers, |l| &l.pgbouncer).unwrap_or(false),
            statement_cache_size: layer::first(&layers, |l| &l.statement_cache_size)
                .unwrap_or(DEFAULT_STATEMENT_CACHE_SIZE),
            ssl_mode: layer::first(&layers, |l| &l.ssl_mode),
            ssl_root_cert: layer::first(&layers, |l| &l.ssl_root_cert),
            application_name: layer::first(&layers, |l| &l.application_name),
            schema: layer::first(&layers, |l| &l.schema),
            slow_acquire_threshold: layer::first(&layers, |l| &l.slow_acquire_threshold)
                .unwrap_or(Some(DEFAULT_SLOW_ACQUIRE_THRESHOLD)),
            test_before_acquire: self.test_before_acquire.unwrap_or(true),
        };
        check_consistency(&config, &layers)?;
        Ok(config)
    }
}

/// Where the layer that set a parameter came from, for messages about combinations.
fn origin_of(layers: &[&Layer; 3], is_set: impl Fn(&Layer) -> bool, param: Param) -> Origin {
    match layers.iter().position(|l| is_set(l)) {
        Some(0) => Origin::Code,
        Some(1) => Origin::Env(param.env_var()),
        _ => Origin::Url,
    }
}

/// Checks that need several settings, or the file system.
fn check_consistency(config: &PgConfig, layers: &[&Layer; 3]) -> Result<(), ConfigError> {
    if config.pgbouncer
        && let Some(size) = layer::first(layers, |l| &l.statement_cache_size).filter(|s| *s > 0)
    {
        let bouncer = origin_of(layers, |l| l.pgbouncer.is_some(), Param::PgBouncer);
        let cache = origin_of(
            layers,
            |l| l.statement_cache_size.is_some(),
            Param::StatementCacheSize,
        );
        return Err(ConfigError::Conflict {
            first: format!("pgbouncer=true {bouncer}"),
            second: format!("statement_cache_size={size} {cache}"),
            hint: "PgBouncer in transaction mode cannot keep prepared statements; remove \
                   statement_cache_size or set it to 0",
        });
    }
    if let Some(mode) = config.ssl_mode
        && mode.requires_tls()
        && !cfg!(feature = "tls")
    {
        return Err(ConfigError::TlsUnavailable { mode });
    }
    if let Some(path) = &config.ssl_root_cert
        && !path.exists()
    {
        return Err(ConfigError::MissingFile {
            param: Param::SslRootCert.name(),
            path: path.clone(),
            origin: origin_of(layers, |l| l.ssl_root_cert.is_some(), Param::SslRootCert),
            hint: "point it at the PEM file of the CA that signed the server's certificate",
        });
    }
    Ok(())
}

/// Range checks for values set in code (URL and environment values are checked as parsed).
fn validate_code_layer(layer: &Layer) -> Result<(), ConfigError> {
    let invalid = |param: Param, value: String| ConfigError::InvalidValue {
        param: param.name(),
        value,
        origin: Origin::Code,
        expected: param.expected(),
    };
    if let Some(limit) = layer.connection_limit
        && !(1..=MAX_CONNECTION_LIMIT).contains(&limit)
    {
        return Err(invalid(Param::ConnectionLimit, limit.to_string()));
    }
    let durations = [
        (Param::PoolTimeout, layer.pool_timeout),
        (Param::ConnectTimeout, layer.connect_timeout),
        (Param::StatementTimeout, layer.statement_timeout),
        (Param::MaxIdleConnectionLifetime, layer.idle_timeout),
        (Param::MaxConnectionLifetime, layer.max_lifetime),
        (Param::SlowAcquireThreshold, layer.slow_acquire_threshold),
    ];
    for (param, value) in durations {
        // `None` inside means "no limit"; zero would be ambiguous, so code must say `None`.
        if let Some(Some(duration)) = value
            && (duration.is_zero() || duration > MAX_DURATION)
        {
            return Err(invalid(param, format!("{duration:?}")));
        }
    }
    if let Some(size) = layer.statement_cache_size
        && size > 10_000
    {
        return Err(invalid(Param::StatementCacheSize, size.to_string()));
    }
    for (param, value) in [
        (Param::ApplicationName, &layer.application_name),
        (Param::Schema, &layer.schema),
    ] {
        if let Some(name) = value
            && (name.trim().is_empty() || name.len() > 63 || name.contains('\0'))
        {
            return Err(invalid(param, name.clone()));
        }
    }
    Ok(())
}

/// PostgreSQL truncates names to 63 bytes, which would silently connect elsewhere.
fn validate_database(name: &str) -> Result<(), ConfigError> {
    let reason = if name.is_empty() {
        "it is empty; name the database to connect to"
    } else if name.len() > 63 {
        "PostgreSQL names are at most 63 bytes; use a shorter name"
    } else if name.contains('\0') {
        "it contains a NUL character"
    } else {
        return Ok(());
    };
    Err(ConfigError::InvalidDatabase {
        name: name.to_owned(),
        origin: Origin::Code,
        reason,
    })
}

/// The variables of the nearest `.env` file, read once per process. The process environment
/// is never modified (that is `unsafe` in edition 2024 and racy in tests).
fn dotenv_values() -> Result<HashMap<String, String>, ConfigError> {
    static VALUES: OnceLock<Result<HashMap<String, String>, ConfigError>> = OnceLock::new();
    VALUES
        .get_or_init(|| collect_dotenv(dotenvy::dotenv_iter()))
        .clone()
}

/// The variables of a found `.env` file; none when there is no file.
fn collect_dotenv<R: std::io::Read>(
    found: Result<dotenvy::Iter<R>, dotenvy::Error>,
) -> Result<HashMap<String, String>, ConfigError> {
    match found {
        Ok(lines) => lines
            .map(|line| line.map_err(|e| dotenv_error(&e)))
            .collect(),
        Err(error) if error.not_found() => Ok(HashMap::new()),
        Err(error) => Err(dotenv_error(&error)),
    }
}

/// Describes a `.env` problem without quoting the line, which may hold a password.
fn dotenv_error(error: &dotenvy::Error) -> ConfigError {
    let reason = match error {
        dotenvy::Error::LineParse(_, index) => {
            format!("a line has a syntax error at character {index}")
        }
        dotenvy::Error::Io(io) => io.to_string(),
        _ => "it is not valid".to_owned(),
    };
    ConfigError::DotEnv { reason }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn dotenv_errors_do_not_quote_the_line() {
        let error = dotenv_error(&dotenvy::Error::LineParse(
            "DATABASE_URL=postgres://u:hunter2@h".into(),
            7,
        ));
        assert_eq!(
            error.to_string(),
            "cannot read the .env file: a line has a syntax error at character 7; fix or remove it"
        );
        let error = dotenv_error(&dotenvy::Error::Io(std::io::Error::other("disk on fire")));
        assert!(error.to_string().contains("disk on fire"));
        let error = dotenv_error(&dotenvy::Error::EnvVar(std::env::VarError::NotPresent));
        assert!(error.to_string().contains("not valid"));
    }

    #[test]
    fn dotenv_files() {
        let values = collect_dotenv(Ok(dotenvy::from_read_iter(
            "A=1\n# comment\nB='two'\n".as_bytes(),
        )))
        .expect("valid");
        assert_eq!(values.get("A").map(String::as_str), Some("1"));
        assert_eq!(values.get("B").map(String::as_str), Some("two"));
        let error = collect_dotenv(Ok(dotenvy::from_read_iter(
            "DATABASE_URL='postgres://u:hunter2@h\n".as_bytes(),
        )))
        .expect_err("unterminated quote");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let none = collect_dotenv::<&[u8]>(Err(dotenvy::Error::Io(std::io::Error::from(
            std::io::ErrorKind::NotFound,
        ))));
        assert_eq!(none, Ok(HashMap::new()));
        let unreadable = collect_dotenv::<&[u8]>(Err(dotenvy::Error::Io(std::io::Error::from(
            std::io::ErrorKind::PermissionDenied,
        ))));
        assert!(matches!(unreadable, Err(ConfigError::DotEnv { .. })));
        // The process-wide read works wherever the tests run (with or without a .env).
        let _ = dotenv_values();
    }

    #[test]
    fn env_source_debug_names_the_kind() {
        assert_eq!(format!("{:?}", EnvSource::None), "None");
        assert_eq!(format!("{:?}", EnvSource::Process), "Process");
        assert_eq!(
            format!("{:?}", EnvSource::Custom(Arc::new(|_: &str| None))),
            "Custom"
        );
    }
}
