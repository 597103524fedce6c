//! `persistence generate`: Rust row types from the migrated schema, byte-stable and
//! rustfmt-clean; `--check` names the table a migration changed; an unmappable column type
//! is one line naming the column and the override that fixes it.
//!
//! Every test works on copies of migrations in a temporary directory, never on the
//! repository's own files. `models.rs` beside this file is what `generate` makes of the
//! tests' schema; the first test checks that it is up to date.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::cli::{cli, texts};
use crate::support::schema;
use crate::support::server::url_for;
use crate::support::tempdir::temp_dir;

/// The models of the tests' schema, as `persistence generate` writes them.
fn committed_models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/models.rs")
}

fn generate(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["generate"];
    all.extend(args);
    cli(dir, &all).output().expect("run persistence generate")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A migration directory holding one migration with `sql`.
fn migrations_with(dir: &Path, sql: &str) -> PathBuf {
    let target = dir.join("migrations");
    std::fs::create_dir_all(&target).expect("create");
    std::fs::write(target.join("20260101000001_schema.sql"), sql).expect("write");
    target
}

/// One `error:` line; the harness's note on the backend it chose (`persistence: test server
/// backend: ...`, printed when `auto` chose) may precede it.
fn assert_one_error_line(stderr: &str) {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.starts_with("persistence: test server backend"))
        .collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
}

/// The `error:` line.
fn error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|line| line.starts_with("error: "))
        .unwrap_or(stderr)
}

