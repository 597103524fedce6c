//! The pool: opening it, the process-wide instance, connection events, graceful shutdown.
//!
//! # Events
//!
//! Everything is logged through `tracing`, target `persistence::pool`:
//!
//! | event | level | fields |
//! |---|---|---|
//! | connection opened by the pool | DEBUG | `pid`, `setup_ms` (measured by the server, from fork to ready) |
//! | connection opened directly ([`connect_one`]) | DEBUG | `endpoint`, `duration_ms` |
//! | idle connection handed out | TRACE | `idle_ms`, `age_ms` |
//! | connection released to the pool | TRACE | `age_ms` |
//! | pool closing / closed | INFO | `in_use`, `duration_ms` |
//! | pool close timed out | WARN | `in_use`, `timeout_ms` |
//!
//! Slow acquires are logged by sqlx itself, at WARN with target `sqlx::pool::acquire`, when a
//! wait exceeds [`PgConfig::slow_acquire_threshold`]; that covers every acquire, including the
//! implicit ones of `query(..).fetch_one(&pool)`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, Postgres};
use sqlx::{Connection, Row};
use tracing::Level;

use super::config::{ConfigError, PgConfig};
use super::error::{Error, ErrorCategory};
use super::global_scope::scoped_global;

/// The `tracing` target of connection events.
pub const EVENTS_TARGET: &str = "persistence::pool";

static GLOBAL: OnceLock<PgPool> = OnceLock::new();

/// Opens a pool: first one direct connection (bounded by `connect_timeout`) to prove the
/// server, credentials and database are right, then the pool, which opens connections on
/// demand.
///
/// The probe fails fast with a precise [`ErrorCategory`](super::ErrorCategory) where the pool
/// would keep retrying a refused connection until `pool_timeout` and report a timeout.
///
/// # Example
/// ```no_run
/// # async fn run() -> Result<(), persistence::postgres::Error> {
/// use persistence::postgres::{connect, PgConfig};
///
/// let pool = connect(&PgConfig::from_env()?).await?;
/// let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await?;
/// # Ok(()) }
/// ```
pub async fn connect(config: &PgConfig) -> Result<PgPool, Error> {
    let probe = connect_one(config).await?;
    // A graceful close tells the server at once; dropping would leave a backend until timeout.
    let _ = probe.close().await;
    connect_lazy(config)
}

/// Builds the pool without connecting: the first query opens the first connection.
///
/// Must be called inside a Tokio runtime (the pool spawns its maintenance task there).
pub fn connect_lazy(config: &PgConfig) -> Result<PgPool, Error> {
    require_runtime("connect_lazy")?;
    Ok(pool_options_with_events(config).connect_lazy_with(config.connect_options()))
}

/// Takes a connection from `pool`, and when none comes within `pool_timeout`, says why.
///
/// sqlx reports "every connection is busy" and "the server cannot be reached" alike, as a
/// pool timeout: a pool that cannot open a connection keeps retrying until `pool_timeout`.
/// Here the two are told apart: when the pool is at its limit the error is
/// [`Error::PoolExhausted`] (category `Timeout`, with the limit in its message); otherwise
/// one direct connection is tried with the pool's options, and its error, such as
/// `Unreachable` or `AuthFailed`, is returned.
///
/// [`transaction`](crate::postgres::transaction) on a pool acquires through this.
///
/// # Example
/// ```no_run
/// # async fn run(pool: sqlx::PgPool) -> Result<(), persistence::postgres::Error> {
/// let mut connection = persistence::postgres::acquire(&pool).await?;
/// sqlx::query("SELECT 1").execute(&mut *connection).await?;
/// # Ok(()) }
/// ```
pub async fn acquire(pool: &PgPool) -> Result<PoolConnection<Postgres>, Error> {
    let started = Instant::now();
    match pool.acquire().await {
        Ok(connection) => Ok(connection),
        Err(sqlx::Error::PoolTimedOut) => Err(explain_pool_timeout(pool, started.elapsed()).await),
        Err(error) => Err(error.into()),
    }
}

/// Why `pool` had no connection to give after `waited`: exhausted, or the server's own error.
async fn explain_pool_timeout(pool: &PgPool, waited: Duration) -> Error {
    let max_connections = pool.options().get_max_connections();
    let exhausted = || Error::PoolExhausted {
        max_connections,
        in_use: in_use(pool),
        waited,
    };
    // At its limit the pool holds connections the server accepted: no need to ask it.
    if pool.size() >= max_connections {
        return exhausted();
    }
    // A silent host must not make the explanation as slow as the wait it explains.
    let limit = pool
        .options()
        .get_acquire_timeout()
        .clamp(Duration::from_millis(500), Duration::from_secs(5));
    match diagnose_pool_timeout(pool, Some(limit)).await {
        PoolTimeoutCause::ServerRefused(error) => error,
        PoolTimeoutCause::Exhausted(connection) => {
            let _ = connection.close().await;
            exhausted()
        }
    }
}

