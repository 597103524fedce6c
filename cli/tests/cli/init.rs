//! A stale `#[db_test]` binary is caught, and `persistence init` fixes it for good.
//!
//! A user's crate is built in a temporary directory (sharing this build's target directory,
//! so only the small crate itself is compiled): its test passes; then a migration is added
//! *without rebuilding*, and the same binary fails at once with one line that names the new
//! file and the fix; after `persistence init` writes the build script, `cargo test` rebuilds
//! by itself and the test passes against the new schema.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::cli::{cli, texts};
use crate::support::tempdir::temp_dir;

/// The probe crate's name; every artifact it leaves in the shared target directory starts
/// with it (or with `lib` and it), which is how they are removed afterwards.
const PROBE: &str = "stale_probe";

/// The user's test: the `notes` table has as many columns as `PROBE_COLUMNS` says.
const TEST: &str = r#"
use persistence::db_test;
use sqlx::PgConnection;

#[db_test]
async fn stale_probe_notes(conn: &mut PgConnection) {
    let columns: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'notes'",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("count the columns");
    let expected: i64 = std::env::var("PROBE_COLUMNS").expect("PROBE_COLUMNS").parse().expect("a number");
    assert_eq!(columns, expected);
}
"#;

/// The workspace: the library the probe depends on, and the `Cargo.lock` it shares.
fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// This build's target directory: the parent of the integration tests' scratch directory.
fn shared_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .to_path_buf()
}

/// A crate with one migration and one `#[db_test]`, and no build script.
fn write_probe(dir: &Path) {
    let manifest = format!(
        r#"[package]
name = "{PROBE}"
version = "0.0.0"
edition = "2024"
publish = false

[dev-dependencies]
# `docker`: the suite runs on every backend, and this crate may be the one to start the run's server.
persistence-pg = {{ path = "{}", features = ["testing", "docker"] }}
sqlx = {{ version = "0.9", default-features = false, features = ["runtime-tokio", "postgres", "migrate", "macros", "json"] }}

[workspace]
"#,
        repository().display()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("Cargo.toml");
    // The same versions as this build, so that its compiled dependencies are reused.
    std::fs::copy(repository().join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
    for sub in ["src", "tests", "migrations"] {
        std::fs::create_dir_all(dir.join(sub)).expect("create");
    }
    std::fs::write(dir.join("src/lib.rs"), "//! A crate to test.\n").expect("lib.rs");
    std::fs::write(dir.join("tests/notes.rs"), TEST).expect("tests/notes.rs");
    std::fs::write(
        dir.join("migrations/20250101000000_create_notes.sql"),
        "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL);\n",
    )
    .expect("migration");
}

fn cargo(dir: &Path, args: &[&str], columns: u32) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    Command::new(cargo)
        .args(args)
        .env("PROBE_COLUMNS", columns.to_string())
        .args(["--offline", "--test", "notes"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target())
        .env_remove("NEXTEST_EXECUTION_MODE")
        .stdin(Stdio::null())
        .output()
        .expect("cargo runs")
}

/// Builds the probe's test and returns its executable.
fn build(dir: &Path) -> PathBuf {
    let output = cargo(dir, &["test", "--no-run", "--message-format=json"], 0);
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stderr}");
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == "notes")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("no test executable in cargo's output: {stderr}"))
}

/// Runs the built test binary as `cargo test` would, expecting `columns` columns.
fn run_binary(exe: &Path, dir: &Path, columns: u32) -> (bool, String) {
    let output = Command::new(exe)
        .args(["--exact", "stale_probe_notes", "--test-threads=1"])
        .current_dir(dir)
        .env("CARGO_MANIFEST_DIR", dir)
        .env("PROBE_COLUMNS", columns.to_string())
        .env_remove("NEXTEST_EXECUTION_MODE")
        .stdin(Stdio::null())
        .output()
        .expect("the test binary runs");
    let (stdout, stderr) = texts(&output);
    (output.status.success(), format!("{stdout}{stderr}"))
}

/// Removes what the probe left in the shared target directory.
fn remove_artifacts() {
    let profile = shared_target().join("debug");
    for sub in ["deps", ".fingerprint", "build", "incremental"] {
        let Ok(entries) = std::fs::read_dir(profile.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(PROBE) || name.starts_with(&format!("lib{PROBE}")) {
                let path = entry.path();
                let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
            }
        }
    }
}

struct Artifacts;

impl Drop for Artifacts {
    fn drop(&mut self) {
        remove_artifacts();
    }
}

#[test]
fn a_stale_test_binary_names_the_new_migration_and_init_fixes_it() {
    let project = temp_dir("cli-init-stale");
    let dir = project.path();
    write_probe(dir);
    let _artifacts = Artifacts;

    let exe = build(dir);
    let (passed, output) = run_binary(&exe, dir, 2);
    assert!(passed, "the fresh binary passes: {output}");

    // A new migration, and no rebuild: the old binary must not run on the old schema.
    let added = dir.join("migrations/20250102000000_add_title.sql");
    std::fs::write(&added, "ALTER TABLE notes ADD COLUMN title text;\n").expect("migration");
    let (passed, output) = run_binary(&exe, dir, 3);
    assert!(!passed, "the stale binary fails: {output}");
    let lines: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("after this test binary was built"))
        .collect();
    assert_eq!(lines.len(), 1, "{output}");
    let line = lines[0];
    assert!(
        line.contains(&format!("migration {} was added after", added.display())),
        "{line}"
    );
    assert!(
        line.contains(r#"println!("cargo:rerun-if-changed=migrations")"#),
        "{line}"
    );
    assert!(line.contains("persistence init"), "{line}");

    // The fix for good: the build script makes cargo rebuild, and the new column is there.
    let init = cli(dir, &["init"]).output().expect("persistence init");
    let (stdout, stderr) = texts(&init);
    assert!(init.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("wrote "), "{stdout}");
    let rebuilt = build(dir);
    let (passed, output) = run_binary(&rebuilt, dir, 3);
    assert!(
        passed,
        "the rebuilt binary passes on the new schema: {output}"
    );

    // And from now on a change is noticed by cargo itself.
    std::fs::write(
        dir.join("migrations/20250103000000_add_tags.sql"),
        "ALTER TABLE notes ADD COLUMN tags text[];\n",
    )
    .expect("migration");
    let output = cargo(dir, &["test"], 4);
    let (stdout, stderr) = texts(&output);
    assert!(
        output.status.success(),
        "cargo rebuilt the test with the third migration: {stdout}{stderr}"
    );
    assert!(stdout.contains("test stale_probe_notes ... ok"), "{stdout}");
}
