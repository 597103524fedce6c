use persistence::db_test;
use sqlx::PgConnection;

// `#[tokio::test]` expands first and hands `#[db_test]` a function that is no longer async.
#[tokio::test]
#[db_test]
async fn tokio_above(conn: &mut PgConnection) {
    let _ = conn;
}

#[tokio::test]
#[db_test]
async fn tokio_above_without_a_database() {}

fn main() {}