/// What a pool timeout meant: the answer of [`diagnose_pool_timeout`].
pub(crate) enum PoolTimeoutCause {
    /// A direct connection answered: the server is fine and every connection the pool may
    /// open is busy. The connection is handed over, to measure on or to close.
    Exhausted(PgConnection),
    /// A direct connection failed too, and its error (`Unreachable`, `AuthFailed`,
    /// `ConnectTimeout`, ...) is why the pool could not open one.
    ServerRefused(Error),
}

/// Tells "every pooled connection is busy" from "the server cannot be used" after `pool`
/// timed out, which sqlx reports alike: a pool that cannot open a connection retries until
/// its acquire timeout. One direct connection with the pool's own options, bounded by `limit`
/// (`None`: no bound), decides.
pub(crate) async fn diagnose_pool_timeout(
    pool: &PgPool,
    limit: Option<Duration>,
) -> PoolTimeoutCause {
    match connect_with_timeout(&pool.connect_options(), limit).await {
        Ok(connection) => PoolTimeoutCause::Exhausted(connection),
        Err(error) => PoolTimeoutCause::ServerRefused(error),
    }
}

/// Opens one connection outside any pool, bounded by `connect_timeout`.
pub async fn connect_one(config: &PgConfig) -> Result<PgConnection, Error> {
    connect_with_timeout(&config.connect_options(), config.connect_timeout()).await
}

/// Opens one connection with the given options, bounded by `timeout` (`None`: no bound).
pub(crate) async fn connect_with_timeout(
    options: &PgConnectOptions,
    timeout: Option<Duration>,
) -> Result<PgConnection, Error> {
    let started = Instant::now();
    let attempt = PgConnection::connect_with(options);
    let connection = match timeout {
        Some(limit) => {
            tokio::time::timeout(limit, attempt)
                .await
                .map_err(|_| Error::ConnectTimeout {
                    target: endpoint_of(options),
                    timeout: limit,
                })?
        }
        None => attempt.await,
    }
    .map_err(|source| match source {
        // Nothing answered at the address: say which address.
        sqlx::Error::Io(_) if ErrorCategory::from_sqlx(&source) == ErrorCategory::Unreachable => {
            Error::Unreachable {
                target: endpoint_of(options),
                source,
            }
        }
        other => Error::from(other),
    })?;
    tracing::debug!(
        target: EVENTS_TARGET,
        endpoint = %endpoint_of(options),
        duration_ms = millis(started.elapsed()),
        "connection opened"
    );
    Ok(connection)
}

/// `host:port` or `socket-dir:port` of connect options, for messages (never credentials).
pub(crate) fn endpoint_of(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(dir) => format!("{}:{}", dir.display(), options.get_port()),
        None if options.get_host().contains(':') && !options.get_host().starts_with('[') => {
            format!("[{}]:{}", options.get_host(), options.get_port())
        }
        None => format!("{}:{}", options.get_host(), options.get_port()),
    }
}

/// [`PgConfig::pool_options`] plus the connection-event hooks.
pub fn pool_options_with_events(config: &PgConfig) -> PgPoolOptions {
    // Behind PgBouncer pg_stat_activity describes a server connection shared with others,
    // so its backend_start says nothing about our connect.
    let measure_setup = !config.pgbouncer();
    config
        .pool_options()
        .after_connect(move |connection, _meta| {
            Box::pin(async move {
                if tracing::enabled!(target: EVENTS_TARGET, Level::DEBUG) {
                    log_connection_opened(connection, measure_setup).await;
                }
                Ok(())
            })
        })
        .before_acquire(|_connection, meta| {
            Box::pin(async move {
                tracing::trace!(
                    target: EVENTS_TARGET,
                    idle_ms = millis(meta.idle_for),
                    age_ms = millis(meta.age),
                    "idle connection handed out"
                );
                Ok(true)
            })
        })
        .after_release(|_connection, meta| {
            Box::pin(async move {
                tracing::trace!(target: EVENTS_TARGET, age_ms = millis(meta.age), "connection released");
                Ok(true)
            })
        })
}