#[test]
fn check_passes_on_the_checkout_then_names_the_table_a_migration_changed() {
    let scratch = temp_dir("generate-check");
    let dir = scratch.path();
    let output = generate(
        dir,
        &[
            "--check",
            "--out",
            path(&committed_models()),
            "--source",
            path(&schema::migrations()),
        ],
    );
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("is up to date (4 table(s)"), "{stdout}");

    // A new migration adds a column: the copy of the models is now stale.
    let migrations = schema::copy_migrations(dir);
    std::fs::write(
        migrations.join("20260201000001_add_users_nickname.sql"),
        "ALTER TABLE users ADD COLUMN nickname text;\n\
         COMMENT ON COLUMN users.nickname IS 'Shown instead of the display name.';\n",
    )
    .expect("write migration");
    let models = dir.join("models.rs");
    std::fs::copy(committed_models(), &models).expect("copy models");
    let args = ["--out", path(&models), "--source", path(&migrations)];
    let mut check = vec!["--check"];
    check.extend(args);

    let output = generate(dir, &check);
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_one_error_line(&stderr);
    assert!(
        stderr.contains("is out of date: table users changed (added `nickname`)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("run `persistence generate --out"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&models).expect("read"),
        std::fs::read(committed_models()).expect("read"),
        "--check writes nothing"
    );

    let output = generate(dir, &args);
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    let text = std::fs::read_to_string(&models).expect("read");
    assert!(
        text.contains(
            "    /// Shown instead of the display name.\n    ///\n    /// Column `nickname`: \
             `text`, nullable.\n    pub nickname: Option<String>,\n}"
        ),
        "{text}"
    );
    let output = generate(dir, &check);
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
}

/// A schema with every kind of column the generator maps.
const RICH_SCHEMA: &str = r#"
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE mood AS ENUM ('happy', 'so-so', 'in progress');
COMMENT ON TYPE mood IS 'How a [person] feels.';
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE DOMAIN label AS text NOT NULL;
CREATE TABLE people (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email citext NOT NULL,
    tags text[] NOT NULL DEFAULT '{}',
    scores integer[],
    mood mood NOT NULL DEFAULT 'happy',
    past_moods mood[],
    age positive_int,
    nick label,
    "type" text,
    "Display Name" varchar(40),
    ratio double precision,
    active boolean NOT NULL DEFAULT true,
    photo bytea,
    born date,
    settings json,
    seen_at timestamp,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE people IS 'People.
Second line <b>bold</b>.';
COMMENT ON COLUMN people.email IS 'Unique regardless of case.';
CREATE TABLE categories (id smallint PRIMARY KEY, name text NOT NULL);
"#;

#[test]
fn every_mapped_type_in_stable_rustfmt_clean_output() {
    let scratch = temp_dir("generate-rich");
    let dir = scratch.path();
    let migrations = migrations_with(dir, RICH_SCHEMA);
    let run = || {
        let output = generate(dir, &["--source", path(&migrations)]);
        let (stdout, stderr) = texts(&output);
        assert!(output.status.success(), "{stderr}");
        stdout
    };
    let first = run();
    // Same schema, same bytes: on a new server and database, too.
    assert_eq!(run(), first);

    for expected in [
        "/// How a \\[person\\] feels.\n///\n/// The PostgreSQL enum `mood`.\n",
        "#[sqlx(type_name = \"mood\")]\npub enum Mood {\n",
        "    #[sqlx(rename = \"so-so\")]\n    #[serde(rename = \"so-so\")]\n    SoSo,\n",
        "    InProgress,\n}",
        "/// People.\n/// Second line \\<b\\>bold\\</b\\>.\n///\n/// A row of `people`.\n",
        "#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]\npub struct Person {\n",
        "    /// Unique regardless of case.\n    ///\n    /// Column `email`: `citext`, not null.\n    pub email: String,\n",
        "    pub tags: Vec<String>,\n",
        "    pub scores: Option<Vec<i32>>,\n",
        "    pub mood: Mood,\n",
        "    pub past_moods: Option<Vec<Mood>>,\n",
        "    /// Column `age`: `positive_int`, nullable.\n    pub age: Option<i32>,\n",
        "    pub nick: String,\n",
        "    #[sqlx(rename = \"type\")]\n    #[serde(rename = \"type\")]\n    pub type_: Option<String>,\n",
        "    /// Column `Display Name`: `character varying(40)`, nullable.\n    #[sqlx(rename = \"Display Name\")]\n    #[serde(rename = \"Display Name\")]\n    pub display_name: Option<String>,\n",
        "    pub ratio: Option<f64>,\n",
        "    pub active: bool,\n",
        "    pub photo: Option<Vec<u8>>,\n",
        "    pub born: Option<chrono::NaiveDate>,\n",
        "    pub settings: Option<serde_json::Value>,\n",
        "    pub seen_at: Option<chrono::NaiveDateTime>,\n",
        "    pub created_at: chrono::DateTime<chrono::Utc>,\n}",
        "#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]\npub struct Category {\n    /// Column `id`: `smallint`, not null.\n    pub id: i16,\n",
    ] {
        assert!(
            first.contains(expected),
            "missing {expected:?} in:\n{first}"
        );
    }
    // Items in a fixed order: enums, then tables by name.
    let order: Vec<usize> = ["pub enum Mood", "pub struct Category", "pub struct Person"]
        .iter()
        .map(|item| first.find(item).expect("present"))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");

    // rustfmt leaves it as it is (checked when rustfmt is installed, as with rustup).
    let file = dir.join("models.rs");
    std::fs::write(&file, &first).expect("write");
    if let Ok(status) = Command::new("rustfmt")
        .args(["--edition", "2024", "--check"])
        .arg(&file)
        .status()
    {
        assert!(status.success(), "rustfmt would change:\n{first}");
    }
}

#[test]
fn an_unmappable_type_names_the_column_and_the_override() {
    let scratch = temp_dir("generate-unmappable");
    let dir = scratch.path();
    let migrations = migrations_with(
        dir,
        "CREATE TABLE shapes (id bigint PRIMARY KEY, center point NOT NULL, corners point[]);",
    );
    let output = generate(dir, &["--source", path(&migrations)]);
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert_one_error_line(&stderr);
    assert_eq!(
        error_line(&stderr),
        "error: cannot map column `shapes.center` of type `point` to a Rust type: add \
         `--type point=path::To::RustType` (a type that implements sqlx's Decode for it)"
    );

    let output = generate(
        dir,
        &[
            "--source",
            path(&migrations),
            "--type",
            "point=sqlx::postgres::types::PgPoint",
        ],
    );
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("    pub center: sqlx::postgres::types::PgPoint,\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("    pub corners: Option<Vec<sqlx::postgres::types::PgPoint>>,\n"),
        "{stdout}"
    );
    // An overridden type may not be `Eq`: the struct does not claim it.
    assert!(
        stdout.contains("#[derive(Debug, Clone, PartialEq, sqlx::FromRow"),
        "{stdout}"
    );
}

#[test]
fn check_needs_a_file_and_a_missing_one_is_out_of_date() {
    let scratch = temp_dir("generate-missing");
    let dir = scratch.path();
    let output = generate(dir, &["--check"]);
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let migrations = migrations_with(dir, "CREATE TABLE things (id bigint PRIMARY KEY);");
    let missing = dir.join("nowhere.rs");
    let output = generate(
        dir,
        &[
            "--check",
            "--out",
            path(&missing),
            "--source",
            path(&migrations),
        ],
    );
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_one_error_line(&stderr);
    assert!(stderr.contains("the file does not exist"), "{stderr}");
    assert!(!missing.exists());
}

/// With `--database-url`, an existing (here: the test's migrated) database is read as it is.
#[persistence::db_test(isolation = "database", migrations = "tests/cli/migrations")]
async fn an_existing_database_is_read_with_database_url(pool: sqlx::PgPool) {
    let database = pool
        .connect_options()
        .get_database()
        .expect("a database")
        .to_owned();
    let url = url_for(&database).await;
    let scratch = temp_dir("generate-url");
    let output = generate(
        scratch.path(),
        &[
            "--database-url",
            &url,
            "--check",
            "--out",
            path(&committed_models()),
        ],
    );
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("is up to date (4 table(s)"), "{stdout}");
}
