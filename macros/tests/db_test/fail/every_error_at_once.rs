use persistence::db_test;
use sqlx::PgPool;

// One compile shows every mistake.
#[db_test(isolation = "transaction", fixtures("missing"), bogus = 1)]
fn everything<T>(pool: PgPool) {
    let _ = pool;
}

fn main() {}
