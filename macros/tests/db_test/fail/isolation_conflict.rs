use persistence::db_test;
use persistence::testing::TestDb;
use sqlx::{PgConnection, PgPool};

#[db_test(isolation = "transaction")]
async fn transaction_with_a_pool(pool: PgPool) {
    let _ = pool;
}

#[db_test(isolation = "transaction")]
async fn transaction_with_a_test_db(db: TestDb) {
    let _ = db;
}

#[db_test(isolation = "database")]
async fn database_with_a_connection(conn: &mut PgConnection) {
    let _ = conn;
}

fn main() {}
