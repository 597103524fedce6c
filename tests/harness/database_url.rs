//! A test run never touches `DATABASE_URL`: with it pointing at a real database (of a server
//! of its own, with this crate's schema and rows), a nested `cargo nextest run` of the
//! harness's tests leaves the database exactly as it was, and the server saw no session
//! on it.
//!
//! Unix only: it runs a native server through `persistence dev` and stops it with SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use crate::common::cargo::nested_nextest;
use crate::common::cli::cli;
use crate::common::scenario::run;
use crate::common::server::wait_for_server_to_go;
use crate::common::tempdir::{TempDir, temp_dir};

const DATABASE: &str = "app_data";

/// The binaries the nested run runs: every kind of test (both isolation modes, fixtures,
/// rstest, factories, `global()` in every mode, statement counts, seeds, child processes).
const NESTED: &str = "(binary_id(persistence-pg::harness) & test(/^(global_pool|query_count|seeds|\
                      transaction_rollback|database_isolation|fixtures_and_migrations|rstest_cases)::/)) \
                      | binary(harness_factories)";

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

/// `persistence dev`: a server of its own with a migrated database, until SIGTERM.
struct DevServer {
    child: Child,
    url: String,
    state: TempDir,
    /// Its empty working directory, held until the server is gone.
    _cwd: TempDir,
}

impl DevServer {
    fn start() -> Self {
        let state = temp_dir("database-url-dev");
        // No `.env` of the developer's: an empty working directory.
        let cwd = temp_dir("database-url-cwd");
        // This crate's schema, named explicitly: the working directory is an empty one.
        let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut child = cli(
            cwd.path(),
            &["dev", "--database", DATABASE, "--source", migrations],
        )
        .env("PERSISTENCE_STATE_DIR", state.path())
        .env("PERSISTENCE_TEST_BACKEND", "native")
        .env_remove("TEST_DATABASE_URL")
        .stderr(Stdio::inherit())
        .spawn()
        .expect("persistence dev");
        let stdout = child.stdout.take().expect("piped");
        let mut url = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("dev output");
            if let Some(found) = line.strip_prefix("DATABASE_URL=") {
                url = Some(found.to_owned());
            }
            if line.starts_with("ready:") {
                break;
            }
        }
        let url = url.expect("persistence dev printed a DATABASE_URL");
        Self {
            child,
            url,
            state,
            _cwd: cwd,
        }
    }

    fn url_of(&self, database: &str) -> String {
        let (base, _) = self.url.rsplit_once('/').expect("a URL with a path");
        format!("{base}/{database}")
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        // SIGTERM: the command stops its server and deletes the data, then exits.
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let _ = self.child.wait();
        wait_for_server_to_go(&self.state.path().join("dev"));
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
    let dev = DevServer::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let url = dev.url_of(DATABASE);
    let before = runtime.block_on(async {
        // Rows a service would have, in the tables the tests write to.
        let mut conn = PgConnection::connect(&url).await.expect("connect");
        let mut tx = conn.begin().await.expect("begin");
        for _ in 0..5 {
            persistence::testing::factories::PageFactory::new()
                .blocks(2)
                .insert(&mut tx)
                .await
                .expect("a page with its parents");
        }
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
