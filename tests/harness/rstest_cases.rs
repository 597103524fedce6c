//! `#[db_test]` beside rstest: each case gets its own transaction, and rstest fixtures can
//! build the harness's handles with its public constructors.

use persistence::db_test;
use persistence::testing::{TestDb, TestSpec, TestTransaction};
use rstest::{fixture, rstest};
use sqlx::PgConnection;

// `#[db_test]` goes above `#[rstest]`: it hands rstest a template whose cases each get
// `#[db_test]` themselves.
#[db_test(migrator = "crate::SCHEMA")]
#[rstest]
#[case("ada@example.com")]
#[case("grace@example.com")]
#[case("ada@example.com")]
async fn each_case_runs_in_a_fresh_transaction(#[case] email: &str, conn: &mut PgConnection) {
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut *conn)
        .await
        .expect("count");
    assert_eq!(before, 0, "a previous case's row is visible");
    sqlx::query("INSERT INTO users (email, display_name) VALUES ($1, 'Someone')")
        .bind(email)
        .execute(&mut *conn)
        .await
        .expect("insert");
}

#[fixture]
async fn transaction() -> TestTransaction {
    TestTransaction::begin(&TestSpec::new("rstest::transaction").migrator(&crate::SCHEMA))
        .await
        .expect("transaction")
}

#[rstest]
#[tokio::test]
async fn a_fixture_built_transaction(#[future] transaction: TestTransaction) {
    let mut tx = transaction.await;
    sqlx::query("INSERT INTO users (email, display_name) VALUES ('ada@example.com', 'Ada')")
        .execute(&mut *tx)
        .await
        .expect("insert");
    tx.rollback().await.expect("rollback");
}

#[fixture]
async fn database() -> TestDb {
    TestDb::create(&TestSpec::new("rstest::database").migrator(&crate::SCHEMA))
        .await
        .expect("database")
}

#[rstest]
#[tokio::test]
async fn a_fixture_built_database(#[future] database: TestDb) {
    let db = database.await;
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(users, 0);
    db.close().await.expect("dropped");
}
