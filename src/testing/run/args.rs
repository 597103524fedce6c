//! What a database-mode test may take as its argument: the same types `#[sqlx::test]` passes.

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::test_db::TestDb;
use crate::testing::pool::database::TEST_POOL_MAX;

/// A value a database-mode test can take as its argument, built from the test's database.
pub trait FromTestDb: Sized {
    /// Builds the argument from the test's database.
    fn from_test_db(db: &TestDb) -> impl Future<Output = Result<Self, sqlx::Error>>;
}

impl FromTestDb for TestDb {
    async fn from_test_db(db: &TestDb) -> Result<Self, sqlx::Error> {
        Ok(db.clone())
    }
}

impl FromTestDb for PgPool {
    async fn from_test_db(db: &TestDb) -> Result<Self, sqlx::Error> {
        Ok(db.pool().clone())
    }
}

impl FromTestDb for PoolConnection<Postgres> {
    async fn from_test_db(db: &TestDb) -> Result<Self, sqlx::Error> {
        db.pool().acquire().await
    }
}

impl FromTestDb for PgConnectOptions {
    async fn from_test_db(db: &TestDb) -> Result<Self, sqlx::Error> {
        Ok(db.connect_options())
    }
}

impl FromTestDb for (PgPoolOptions, PgConnectOptions) {
    /// The pool options `#[sqlx::test]` passes: at most 5 connections, idle ones closed
    /// after a second.
    async fn from_test_db(db: &TestDb) -> Result<Self, sqlx::Error> {
        let options = PgPoolOptions::new()
            .max_connections(TEST_POOL_MAX)
            .idle_timeout(Some(std::time::Duration::from_secs(1)));
        Ok((options, db.connect_options()))
    }
}
