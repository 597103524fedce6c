use persistence::db_test;
use sqlx::PgConnection;

#[db_test(fixture("users"))]
async fn typo(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(timeout = 5)]
async fn unknown(conn: &mut PgConnection) {
    let _ = conn;
}

fn main() {}
