//! The fixtures of `fixtures/` load onto the schema of `migrations/` in the order their
//! comments give (users, sites, pages), as `#[db_test(fixtures(...))]` loads them: in the
//! test's transaction, where the deferred constraints between pages and their versions hold
//! by the end.

use persistence::db_test;
use sqlx::{PgConnection, PgPool};

async fn count(conn: &mut PgConnection, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(conn)
        .await
        .expect("count")
}

#[db_test(fixtures("users", "sites"))]
async fn users_own_their_sites(conn: &mut PgConnection) {
    assert_eq!(count(conn, "users").await, 3);
    let owners: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.slug, u.email FROM sites s JOIN users u ON u.id = s.owner_id ORDER BY s.id",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("owners");
    assert_eq!(
        owners,
        [
            ("ada-notes".to_owned(), "ada@example.com".to_owned()),
            ("grace-compilers".to_owned(), "grace@example.com".to_owned()),
        ]
    );
}

#[db_test(fixtures("users", "sites", "pages"))]
async fn pages_come_with_their_versions_and_blocks(conn: &mut PgConnection) {
    assert_eq!(count(conn, "pages").await, 2);
    assert_eq!(count(conn, "page_versions").await, 3);
    assert_eq!(count(conn, "blocks").await, 7);
    let (status, current): (String, Option<i64>) = sqlx::query_as(
        "SELECT status, current_version_id FROM pages WHERE slug = 'analytical-engine'",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("the published page");
    assert_eq!((status.as_str(), current), ("published", Some(3)));
    // The deferred keys between pages and versions hold once checked.
    sqlx::query("SET CONSTRAINTS ALL IMMEDIATE")
        .execute(&mut *conn)
        .await
        .expect("the fixtures satisfy every constraint");
}

#[db_test(fixtures("users", "sites", "pages"))]
async fn a_new_row_gets_an_id_past_the_fixtures(pool: PgPool) {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (email, display_name) VALUES ('new@example.com', 'New') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("no collision with the fixed ids");
    assert!(id > 3, "{id}");
}

// Two blocks at the same position of a version violate a DEFERRABLE INITIALLY DEFERRED
// unique constraint: nothing fails until the harness checks constraints before rolling back.
#[db_test(fixtures("users", "sites", "pages"))]
#[should_panic(expected = "deferred constraint")]
async fn a_deferred_constraint_violation_fails_the_test(conn: &mut PgConnection) {
    sqlx::query("INSERT INTO blocks (page_version_id, position, kind) VALUES (1, 0, 'text'), (1, 0, 'image')")
        .execute(conn)
        .await
        .expect("deferred: accepted until the end of the transaction");
}
