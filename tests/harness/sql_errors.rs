//! A failing migration or fixture is reported with the user's file, the line and the
//! statement that failed, and PostgreSQL's message; not sqlx's `at line N`, which is a line
//! of PostgreSQL's C source.

use persistence::testing::{Fixture, TestSpec, run};

use crate::common::scenario::{self, child, scenario_is, test_path};

static BROKEN: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations_broken");

/// Runs a transaction-mode test of `spec` when this process acts out the scenario `run`
/// (the specs are written out because the tests fail: `#[db_test]` would fail them in the
/// outer run as well).
fn scenario(spec: TestSpec) {
    if scenario_is("run") {
        run::transaction(&spec, |_conn| Box::pin(async {}));
    }
}

#[test]
fn with_a_duplicate_in_its_fixture() {
    const FIXTURES: &[Fixture] = &[Fixture::new(
        "tests/harness/fixtures/broken_unique.sql",
        include_str!("fixtures/broken_unique.sql"),
    )];
    scenario(
        TestSpec::new("dup")
            .migrator(&crate::SCHEMA)
            .fixtures(FIXTURES),
    );
}

#[test]
fn with_a_missing_table_in_its_fixture() {
    const FIXTURES: &[Fixture] = &[Fixture::new(
        "tests/harness/fixtures/broken_missing_table.sql",
        include_str!("fixtures/broken_missing_table.sql"),
    )];
    scenario(
        TestSpec::new("missing")
            .migrator(&crate::SCHEMA)
            .fixtures(FIXTURES),
    );
}

#[test]
fn with_a_broken_migration() {
    // As `#[db_test(migrations = "tests/migrations_broken")]` hands it over.
    scenario(
        TestSpec::new("broken")
            .migrator(&BROKEN)
            .migrations_dir(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/migrations_broken"
            )),
    );
}

/// The failure line of a scenario run, which must fail.
fn failure(test: &str) -> String {
    let (output, text) = scenario::run(child(&test_path(module_path!(), test), "run"));
    assert!(!output.status.success(), "{text}");
    assert!(
        !text.contains(" at line 1"),
        "no line of PostgreSQL's source: {text}"
    );
    assert!(!text.contains("error returned from database"), "{text}");
    text.lines()
        .find(|l| l.contains("persistence: ") && l.contains(" failed"))
        .unwrap_or_else(|| panic!("no failure line: {text}"))
        .to_owned()
}

#[test]
fn a_fixture_without_a_position_names_the_statement_by_count() {
    let line = failure("with_a_duplicate_in_its_fixture");
    assert!(
        line.contains(
            "fixture tests/harness/fixtures/broken_unique.sql failed at line 4, in statement 2 \
             `INSERT INTO users (email, display_name) VALUES ('TWICE@example.com', 'Second')`: \
             duplicate key value violates unique constraint \"users_email_lower_key\" \
             (SQLSTATE 23505); DETAIL: Key (lower(email))=(twice@example.com) already exists."
        ),
        "{line}"
    );
}

#[test]
fn a_fixture_error_with_a_position_names_its_line() {
    let line = failure("with_a_missing_table_in_its_fixture");
    assert!(
        line.contains(
            "fixture tests/harness/fixtures/broken_missing_table.sql failed at line 4, in statement 2 \
             `INSERT INTO no_such_table (id) VALUES (1)`: relation \"no_such_table\" does not \
             exist (SQLSTATE 42P01)"
        ),
        "{line}"
    );
}

#[test]
fn a_failing_migration_is_named_by_its_path_and_line() {
    let line = failure("with_a_broken_migration");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/migrations_broken/20260301000002_broken_column.sql"
    );
    assert!(
        line.contains(&format!(
            "migration {path} failed while building the test template at line 2, in statement 1 \
             `ALTER TABLE missing_table ADD COLUMN x int`: relation \"missing_table\" does not \
             exist (SQLSTATE 42P01)"
        )),
        "{line}"
    );
}
