//! Closing a pool within a time limit.

use std::time::{Duration, Instant};

use sqlx::postgres::PgPool;

use super::events::{EVENTS_TARGET, millis};
use crate::postgres::error::{Error, Kind};

/// Closes `pool`: new acquires fail at once (category
/// [`ShuttingDown`](crate::postgres::ErrorCategory::ShuttingDown)), idle connections
/// are closed, and connections in use are closed as they come back, waiting at most `timeout`.
///
/// On timeout the pool stays closed, the stragglers are closed when released, and the error
/// (category `Timeout`) says how many there were.
///
/// For the process-wide pool, call [`shutdown`](crate::postgres::shutdown); to do either when
/// the process is asked to stop, await [`shutdown_signal`](crate::postgres::shutdown_signal)
/// first.
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
            Err(Kind::ShutdownTimedOut { in_use, timeout }.into())
        }
    }
}

pub(super) fn in_use(pool: &PgPool) -> u32 {
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    pool.size().saturating_sub(idle)
}

/// While closing, sqlx has already taken the idle connections out, so `size` is what is left.
fn in_use_now(pool: &PgPool) -> u32 {
    pool.size()
}

#[cfg(test)]
mod tests {
    use super::super::connect_lazy;
    use super::*;
    use crate::postgres::PgConfig;

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
        assert!(matches!(error.kind(), Kind::PoolShutDown));
    }
}
