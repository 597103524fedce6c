use persistence::db_test;

// Without a database argument, database arguments would be silently ignored.
#[db_test(isolation = "database", migrations = false, fixtures("users"))]
async fn no_argument() {}

fn main() {}
