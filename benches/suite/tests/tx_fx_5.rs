//! 100 transaction-mode `#[db_test]` tests (`conn: &mut PgConnection`) on 5 migrations
//! (`benches/migrations/5`) and three fixtures (`fixtures/`): each inserts one row, as
//! `tx_5.rs` does. Run by `benches/overhead.rs`.

use persistence::db_test;
use persistence_bench_suite::insert_user;
use sqlx::PgConnection;

macro_rules! one {
    ($name:ident) => {
        #[db_test(migrations = "../migrations/5", fixtures("users", "sites", "pages"))]
        async fn $name(conn: &mut PgConnection) {
            const EMAIL: &str = concat!(module_path!(), "::", stringify!($name), "@bench.invalid");
            assert!(insert_user(conn, EMAIL).await > 0);
        }
    };
}

persistence_bench_suite::hundred!(one);
