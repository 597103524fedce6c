// Each failing function is replaced by its errors, which leaves the imports unused.
#![allow(unused_imports)]

use persistence::db_test;

// Without a database argument, database arguments would be silently ignored.
#[db_test(isolation = "database", migrations = false, fixtures("users"))]
async fn no_argument() {}

fn main() {}
