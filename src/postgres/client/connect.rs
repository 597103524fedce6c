//! Opening a pool, or one connection outside any pool, and naming the server in errors.

use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};

use super::events::{EVENTS_TARGET, millis, pool_options_with_events};
use crate::postgres::ErrorCategory;
use crate::postgres::config::{ConfigError, PgConfig};
use crate::postgres::error::{Error, Kind};

/// Opens a pool: first one direct connection (bounded by `connect_timeout`) to prove the
/// server, credentials and database are right, then the pool, which opens connections on
/// demand.
///
/// The probe fails fast with a precise [`ErrorCategory`] where the pool
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
                .map_err(|_| Kind::ConnectTimeout {
                    target: endpoint_of(options),
                    timeout: limit,
                })?
        }
        None => attempt.await,
    }
    .map_err(|source| match source {
        // Nothing answered at the address: say which address.
        sqlx::Error::Io(_) if ErrorCategory::from_sqlx(&source) == ErrorCategory::Unreachable => {
            Error::from(Kind::Unreachable {
                target: endpoint_of(options),
                source,
            })
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

fn require_runtime(function: &'static str) -> Result<(), Error> {
    tokio::runtime::Handle::try_current()
        .map(|_| ())
        .map_err(|_| ConfigError::NoRuntime(function).into())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(
            matches!(error.kind(), Kind::ConnectTimeout { .. }),
            "{error}"
        );
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
