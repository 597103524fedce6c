//! The connection-event hooks of every pool this crate opens (see the table in the module
//! above), and the unit of their duration fields.

use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::{PgConnection, PgPoolOptions};
use tracing::Level;

use crate::postgres::config::PgConfig;

/// The `tracing` target of connection events.
pub const EVENTS_TARGET: &str = "persistence::pool";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_rounds_to_microseconds() {
        assert_eq!(millis(Duration::from_micros(1_234_567)), 1234.567);
        assert_eq!(millis(Duration::from_nanos(1_499)), 0.001);
        assert_eq!(millis(Duration::ZERO), 0.0);
    }
}
