//! `persistence prepare`: sqlx's offline query data from a throwaway migrated database.
//!
//! The tests run on a small crate of their own (sqlx only, a checked query, and models that
//! `persistence generate` writes from its migrations, so they are compiled too): prepare
//! writes `.sqlx/`, `--check` passes, an edited query fails `--check` naming the files and
//! writes nothing, prepare again replaces the stale file, and the crate then builds with
//! `SQLX_OFFLINE=true` and no `DATABASE_URL`.
//!
//! Nested cargo is slow on small machines: the crate and its target directory live under
//! this package's `CARGO_TARGET_TMPDIR`, so later runs reuse the compiled dependencies, and
//! the dependencies resolve offline from this package's `Cargo.lock`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::cargo::without_cargo_test_env;
use crate::support::cli::{cli, texts};

const MANIFEST: &str = r#"[package]
name = "prepare-fixture"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
sqlx = { version = "0.9", default-features = false, features = ["runtime-tokio", "postgres", "macros", "json", "chrono"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
chrono = { version = "0.4", default-features = false, features = ["serde"] }
"#;

const MIGRATION: &str = r#"
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE mood AS ENUM ('happy', 'so-so');
CREATE DOMAIN label AS text NOT NULL;
CREATE TABLE people (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email citext NOT NULL,
    tags text[] NOT NULL DEFAULT '{}',
    mood mood NOT NULL DEFAULT 'happy',
    past_moods mood[],
    nick label,
    settings jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
"#;

fn lib_rs(filter: &str) -> String {
    format!(
        r##"//! A crate with one checked query.
pub mod models;

/// How many people there are.
pub async fn count(conn: &mut sqlx::PgConnection) -> sqlx::Result<i64> {{
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM people {filter}"#)
        .fetch_one(conn)
        .await
}}
"##
    )
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("prepare-fixture")
}

/// Writes the crate afresh (keeping the directory, so cargo's fingerprints stay valid).
fn write_fixture(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).expect("create");
    std::fs::create_dir_all(dir.join("migrations")).expect("create");
    let _ = std::fs::remove_dir_all(dir.join(".sqlx"));
    std::fs::write(dir.join("Cargo.toml"), MANIFEST).expect("write");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"),
        dir.join("Cargo.lock"),
    )
    .expect("copy Cargo.lock");
    std::fs::write(dir.join("migrations/20260101000001_people.sql"), MIGRATION).expect("write");
    std::fs::write(dir.join("src/lib.rs"), lib_rs("")).expect("write");
}

/// The `persistence` binary in the fixture, with cargo pointed at the shared target dir.
fn persistence(dir: &Path, args: &[&str]) -> Output {
    let mut command = cli(dir, args);
    nested_cargo_env(&mut command);
    command.output().expect("run persistence")
}

fn nested_cargo_env(command: &mut Command) {
    without_cargo_test_env(command);
    command
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("prepare-target"),
        )
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("SQLX_OFFLINE")
        .env_remove("SQLX_OFFLINE_DIR");
}

fn query_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(".sqlx"))
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn assert_success(output: &Output, what: &str) -> String {
    let (stdout, stderr) = texts(output);
    assert!(output.status.success(), "{what}: {stdout}{stderr}");
    stdout
}

#[test]
fn prepare_writes_checks_and_replaces_the_offline_query_data() {
    let dir = fixture_dir();
    write_fixture(&dir);
    assert_success(
        &persistence(&dir, &["generate", "--out", "src/models.rs"]),
        "generate",
    );

    let stdout = assert_success(&persistence(&dir, &["prepare"]), "prepare");
    let first = query_files(&dir);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(stdout.contains(&format!("{} (new)", first[0])), "{stdout}");
    let data = std::fs::read_to_string(dir.join(".sqlx").join(&first[0])).expect("read");
    assert!(data.contains("FROM people"), "{data}");

    let stdout = assert_success(&persistence(&dir, &["prepare", "--check"]), "--check");
    assert!(
        stdout.contains("is up to date (1 query file(s))"),
        "{stdout}"
    );

    // The query's SQL changes, .sqlx/ does not: --check fails and names both files.
    std::fs::write(dir.join("src/lib.rs"), lib_rs("WHERE id > 0")).expect("write");
    let output = persistence(&dir, &["prepare", "--check"]);
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("an error line: {stderr}"));
    assert!(error.contains(".sqlx is out of date: query-"), "{error}");
    assert!(error.contains(&format!("{} (stale)", first[0])), "{error}");
    assert!(error.contains(".json (new)"), "{error}");
    assert!(
        error.contains("; run `persistence prepare` and commit "),
        "{error}"
    );
    assert_eq!(query_files(&dir), first, "--check writes nothing");

    // prepare replaces the stale file.
    assert_success(&persistence(&dir, &["prepare"]), "prepare again");
    let second = query_files(&dir);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first);

    // The crate now builds from .sqlx/ alone: offline, without DATABASE_URL.
    let mut check = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    check
        .args(["check", "--all-targets"])
        .current_dir(&dir)
        .env_remove("DATABASE_URL");
    nested_cargo_env(&mut check);
    check.env("SQLX_OFFLINE", "true");
    let output = check.output().expect("run cargo check");
    let (_, stderr) = texts(&output);
    assert!(output.status.success(), "offline build: {stderr}");
}
