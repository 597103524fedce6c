//! A test run never touches `DATABASE_URL`: with it pointing at a real database (of a server
//! of its own, with the tests' schema and rows), a nested `cargo nextest run` of the
//! harness's tests leaves the database exactly as it was, and the server saw no session
//! on it.
//!
//! The developer's database is made as `persistence dev` makes one, through the library: a
//! native server of its own (`ephemeral::server_with`, in a private state directory), and a
//! database created and migrated on it.

use std::time::{Duration, Instant};

use persistence::postgres::migrate;
use sqlx::{Connection, PgConnection};

use crate::common::cargo::nested_nextest;
use crate::common::scenario::run;
use crate::common::server::{PrivateServer, wait_for_server_to_go};
use crate::common::tempdir::temp_dir;

const DATABASE: &str = "app_data";

/// The tests the nested run runs: every kind of test (both isolation modes, fixtures, rstest,
/// the example application's factories, `global()` in every mode, statement counts, seeds,
/// child processes).
const NESTED: &str = "(binary_id(persistence-pg::harness) & test(/^(global_pool|query_count|seeds|\
                      transaction_rollback|database_isolation|fixtures_and_migrations|rstest_cases)::/)) \
                      | (binary_id(page-builder::app) & test(/^(factories|seeds)::/))";

/// `PERSISTENCE_DATABASE_URL_CHECK=whole-suite` runs every test of this package instead
/// (minutes on 2 cores), but this one and `nextest_one_server` (a nested run of its own).
fn nested_filter() -> String {
    match std::env::var("PERSISTENCE_DATABASE_URL_CHECK").as_deref() {
        Ok("whole-suite") => "package(persistence-pg) - (binary_id(persistence-pg::harness) & \
             test(/^(database_url|nextest_one_server)::/))"
            .to_owned(),
        _ => NESTED.to_owned(),
    }
}

/// A developer's server with a migrated database, as `persistence dev` leaves one running:
/// it goes once this handle is dropped.
struct DevServer(PrivateServer);

impl DevServer {
    async fn start() -> Self {
        let dev = PrivateServer::start("database-url-dev").await;
        let server = dev.server();
        let mut admin = PgConnection::connect_with(server.admin_options())
            .await
            .expect("connect as the server's superuser");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {DATABASE}")))
            .execute(&mut admin)
            .await
            .expect("create the database");
        admin.close().await.expect("close");
        let mut conn = PgConnection::connect_with(&server.options_for(DATABASE))
            .await
            .expect("connect to the new database");
        migrate::run(&crate::SCHEMA, &mut conn)
            .await
            .expect("migrate the database");
        conn.close().await.expect("close");
        Self(dev)
    }

    fn url_of(&self, database: &str) -> String {
        self.0.server().owner_url(database)
    }
}

/// Every table's row count and a digest of its rows, and every sequence's position.
async fn fingerprint(url: &str) -> Vec<(String, i64, String)> {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(table_name) FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("tables");
    let mut print = Vec::new();
    for table in tables {
        // The table name comes from the catalog, quoted by quote_ident.
        let (rows, digest): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') \
             FROM {table} t"
        )))
        .fetch_one(&mut conn)
        .await
        .expect("digest");
        print.push((table, rows, digest));
    }
    let sequences: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT sequencename::text, last_value FROM pg_sequences ORDER BY 1")
            .fetch_all(&mut conn)
            .await
            .expect("sequences");
    for (sequence, position) in sequences {
        print.push((sequence, position.unwrap_or(0), "sequence".to_owned()));
    }
    conn.close().await.expect("close");
    print
}

/// Sessions ever opened on the database, and those open now (seen from another database).
async fn sessions(observer: &mut PgConnection) -> (i64, i32) {
    // The fingerprint's own session is counted once its backend has exited.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (sessions, open): (i64, i32) =
            sqlx::query_as("SELECT sessions, numbackends FROM pg_stat_database WHERE datname = $1")
                .bind(DATABASE)
                .fetch_one(&mut *observer)
                .await
                .expect("pg_stat_database");
        if open == 0 || Instant::now() > deadline {
            return (sessions, open);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn nested_run(database_url: &str) -> String {
    let state = temp_dir("database-url-nested");
    let mut command = nested_nextest(&nested_filter());
    command
        .env("DATABASE_URL", database_url)
        .env("PERSISTENCE_STATE_DIR", state.path())
        .env("PERSISTENCE_TEST_IDLE_GRACE", "1");
    let (output, text) = run(command);
    wait_for_server_to_go(state.path());
    assert!(output.status.success(), "nested run failed:\n{text}");
    text
}

#[test]
fn a_test_run_leaves_the_database_of_database_url_untouched() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dev = runtime.block_on(DevServer::start());
    let url = dev.url_of(DATABASE);
    let before = runtime.block_on(async {
        // Rows a service would have, in the tables the tests write to: five users, each
        // with a site, a page and two blocks, in one transaction.
        let mut conn = PgConnection::connect(&url).await.expect("connect");
        let mut tx = conn.begin().await.expect("begin");
        sqlx::raw_sql(
            "INSERT INTO users (email, display_name) \
             SELECT 'dev' || n || '@example.com', 'Dev ' || n FROM generate_series(1, 5) AS n; \
             INSERT INTO sites (owner_id, slug, name) SELECT id, 'site-' || id, 'Site' FROM users; \
             INSERT INTO pages (site_id, slug, title) SELECT id, 'home', 'Home' FROM sites; \
             INSERT INTO blocks (page_id, position, kind) \
             SELECT p.id, n, 'text' FROM pages AS p, generate_series(0, 1) AS n;",
        )
        .execute(&mut *tx)
        .await
        .expect("rows with their parents");
        tx.commit().await.expect("commit");
        conn.close().await.expect("close");
        fingerprint(&url).await
    });
    assert!(
        before.iter().any(|(t, rows, _)| t == "users" && *rows == 5),
        "{before:?}"
    );

    let mut observer = runtime
        .block_on(PgConnection::connect(&dev.url_of("postgres")))
        .expect("observer");
    let (sessions_before, _) = runtime.block_on(sessions(&mut observer));

    let text = nested_run(&url);
    let passed: usize = text
        .lines()
        .find_map(|l| {
            l.split_once(" tests run: ")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    assert!(
        passed >= 30,
        "expected at least 30 tests in the nested run:\n{text}"
    );
    eprintln!("the nested run passed {passed} tests");

    let (sessions_after, open) = runtime.block_on(sessions(&mut observer));
    assert_eq!(open, 0, "connections to {DATABASE} are open after the run");
    assert_eq!(
        sessions_after, sessions_before,
        "the run opened sessions on the database of DATABASE_URL"
    );
    let after = runtime.block_on(fingerprint(&url));
    assert_eq!(
        after, before,
        "the run changed the database of DATABASE_URL"
    );
    // The counter does see a connection: the fingerprint's own.
    let (sessions_last, _) = runtime.block_on(sessions(&mut observer));
    assert_eq!(sessions_last, sessions_after + 1);
    runtime.block_on(observer.close()).expect("close");
}
