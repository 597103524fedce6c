use persistence::db_test;
use sqlx::PgConnection;

#[db_test(role = "")]
async fn empty(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(role = "pg_read_all_data")]
async fn reserved(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(role = app)]
async fn not_a_string(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(role = "app")]
async fn without_a_database() {}

fn main() {}
