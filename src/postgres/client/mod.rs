//! The pool: opening it, the process-wide instance, connection events, graceful shutdown.
//!
//! Shutting down takes three names: [`close`] closes one pool within a time limit,
//! [`shutdown`] the process-wide one, and [`shutdown_signal`] waits for SIGINT/SIGTERM first.
//!
//! | file | job |
//! |---|---|
//! | `connect` | open a pool or one connection, and name the server in errors |
//! | `acquire` | take a pooled connection, and say why none came |
//! | `events` | the connection-event hooks and their `tracing` fields |
//! | `global` | the process-wide pool, and its shutdown |
//! | `close` | close a pool within a time limit |
//! | `signal` | wait for SIGINT/SIGTERM |
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
//!
//! [`PgConfig::slow_acquire_threshold`]: crate::postgres::PgConfig::slow_acquire_threshold

mod acquire;
mod close;
mod connect;
mod events;
mod global;
mod signal;

pub use acquire::acquire;
pub(crate) use acquire::{PoolTimeoutCause, diagnose_pool_timeout};
// The harness's own direct connection; only the `testing` feature has a harness.
#[cfg(feature = "testing")]
pub(crate) use acquire::diagnose_pool_timeout_by;
pub use close::close;
pub use connect::{connect, connect_lazy, connect_one};
pub(crate) use events::millis;
pub use events::{EVENTS_TARGET, pool_options_with_events};
pub use global::{global, init_global, shutdown};
pub use signal::{Signal, shutdown_signal};
