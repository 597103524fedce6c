//! 100 `#[sqlx::test]` tests (`pool: PgPool`), the baseline to beat, on 5 migrations
//! (`benches/migrations/5`): each inserts one row. Run by `benches/overhead.rs`.

use persistence_bench_suite::insert_user;
use sqlx::PgPool;

macro_rules! one {
    ($name:ident) => {
        #[sqlx::test(migrations = "../migrations/5")]
        async fn $name(pool: PgPool) {
            const EMAIL: &str = concat!(module_path!(), "::", stringify!($name), "@bench.invalid");
            assert!(insert_user(&pool, EMAIL).await > 0);
        }
    };
}

persistence_bench_suite::hundred!(one);
