//! The command line in a user's project: every command works on the project's own
//! `./migrations` without `--source`, and nothing but those migrations reaches the user's
//! database.

use std::path::Path;
use std::process::Output;

use persistence::db_test;
use persistence::testing::TestDb;

use crate::support::cli::{cli, texts};
use crate::support::server::url_for;
use crate::support::tempdir::{TempDir, temp_dir};

/// A project directory with one migration, as a new user's crate would have.
fn project() -> TempDir {
    let dir = temp_dir("cli-own-migrations");
    let migrations = dir.path().join("migrations");
    std::fs::create_dir_all(&migrations).expect("create migrations");
    std::fs::write(
        migrations.join("20250101000000_create_notes.sql"),
        "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL);\n",
    )
    .expect("write the migration");
    dir
}

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output: Output = cli(dir, args).output().expect("the binary runs");
    let (stdout, stderr) = texts(&output);
    (output.status.code(), stdout, stderr)
}

#[test]
fn dev_once_applies_the_projects_one_migration() {
    let project = project();
    let state = project.path().join("state");
    let database = format!("own_migrations_{}", std::process::id());
    let mut command = cli(project.path(), &["dev", "--once", "--database", &database]);
    command.env("PERSISTENCE_STATE_DIR", &state);
    let output = command.output().expect("the binary runs");
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "created database `{database}`; applied 1 migration(s), 1 in all, from migrations"
        )),
        "{stdout}"
    );
}

#[db_test(migrations = false)]
async fn migrate_status_and_run_use_the_projects_migrations_without_source(db: TestDb) {
    let project = project();
    let url = url_for(db.name()).await;
    let with_url = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--database-url", &url]);
        run(project.path(), &all)
    };

    let (code, stdout, stderr) = with_url(&["migrate", "status"]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert_eq!(
        stdout,
        "pending  20250101000000  create notes\n\
         0 applied, 1 pending, 0 edited, 0 failed, 0 unknown\n"
    );

    let (code, stdout, stderr) = with_url(&["migrate", "run"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(stdout, "applied 20250101000000 create notes\n");

    let (code, stdout, stderr) = with_url(&["migrate", "status"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.ends_with("1 applied, 0 pending, 0 edited, 0 failed, 0 unknown\n"),
        "{stdout}"
    );

    // Exactly the project's table (and sqlx's bookkeeping), nothing else.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(db.pool())
    .await
    .expect("pg_tables");
    assert_eq!(tables, ["_sqlx_migrations", "notes"]);
}
