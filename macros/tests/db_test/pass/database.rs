//! Database mode: every owned handle, including `#[sqlx::test]`'s signatures.

// trybuild builds these files without `--test`, which removes the generated `#[test]`
// functions and leaves the imports unused.
#![allow(unused_imports)]

use persistence::db_test;
use persistence::testing::TestDb;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::pool::PoolOptions;
use sqlx::{PgPool, Pool, Postgres};

#[db_test]
async fn pg_pool(pool: PgPool) {
    let _ = pool;
}

#[db_test(isolation = "database")]
async fn generic_pool(pool: Pool<Postgres>) -> anyhow::Result<()> {
    let _ = pool;
    Ok(())
}

#[db_test]
async fn pool_connection(mut conn: PoolConnection<Postgres>) {
    let _ = &mut conn;
}

#[db_test]
async fn test_db(db: TestDb) {
    let _ = db;
}

#[db_test]
async fn connect_options(opts: PgConnectOptions) {
    let _ = opts;
}

#[db_test]
async fn sqlx_two_arguments(opts: PgPoolOptions, connect: PgConnectOptions) {
    let _ = (opts, connect);
}

#[db_test]
async fn sqlx_two_arguments_generic(opts: PoolOptions<Postgres>, connect: PgConnectOptions) {
    let _ = (opts, connect);
}

#[db_test]
async fn options_tuple((opts, connect): (PgPoolOptions, PgConnectOptions)) {
    let _ = (opts, connect);
}

fn main() {}
