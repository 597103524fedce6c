//! The kept database of a failed test (`PERSISTENCE_TEST_KEEP=failed`): the failing test that
//! leaves one, the line that names it, and dropping it afterwards.

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

use super::scenario::scenario_is;

/// The body of a scenario test that leaves a database to keep: it writes a user with `email`
/// (named `display_name`), then fails when acting out the scenario `fail`.
pub async fn write_a_user_then_fail(pool: &PgPool, email: &str, display_name: &str) {
    sqlx::query("INSERT INTO users (email, display_name) VALUES ($1, $2)")
        .bind(email)
        .bind(display_name)
        .execute(pool)
        .await
        .expect("insert");
    assert!(!scenario_is("fail"), "failing on purpose");
}

/// The URL a failed test's output gives for its kept database.
pub fn kept_url(text: &str) -> String {
    text.lines()
        .find_map(|l| {
            l.split_once("kept the database of this failed test: ")?
                .1
                .split_whitespace()
                .next()
        })
        .unwrap_or_else(|| panic!("no URL printed: {text}"))
        .to_owned()
}

/// The name of the kept database a failed test's output gives.
pub fn kept_database(text: &str) -> String {
    let url = kept_url(text);
    url.rsplit('/').next().unwrap_or(&url).to_owned()
}

/// Drops the kept database `database`, its sessions too, as the server's superuser (`admin`).
pub async fn drop_kept(admin: &PgConnectOptions, database: &str) {
    let mut admin = PgConnection::connect_with(admin).await.expect("admin");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {database} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop the kept database");
    let _ = admin.close().await;
}
