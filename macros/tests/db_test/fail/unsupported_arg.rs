use persistence::db_test;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

#[db_test]
async fn unrelated(name: String) {
    let _ = name;
}

#[db_test]
async fn shared_connection(conn: &PgConnection) {
    let _ = conn;
}

#[db_test]
async fn owned_connection(conn: PgConnection) {
    let _ = conn;
}

#[db_test]
async fn transaction(tx: &mut Transaction<'_, Postgres>) {
    let _ = tx;
}

#[db_test]
async fn borrowed_pool(pool: &PgPool) {
    let _ = pool;
}

#[db_test]
async fn other_database(pool: sqlx::Pool<sqlx::Any>) {
    let _ = pool;
}

fn main() {}
