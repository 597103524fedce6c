//! A database-mode test commits what it likes; the next test on the same clone (reset) or on
//! a recreated one sees no trace of it: no rows, no advanced sequence, no table, column or
//! index it added.
//!
//! Each `#[test]` runs its steps one after the other on one thread, so the second step gets
//! the clone the first one gave back (a process keeps its clones between its tests). Under
//! nextest a process gives its used clone to the janitor instead (it expects to end with
//! its test), and the next step gets a clean clone that need not be the same: these tests
//! then check what the step sees, and the `janitor` tests check the janitor.

use persistence::testing::{TestDb, TestSpec, run};
use sqlx::PgPool;

fn spec(name: &'static str) -> TestSpec {
    TestSpec::new(name).migrator(&crate::SCHEMA)
}

/// Runs `body` as a database-mode test and returns its database's name and object id (a
/// recreated clone keeps its name, not its id).
fn step<F, Fut>(name: &'static str, body: F) -> (String, i64)
where
    F: FnOnce(PgPool) -> Fut,
    Fut: Future<Output = ()>,
{
    run::database(&spec(name), |db: TestDb| async move {
        let oid = database_oid(db.pool()).await;
        body(db.pool().clone()).await;
        Ok::<_, std::convert::Infallible>((db.name().to_owned(), oid))
    })
    .expect("infallible")
}

/// Whether this process hands its used clones to the janitor (see the module's docs).
fn clones_go_to_the_janitor() -> bool {
    std::env::var_os("NEXTEST_EXECUTION_MODE").is_some_and(|mode| mode == "process-per-test")
        // The janitor is on unless turned off.
        && std::env::var("PERSISTENCE_TEST_READY_CLONES").map_or(true, |n| n.trim() != "0")
}

async fn database_oid(pool: &PgPool) -> i64 {
    scalar_i64(
        pool,
        "SELECT oid::int8 FROM pg_database WHERE datname = current_database()",
    )
    .await
}

async fn exec(pool: &PgPool, sql: &'static str) {
    sqlx::raw_sql(sql).execute(pool).await.expect(sql);
}

async fn scalar_i64(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

async fn first_user_id(pool: &PgPool) -> i64 {
    scalar_i64(
        pool,
        "INSERT INTO users (email, display_name) VALUES ('first@example.com', 'First') RETURNING id",
    )
    .await
}

/// What a clean clone looks like, from the test's side.
async fn assert_clean(pool: &PgPool, fresh_first_id: i64) {
    assert_eq!(
        scalar_i64(pool, "SELECT count(*) FROM users").await,
        0,
        "rows"
    );
    assert_eq!(
        scalar_i64(pool, "SELECT count(*) FROM sites").await,
        0,
        "rows"
    );
    let scratch = scalar_i64(
        pool,
        "SELECT count(*) FROM pg_class WHERE relname IN ('scratch', 'users_name_idx')",
    )
    .await;
    assert_eq!(scratch, 0, "a table or index of an earlier test");
    let column = scalar_i64(
        pool,
        "SELECT count(*) FROM information_schema.columns \
         WHERE table_name = 'users' AND column_name = 'nickname'",
    )
    .await;
    assert_eq!(column, 0, "a column of an earlier test");
    assert_eq!(
        first_user_id(pool).await,
        fresh_first_id,
        "the identity sequence"
    );
}

/// The id a first insert gets in a clone nobody used: what the next test must see again.
fn fresh_first_id() -> i64 {
    let mut id = 0;
    step("reuse::probe", |pool| async move {
        let _ = first_user_id(&pool).await;
    });
    step("reuse::probe_again", |pool| {
        let id = &mut id;
        async move { *id = first_user_id(&pool).await }
    });
    id
}

#[test]
fn rows_and_sequences_are_gone_on_the_reused_clone() {
    let fresh = fresh_first_id();
    let first = step("reuse::writes", |pool| async move {
        for n in 0..5 {
            sqlx::query("INSERT INTO users (email, display_name) VALUES ($1, 'W')")
                .bind(format!("w{n}@example.com"))
                .execute(&pool)
                .await
                .expect("insert");
        }
        exec(
            &pool,
            "INSERT INTO sites (owner_id, name, slug) \
             SELECT id, 'Site', 'site-' || id FROM users LIMIT 1",
        )
        .await;
        exec(
            &pool,
            "SELECT nextval(pg_get_serial_sequence('sites', 'id'))",
        )
        .await;
    });
    let second = step("reuse::after_writes", |pool| async move {
        assert_clean(&pool, fresh).await;
    });
    // On an external server each test has a database of its own: nothing to reuse.
    if !first.0.starts_with("persistence_t_") && !clones_go_to_the_janitor() {
        assert_eq!(
            first, second,
            "the second test got the first one's clone, reset (same name and id)"
        );
    }
}

#[test]
fn schema_changes_are_gone_on_the_next_clone() {
    let fresh = fresh_first_id();
    step("reuse::ddl_table", |pool| async move {
        exec(&pool, "CREATE TABLE scratch (id int PRIMARY KEY)").await;
        exec(&pool, "INSERT INTO scratch VALUES (1)").await;
    });
    step("reuse::after_table", |pool| async move {
        assert_clean(&pool, fresh).await;
    });
    step("reuse::ddl_column", |pool| async move {
        exec(&pool, "ALTER TABLE users ADD COLUMN nickname text").await;
        exec(
            &pool,
            "INSERT INTO users (email, display_name, nickname) VALUES ('n@x.io', 'N', 'n')",
        )
        .await;
    });
    step("reuse::after_column", |pool| async move {
        assert_clean(&pool, fresh).await;
    });
    step("reuse::ddl_index", |pool| async move {
        exec(&pool, "CREATE INDEX users_name_idx ON users (display_name)").await;
    });
    step("reuse::after_index", |pool| async move {
        assert_clean(&pool, fresh).await;
    });
    step("reuse::drop_table", |pool| async move {
        exec(&pool, "DROP TABLE blocks CASCADE").await;
    });
    step("reuse::after_drop", |pool| async move {
        assert_clean(&pool, fresh).await;
        let blocks = scalar_i64(&pool, "SELECT count(*) FROM blocks").await;
        assert_eq!(blocks, 0, "the dropped table is back");
    });
}

#[test]
fn session_settings_do_not_follow_the_clone() {
    step("reuse::session", |pool| async move {
        exec(
            &pool,
            "SET statement_timeout = '1ms'; SET search_path = nowhere",
        )
        .await;
    });
    step("reuse::after_session", |pool| async move {
        let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(&pool)
            .await
            .expect("show");
        assert_eq!(timeout, "0");
        assert_eq!(scalar_i64(&pool, "SELECT count(*) FROM users").await, 0);
    });
}

static AUDITED: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations_delete_trigger");

/// A schema with a DELETE trigger that writes to another table: the reset must empty the
/// tables without setting it off (or its audit row would be the next test's).
#[test]
fn a_reset_sets_off_no_delete_trigger() {
    let audited = |name| TestSpec::new(name).migrator(&AUDITED);
    let first = run::database(&audited("reuse::audited_writes"), |db: TestDb| async move {
        exec(
            db.pool(),
            "INSERT INTO parent DEFAULT VALUES; INSERT INTO child (parent_id) SELECT id FROM parent",
        )
        .await;
        let oid = database_oid(db.pool()).await;
        Ok::<_, std::convert::Infallible>((db.name().to_owned(), oid))
    })
    .expect("infallible");
    let second = run::database(&audited("reuse::audited_after"), |db: TestDb| async move {
        for table in ["parent", "child", "audit"] {
            let rows: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                    .fetch_one(db.pool())
                    .await
                    .expect("count");
            assert_eq!(rows, 0, "rows left in {table}");
        }
        let oid = database_oid(db.pool()).await;
        Ok::<_, std::convert::Infallible>((db.name().to_owned(), oid))
    })
    .expect("infallible");
    // On an external server each test has a database of its own: nothing to reuse.
    if !first.0.starts_with("persistence_t_") && !clones_go_to_the_janitor() {
        assert_eq!(first, second, "the clone was reset, not recreated");
    }
}

/// Under `cargo test` a clone comes back with the session that reset it, and that session
/// plans the reset's look (some 40 subqueries) once: every later reset reuses its plan
/// instead of planning it anew for the watermark it is given (~5 ms of server time a test).
///
/// Its tests use a template of their own (no migrations): the clones of this file's template
/// go from test to test of the file, which run at once, and the third step could get one
/// whose session never reset anything.
#[test]
fn the_kept_session_plans_the_reset_once() {
    let mut plans = Vec::new();
    for name in ["reuse::plans_1", "reuse::plans_2", "reuse::plans_3"] {
        let spec = TestSpec::new(name);
        let database = run::database(&spec, |db: TestDb| {
            let plans = &mut plans;
            async move {
                plans.push(look_plans(db.pool()).await);
                Ok::<_, std::convert::Infallible>(db.name().to_owned())
            }
        })
        .expect("infallible");
        // An external server's test has a database of its own; under nextest the janitor
        // resets the clone through a session of its own.
        if database.starts_with("persistence_t_") || clones_go_to_the_janitor() {
            return;
        }
    }
    // Before the first test nothing was reset in this session; before the third, two resets.
    let (prepared, generic, custom) = plans[2];
    assert_eq!(
        prepared, 1,
        "the third test got the session that reset the clone twice: {plans:?}"
    );
    assert_eq!(
        custom, 0,
        "the look was planned for each watermark: {plans:?}"
    );
    assert!(generic >= 1, "the look ran with a generic plan: {plans:?}");
}

/// The reset's look as prepared in this session: (statements, generic plans, custom plans).
async fn look_plans(pool: &PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT count(*)::int8, coalesce(sum(generic_plans), 0)::int8, \
         coalesce(sum(custom_plans), 0)::int8 FROM pg_prepared_statements \
         WHERE statement LIKE 'WITH watermark AS %'",
    )
    .fetch_one(pool)
    .await
    .expect("pg_prepared_statements")
}