/// Logs a new pooled connection. sqlx calls `after_connect` once the connection is ready but
/// does not say when it started, so the server measures it: `backend_start` is when the
/// postmaster forked the backend, just after accepting the TCP connection.
async fn log_connection_opened(connection: &mut PgConnection, measure_setup: bool) {
    if !measure_setup {
        tracing::debug!(target: EVENTS_TARGET, "connection opened");
        return;
    }
    // raw_sql: a simple query, so no prepared statement is cached for a one-off question.
    let row = sqlx::raw_sql(
        "SELECT pg_backend_pid(), \
         (extract(epoch FROM clock_timestamp() - backend_start) * 1000)::float8 \
         FROM pg_stat_activity WHERE pid = pg_backend_pid()",
    )
    .fetch_optional(&mut *connection)
    .await;
    match row {
        Ok(Some(row)) => {
            let pid: Option<i32> = row.try_get(0).ok();
            let setup_ms: Option<f64> = row.try_get(1).ok();
            tracing::debug!(target: EVENTS_TARGET, pid, setup_ms, "connection opened");
        }
        Ok(None) | Err(_) => tracing::debug!(target: EVENTS_TARGET, "connection opened"),
    }
}

/// Milliseconds with microsecond precision, the unit of every duration field in events.
pub(crate) fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1_000.0
}

fn require_runtime(function: &'static str) -> Result<(), Error> {
    tokio::runtime::Handle::try_current()
        .map(|_| ())
        .map_err(|_| ConfigError::NoRuntime(function).into())
}

/// The process-wide pool, built on first use from [`PgConfig::from_env`] (lazily: the first
/// query opens the first connection).
///
/// Inside a [`GlobalScope`](super::GlobalScope) the scope answers instead: its pool, or
/// [`Error::GlobalUnavailable`] saying why there is none (`#[db_test]` runs every test in
/// such a scope, so code under test reaches the test's database, never `DATABASE_URL`).
///
/// Fails when the configuration is invalid, outside a Tokio runtime, and after
/// [`shutdown`] with [`Error::PoolShutDown`]. The pool belongs to the runtime that built it:
/// in tests, where every `#[tokio::test]` has its own runtime, pass pools explicitly instead.
///
/// # Example
/// ```no_run
/// # async fn run() -> Result<(), persistence::postgres::Error> {
/// let pool = persistence::postgres::global()?;
/// sqlx::query("SELECT 1").execute(pool).await?;
/// # Ok(()) }
/// ```
pub fn global() -> Result<&'static PgPool, Error> {
    if let Some(scoped) = scoped_global() {
        return scoped;
    }
    if let Some(pool) = GLOBAL.get() {
        return if pool.is_closed() {
            Err(Error::PoolShutDown)
        } else {
            Ok(pool)
        };
    }
    let pool = connect_lazy(&PgConfig::from_env()?)?;
    // If another thread won the race, our pool is dropped; it never opened a connection.
    Ok(GLOBAL.get_or_init(|| pool))
}

/// Builds the process-wide pool from `config` and checks the server is reachable (see
/// [`connect`]). Call it once at startup, before anything uses [`global`].
pub async fn init_global(config: &PgConfig) -> Result<&'static PgPool, Error> {
    if GLOBAL.get().is_some() {
        return Err(ConfigError::GlobalAlreadyInitialized.into());
    }
    let pool = connect(config).await?;
    GLOBAL
        .set(pool)
        .map_err(|_| ConfigError::GlobalAlreadyInitialized)?;
    global()
}

/// Closes the process-wide pool, if it was built: see [`close`].
pub async fn shutdown(timeout: Duration) -> Result<(), Error> {
    match GLOBAL.get() {
        Some(pool) => close(pool, timeout).await,
        None => Ok(()),
    }
}

/// Closes `pool`: new acquires fail at once with [`Error::PoolShutDown`], idle connections
/// are closed, and connections in use are closed as they come back, waiting at most `timeout`.
///
/// On timeout the pool stays closed, the stragglers are closed when released, and the error
/// says how many there were.
pub async fn close(pool: &PgPool, timeout: Duration) -> Result<(), Error> {
    let started = Instant::now();
    let in_use = in_use(pool);
    tracing::info!(target: EVENTS_TARGET, in_use, "closing the connection pool");
    // `close()` marks the pool closed immediately; awaiting it waits for connections in use.
    match tokio::time::timeout(timeout, pool.close()).await {
        Ok(()) => {
            tracing::info!(
                target: EVENTS_TARGET,
                duration_ms = millis(started.elapsed()),
                "connection pool closed"
            );
            Ok(())
        }
        Err(_) => {
            let in_use = in_use_now(pool);
            tracing::warn!(
                target: EVENTS_TARGET,
                in_use,
                timeout_ms = millis(timeout),
                "connection pool close timed out; connections still in use will close on release"
            );
            Err(Error::ShutdownTimedOut { in_use, timeout })
        }
    }
}

fn in_use(pool: &PgPool) -> u32 {
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    pool.size().saturating_sub(idle)
}

/// While closing, sqlx has already taken the idle connections out, so `size` is what is left.
fn in_use_now(pool: &PgPool) -> u32 {
    pool.size()
}

/// The signal that asked the process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (what orchestrators send).
    Terminate,
}

