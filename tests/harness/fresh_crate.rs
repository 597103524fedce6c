//! A user's crate builds and runs its `#[db_test]` with `DATABASE_URL` pointing at an empty
//! database and without `SQLX_OFFLINE`: the usual setup of a sqlx user, whose own `query!`
//! macros read that database. The library has no compile-time checked query of its own, so
//! nothing of it is checked against the user's database (which has none of its tables).
//!
//! The crate is made in a temporary directory, outside this workspace (so this repository's
//! `.cargo/config.toml`, which sets `SQLX_OFFLINE`, does not apply), and shares this build's
//! target directory, so that only the library and the crate itself are compiled. Its own
//! `query!` proves that the build really read `DATABASE_URL`.
//!
//! The crate keeps its migrations where its `sqlx.toml` says (`db/migrations`, with the
//! library's `sqlx-toml` feature), as `#[sqlx::test]` reads them, and has a plain `fn` test,
//! which `#[sqlx::test]` also takes: renaming that attribute is enough for both.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sqlx::{Connection, PgConnection};

use crate::common::cargo::without_cargo_test_env;
use crate::common::server::url_for;
use crate::common::tempdir::temp_dir;

/// The crate's name; every artifact it leaves in the shared target directory starts with it
/// (or with `lib` and it), which is how they are removed afterwards.
const PROBE: &str = "fresh_user_probe";

const MANIFEST: &str = r#"[package]
name = "fresh_user_probe"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
persistence-pg = { path = "REPOSITORY" }
# `sqlx-toml`: with a `sqlx.toml` in the crate, sqlx's macros refuse to build without it.
sqlx = { version = "0.9", default-features = false, features = ["runtime-tokio", "postgres", "migrate", "macros", "sqlx-toml"] }

[dev-dependencies]
# `docker`: the suite runs on every backend, and this crate may be the one to start the
# run's server.
persistence-pg = { path = "REPOSITORY", features = ["testing", "sqlx-toml", "docker"] }

[workspace]
"#;

/// A checked query of the user's own: it compiles only against a live `DATABASE_URL` (there
/// is no `.sqlx/` here).
const LIB: &str = r##"//! A service of a user's.

/// Asks the database for a number.
pub async fn answer(conn: &mut sqlx::PgConnection) -> sqlx::Result<i32> {
    sqlx::query_scalar!(r#"SELECT 42 AS "answer!""#).fetch_one(conn).await
}
"##;

const TEST: &str = r#"use persistence::db_test;
use sqlx::PgConnection;

#[db_test]
async fn the_service_answers(conn: &mut PgConnection) -> sqlx::Result<()> {
    assert_eq!(fresh_user_probe::answer(conn).await?, 42);
    Ok(())
}

#[db_test]
async fn the_migrations_come_from_sqlx_toml(conn: &mut PgConnection) -> sqlx::Result<()> {
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM from_sqlx_toml")
        .fetch_one(conn)
        .await?;
    assert_eq!(rows, 1);
    Ok(())
}

#[db_test]
fn a_plain_fn_runs() {
    assert_eq!(2 + 2, 4);
}
"#;

/// Where the crate's migrations are: not `./migrations`, which would be the default.
const SQLX_TOML: &str = r#"[migrate]
migrations-dir = "db/migrations"
"#;

const MIGRATION: &str =
    "CREATE TABLE from_sqlx_toml (id int);\nINSERT INTO from_sqlx_toml VALUES (1);\n";

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// This build's target directory: the parent of the integration tests' scratch directory.
fn shared_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .to_path_buf()
}

