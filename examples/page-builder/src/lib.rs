#![doc = include_str!("../README.md")]

use sqlx::migrate::Migrator;

pub mod models;

#[cfg(feature = "factories")]
pub mod factories;

/// This crate's schema (`migrations/`), embedded at compile time; `build.rs` makes cargo
/// rebuild when a migration is added or removed.
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool) -> Result<(), persistence::postgres::Error> {
/// persistence::postgres::migrate::run(&page_builder::MIGRATOR, &mut *pool.acquire().await?).await?;
/// # Ok(()) }
/// ```
pub static MIGRATOR: Migrator = sqlx::migrate!();
