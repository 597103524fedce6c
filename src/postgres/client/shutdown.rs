//! Closing a pool, on request or when the process is asked to stop.

use std::time::{Duration, Instant};

use sqlx::postgres::PgPool;

use super::events::{EVENTS_TARGET, millis};
use super::global::shutdown;
use crate::postgres::error::{Error, Kind};

/// Closes `pool`: new acquires fail at once (category
/// [`ShuttingDown`](crate::postgres::ErrorCategory::ShuttingDown)), idle connections
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
        // Polled by hand rather than with `tokio::select!`: the core needs no proc macro.
        let received = std::future::poll_fn(|cx| {
            if terminate.poll_recv(cx).is_ready() {
                std::task::Poll::Ready(Signal::Terminate)
            } else if interrupt.poll_recv(cx).is_ready() {
                std::task::Poll::Ready(Signal::Interrupt)
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
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
