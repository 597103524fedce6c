//! What a user sees when something is wrong: one clear line, never a password.

use persistence::db_test;
use persistence::testing::{TestSpec, run};
use sqlx::PgConnection;

use crate::common::scenario::{self, child, scenario_is, test_path};
use crate::common::tempdir::temp_dir;

#[db_test]
async fn returns_an_error(conn: &mut PgConnection) -> Result<(), String> {
    sqlx::query("SELECT 1")
        .execute(conn)
        .await
        .map_err(|e| e.to_string())?;
    if scenario_is("err") {
        return Err("the page was not published".to_owned());
    }
    Ok(())
}

#[test]
fn an_err_fails_the_test_with_its_message() {
    let (output, text) =
        scenario::run(child(&test_path(module_path!(), "returns_an_error"), "err"));
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("the page was not published"), "{text}");
}

static BROKEN: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations_broken");

#[test]
fn broken_migration_scenario() {
    if !scenario_is("broken-migration") {
        return;
    }
    let spec = TestSpec::new("broken").migrator(&BROKEN);
    run::transaction(&spec, |_conn| Box::pin(async {}));
}

#[test]
fn a_failing_migration_is_named() {
    let (output, text) = scenario::run(child(
        &test_path(module_path!(), "broken_migration_scenario"),
        "broken-migration",
    ));
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("20260301000002_broken_column.sql"), "{text}");
    assert!(text.contains("missing_table"), "{text}");
}

#[test]
fn any_backend_scenario() {
    if !scenario_is("any-backend") {
        return;
    }
    run::transaction(&TestSpec::new("any"), |_conn| Box::pin(async {}));
}

#[test]
fn an_unreachable_url_is_reported_without_its_password() {
    let mut command = child(
        &test_path(module_path!(), "any_backend_scenario"),
        "any-backend",
    );
    command.env("PERSISTENCE_TEST_BACKEND", "external").env(
        "TEST_DATABASE_URL",
        "postgres://app:hunter2secret@127.0.0.1:1/app",
    );
    let (output, text) = scenario::run(command);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("postgres://app:***@127.0.0.1:1"), "{text}");
    assert!(
        !text.contains("hunter2secret"),
        "the password leaked: {text}"
    );
}

#[test]
fn no_backend_says_how_to_get_each() {
    let scratch = temp_dir("nobackend");
    let state_dir = scratch.path();
    let mut command = child(
        &test_path(module_path!(), "any_backend_scenario"),
        "any-backend",
    );
    command
        .env("PERSISTENCE_TEST_BACKEND", "auto")
        .env_remove("TEST_DATABASE_URL")
        .env("PERSISTENCE_PG_BIN", "/nonexistent/postgresql/bin")
        // Whatever this machine has, docker must not be usable either.
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("PERSISTENCE_TEST_IMAGE", "persistence/never-built:0")
        .env("PERSISTENCE_STATE_DIR", state_dir);
    let (output, text) = scenario::run(command);
    assert!(!output.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("no PostgreSQL for tests"))
        .unwrap_or_else(|| panic!("no clear line in: {text}"));
    for hint in [
        "TEST_DATABASE_URL",
        "apt-get install postgresql",
        "PERSISTENCE_PG_BIN",
    ] {
        assert!(line.contains(hint), "{hint} missing from: {line}");
    }
}
