//! The production core: configuration, the pool, transactions, health, errors and migrations.
//!
//! | module | job |
//! |---|---|
//! | [`PgConfig`] | `DATABASE_URL` (Prisma's parameters included), `PERSISTENCE_*` overrides, builder |
//! | [`connect`], [`global`], [`acquire`] | the pool and its connection events |
//! | [`close`], [`shutdown`], [`shutdown_signal`] | graceful shutdown: one pool, the process-wide one, on SIGINT/SIGTERM |
//! | [`GlobalScope`], [`spawn_scoped`] | run code with another pool (or none) as the process-wide one |
//! | [`transaction`] | commit / rollback / savepoint / retry on conflict |
//! | [`check`] | an `application/health+json` health report |
//! | [`Error`], [`ErrorCategory`] | what failed and whether trying again can help |
//! | [`migrate`] | the run / status / add / revert / reset workflow, on your crate's embedded migrations |
//!
//! Passwords never appear in `Display`, `Debug`, errors or logs of anything here.
//!
//! ```no_run
//! use std::time::Duration;
//! use persistence::postgres::{self as pg, TransactionOptions};
//!
//! // Your crate's ./migrations, embedded when it is compiled:
//! // static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();
//! # static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator::DEFAULT;
//!
//! # async fn run() -> Result<(), pg::Error> {
//! let pool = pg::connect(&pg::PgConfig::from_env()?).await?;
//! pg::migrate::run(&MIGRATOR, &mut *pool.acquire().await?).await?;
//!
//! let id: i64 = pg::transaction(&pool, TransactionOptions::new(), async |tx| {
//!     let id = sqlx::query_scalar("INSERT INTO customers (email) VALUES ($1) RETURNING id")
//!         .bind("ada@example.com")
//!         .fetch_one(&mut *tx)
//!         .await?;
//!     Ok::<_, pg::Error>(id)
//! })
//! .await?;
//!
//! println!("{}", serde_json::to_string(&pg::check(&pool).await).unwrap_or_default());
//! pg::close(&pool, Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```

mod category;
mod client;
mod config;
mod error;
mod global_scope;
mod health;
pub mod migrate;
mod redact;
mod slug;
mod transaction;

pub use client::{
    EVENTS_TARGET, Signal, acquire, close, connect, connect_lazy, connect_one, global, init_global,
    pool_options_with_events, shutdown, shutdown_signal,
};
pub(crate) use client::{PoolTimeoutCause, diagnose_pool_timeout};
// The harness's own direct connection; only the `testing` feature has a harness.
pub use category::ErrorCategory;
#[cfg(feature = "testing")]
pub(crate) use client::diagnose_pool_timeout_by;
pub use config::{ConfigError, Host, Origin, PgConfig, PgConfigBuilder, SslMode, quote_identifier};
pub use error::Error;
pub use global_scope::{GlobalScope, forbid_unscoped_global, spawn_scoped};
pub use health::{
    ConnectionsCheck, HEALTH_CONTENT_TYPE, HealthChecks, HealthOptions, HealthReport, HealthStatus,
    PoolStats, Probe, ResponseTimeCheck, check, check_with, format_server_version, probe,
};
pub use redact::redact_passwords;
pub(crate) use slug::slugify;
pub use transaction::{
    BoxedBody, DerefsToStdError, IsStdError, IsolationLevel, RetryPolicy, Scope, TransactionDepth,
    TransactionError, TransactionOptions, TransactionTarget, transaction, transaction_boxed,
};
