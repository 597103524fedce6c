//! What a database-mode test may take as its argument: the same types `#[sqlx::test]` passes.

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::test_db::TestDb;

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
    async fn from_test_db(db: &TestDb) -> Result<Self, sqlx::Error> {
        Ok((PgPoolOptions::new(), db.connect_options()))
    }
}