/// Resolves when the process receives SIGINT or SIGTERM (on non-unix systems: Ctrl-C).
/// Usable as a web server's graceful-shutdown future.
pub async fn shutdown_signal() -> Result<Signal, Error> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate =
            signal(SignalKind::terminate()).map_err(|e| Error::io("listening for SIGTERM", e))?;
        let mut interrupt =
            signal(SignalKind::interrupt()).map_err(|e| Error::io("listening for SIGINT", e))?;
        let received = tokio::select! {
            _ = terminate.recv() => Signal::Terminate,
            _ = interrupt.recv() => Signal::Interrupt,
        };
        Ok(received)
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| Error::io("listening for Ctrl-C", e))?;
        Ok(Signal::Interrupt)
    }
}

/// Waits for SIGINT or SIGTERM, then closes the process-wide pool within `timeout`.
///
/// # Example
/// ```no_run
/// # async fn run() {
/// use std::time::Duration;
/// tokio::spawn(persistence::postgres::shutdown_on_signal(Duration::from_secs(10)));
/// # }
/// ```
pub async fn shutdown_on_signal(timeout: Duration) -> Result<Signal, Error> {
    let signal = shutdown_signal().await?;
    tracing::info!(target: EVENTS_TARGET, ?signal, "stop signal received");
    shutdown(timeout).await?;
    Ok(signal)
}

/// Waits for SIGINT or SIGTERM, then closes `pool` within `timeout`.
pub async fn close_on_signal(pool: &PgPool, timeout: Duration) -> Result<Signal, Error> {
    let signal = shutdown_signal().await?;
    tracing::info!(target: EVENTS_TARGET, ?signal, "stop signal received");
    close(pool, timeout).await?;
    Ok(signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_rounds_to_microseconds() {
        assert_eq!(millis(Duration::from_micros(1_234_567)), 1234.567);
        assert_eq!(millis(Duration::from_nanos(1_499)), 0.001);
        assert_eq!(millis(Duration::ZERO), 0.0);
    }

    #[test]
    fn endpoints_never_include_credentials() {
        let config = PgConfig::from_url("postgres://u:secret@db:5433/app").expect("valid");
        assert_eq!(endpoint_of(&config.connect_options()), "db:5433");
        let config = PgConfig::from_url("postgres://u:secret@[::1]:5433/app").expect("valid");
        assert_eq!(endpoint_of(&config.connect_options()), "[::1]:5433");
        let config = PgConfig::from_url("postgres:///app?host=/tmp/pg&port=5").expect("valid");
        assert_eq!(endpoint_of(&config.connect_options()), "/tmp/pg:5");
    }

    #[test]
    fn lazy_pools_need_a_runtime() {
        let config = PgConfig::from_url("postgres://localhost/app").expect("valid");
        let error = connect_lazy(&config).expect_err("no runtime");
        assert!(
            error
                .to_string()
                .contains("connect_lazy() must be called inside a Tokio runtime")
        );
    }

    #[tokio::test]
    async fn lazy_pools_follow_the_config() {
        let config =
            PgConfig::from_url("postgres://localhost/app?connection_limit=3").expect("valid");
        let pool = connect_lazy(&config).expect("runtime present");
        assert_eq!(pool.options().get_max_connections(), 3);
        assert_eq!(pool.size(), 0);
        assert_eq!(in_use(&pool), 0);
        close(&pool, Duration::from_secs(1))
            .await
            .expect("nothing in use");
        assert!(pool.is_closed());
        let error = Error::from(pool.acquire().await.expect_err("closed"));
        assert!(matches!(error, Error::PoolShutDown));
    }

    #[tokio::test]
    async fn refused_connections_are_unreachable_and_timeouts_are_named() {
        // A port that was just free: nothing listens there, so the kernel refuses at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("bind")
            .port();
        let config = PgConfig::from_url(&format!("postgres://u:secret@127.0.0.1:{port}/app"))
            .expect("valid");
        let error = connect(&config).await.expect_err("refused");
        assert_eq!(
            error.category(),
            crate::postgres::ErrorCategory::Unreachable,
            "{error}"
        );
        assert!(!error.to_string().contains("secret"));

        // A server that accepts but never answers: the connect timeout fires.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = silent.local_addr().expect("address").port();
        let config = PgConfig::from_url(&format!(
            "postgres://u:secret@127.0.0.1:{port}/app?connect_timeout=100ms&sslmode=disable"
        ))
        .expect("valid");
        let error = connect_one(&config).await.expect_err("timeout");
        assert!(matches!(error, Error::ConnectTimeout { .. }), "{error}");
        assert_eq!(error.category(), crate::postgres::ErrorCategory::Timeout);
        assert_eq!(
            error.to_string(),
            format!(
                "connecting to 127.0.0.1:{port} timed out after 100ms (connect_timeout); check \
                 that the server is up and reachable, or raise connect_timeout"
            )
        );
    }
}
