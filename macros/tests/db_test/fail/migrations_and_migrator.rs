use persistence::db_test;
use sqlx::PgConnection;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator::DEFAULT;

#[db_test(migrations = "migrations", migrator = "MIGRATOR")]
async fn both(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(migrator = MIGRATOR, migrations = false)]
async fn both_reversed(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(isolation = "database", isolation = "database")]
async fn duplicate(pool: sqlx::PgPool) {
    let _ = pool;
}

fn main() {}
