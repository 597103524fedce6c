//! The installed command knows which project it serves: `dev` keeps its state in the target
//! directory of the crate it runs in (outside any crate, in a place of the directory's own),
//! two projects' `dev`s run side by side with their own migrations and `test-server status`
//! from either lists both, every command that needs a database finds the project's running
//! `dev` the same way, and `dev` prints nothing on stderr that its user did not need.
//!
//! Every test works in fresh crates of a user's own under a temporary directory, which is
//! also the command's temporary directory: the per-user records it keeps there are the
//! test's alone.

// The tests that keep a `dev` serving stop it with SIGTERM: Unix only, and what only they use.
#![cfg_attr(not(unix), allow(dead_code))]

use std::path::{Path, PathBuf};
use std::process::Output;

use persistence::ephemeral::{BackendKind, Settings};

use crate::support::cli::texts;
use crate::support::tempdir::temp_dir;
use crate::support::user::{fresh_crate, user_cli};

/// Whether this run's server is an external one (`dev` then starts no server of its own).
fn external() -> bool {
    Settings::from_env().is_ok_and(|s| {
        s.backend == BackendKind::External
            || (s.backend == BackendKind::Auto && s.external_url.is_some())
    })
}

fn notes(parent: &Path) -> PathBuf {
    fresh_crate(
        parent,
        "notes",
        "20250101000000",
        "create_notes",
        "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL);\n",
    )
}

fn tasks(parent: &Path) -> PathBuf {
    fresh_crate(
        parent,
        "tasks",
        "20250202000000",
        "create_tasks",
        "CREATE TABLE tasks (id bigserial PRIMARY KEY, done boolean NOT NULL DEFAULT false);\n",
    )
}

/// Runs the command; its exit code, stdout and stderr.
fn run(mut command: std::process::Command) -> (Option<i32>, String, String) {
    let output: Output = command.output().expect("the binary runs");
    let (stdout, stderr) = texts(&output);
    (output.status.code(), stdout, stderr)
}

/// A `starts.log` (the supervisor's record of each start) somewhere under `dir`.
fn starts_log_under(dir: &Path) -> Option<PathBuf> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == "starts.log") {
                return Some(path);
            }
            if path.is_dir() {
                pending.push(path);
            }
        }
    }
    None
}

#[test]
fn dev_keeps_its_state_with_the_project_and_says_nothing_on_stderr() {
    let scratch = temp_dir("projects-state");
    let tmp = scratch.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let crate_dir = notes(scratch.path());
    let once = |dir: &Path, target: Option<&Path>| {
        let mut command = user_cli(dir, &tmp, &["dev", "--once"]);
        // `auto`: the choice it makes is no business of a `dev` that works.
        command.env("PERSISTENCE_TEST_BACKEND", "auto");
        if let Some(target) = target {
            command.env("CARGO_TARGET_DIR", target);
        }
        let (code, stdout, stderr) = run(command);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert_eq!(stderr, "", "nothing on stderr: {stdout}");
        assert!(
            stdout.contains("applied 1 migration(s), 1 in all, from migrations"),
            "{stdout}"
        );
        // The backend is named as it is, never as `auto`.
        assert!(!stdout.contains("auto"), "{stdout}");
        stdout
    };

    once(&crate_dir, None);
    // A user's `cargo run` or `cargo install`ed binary alike: the crate's own target dir.
    let dev_dir = crate_dir.join("target/persistence/dev");
    let elsewhere = scratch.path().join("elsewhere");
    once(&crate_dir, Some(&elsewhere));
    let plain = scratch.path().join("plain");
    std::fs::create_dir_all(plain.join("migrations")).expect("create");
    std::fs::copy(
        crate_dir.join("migrations/20250101000000_create_notes.sql"),
        plain.join("migrations/20250101000000_create_notes.sql"),
    )
    .expect("copy");
    once(&plain, None);
    if external() {
        eprintln!("the external server has no state directory: where it lives is not checked");
        return;
    }
    assert!(
        dev_dir.join("starts.log").is_file(),
        "dev's state is in {}",
        dev_dir.display()
    );
    assert!(
        elsewhere.join("persistence/dev/starts.log").is_file(),
        "CARGO_TARGET_DIR is the target directory"
    );
    // Outside any crate: a place of the directory's own, in the user's temporary directory.
    let outside = starts_log_under(&tmp).expect("a state directory under TMPDIR");
    assert!(
        outside.parent().is_some_and(|d| d.ends_with("dev")),
        "{}",
        outside.display()
    );
    assert!(
        outside.to_string_lossy().contains("plain-"),
        "keyed by the directory: {}",
        outside.display()
    );
}

