//! Row types of this crate's schema (`migrations/`), and the checked queries that use them.
//!
//! The structs and enums come from `generated.rs`, which `persistence generate` writes from
//! the migrated schema; CI fails (`persistence generate --check`) when a migration changed
//! a table and the file was not regenerated. The queries below are `sqlx::query_as!`
//! macros: checked against the schema at compile time, from the offline data in `.sqlx/`
//! that `persistence prepare` writes, so building needs no database.
//!
//! ```no_run
//! use persistence::postgres::HealthStatus;
//! use page_builder::models::HealthCheck;
//!
//! # async fn run(pool: sqlx::PgPool) -> Result<(), persistence::postgres::Error> {
//! let written = HealthCheck::record(&pool, HealthStatus::Pass, Some("deploy 42")).await?;
//! let latest = HealthCheck::latest(&pool).await?;
//! assert_eq!(latest.map(|row| row.id), Some(written.id));
//! # Ok(()) }
//! ```

mod generated;
mod queries;

pub use generated::*;
