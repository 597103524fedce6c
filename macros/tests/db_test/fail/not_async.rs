use persistence::db_test;
use sqlx::PgConnection;

#[db_test]
fn not_async(conn: &mut PgConnection) {
    let _ = conn;
}

fn main() {}
