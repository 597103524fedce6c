// Each failing function is replaced by its errors, which leaves the imports unused.
#![allow(unused_imports)]

use persistence::db_test;
use sqlx::PgPool;

// One compile shows every mistake.
#[db_test(isolation = "transaction", fixtures("missing"), bogus = 1)]
fn everything<T>(pool: PgPool) {
    let _ = pool;
}

fn main() {}
