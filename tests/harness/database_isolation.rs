//! Database isolation: each test gets a database of its own, dropped afterwards.

use persistence::db_test;
use persistence::testing::{TestDb, TestSpec, run};
use sqlx::{PgPool, Postgres, pool::PoolConnection};

#[db_test(migrator = "crate::SCHEMA")]
async fn a_commit_is_visible_to_a_second_connection(pool: PgPool) -> sqlx::Result<()> {
    let mut writer = pool.acquire().await?;
    let mut reader = pool.acquire().await?;
    sqlx::query("INSERT INTO users (email, display_name) VALUES ('ada@example.com', 'Ada')")
        .execute(&mut *writer)
        .await?;
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut *reader)
        .await?;
    assert_eq!(seen, 1);
    Ok(())
}

#[db_test(isolation = "database")]
async fn a_pool_connection_works_too(mut conn: PoolConnection<Postgres>) {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut *conn)
        .await
        .expect("query");
    // A pooled clone on a server the harness started, a database of its own on an external one.
    assert!(
        name.starts_with("persistence_db_") || name.starts_with("persistence_t_"),
        "{name}"
    );
}

/// The rows of `users` in `name`, or `None` once the database is gone.
async fn users_left_in(name: &str) -> Option<i64> {
    let server = persistence::ephemeral::server().await.expect("server");
    let admin = PgPool::connect_with(server.admin_options().clone())
        .await
        .expect("admin");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&admin)
            .await
            .expect("exists");
    admin.close().await;
    if !exists {
        return None;
    }
    // A failed test's database is renamed to be kept: it may go between the two looks.
    let db = match PgPool::connect_with(server.options_for(name)).await {
        Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("3D000") => return None,
        connected => connected.expect("connect"),
    };
    let rows = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&db)
        .await
        .expect("count");
    db.close().await;
    Some(rows)
}

async fn insert_ada(db: &TestDb) {
    sqlx::query("INSERT INTO users (email, display_name) VALUES ('ada@example.com', 'Ada')")
        .execute(db.pool())
        .await
        .expect("insert");
}

/// After the test its database is dropped (external server) or reset for the next test (a
/// pooled clone): either way, nothing it committed is left. Under nextest the reset is the
/// janitor's, a few milliseconds after the test: the check waits for it (a while).
fn assert_nothing_left(name: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("rt");
    let started = std::time::Instant::now();
    loop {
        let left = runtime.block_on(users_left_in(name));
        if matches!(left, None | Some(0)) {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{name} still has {left:?} users"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn nothing_is_left_after_the_test() {
    let spec = TestSpec::new("database::gone").migrator(&crate::SCHEMA);
    let name = run::database(&spec, |db: TestDb| async move {
        insert_ada(&db).await;
        Ok::<_, std::convert::Infallible>(db.name().to_owned())
    })
    .expect("infallible");
    assert_nothing_left(&name);
}

#[test]
fn nothing_is_left_after_a_panicking_test() {
    let spec = TestSpec::new("database::panic").migrator(&crate::SCHEMA);
    let name = std::sync::Mutex::new(String::new());
    let caught = std::panic::catch_unwind(|| {
        let name = &name;
        run::database(&spec, |db: TestDb| async move {
            *name.lock().expect("lock") = db.name().to_owned();
            insert_ada(&db).await;
            if !db.name().is_empty() {
                panic!("the test failed");
            }
        })
    });
    assert!(caught.is_err());
    assert_nothing_left(&name.into_inner().expect("name"));
}

#[db_test]
#[should_panic(expected = "expected failure")]
async fn should_panic_works_in_database_mode(pool: PgPool) {
    sqlx::query("SELECT 1").execute(&pool).await.expect("query");
    panic!("expected failure");
}
