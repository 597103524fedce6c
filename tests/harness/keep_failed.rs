//! `PERSISTENCE_TEST_KEEP=failed` keeps the database of a failed database-mode test and prints
//! a URL to inspect it.

use persistence::db_test;
use sqlx::PgPool;

use crate::common::kept::{drop_kept, kept_database, write_a_user_then_fail};
use crate::common::scenario::{self, child, test_path};

#[db_test(migrator = "crate::SCHEMA")]
async fn fails_after_writing(pool: PgPool) {
    write_a_user_then_fail(&pool, "kept@example.com", "Kept").await;
}

#[test]
fn a_failed_tests_database_is_kept_and_its_url_printed() {
    let mut command = child(&test_path(module_path!(), "fails_after_writing"), "fail");
    command.env("PERSISTENCE_TEST_KEEP", "failed");
    let (output, text) = scenario::run(command);
    assert!(!output.status.success(), "{text}");
    let database = kept_database(&text);
    assert!(database.starts_with("persistence_keep_"), "{text}");

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
        drop_kept(server.admin_options(), &database).await;
    });
}

#[test]
fn without_the_variable_a_failed_tests_database_is_dropped() {
    let (output, text) = scenario::run(child(
        &test_path(module_path!(), "fails_after_writing"),
        "fail",
    ));
    assert!(!output.status.success(), "{text}");
    assert!(!text.contains("kept the database"), "{text}");
}
