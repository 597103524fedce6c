use persistence::db_test;
use sqlx::PgConnection;

#[db_test]
#[test]
async fn twice(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test]
#[tokio::test]
async fn tokio_too(conn: &mut PgConnection) {
    let _ = conn;
}

fn main() {}
