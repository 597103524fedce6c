//! 100 database-mode `#[db_test]` tests (`pool: PgPool`) on 5 migrations
//! (`benches/migrations/5`) and three fixtures (`fixtures/`): each inserts one row, as
//! `db_5.rs` does. Run by `benches/overhead.rs`.

use persistence::db_test;
use persistence_bench_suite::insert_user;
use sqlx::PgPool;

macro_rules! one {
    ($name:ident) => {
        #[db_test(migrations = "../migrations/5", fixtures("users", "sites", "pages"))]
        async fn $name(pool: PgPool) {
            const EMAIL: &str = concat!(module_path!(), "::", stringify!($name), "@bench.invalid");
            assert!(insert_user(&pool, EMAIL).await > 0);
        }
    };
}

persistence_bench_suite::hundred!(one);
