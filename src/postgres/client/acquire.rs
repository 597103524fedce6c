//! Taking a pooled connection, and saying why none came in time.

use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool, Postgres};

use super::close::in_use;
use super::connect::connect_with_timeout;
use crate::postgres::error::{Error, Kind};

/// Takes a connection from `pool`, and when none comes within `pool_timeout`, says why.
///
/// sqlx reports "every connection is busy" and "the server cannot be reached" alike, as a
/// pool timeout: a pool that cannot open a connection keeps retrying until `pool_timeout`.
/// Here the two are told apart: when the pool is at its limit the error has category
/// `Timeout` and a message that names the limit (`connection_limit`); otherwise
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
    let exhausted = || {
        Error::from(Kind::PoolExhausted {
            max_connections,
            in_use: in_use(pool),
            waited,
        })
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
pub(crate) enum PoolTimeoutCause<E = Error> {
    /// A direct connection answered: the server is fine and every connection the pool may
    /// open is busy. The connection is handed over, to measure on or to close.
    Exhausted(PgConnection),
    /// A direct connection failed too, and its error (`Unreachable`, `AuthFailed`,
    /// `ConnectTimeout`, ...) is why the pool could not open one.
    ServerRefused(E),
}

/// Tells "every pooled connection is busy" from "the server cannot be used" after `pool`
/// timed out, which sqlx reports alike: a pool that cannot open a connection retries until
/// its acquire timeout. One direct connection with the pool's own options, bounded by `limit`
/// (`None`: no bound), decides.
pub(crate) async fn diagnose_pool_timeout(
    pool: &PgPool,
    limit: Option<Duration>,
) -> PoolTimeoutCause {
    diagnose_pool_timeout_by(connect_with_timeout(&pool.connect_options(), limit)).await
}

/// [`diagnose_pool_timeout`] with a direct connection of the caller's making: the test
/// harness connects through its own function, whose errors name the test's database and
/// the setting that chose it.
pub(crate) async fn diagnose_pool_timeout_by<E>(
    direct: impl Future<Output = Result<PgConnection, E>>,
) -> PoolTimeoutCause<E> {
    match direct.await {
        Ok(connection) => PoolTimeoutCause::Exhausted(connection),
        Err(error) => PoolTimeoutCause::ServerRefused(error),
    }
}
