//! The test harness (`#[db_test]`, `persistence::testing`, `persistence::ephemeral`), one
//! module per behaviour.
//!
//! Every module shares this one binary: the harness keeps no process state that one test
//! could leave for another to trip over. Tests that need a fresh process (another backend,
//! a crash, a failing test, `global()` in a process of its own) re-run this binary as a child
//! on one test (`--exact <module>::<test>`, see `common::scenario`).

#[path = "../common/mod.rs"]
mod common;

/// The tables of the tests that need some (`tests/migrations`): users, sites, pages, blocks.
static SCHEMA: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations");

mod backend_choice;
mod budget;
mod clone_reuse;
mod concurrent;
mod crash_cleanup;
mod database_isolation;
// It runs `persistence dev`, a native server it stops with SIGTERM.
#[cfg(unix)]
mod database_url;
mod docker_backend;
mod docker_image_missing;
mod external_url_errors;
mod failure_reports;
mod fixture_templates;
mod fixtures_and_migrations;
mod fresh_crate;
mod global_pool;
mod janitor;
mod keep_failed;
mod lock_wait;
mod many_at_once;
mod nextest_one_server;
// Another OS user (`runuser`), unix sockets and modes.
#[cfg(unix)]
mod owner_only;
mod query_count;
// The relay serves native servers over their unix socket.
#[cfg(unix)]
mod relay;
mod rstest_cases;
mod runtime;
mod seeds;
// It joins a native server started in a private state directory.
#[cfg(unix)]
mod settings_mismatch;
// It kills a shard's processes with SIGKILL.
#[cfg(unix)]
mod shards;
mod sql_errors;
mod test_role;
mod transaction_rollback;
mod workers;
