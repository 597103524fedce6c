//! Forty database-mode and forty transaction-mode tests that overlap: run with
//! `cargo test --test harness -- many_at_once:: --test-threads 80` or `cargo nextest run
//! --test harness -j 32 many_at_once::` (CI does both). None may fail for a connection or a
//! clone, however many run at once on a small machine: the pool grows to the peak, and
//! a test waits for room on the server rather than fail.

use std::time::Duration;

use persistence::db_test;
use sqlx::{PgConnection, PgPool};

/// Long enough for the tests of one run to overlap.
const WORK: Duration = Duration::from_millis(100);

async fn write_and_count(conn: &mut PgConnection) -> i64 {
    sqlx::query("INSERT INTO users (id, email, display_name) OVERRIDING SYSTEM VALUE VALUES (1, 'one@example.com', 'One')")
        .execute(&mut *conn)
        .await
        .expect("the same fixed id in every test");
    tokio::time::sleep(WORK).await;
    sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(conn)
        .await
        .expect("count")
}

macro_rules! many {
    ($($tx:ident $db:ident),* $(,)?) => {$(
        #[db_test(migrator = "crate::SCHEMA")]
        async fn $tx(conn: &mut PgConnection) {
            assert_eq!(write_and_count(conn).await, 1);
        }

        #[db_test(migrator = "crate::SCHEMA")]
        async fn $db(pool: PgPool) {
            let mut conn = pool.acquire().await.expect("acquire");
            assert_eq!(write_and_count(&mut conn).await, 1);
        }
    )*};
}

many!(
    tx_01 db_01, tx_02 db_02, tx_03 db_03, tx_04 db_04, tx_05 db_05,
    tx_06 db_06, tx_07 db_07, tx_08 db_08, tx_09 db_09, tx_10 db_10,
    tx_11 db_11, tx_12 db_12, tx_13 db_13, tx_14 db_14, tx_15 db_15,
    tx_16 db_16, tx_17 db_17, tx_18 db_18, tx_19 db_19, tx_20 db_20,
    tx_21 db_21, tx_22 db_22, tx_23 db_23, tx_24 db_24, tx_25 db_25,
    tx_26 db_26, tx_27 db_27, tx_28 db_28, tx_29 db_29, tx_30 db_30,
    tx_31 db_31, tx_32 db_32, tx_33 db_33, tx_34 db_34, tx_35 db_35,
    tx_36 db_36, tx_37 db_37, tx_38 db_38, tx_39 db_39, tx_40 db_40,
);
