//! 500 database-mode `#[db_test]` tests (`pool: PgPool`) on 22 migrations
//! (`benches/migrations/20`): each inserts one row. So many in one binary show whether clones
//! keep coming once the first ones are used (a queue of fresh clones alone would drain).
//! Run by `benches/overhead.rs`.

macro_rules! one {
    ($name:ident) => {
        #[persistence::db_test(migrations = "../migrations/20")]
        async fn $name(pool: sqlx::PgPool) {
            const EMAIL: &str = concat!(module_path!(), "::", stringify!($name), "@bench.invalid");
            assert!(persistence_bench_suite::insert_user(&pool, EMAIL).await > 0);
        }
    };
}

mod a {
    persistence_bench_suite::hundred!(one);
}
mod b {
    persistence_bench_suite::hundred!(one);
}
mod c {
    persistence_bench_suite::hundred!(one);
}
mod d {
    persistence_bench_suite::hundred!(one);
}
mod e {
    persistence_bench_suite::hundred!(one);
}
