//! `assert_queries!` counts the statements the server received: an N+1 loop is N, the
//! batched query 1, a transaction's BEGIN/COMMIT apart; a wrong count lists the statements.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use persistence::postgres::{self as pg, TransactionOptions, global, transaction};
use persistence::testing::QueryCounter;
use persistence::{assert_queries, db_test};
use sqlx::{Connection, PgPool};

/// Service code under test: the same names, loaded one by one or in one query, through the
/// process-wide pool.
mod service {
    use persistence::postgres::{self as pg, global};

    pub async fn names_one_by_one(ids: &[i64]) -> Result<Vec<String>, pg::Error> {
        let mut names = Vec::new();
        for id in ids {
            names.push(
                sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_one(global()?)
                    .await?,
            );
        }
        Ok(names)
    }

    pub async fn names_batched(ids: &[i64]) -> Result<Vec<String>, pg::Error> {
        Ok(sqlx::query_scalar(
            "SELECT display_name FROM users WHERE id = ANY($1) ORDER BY array_position($1, id)",
        )
        .bind(ids)
        .fetch_all(global()?)
        .await?)
    }
}

/// Inserts `count` users, one statement for all of them; their ids.
async fn some_users(pool: &PgPool, count: usize) -> Vec<i64> {
    sqlx::query_scalar(
        "INSERT INTO users (email, display_name) \
         SELECT 'user' || n || '@example.com', 'User ' || n FROM generate_series(1, $1) AS n \
         RETURNING id",
    )
    .bind(i32::try_from(count).expect("a few users"))
    .fetch_all(pool)
    .await
    .expect("users")
}

#[db_test(migrator = "crate::SCHEMA")]
async fn an_n_plus_one_loop_is_n_statements_and_the_batch_is_one(pool: PgPool) {
    let ids = some_users(&pool, 7).await;
    let counter = QueryCounter::new(&pool).await.expect("counter");

    let (one_by_one, queries) = counter.measure(service::names_one_by_one(&ids)).await;
    let one_by_one = one_by_one.expect("names");
    assert_eq!(queries.count(), ids.len(), "{queries:?}");
    assert_eq!(queries.transaction_control_count(), 0);
    assert!(
        queries
            .statements()
            .all(|s| s.sql == "SELECT display_name FROM users WHERE id = $1")
    );

    let batched = assert_queries!(counter, 1, service::names_batched(&ids)).expect("names");
    assert_eq!(batched, one_by_one);
    // The same through the counter's pool directly, and through a connection of its own.
    assert_queries!(counter, 2, async {
        let mut conn = counter.connect().await.expect("connection");
        sqlx::query("SELECT 1")
            .execute(counter.pool())
            .await
            .expect("pool");
        sqlx::query("SELECT 2")
            .execute(&mut conn)
            .await
            .expect("conn");
        conn.close().await.expect("close");
    });
}

#[db_test(migrator = "crate::SCHEMA")]
async fn begin_and_commit_are_reported_apart(pool: PgPool) {
    let counter = QueryCounter::new(&pool).await.expect("counter");
    let insert_two = || async {
        transaction(global()?, TransactionOptions::new(), async |tx| {
            for email in ["a@example.com", "b@example.com"] {
                sqlx::query("INSERT INTO users (email, display_name) VALUES ($1, 'x')")
                    .bind(email)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, pg::Error>(())
        })
        .await
    };
    let (done, queries) = counter.measure(insert_two()).await;
    done.expect("committed");
    assert_eq!(queries.count(), 2);
    let control: Vec<&str> = queries
        .transaction_control()
        .map(|s| s.sql.as_str())
        .collect();
    assert_eq!(control.len(), 2, "{control:?}");
    assert!(control[0].starts_with("BEGIN"), "{control:?}");
    assert_eq!(control[1], "COMMIT");

    sqlx::query("DELETE FROM users")
        .execute(&pool)
        .await
        .expect("reset");
    assert_queries!(counter, 2, transaction_control = 2, insert_two()).expect("committed");
    // A multi-statement simple query is one message: the server receives it at once.
    assert_queries!(
        counter,
        1,
        sqlx::raw_sql("SELECT 1; SELECT 2").execute(counter.pool())
    )
    .expect("batch");
}

#[db_test(migrator = "crate::SCHEMA")]
async fn a_wrong_count_lists_the_statements(pool: PgPool) {
    let ids = some_users(&pool, 3).await;
    let counter = QueryCounter::new(&pool).await.expect("counter");
    let failed =
        AssertUnwindSafe(async { assert_queries!(counter, 1, service::names_one_by_one(&ids)) })
            .catch_unwind()
            .await
            .expect_err("three statements, not one");
    let message = failed
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    let listed = format!(
        "expected 1 statement, the server received {} (and 0 transaction control, not \
         counted):",
        ids.len()
    );
    assert!(
        message.contains("assert_queries! at tests/harness/query_count.rs:"),
        "{message}"
    );
    assert!(message.contains(&listed), "{message}");
    let line = "] SELECT display_name FROM users WHERE id = $1";
    assert_eq!(message.matches(line).count(), ids.len(), "{message}");
    for n in 1..=ids.len() {
        assert!(
            message.contains(&format!("\n  {n}. [connection ")),
            "{message}"
        );
    }
}
