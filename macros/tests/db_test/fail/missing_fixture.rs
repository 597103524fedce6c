use persistence::db_test;
use sqlx::PgConnection;

// A bare name: looked up next to this file, then at the crate root.
#[db_test(fixtures("users", "no_such_fixture"))]
async fn bare_name(conn: &mut PgConnection) {
    let _ = conn;
}

// A path: relative to this file only.
#[db_test(fixtures("../pass/fixtures/no_such.sql"), fixtures(path = "../pass/fixtures", scripts("sites", "nope")))]
async fn paths(conn: &mut PgConnection) {
    let _ = conn;
}

fn main() {}
