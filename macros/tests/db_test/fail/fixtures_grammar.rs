use persistence::db_test;
use sqlx::PgConnection;

#[db_test(fixtures())]
async fn empty(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(fixtures(scripts("users")))]
async fn scripts_without_path(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(fixtures("users", path = "../pass/fixtures"))]
async fn path_not_first(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(fixtures(path = "../pass/fixtures"))]
async fn path_without_scripts(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(fixtures(users))]
async fn not_a_string(conn: &mut PgConnection) {
    let _ = conn;
}

fn main() {}
