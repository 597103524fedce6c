use persistence::db_test;
use sqlx::{PgConnection, PgPool};

#[db_test]
async fn two_args(pool: PgPool, conn: &mut PgConnection) {
    let _ = (pool, conn);
}

// Extra arguments are meant for rstest: the error says where `#[db_test]` goes then.
#[db_test]
async fn case_without_rstest(n: i32, conn: &mut PgConnection) {
    let _ = (n, conn);
}

fn main() {}