fn write_probe(dir: &Path) {
    let manifest = MANIFEST.replace("REPOSITORY", &repository().display().to_string());
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("Cargo.toml");
    // The same versions as this build, so that its compiled dependencies are reused.
    std::fs::copy(repository().join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
    for sub in ["src", "tests", "db/migrations"] {
        std::fs::create_dir_all(dir.join(sub)).expect("create");
    }
    std::fs::write(dir.join("src/lib.rs"), LIB).expect("lib.rs");
    std::fs::write(dir.join("tests/service.rs"), TEST).expect("tests/service.rs");
    std::fs::write(dir.join("sqlx.toml"), SQLX_TOML).expect("sqlx.toml");
    std::fs::write(
        dir.join("db/migrations/20260101000000_from_sqlx_toml.sql"),
        MIGRATION,
    )
    .expect("the migration");
}

/// Removes what the probe crate of this name left in the shared target directory.
struct Artifacts(&'static str);

impl Drop for Artifacts {
    fn drop(&mut self) {
        let probe = self.0;
        let profile = shared_target().join("debug");
        for sub in ["deps", ".fingerprint", "build", "incremental"] {
            let Ok(entries) = std::fs::read_dir(profile.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(probe) || name.starts_with(&format!("lib{probe}")) {
                    let path = entry.path();
                    let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
                }
            }
        }
    }
}

/// An empty database on the test server, dropped when the test is done with it.
struct EmptyDatabase {
    name: String,
    url: String,
}

impl EmptyDatabase {
    async fn create() -> Self {
        let name = format!("persistence_fresh_{}", std::process::id());
        let server = persistence::ephemeral::server().await.expect("test server");
        let mut admin = PgConnection::connect_with(server.admin_options())
            .await
            .expect("admin");
        // Two statements: a multi-statement query runs as one transaction, which neither
        // allows.
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .expect("create an empty database");
        }
        admin.close().await.expect("close");
        let url = url_for(&name).await;
        Self { name, url }
    }

    /// Its tables, after the crate was built and tested against it.
    async fn tables(&self) -> i64 {
        let mut conn = PgConnection::connect(&self.url).await.expect("connect");
        let tables = sqlx::query_scalar(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
        )
        .fetch_one(&mut conn)
        .await
        .expect("tables");
        conn.close().await.expect("close");
        tables
    }

    async fn drop_it(self) {
        let server = persistence::ephemeral::server().await.expect("test server");
        let mut admin = PgConnection::connect_with(server.admin_options())
            .await
            .expect("admin");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .expect("drop the database");
        admin.close().await.expect("close");
    }
}

#[tokio::test]
async fn a_users_crate_builds_and_runs_its_db_test_with_database_url_at_an_empty_database() {
    let project = temp_dir("fresh-crate");
    let dir = project.path();
    write_probe(dir);
    let _artifacts = Artifacts(PROBE);
    let database = EmptyDatabase::create().await;

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    without_cargo_test_env(&mut command);
    // Not `--offline`: sqlx's `sqlx-toml` brings crates this workspace's lock file (copied
    // in, so every version it names is kept) does not have; cargo adds them from the registry.
    command
        .args(["test", "--test", "service"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target())
        .env("DATABASE_URL", &database.url)
        .env_remove("SQLX_OFFLINE")
        .env_remove("SQLX_OFFLINE_DIR")
        .env_remove("NEXTEST_EXECUTION_MODE")
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("cargo's task")
        .expect("cargo runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let tables = database.tables().await;
    database.drop_it().await;

    assert!(output.status.success(), "the user's crate failed:\n{text}");
    for test in [
        "the_service_answers",
        "the_migrations_come_from_sqlx_toml",
        "a_plain_fn_runs",
    ] {
        assert!(text.contains(&format!("test {test} ... ok")), "{text}");
    }
    // The build read the database (the user's `query!` compiled) and wrote nothing to it.
    assert!(text.contains("Compiling fresh_user_probe"), "{text}");
    assert_eq!(
        tables, 0,
        "the build or the test wrote to DATABASE_URL's database"
    );
}

/// The crate of the fixture scenario: the same manifest (so the same features, and the same
/// compiled dependencies), a library without a checked query, and tests that read a fixture.
const FIXTURE_PROBE: &str = "fixture_edit_probe";

const FIXTURE_TEST: &str = r#"use persistence::db_test;
use sqlx::{PgConnection, PgPool};

/// The words the run expects the fixture to hold, as the outer test says.
fn expected() -> Vec<String> {
    std::env::var("PROBE_EXPECTED")
        .expect("PROBE_EXPECTED")
        .split(',')
        .map(str::to_owned)
        .collect()
}

#[db_test(fixtures("greetings"))]
async fn a_transaction_sees_the_fixture(conn: &mut PgConnection) -> sqlx::Result<()> {
    let words: Vec<String> = sqlx::query_scalar("SELECT word FROM greetings ORDER BY id")
        .fetch_all(conn)
        .await?;
    assert_eq!(words, expected());
    Ok(())
}

#[db_test(fixtures("greetings"))]
async fn a_database_sees_the_fixture(pool: PgPool) -> sqlx::Result<()> {
    let words: Vec<String> = sqlx::query_scalar("SELECT word FROM greetings ORDER BY id")
        .fetch_all(&pool)
        .await?;
    assert_eq!(words, expected());
    Ok(())
}

#[db_test]
async fn without_the_fixture(conn: &mut PgConnection) -> sqlx::Result<()> {
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM greetings")
        .fetch_one(conn)
        .await?;
    assert_eq!(rows, 0);
    Ok(())
}
"#;

/// Runs the fixture probe's tests (`cargo test`, as a user would, twice in a row being two
/// runs) with `expected` as the words its fixture tests must find; returns whether they
/// passed and the output.
fn run_fixture_probe(dir: &Path, expected: &str) -> (bool, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    without_cargo_test_env(&mut command);
    let output = command
        .args(["test", "--test", "fixtures"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target())
        .env("PROBE_EXPECTED", expected)
        .env_remove("NEXTEST_EXECUTION_MODE")
        .stdin(Stdio::null())
        .output()
        .expect("cargo runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// A fixture file edited between two runs is picked up (the test binary is rebuilt, and the
/// template's name changes with the fixture's text), and the first test of the next run sees
/// the new rows; a broken fixture fails the tests that use it, naming the file and the line,
/// and only that run: once fixed, the next run passes.
#[test]
fn a_fixture_edited_between_two_runs_is_picked_up_and_a_broken_one_names_its_file_and_line() {
    let project = temp_dir("fixture-edit");
    let dir = project.path();
    write_probe(dir);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    std::fs::write(
        dir.join("Cargo.toml"),
        manifest.replace(PROBE, FIXTURE_PROBE),
    )
    .expect("Cargo.toml");
    std::fs::write(dir.join("src/lib.rs"), "//! A user's crate.\n").expect("lib.rs");
    std::fs::remove_file(dir.join("tests/service.rs")).expect("tests/service.rs");
    std::fs::write(dir.join("tests/fixtures.rs"), FIXTURE_TEST).expect("tests/fixtures.rs");
    std::fs::write(
        dir.join("db/migrations/20260101000000_from_sqlx_toml.sql"),
        "CREATE TABLE greetings (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, word text NOT NULL);\n",
    )
    .expect("the migration");
    std::fs::create_dir_all(dir.join("tests/fixtures")).expect("fixtures dir");
    let fixture = dir.join("tests/fixtures/greetings.sql");
    let _artifacts = Artifacts(FIXTURE_PROBE);
    // Words no other run of this test wrote: an old template of the same text is not what
    // is checked.
    let token = format!("{}{}", std::process::id(), now_nanos());
    let (first, second) = (format!("hello{token}"), format!("bonjour{token}"));
    let write_fixture = |sql: String| std::fs::write(&fixture, sql).expect("the fixture");

    write_fixture(format!(
        "INSERT INTO greetings (word) VALUES ('{first}');\n"
    ));
    let (passed, text) = run_fixture_probe(dir, &first);
    assert!(passed, "the first run failed:\n{text}");
    assert!(text.contains("test result: ok. 3 passed"), "{text}");

    write_fixture(format!(
        "INSERT INTO greetings (word) VALUES ('{first}');\nINSERT INTO greetings (word) VALUES ('{second}');\n"
    ));
    let (passed, text) = run_fixture_probe(dir, &format!("{first},{second}"));
    assert!(
        passed,
        "the run after the edit did not see the new rows:\n{text}"
    );
    assert!(
        text.contains(&format!("Compiling {FIXTURE_PROBE}")),
        "{text}"
    );

    write_fixture(format!(
        "-- greetings\nINSERT INTO greetings (word) VALUES ('{first}');\nINSERT INTO greetings (wrod) VALUES ('{second}');\n"
    ));
    let (passed, text) = run_fixture_probe(dir, &first);
    assert!(!passed, "a broken fixture passed:\n{text}");
    let reports: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("greetings.sql failed at line 3"))
        .collect();
    assert_eq!(
        reports.len(),
        2,
        "each test of the fixture names its file and line, once:\n{text}"
    );
    assert!(
        reports.iter().all(|line| line.contains("column \"wrod\"")),
        "{text}"
    );
    assert!(text.contains("test without_the_fixture ... ok"), "{text}");
    assert!(text.contains("2 failed"), "{text}");

    write_fixture(format!(
        "INSERT INTO greetings (word) VALUES ('{second}');\n"
    ));
    let (passed, text) = run_fixture_probe(dir, &second);
    assert!(passed, "the run after the fix failed:\n{text}");
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}