#[cfg(unix)]
#[tokio::test]
async fn two_projects_run_dev_at_the_same_time_each_with_its_migrations() {
    use crate::support::user::Serving;
    use sqlx::{Connection, PgConnection};

    let scratch = temp_dir("projects-two");
    let tmp = scratch.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let (notes, tasks) = (notes(scratch.path()), tasks(scratch.path()));
    let external = external();
    let dev = |dir: &Path, database: &str| {
        let mut args = vec!["dev"];
        // An external server is one server for both: each needs a database of its own.
        if external {
            args.extend(["--database", database]);
        }
        Serving::start(user_cli(dir, &tmp, &args))
    };
    let notes_dev = dev(&notes, &format!("notes_dev_{}", std::process::id()));
    let tasks_dev = dev(&tasks, &format!("tasks_dev_{}", std::process::id()));

    for (serving, table) in [(&notes_dev, "notes"), (&tasks_dev, "tasks")] {
        assert!(
            !serving.printed.iter().any(|l| l.starts_with("joined ")),
            "a server of its own: {:?}",
            serving.printed
        );
        let url = if external {
            crate::support::server::url_for(
                url::Url::parse(&serving.url())
                    .expect("URL")
                    .path()
                    .trim_start_matches('/'),
            )
            .await
        } else {
            serving.url()
        };
        let mut connection = PgConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
        )
        .fetch_all(&mut connection)
        .await
        .expect("pg_tables");
        let _ = connection.close().await;
        assert_eq!(tables, ["_sqlx_migrations", table], "{url}");
    }

    if !external {
        let status = |dir: &Path| {
            let (code, stdout, stderr) = run(user_cli(dir, &tmp, &["test-server", "status"]));
            assert_eq!(code, Some(0), "{stdout}\n{stderr}");
            stdout
        };
        for (here, there) in [(&notes, &tasks), (&tasks, &notes)] {
            let listed = status(here);
            assert_eq!(listed.matches("dev server ").count(), 2, "{listed}");
            for dir in [here, there] {
                let dev_dir = dir.join("target/persistence/dev");
                assert!(
                    listed.contains(&format!("state dir: {}", dev_dir.display())),
                    "{}: {listed}",
                    dev_dir.display()
                );
            }
            assert!(
                listed.contains(&format!("  project: {}\n", there.display())),
                "the other project's server names its project: {listed}"
            );
            assert!(
                !listed.contains(&format!("  project: {}\n", here.display())),
                "{listed}"
            );
            assert!(
                listed.contains("/persistence_dev (persistence dev pid "),
                "{listed}"
            );
        }

        // Every command that needs a database finds the project's `dev`.
        for (dir, migration) in [
            (&notes, "20250101000000  create notes"),
            (&tasks, "20250202000000  create tasks"),
        ] {
            let (code, stdout, stderr) = run(user_cli(dir, &tmp, &["migrate", "status"]));
            assert_eq!(code, Some(0), "{stdout}\n{stderr}");
            assert_eq!(
                stdout,
                format!(
                    "applied  {migration}\n1 applied, 0 pending, 0 edited, 0 failed, 0 unknown\n"
                )
            );
            let (code, stdout, stderr) = run(user_cli(dir, &tmp, &["health"]));
            assert_eq!(code, Some(0), "{stdout}\n{stderr}");
            assert!(stdout.starts_with("pass: PostgreSQL "), "{stdout}");
        }

        // DATABASE_URL comes before the running `dev`, --database-url before both.
        let nobody = format!(
            "postgres://app:pw@127.0.0.1:{}/app",
            crate::support::server::free_port()
        );
        let mut command = user_cli(&notes, &tmp, &["migrate", "status"]);
        command.env("DATABASE_URL", &nobody);
        let (code, _, stderr) = run(command);
        assert_eq!(code, Some(1));
        assert!(
            stderr.starts_with("error: cannot reach the database server: 127.0.0.1:"),
            "{stderr}"
        );
        let tasks_url = tasks_dev.url();
        let mut command = user_cli(
            &notes,
            &tmp,
            &["migrate", "status", "--database-url", &tasks_url],
        );
        command.env("DATABASE_URL", &nobody);
        let (code, stdout, stderr) = run(command);
        assert_eq!(code, Some(1), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("pending  20250101000000  create notes")
                && stdout.contains("unknown  20250202000000  create tasks"),
            "the notes migrations against the tasks database: {stdout}"
        );
    }

    for serving in [notes_dev, tasks_dev] {
        let (status, rest) = serving.stop();
        assert_eq!(status.code(), Some(0), "{rest:?}");
    }
    if !external {
        let (code, stdout, _) = run(user_cli(&notes, &tmp, &["test-server", "status"]));
        assert_eq!(code, Some(0));
        assert!(stdout.starts_with("no test server runs"), "{stdout}");
    }
}

