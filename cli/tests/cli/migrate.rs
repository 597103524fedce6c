//! `persistence migrate status|run` against real databases: status exits 1 while migrations
//! are pending or were edited after being applied, run is idempotent.

use std::path::Path;
use std::process::Output;

use persistence::db_test;
use persistence::testing::TestDb;

use crate::support::cli::{cli, texts};
use crate::support::schema::{self, copy_migrations};
use crate::support::server::url_for;
use crate::support::tempdir::temp_dir;

/// The tests' schema, named with `--source`.
const MIGRATIONS: usize = schema::MIGRATIONS;

fn persistence(dir: &Path, url: &str, args: &[&str]) -> Output {
    let mut args = args.to_vec();
    args.extend(["--database-url", url]);
    cli(dir, &args).output().expect("the binary runs")
}

fn lines_starting_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

fn assert_exit(output: &Output, code: i32) -> String {
    let (stdout, stderr) = texts(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

#[db_test(migrations = false)]
async fn run_is_idempotent_and_status_exits_1_until_everything_is_applied(db: TestDb) {
    let url = url_for(db.name()).await;
    let dir = temp_dir("cli-migrate-fresh");
    let source = schema::migrations_arg();

    let stdout = assert_exit(
        &persistence(
            dir.path(),
            &url,
            &["migrate", "status", "--source", &source],
        ),
        1,
    );
    assert_eq!(lines_starting_with(&stdout, "pending  ").len(), MIGRATIONS);
    assert!(
        stdout.ends_with(&format!(
            "0 applied, {MIGRATIONS} pending, 0 edited, 0 failed, 0 unknown\n"
        )),
        "{stdout}"
    );

    let stdout = assert_exit(
        &persistence(dir.path(), &url, &["migrate", "run", "--source", &source]),
        0,
    );
    let applied = lines_starting_with(&stdout, "applied ");
    assert_eq!(applied.len(), MIGRATIONS, "{stdout}");
    assert!(
        applied[0].starts_with("applied 20260101000001 create users"),
        "{stdout}"
    );

    // Again: nothing to do, nothing changes.
    for _ in 0..2 {
        let stdout = assert_exit(
            &persistence(dir.path(), &url, &["migrate", "run", "--source", &source]),
            0,
        );
        assert_eq!(
            stdout, "nothing to apply: the database is up to date\n",
            "{stdout}"
        );
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(db.pool())
        .await
        .expect("migrations table");
    assert_eq!(rows, MIGRATIONS as i64);

    let stdout = assert_exit(
        &persistence(
            dir.path(),
            &url,
            &["migrate", "status", "--source", &source],
        ),
        0,
    );
    assert!(
        stdout.ends_with(&format!(
            "{MIGRATIONS} applied, 0 pending, 0 edited, 0 failed, 0 unknown\n"
        )),
        "{stdout}"
    );
    let output = persistence(
        dir.path(),
        &url,
        &["migrate", "status", "--json", "--source", &source],
    );
    let stdout = assert_exit(&output, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let migrations = report["migrations"].as_array().expect("migrations");
    assert_eq!(migrations.len(), MIGRATIONS);
    assert!(
        migrations.iter().all(|m| m["state"] == "applied"),
        "{report}"
    );
}

#[db_test(migrations = "tests/cli/migrations")]
async fn status_exits_1_while_a_new_migration_is_pending(db: TestDb) {
    // The harness migrated the database with the schema; the source has one more.
    let url = url_for(db.name()).await;
    let dir = temp_dir("cli-migrate-pending");
    let original = schema::migrations_arg();
    let source = copy_migrations(dir.path());
    let source_arg = source.to_str().expect("utf-8");
    std::fs::write(
        source.join("20991231000001_add_users_nickname.up.sql"),
        "ALTER TABLE users ADD COLUMN nickname text;\n",
    )
    .expect("write");
    std::fs::write(
        source.join("20991231000001_add_users_nickname.down.sql"),
        "ALTER TABLE users DROP COLUMN nickname;\n",
    )
    .expect("write");

    let before = persistence(
        dir.path(),
        &url,
        &["migrate", "status", "--source", &original],
    );
    assert_exit(&before, 0);
    // Without --source: ./migrations of the current directory, i.e. the copy.
    let stdout = assert_exit(&persistence(dir.path(), &url, &["migrate", "status"]), 1);
    assert!(
        stdout.contains("pending  20991231000001  add users nickname"),
        "{stdout}"
    );

    let args = ["migrate", "status", "--source", source_arg];
    let stdout = assert_exit(&persistence(dir.path(), &url, &args), 1);
    assert_eq!(
        lines_starting_with(&stdout, "pending  "),
        ["pending  20991231000001  add users nickname"],
        "{stdout}"
    );
    assert!(
        stdout.ends_with(&format!(
            "{MIGRATIONS} applied, 1 pending, 0 edited, 0 failed, 0 unknown\n"
        )),
        "{stdout}"
    );

    let run = ["migrate", "run", "--source", source_arg];
    let stdout = assert_exit(&persistence(dir.path(), &url, &run), 0);
    assert_eq!(stdout, "applied 20991231000001 add users nickname\n");
    let stdout = assert_exit(&persistence(dir.path(), &url, &run), 0);
    assert_eq!(stdout, "nothing to apply: the database is up to date\n");
    assert_exit(&persistence(dir.path(), &url, &args), 0);
    let nickname: Option<String> = sqlx::query_scalar("SELECT nickname FROM users LIMIT 1")
        .fetch_optional(db.pool())
        .await
        .expect("the new column exists");
    assert_eq!(nickname, None);

    // Against the original migrations the new one is unknown (applied, but not in the
    // source): not up to date either.
    let stdout = assert_exit(
        &persistence(
            dir.path(),
            &url,
            &["migrate", "status", "--source", &original],
        ),
        1,
    );
    assert!(
        stdout.contains("unknown  20991231000001  add users nickname"),
        "{stdout}"
    );
}

#[db_test(migrations = "tests/cli/migrations")]
async fn status_exits_1_when_an_applied_migration_was_edited(db: TestDb) {
    let url = url_for(db.name()).await;
    let dir = temp_dir("cli-migrate-edited");
    let source = copy_migrations(dir.path());
    let source_arg = source.to_str().expect("utf-8");
    let edited = source.join("20260101000003_create_posts.up.sql");
    let original = std::fs::read_to_string(&edited).expect("read");
    std::fs::write(&edited, format!("{original}\n-- an afterthought\n")).expect("edit");

    let args = ["migrate", "status", "--source", source_arg];
    let stdout = assert_exit(&persistence(dir.path(), &url, &args), 1);
    let edited_lines = lines_starting_with(&stdout, "edited ");
    assert_eq!(edited_lines.len(), 1, "{stdout}");
    assert!(
        edited_lines[0]
            .starts_with("edited   20260101000003  create posts  (changed after it was applied"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(&format!(
            "{} applied, 0 pending, 1 edited, 0 failed, 0 unknown\n",
            MIGRATIONS - 1
        )),
        "{stdout}"
    );

    // `run` refuses an edited history with one line on stderr.
    let output = persistence(
        dir.path(),
        &url,
        &["migrate", "run", "--source", source_arg],
    );
    assert_exit(&output, 1);
    let (_, stderr) = texts(&output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: migration error: "), "{stderr}");
    assert!(stderr.contains("20260101000003"), "{stderr}");

    // Restored, all is well again.
    std::fs::write(&edited, original).expect("restore");
    assert_exit(&persistence(dir.path(), &url, &args), 0);
}
