//! Fixtures are loaded once, into a template of their schema that every test's database is
//! cloned from: a test pays nothing for them, and whatever it does to their rows, the next
//! test gets them pristine.

use std::convert::Infallible;
use std::time::SystemTime;

use persistence::testing::{Fixture, TestDb, TestSpec, run};
use sqlx::PgConnection;

/// A fixture that writes when it ran: a test that finds the same time as another, and one
/// from before it started, got its rows from the template.
const STAMPED: &[Fixture] = &[Fixture::new(
    "fixture_templates/stamped.sql",
    "INSERT INTO users (email, display_name) VALUES ('stamp@example.com', \
     (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text)",
)];

fn stamped(name: &'static str) -> TestSpec {
    TestSpec::new(name)
        .migrator(&crate::SCHEMA)
        .fixtures(STAMPED)
}

async fn stamp(conn: &mut PgConnection) -> u128 {
    let text: String =
        sqlx::query_scalar("SELECT display_name FROM users WHERE email = 'stamp@example.com'")
            .fetch_one(conn)
            .await
            .expect("the fixture's row");
    text.parse().expect("microseconds")
}

fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_micros()
}

#[test]
fn fixtures_run_once_not_in_each_test() {
    let first = run::transaction(&stamped("fixture_templates::first"), |conn| {
        Box::pin(async move { Ok::<_, Infallible>(stamp(conn).await) })
    })
    .expect("infallible");
    // The template is built by the first test, at the latest: the second runs no fixture.
    let second_started = now_micros();
    let second = run::database(
        &stamped("fixture_templates::second"),
        |db: TestDb| async move {
            let mut conn = db.pool().acquire().await.expect("conn");
            Ok::<_, Infallible>(stamp(&mut conn).await)
        },
    )
    .expect("infallible");
    assert_eq!(
        first, second,
        "both tests got the rows the template was built with"
    );
    assert!(
        second < second_started,
        "the second test's fixture row is from before it started: {second} >= {second_started}"
    );
}

const USERS: &[Fixture] = &[Fixture::new(
    "tests/harness/fixtures/users.sql",
    include_str!("fixtures/users.sql"),
)];

async fn user_names(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar("SELECT display_name FROM users ORDER BY id")
        .fetch_all(conn)
        .await
        .expect("users")
}

fn pristine() -> Vec<String> {
    ["Ada Lovelace", "Grace Hopper", "Linus Pauling"]
        .map(str::to_owned)
        .to_vec()
}

#[test]
fn a_transaction_test_that_changes_fixture_rows_leaves_them_pristine() {
    let spec = TestSpec::new("fixture_templates::tx_changes")
        .migrator(&crate::SCHEMA)
        .fixtures(USERS);
    run::transaction(&spec, |conn| {
        Box::pin(async move {
            sqlx::query("UPDATE users SET display_name = 'changed'")
                .execute(&mut *conn)
                .await
                .expect("update");
            sqlx::query("DELETE FROM users WHERE id = 3")
                .execute(&mut *conn)
                .await
                .expect("delete");
            assert_eq!(user_names(conn).await, ["changed", "changed"]);
        })
    });
    let next = TestSpec::new("fixture_templates::tx_next")
        .migrator(&crate::SCHEMA)
        .fixtures(USERS);
    let names = run::transaction(&next, |conn| {
        Box::pin(async move { Ok::<_, Infallible>(user_names(conn).await) })
    })
    .expect("infallible");
    assert_eq!(names, pristine());
}

#[test]
fn a_database_test_that_deletes_fixture_rows_leaves_them_pristine() {
    let spec = TestSpec::new("fixture_templates::db_deletes")
        .migrator(&crate::SCHEMA)
        .fixtures(USERS);
    for _ in 0..3 {
        // The same clone comes back to the next round (under cargo test): it must have its
        // rows again each time.
        let names = run::database(&spec, |db: TestDb| async move {
            let mut conn = db.pool().acquire().await.expect("conn");
            let before = user_names(&mut conn).await;
            sqlx::query("DELETE FROM users")
                .execute(&mut *conn)
                .await
                .expect("delete");
            Ok::<_, Infallible>(before)
        })
        .expect("infallible");
        assert_eq!(names, pristine());
    }
}

#[test]
fn an_edited_fixture_is_a_new_template() {
    const BEFORE: &[Fixture] = &[Fixture::new(
        "fixture_templates/edited.sql",
        "INSERT INTO users (email, display_name) VALUES ('e@example.com', 'before the edit')",
    )];
    const AFTER: &[Fixture] = &[Fixture::new(
        "fixture_templates/edited.sql",
        "INSERT INTO users (email, display_name) VALUES ('e@example.com', 'after the edit')",
    )];
    for (fixtures, expected) in [(BEFORE, "before the edit"), (AFTER, "after the edit")] {
        let spec = TestSpec::new("fixture_templates::edited")
            .migrator(&crate::SCHEMA)
            .fixtures(fixtures);
        let names = run::transaction(&spec, |conn| {
            Box::pin(async move { Ok::<_, Infallible>(user_names(conn).await) })
        })
        .expect("infallible");
        assert_eq!(names, [expected]);
    }
}

/// Whether this process hands its used clones to the janitor (nextest), which makes the
/// next test's clone another one.
fn clones_go_to_the_janitor() -> bool {
    std::env::var_os("NEXTEST_EXECUTION_MODE").is_some_and(|mode| mode == "process-per-test")
        && std::env::var("PERSISTENCE_TEST_READY_CLONES").map_or(true, |n| n.trim() != "0")
}

#[test]
fn rows_added_to_fixture_tables_are_deleted_without_recreating_the_clone() {
    let spec = TestSpec::new("fixture_templates::db_adds")
        .migrator(&crate::SCHEMA)
        .fixtures(USERS);
    let mut seen = Vec::new();
    for round in 0..3 {
        let (name, oid, names, next_id) = run::database(&spec, |db: TestDb| async move {
            let mut conn = db.pool().acquire().await.expect("conn");
            let oid: i64 = sqlx::query_scalar(
                "SELECT oid::int8 FROM pg_database WHERE datname = current_database()",
            )
            .fetch_one(&mut *conn)
            .await
            .expect("oid");
            let names = user_names(&mut conn).await;
            let next_id: i64 = sqlx::query_scalar(
                "INSERT INTO users (email, display_name) VALUES ($1, 'Added') RETURNING id",
            )
            .bind(format!("added{round}@example.com"))
            .fetch_one(&mut *conn)
            .await
            .expect("insert");
            Ok::<_, Infallible>((db.name().to_owned(), oid, names, next_id))
        })
        .expect("infallible");
        assert_eq!(names, pristine(), "round {round}: the added rows are gone");
        seen.push((name, oid, next_id));
    }
    assert!(
        seen.iter().all(|(.., id)| *id == seen[0].2),
        "the identity sequence is put back: {seen:?}"
    );
    // On an external server each test has a database of its own: nothing to reuse.
    if !seen[0].0.starts_with("persistence_t_") && !clones_go_to_the_janitor() {
        assert!(
            seen.iter().all(|s| (&s.0, s.1) == (&seen[0].0, seen[0].1)),
            "one clone, reset each time rather than recreated (same name and id): {seen:?}"
        );
    }
}