#[cfg(unix)]
#[test]
fn two_members_of_a_workspace_do_not_share_a_database_by_accident() {
    use crate::support::user::Serving;
    let scratch = temp_dir("projects-workspace");
    let tmp = scratch.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    std::fs::write(
        scratch.path().join("Cargo.toml"),
        "[workspace]\nmembers = [\"notes\", \"tasks\"]\nresolver = \"3\"\n",
    )
    .expect("the workspace");
    let (notes, tasks) = (notes(scratch.path()), tasks(scratch.path()));
    let database = format!("shared_dev_{}", std::process::id());
    let serving = Serving::start(user_cli(&notes, &tmp, &["dev", "--database", &database]));

    // One target directory, one server; the database is the notes member's.
    let (code, stdout, stderr) = run(user_cli(
        &tasks,
        &tmp,
        &["dev", "--once", "--database", &database],
    ));
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let migrations = notes.join("migrations");
    let migrations = std::fs::canonicalize(&migrations).unwrap_or(migrations);
    assert!(
        stderr.starts_with(&format!(
            "error: the database `{database}` on this server belongs to another `persistence dev` \
             (migrations from {};",
            migrations.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("pass --database NAME"), "{stderr}");

    // A database of its own works, beside it.
    let own = format!("tasks_dev_{}", std::process::id());
    let (code, stdout, stderr) = run(user_cli(
        &tasks,
        &tmp,
        &["dev", "--once", "--database", &own],
    ));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("created database `{own}`; applied 1 migration(s)")),
        "{stdout}"
    );
    let (status, rest) = serving.stop();
    assert_eq!(status.code(), Some(0), "{rest:?}");
}

#[test]
fn without_a_database_every_command_says_all_three_ways() {
    let scratch = temp_dir("projects-none");
    let tmp = scratch.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let crate_dir = notes(scratch.path());
    for args in [
        vec!["migrate", "status"],
        vec!["migrate", "run"],
        vec!["health"],
        vec!["db", "reset", "--yes"],
        vec!["studio", "--port", "0"],
    ] {
        let (code, stdout, stderr) = run(user_cli(&crate_dir, &tmp, &args));
        assert_eq!(code, Some(1), "{args:?}: {stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        let expected = format!(
            "DATABASE_URL is not set and no `persistence dev` runs for {}: pass --database-url \
             postgres://USER:PASSWORD@HOST/DATABASE, set DATABASE_URL (in the environment or a \
             .env file), or start `persistence dev` there in another terminal",
            crate_dir.display()
        );
        let line = stderr.trim_end();
        if args[0] == "studio" {
            assert_eq!(line, format!("error: no database to open: {expected}"));
        } else {
            assert_eq!(line, format!("error: {expected}"), "{args:?}");
        }
    }
}
