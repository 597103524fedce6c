use persistence::db_test;
use sqlx::PgConnection;

#[db_test(isolation = "schema")]
async fn unknown_value(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(isolation = transaction)]
async fn not_a_string(conn: &mut PgConnection) {
    let _ = conn;
}

fn main() {}
