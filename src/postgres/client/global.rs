//! The process-wide pool.

use std::sync::OnceLock;
use std::time::Duration;

use sqlx::postgres::PgPool;

use super::close::close;
use super::connect::{connect, connect_lazy};
use crate::postgres::config::{ConfigError, PgConfig};
use crate::postgres::error::{Error, Kind};
use crate::postgres::global_scope::scoped_global;

static GLOBAL: OnceLock<PgPool> = OnceLock::new();

/// The process-wide pool, built on first use from [`PgConfig::from_env`] (lazily: the first
/// query opens the first connection).
///
/// Inside a [`GlobalScope`](crate::postgres::GlobalScope) the scope answers instead: its pool, or
/// an error (category `Config`) saying why there is none (`#[db_test]` runs every test in
/// such a scope, so code under test reaches the test's database, never `DATABASE_URL`).
///
/// Fails when the configuration is invalid, outside a Tokio runtime, and after
/// [`shutdown`] (category `ShuttingDown`). The pool belongs to the runtime that built it:
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
            Err(Kind::PoolShutDown.into())
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

/// Closes the process-wide pool, if it was built: see [`close`]. Call it when the process
/// stops, e.g. after [`shutdown_signal`](super::shutdown_signal).
pub async fn shutdown(timeout: Duration) -> Result<(), Error> {
    match GLOBAL.get() {
        Some(pool) => close(pool, timeout).await,
        None => Ok(()),
    }
}
