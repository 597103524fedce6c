//! Fixtures and the choice of migrations, in every form `#[sqlx::test]` accepts.

use persistence::db_test;
use sqlx::{PgConnection, PgPool};

async fn count(conn: &mut PgConnection, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(conn)
        .await
        .expect("count")
}

#[db_test(migrator = "crate::SCHEMA", fixtures("users", "sites"))]
async fn bare_fixture_names_come_from_the_fixtures_dir(conn: &mut PgConnection) {
    assert_eq!(count(conn, "users").await, 3);
    assert_eq!(count(conn, "sites").await, 2);
}

#[db_test(
    migrator = "crate::SCHEMA",
    fixtures("./fixtures/users.sql", "./fixtures/sites.sql")
)]
async fn explicit_relative_paths(conn: &mut PgConnection) {
    assert_eq!(count(conn, "sites").await, 2);
}

#[db_test(
    migrator = "crate::SCHEMA",
    fixtures(path = "./fixtures", scripts("users", "sites", "pages"))
)]
async fn a_path_and_scripts(conn: &mut PgConnection) {
    assert_eq!(count(conn, "pages").await, 2);
}

#[db_test(migrator = "crate::SCHEMA", fixtures("users"), fixtures("sites"))]
async fn several_fixture_lists_in_order(conn: &mut PgConnection) {
    assert_eq!(count(conn, "sites").await, 2);
}

#[db_test(migrator = "crate::SCHEMA", fixtures("users", "sites"))]
async fn fixtures_in_database_mode(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("conn");
    assert_eq!(count(&mut conn, "users").await, 3);
}

#[db_test(migrations = false)]
async fn without_migrations_the_database_is_empty(conn: &mut PgConnection) {
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(conn)
            .await
            .expect("tables");
    assert_eq!(tables, 0);
}

#[db_test(migrations = "tests/migrations_custom", fixtures("notes"))]
async fn a_custom_migrations_dir_and_a_fixture_beside_the_test(conn: &mut PgConnection) {
    assert_eq!(count(conn, "notes").await, 2);
    let users: Option<String> = sqlx::query_scalar("SELECT to_regclass('users')::text")
        .fetch_one(conn)
        .await
        .expect("regclass");
    assert_eq!(users, None, "no other schema was applied");
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations_custom");

#[db_test(migrator = "MIGRATOR")]
async fn a_migrator_by_path(conn: &mut PgConnection) {
    assert_eq!(count(conn, "notes").await, 0);
}
