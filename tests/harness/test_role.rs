//! Tests that log in as a role that is not a superuser (`#[db_test(role = "...")]`): the
//! role exists before the migrations (which grant to it), row-level security applies to it,
//! and a missing `GRANT` fails as it would in production.

use persistence::db_test;
use persistence::testing::{TestDb, TestSpec, run};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::common::scenario::{self, child, scenario_is, test_path};

static RLS: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations_rls");

async fn visible_notes(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar("SELECT tenant FROM notes ORDER BY id")
        .fetch_all(conn)
        .await
        .expect("read notes")
}

#[db_test(migrator = "crate::test_role::RLS", role = "tenant_app")]
async fn a_policy_hides_other_tenants_rows_from_the_role(conn: &mut PgConnection) {
    let (user, superuser): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("who am I");
    assert_eq!((user.as_str(), superuser), ("tenant_app", false));
    sqlx::query("SELECT set_config('app.tenant', 'acme', true)")
        .execute(&mut *conn)
        .await
        .expect("set tenant");
    assert_eq!(visible_notes(conn).await, ["acme", "acme"]);
    // The policy's USING clause also checks new rows: globex's row cannot be written.
    let foreign = sqlx::query("INSERT INTO notes (tenant, body) VALUES ('globex', 'sneaky')")
        .execute(&mut *conn)
        .await
        .expect_err("a row of another tenant is refused");
    assert!(
        foreign.to_string().contains("row-level security"),
        "{foreign}"
    );
}

#[db_test(migrator = "crate::test_role::RLS")]
async fn the_superuser_is_not_held_by_the_policy(conn: &mut PgConnection) {
    sqlx::query("SELECT set_config('app.tenant', 'acme', true)")
        .execute(&mut *conn)
        .await
        .expect("set tenant");
    // A superuser bypasses row-level security: this is why a test as one proves nothing.
    assert_eq!(visible_notes(conn).await, ["acme", "acme", "globex"]);
}

#[db_test(migrator = "crate::test_role::RLS", role = "tenant_app")]
async fn a_missing_grant_fails_as_the_role(conn: &mut PgConnection) {
    let err = sqlx::query("SELECT count(*) FROM audit_log")
        .execute(&mut *conn)
        .await
        .expect_err("tenant_app was never granted audit_log");
    let code = err
        .as_database_error()
        .and_then(|db| db.code().map(|c| c.into_owned()));
    assert_eq!(code.as_deref(), Some("42501"), "{err}");
}

#[db_test(migrator = "crate::test_role::RLS", role = "tenant_app")]
async fn a_database_of_its_own_is_used_as_the_role(db: TestDb) {
    assert_eq!(db.connect_options().get_username(), "tenant_app");
    // Every connection of the test's pool, and one made from its options, log in as it.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(db.pool().acquire().await.expect("acquire"));
    }
    for conn in &mut held {
        let user: String = sqlx::query_scalar("SELECT current_user::text")
            .fetch_one(&mut **conn)
            .await
            .expect("current_user");
        assert_eq!(user, "tenant_app");
    }
    let mut own = PgConnection::connect_with(&db.connect_options())
        .await
        .expect("connect with the test's options");
    assert_eq!(visible_notes(&mut own).await, Vec::<String>::new());
    let _ = own.close().await;
}

/// `PERSISTENCE_TEST_ROLE` gives every test without `role` the role: acted out in a child
/// process with the variable set.
#[db_test(migrator = "crate::test_role::RLS")]
async fn suite_role_scenario(conn: &mut PgConnection) {
    if !scenario_is("suite_role") {
        return;
    }
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *conn)
        .await
        .expect("current_user");
    println!("logged in as {user}");
}

#[test]
fn the_suite_wide_setting_applies_to_tests_that_name_no_role() {
    let mut command = child(
        &test_path(module_path!(), "suite_role_scenario"),
        "suite_role",
    );
    command.env("PERSISTENCE_TEST_ROLE", "tenant_app");
    let (output, text) = scenario::run(command);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("logged in as tenant_app"), "{text}");
}

/// A role that turns out to be a superuser is refused, naming it: the tests would pass
/// while proving nothing about the policies.
#[test]
fn a_superuser_role_is_refused() {
    const ROLE: &str = "persistence_test_superuser";
    let make = TestSpec::new("test_role::a_superuser_role_is_refused::make");
    run::database(&make, |db: TestDb| async move {
        let made = sqlx::query(AssertSqlSafe(format!("CREATE ROLE {ROLE} SUPERUSER LOGIN")))
            .execute(db.pool())
            .await;
        if let Err(err) = made {
            // Made by an earlier run that was killed before it dropped it.
            assert!(err.to_string().contains("already exists"), "{err}");
        }
    });
    let spec = TestSpec::new("test_role::a_superuser_role_is_refused::as_it")
        .migrator(&RLS)
        .role(ROLE);
    let refused = std::panic::catch_unwind(|| {
        run::transaction(&spec, |conn| {
            Box::pin(async move {
                let _ = conn;
            })
        })
    });
    run::database(&make, |db: TestDb| async move {
        sqlx::query(AssertSqlSafe(format!("DROP ROLE {ROLE}")))
            .execute(db.pool())
            .await
            .expect("drop the role");
    });
    let message = refused
        .expect_err("a superuser role is refused")
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert!(
        message.contains(ROLE) && message.contains("is a superuser"),
        "{message}"
    );
}
