use persistence::db_test;
use sqlx::PgConnection;

#[db_test(migrations = "./no_such_migrations")]
async fn missing(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(migrations = "/abs/migrations")]
async fn absolute(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(migrations = true)]
async fn redundant(conn: &mut PgConnection) {
    let _ = conn;
}

fn main() {}
