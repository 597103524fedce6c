use persistence::db_test;
use sqlx::PgConnection;

#[db_test]
async fn generic<T: Default>(conn: &mut PgConnection) {
    let _ = (conn, T::default());
}

fn main() {}
