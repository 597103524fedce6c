//! Transaction isolation: every test's writes are rolled back, nested `begin()` is a
//! savepoint, and a deferred constraint the test violates fails it.

use persistence::db_test;
use persistence::testing::{TestSpec, run};
use sqlx::{Acquire, PgConnection};

async fn insert_ada(conn: &mut PgConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO users (email, display_name) VALUES ('ada@example.com', 'Ada') RETURNING id",
    )
    .fetch_one(conn)
    .await
}

async fn users(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(conn)
        .await
        .expect("count users")
}

// The next two insert the same unique e-mail: both pass, whichever runs first, in parallel
// or not, because neither commits.
#[db_test(migrator = "crate::SCHEMA")]
async fn first_writer_of_a_unique_row(conn: &mut PgConnection) {
    insert_ada(conn).await.expect("insert");
    assert_eq!(users(conn).await, 1);
}

#[db_test(migrator = "crate::SCHEMA")]
async fn second_writer_of_the_same_unique_row(conn: &mut PgConnection) {
    insert_ada(conn).await.expect("insert");
    assert_eq!(users(conn).await, 1);
}

#[test]
fn nothing_a_test_wrote_is_visible_afterwards() {
    let spec = TestSpec::new("rollback::afterwards").migrator(&crate::SCHEMA);
    run::transaction(&spec, |conn| {
        Box::pin(async move {
            insert_ada(conn).await.expect("insert");
        })
    });
    let seen = run::transaction(&spec, |conn| {
        Box::pin(async move { Ok::<_, std::convert::Infallible>(users(conn).await) })
    })
    .expect("infallible");
    assert_eq!(seen, 0, "a previous test's row survived its rollback");
}

#[db_test(migrator = "crate::SCHEMA")]
async fn begin_inside_a_test_is_a_savepoint(conn: &mut PgConnection) -> anyhow::Result<()> {
    insert_ada(conn).await?;
    {
        let mut inner = conn.begin().await?;
        sqlx::query(
            "INSERT INTO users (email, display_name) VALUES ('grace@example.com', 'Grace')",
        )
        .execute(&mut *inner)
        .await?;
        inner.rollback().await?;
    }
    assert_eq!(
        users(conn).await,
        1,
        "the savepoint's rollback kept the outer row"
    );
    {
        // A failing statement inside a savepoint does not abort the test's transaction.
        let mut inner = conn.begin().await?;
        let duplicate = insert_ada(&mut inner).await;
        assert!(duplicate.is_err());
        inner.rollback().await?;
    }
    assert_eq!(users(conn).await, 1);
    Ok(())
}

#[test]
fn a_commit_inside_a_test_is_rolled_back_with_it() {
    let spec = TestSpec::new("rollback::inner_commit").migrator(&crate::SCHEMA);
    run::transaction(&spec, |conn| {
        Box::pin(async move {
            let mut inner = conn.begin().await.expect("savepoint");
            insert_ada(&mut inner).await.expect("insert");
            inner.commit().await.expect("release savepoint");
        })
    });
    let seen = run::transaction(&spec, |conn| {
        Box::pin(async move { Ok::<_, std::convert::Infallible>(users(conn).await) })
    })
    .expect("infallible");
    assert_eq!(seen, 0);
}

// Two blocks at the same position of a page violate a DEFERRABLE INITIALLY DEFERRED unique
// constraint: nothing fails until the harness checks constraints before rolling back.
#[db_test(migrator = "crate::SCHEMA", fixtures("users", "sites", "pages"))]
#[should_panic(expected = "deferred constraint")]
async fn a_deferred_constraint_violation_fails_the_test(conn: &mut PgConnection) {
    sqlx::query(
        "INSERT INTO blocks (page_id, position, kind) VALUES (1, 0, 'text'), (1, 0, 'image')",
    )
    .execute(conn)
    .await
    .expect("deferred: accepted until the end of the transaction");
}

#[db_test(migrator = "crate::SCHEMA")]
async fn a_statement_error_the_test_expects_does_not_fail_it(conn: &mut PgConnection) {
    insert_ada(conn).await.expect("insert");
    assert!(insert_ada(conn).await.is_err(), "unique violation");
    // The transaction is now aborted; the harness must still roll back quietly.
}
