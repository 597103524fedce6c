//! Database isolation: each test gets a database of its own, dropped afterwards.

use persistence::db_test;
use persistence::testing::{Isolation, TestDb, TestSpec, run};
use sqlx::{PgPool, Postgres, pool::PoolConnection};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[db_test]
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
    assert!(name.starts_with("persistence_t_"), "{name}");
}

async fn database_exists(name: &str) -> bool {
    let server = persistence::ephemeral::server().await.expect("server");
    let pool = PgPool::connect_with(server.admin_options().clone())
        .await
        .expect("admin");
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&pool)
        .await
        .expect("exists")
}

#[test]
fn the_database_is_gone_after_the_test() {
    let spec = TestSpec::new("database::gone")
        .migrator(&MIGRATOR)
        .isolation(Isolation::Database);
    let name = run::run_with_database(&spec, |db: TestDb| async move {
        Ok::<_, std::convert::Infallible>(db.name().to_owned())
    })
    .expect("infallible");
    let exists = tokio::runtime::Runtime::new()
        .expect("rt")
        .block_on(database_exists(&name));
    assert!(!exists, "{name} was not dropped");
}

#[test]
fn the_database_is_gone_after_a_panicking_test() {
    let spec = TestSpec::new("database::panic")
        .migrator(&MIGRATOR)
        .isolation(Isolation::Database);
    let name = std::sync::Mutex::new(String::new());
    let caught = std::panic::catch_unwind(|| {
        let name = &name;
        run::run_with_database(&spec, |db: TestDb| async move {
            *name.lock().expect("lock") = db.name().to_owned();
            if !db.name().is_empty() {
                panic!("the test failed");
            }
        })
    });
    assert!(caught.is_err());
    let name = name.into_inner().expect("name");
    let exists = tokio::runtime::Runtime::new()
        .expect("rt")
        .block_on(database_exists(&name));
    assert!(!exists, "{name} was not dropped after a panic");
}

#[db_test]
#[should_panic(expected = "expected failure")]
async fn should_panic_works_in_database_mode(pool: PgPool) {
    sqlx::query("SELECT 1").execute(&pool).await.expect("query");
    panic!("expected failure");
}
