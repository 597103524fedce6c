//! Every accepted `#[db_test]` form, compiled against the harness's real API.
//!
//! Compiling is the point: it proves each expansion type-checks against
//! `persistence::testing::run` (which trybuild's pass cases cannot, as they are built without
//! `--test` and lose their `#[test]` functions). They also run, against the harness's server.

use persistence::db_test;
use persistence::testing::TestDb;
use rstest::rstest;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Pool, Postgres};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations");

#[db_test(migrations = "tests/migrations")]
async fn transaction(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(&mut *conn).await?;
    Ok(())
}

/// Doc comments and `#[should_panic]` are kept.
#[db_test(isolation = "transaction", migrator = "MIGRATOR", fixtures("users"))]
#[should_panic = "boom"]
async fn transaction_explicit(conn: &mut sqlx::PgConnection) {
    let _ = conn;
    panic!("boom");
}

#[db_test(migrator = crate::MIGRATOR)]
async fn pool(pool: PgPool) -> anyhow::Result<()> {
    pool.acquire().await?;
    Ok(())
}

#[db_test(isolation = "database", migrations = false)]
async fn generic_pool(pool: Pool<Postgres>) {
    let _ = pool;
}

#[db_test(
    migrator = "MIGRATOR",
    fixtures(path = "db_test/pass/fixtures", scripts("users", "sites"))
)]
async fn pool_connection(mut conn: PoolConnection<Postgres>) {
    let _ = sqlx::query("SELECT 1").execute(&mut *conn).await;
}

#[db_test(
    migrator = "MIGRATOR",
    fixtures("db_test/pass/fixtures/users.sql"),
    fixtures("users")
)]
async fn test_db(db: TestDb) {
    let _ = db.pool();
}

#[db_test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_options(opts: PgConnectOptions) {
    let _ = opts;
}

#[db_test(flavor = "current_thread")]
async fn sqlx_two_arguments(opts: PgPoolOptions, connect: PgConnectOptions) {
    let _ = opts.connect_lazy_with(connect);
}

#[db_test]
async fn options_tuple(options: (PgPoolOptions, PgConnectOptions)) {
    let _ = options;
}

#[db_test(flavor = "current_thread")]
async fn no_database() {}

// rstest, recommended form: `#[db_test]` above `#[rstest]`.
#[db_test(migrator = "MIGRATOR", fixtures("users"))]
#[rstest]
#[case::one(1)]
#[case::two(2)]
async fn rstest_cases(#[case] n: i64, conn: &mut PgConnection) {
    let _ = (n, conn);
}

#[db_test(isolation = "database")]
#[rstest]
async fn rstest_values(#[values("a", "b")] name: &str, pool: PgPool) -> anyhow::Result<()> {
    let _ = (name, pool);
    Ok(())
}

// rstest, by hand: `#[test_attr(db_test)]` and `#[ignore]` on the database argument.
#[rstest]
#[case(1)]
#[case(2)]
#[test_attr(db_test(migrator = "MIGRATOR", fixtures("users")))]
async fn rstest_by_hand(#[case] n: i64, #[ignore] conn: &mut PgConnection) {
    let _ = (n, conn);
}

/// The expansion names nothing from the test's module: a test inside a module that shadows
/// common names still compiles.
mod shadowing {
    #![allow(dead_code)]
    use super::db_test;
    use sqlx::PgConnection;

    struct Box;
    struct Option;
    mod core {}
    mod std {}

    #[db_test(flavor = "multi_thread", worker_threads = 1)]
    async fn shadowed(conn: &mut PgConnection) {
        let _ = conn;
    }
}

/// The generated tests are plain test functions under the names written.
#[test]
fn tests_keep_their_names_and_return_types() {
    let _: fn() = transaction_explicit;
    let _: fn() -> anyhow::Result<()> = pool;
    let _: fn() -> Result<(), sqlx::Error> = transaction;
    let _: fn() = no_database;
}
