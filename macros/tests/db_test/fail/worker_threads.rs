use persistence::db_test;
use sqlx::PgConnection;

#[db_test(worker_threads = 2)]
async fn without_flavor(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(flavor = "current_thread", worker_threads = 2)]
async fn with_current_thread(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(flavor = "multi_thread", worker_threads = 0)]
async fn zero(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(flavor = "single_thread")]
async fn unknown_flavor(conn: &mut PgConnection) {
    let _ = conn;
}

fn main() {}
