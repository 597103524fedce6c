//! Migrations and runtime arguments.

// trybuild builds these files without `--test`, which removes the generated `#[test]`
// functions and leaves the imports unused.
#![allow(unused_imports)]

use persistence::db_test;
use sqlx::{PgConnection, PgPool};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator::DEFAULT;

#[db_test(migrations = false)]
async fn no_migrations(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(migrator = "MIGRATOR")]
async fn migrator_string(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(migrator = crate::MIGRATOR)]
async fn migrator_path(pool: PgPool) {
    let _ = pool;
}

#[db_test(flavor = "current_thread")]
async fn current_thread(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(flavor = "multi_thread")]
async fn multi_thread(pool: PgPool) {
    let _ = pool;
}

#[db_test(worker_threads = 4, flavor = "multi_thread",)]
async fn worker_threads(pool: PgPool) {
    let _ = pool;
}

#[db_test]
async fn no_database() {}

#[db_test(flavor = "current_thread")]
async fn no_database_own_runtime() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {
    let _ = &MIGRATOR;
}
