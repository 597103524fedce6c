// A plain `fn` is a test as under `#[sqlx::test]`: its body becomes the body of an `async fn`.
use persistence::db_test;
use sqlx::{PgConnection, PgPool};

#[db_test]
fn in_a_transaction(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test]
fn with_a_pool(pool: PgPool) -> Result<(), sqlx::Error> {
    let _ = pool;
    Ok(())
}

#[db_test]
fn without_a_database() {}

fn main() {}
