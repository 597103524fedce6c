//! `PERSISTENCE_TEST_KEEP=failed` keeps the database of a failed database-mode test and prints
//! a URL to inspect it.

mod common;

use persistence::db_test;
use sqlx::PgPool;

use common::kept::kept_url;
use common::scenario::{self, child, scenario_is};

#[db_test]
async fn fails_after_writing(pool: PgPool) {
    sqlx::query("INSERT INTO users (email, display_name) VALUES ('kept@example.com', 'Kept')")
        .execute(&pool)
        .await
        .expect("insert");
    assert!(!scenario_is("fail"), "failing on purpose");
}

#[test]
fn a_failed_tests_database_is_kept_and_its_url_printed() {
    let mut command = child("fails_after_writing", "fail");
    command.env("PERSISTENCE_TEST_KEEP", "failed");
    let (output, text) = scenario::run(command);
    assert!(!output.status.success(), "{text}");
    let url = kept_url(&text);
    let database = url.rsplit('/').next().expect("database name").to_owned();
    assert!(database.starts_with("persistence_keep_"), "{url}");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let server = persistence::ephemeral::server().await.expect("server");
        let kept = PgPool::connect_with(server.options_for(&database))
            .await
            .expect("the kept database opens");
        let rows: i64 =
            sqlx::query_scalar("SELECT count(*) FROM users WHERE email = 'kept@example.com'")
                .fetch_one(&kept)
                .await
                .expect("count");
        assert_eq!(rows, 1, "the failed test's data is there to inspect");
        kept.close().await;
        let admin = PgPool::connect_with(server.admin_options().clone())
            .await
            .expect("admin");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {database} WITH (FORCE)"
        )))
        .execute(&admin)
        .await
        .expect("drop the kept database");
    });
}

#[test]
fn without_the_variable_a_failed_tests_database_is_dropped() {
    let (output, text) = scenario::run(child("fails_after_writing", "fail"));
    assert!(!output.status.success(), "{text}");
    assert!(!text.contains("kept the database"), "{text}");
}
