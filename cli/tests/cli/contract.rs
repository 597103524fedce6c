//! The command-line contract that needs no server: exit codes, one-line errors without
//! passwords, refusals before any connection, and `migrate add`.
//!
//! Commands that talk to a server use a unix socket directory that does not exist, so they
//! fail at once with "unreachable" on any machine.

use std::path::Path;
use std::process::Output;

use crate::support::cli::{cli, output_with_stdin};
use crate::support::tempdir::{TempDir, temp_dir};

const PASSWORD: &str = "hunter2-cli";

/// A URL whose server cannot exist: its socket directory is missing.
fn unreachable_url() -> String {
    format!("postgres://app:{PASSWORD}@localhost/app?host=/nonexistent-persistence-socket-dir")
}

/// A fresh empty directory, so no `.env` of the repository is found.
fn scratch_dir(name: &str) -> TempDir {
    temp_dir(&format!("cli-{name}"))
}

/// A scratch directory with an empty `migrations/`, the default source, so that commands get
/// as far as connecting.
fn project_dir(name: &str) -> TempDir {
    let dir = scratch_dir(name);
    std::fs::create_dir_all(dir.path().join("migrations")).expect("create migrations");
    dir
}

/// Runs the binary with a backtrace asked for (an error must still be one line).
fn persistence(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut command = cli(dir, args);
    command.env("RUST_BACKTRACE", "1");
    output_with_stdin(command, stdin)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit code 1 and exactly one `error:` line on stderr without the password.
fn assert_one_line_error(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "stderr: {}",
        text(&output.stderr)
    );
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "password leaked: {stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    lines[0].to_owned()
}

#[test]
fn help_lists_the_commands() {
    let output = persistence(scratch_dir("help").path(), &["--help"], "");
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    for command in ["migrate", "db", "health", "dev"] {
        assert!(stdout.contains(command), "{stdout}");
    }
}

#[test]
fn usage_errors_exit_with_2() {
    let output = persistence(scratch_dir("usage").path(), &["migrate", "nonsense"], "");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_missing_database_url_says_how_to_set_it() {
    let output = persistence(
        scratch_dir("missing-url").path(),
        &["migrate", "status"],
        "",
    );
    let line = assert_one_line_error(&output);
    assert!(line.starts_with("error: DATABASE_URL is not set"), "{line}");
}

#[test]
fn a_bad_parameter_is_named_with_its_value() {
    let url = format!("postgres://app:{PASSWORD}@localhost/app?connection_limit=-1");
    let output = persistence(
        scratch_dir("bad-param").path(),
        &["migrate", "run", "--database-url", &url],
        "",
    );
    let line = assert_one_line_error(&output);
    assert!(
        line.contains("invalid connection_limit `-1` in the database URL"),
        "{line}"
    );
}

#[test]
fn a_bad_environment_override_is_named() {
    let dir = scratch_dir("bad-env");
    let output = cli(
        dir.path(),
        &["health", "--database-url", &unreachable_url()],
    )
    .env("PERSISTENCE_POOL_TIMEOUT", "soon")
    .output()
    .expect("runs");
    let line = assert_one_line_error(&output);
    assert!(
        line.contains("in environment variable PERSISTENCE_POOL_TIMEOUT"),
        "{line}"
    );
}

#[test]
fn the_database_url_may_come_from_a_dotenv_file() {
    let dir = project_dir("dotenv");
    std::fs::write(
        dir.path().join(".env"),
        format!("DATABASE_URL={}\n", unreachable_url()),
    )
    .expect("write .env");
    let output = persistence(dir.path(), &["migrate", "status"], "");
    let line = assert_one_line_error(&output);
    assert!(
        line.starts_with("error: cannot reach the database server"),
        "{line}"
    );
}

#[test]
fn an_unreachable_server_is_one_line() {
    let dir = project_dir("unreachable");
    for args in [
        vec!["migrate", "run"],
        vec!["migrate", "status"],
        vec!["migrate", "revert"],
    ] {
        let url = unreachable_url();
        let mut args = args.clone();
        args.extend(["--database-url", &url]);
        let output = persistence(dir.path(), &args, "");
        let line = assert_one_line_error(&output);
        assert!(
            line.starts_with("error: cannot reach the database server"),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn health_fails_with_exit_1_and_a_category() {
    let dir = scratch_dir("health");
    let url = unreachable_url();
    let output = persistence(
        dir.path(),
        &["health", "--database-url", &url, "--timeout-ms", "500"],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("fail (unreachable): "), "{stdout}");
    assert!(!stdout.contains(PASSWORD));

    let output = persistence(
        dir.path(),
        &["health", "--json", "--database-url", &url],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(report["status"], "fail");
    assert_eq!(report["category"], "unreachable");
    assert_eq!(
        report["checks"]["postgres:responseTime"][0]["status"],
        "fail"
    );
    assert!(!text(&output.stdout).contains(PASSWORD));
}

#[test]
fn db_reset_refuses_remote_servers_before_connecting() {
    let url = format!("postgres://app:{PASSWORD}@db.example.invalid:5432/app");
    let output = persistence(
        scratch_dir("reset-remote").path(),
        &["db", "reset", "--yes", "--database-url", &url],
        "",
    );
    let line = assert_one_line_error(&output);
    assert!(
        line.starts_with("error: refusing to reset database `app` on db.example.invalid:5432"),
        "{line}"
    );
    assert!(line.contains("--force"), "{line}");
}

#[test]
fn db_reset_asks_first_and_no_means_no() {
    let url = unreachable_url();
    let output = persistence(
        project_dir("reset-no").path(),
        &["db", "reset", "--database-url", &url],
        "n\n",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("This drops database `app`"), "{stderr}");
    assert!(
        stderr.contains("error: aborted: the database was left untouched"),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD));
}

#[test]
fn migrate_add_creates_a_reversible_pair() {
    let dir = scratch_dir("add");
    let output = persistence(
        dir.path(),
        &[
            "migrate",
            "add",
            "create",
            "widgets",
            "--source",
            "db/migrations",
        ],
        "",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let created: Vec<&str> = stdout
        .lines()
        .map(|l| l.trim_start_matches("created "))
        .collect();
    assert_eq!(created.len(), 2, "{stdout}");
    assert!(created[0].ends_with("_create_widgets.up.sql"), "{stdout}");
    assert!(created[1].ends_with("_create_widgets.down.sql"), "{stdout}");
    for file in created {
        assert!(dir.path().join(file).is_file(), "{file}");
    }
    let output = persistence(
        dir.path(),
        &["migrate", "add", "!!", "--dir", "db/migrations"],
        "",
    );
    let line = assert_one_line_error(&output);
    assert!(line.contains("not a usable migration name"), "{line}");
}

/// The version of a created file (`<version>_<name>.up.sql`), checked to be a real UTC time.
fn valid_version(path: &str) -> i64 {
    let name = Path::new(path)
        .file_name()
        .expect("a file")
        .to_string_lossy();
    let digits = name.split('_').next().expect("a version");
    assert_eq!(digits.len(), 14, "{name}");
    let field = |range: std::ops::Range<usize>| -> u32 { digits[range].parse().expect("digits") };
    assert!((1..=12).contains(&field(4..6)), "month of {name}");
    assert!((1..=31).contains(&field(6..8)), "day of {name}");
    assert!(field(8..10) < 24, "hour of {name}");
    assert!(field(10..12) < 60, "minute of {name}");
    assert!(field(12..14) < 60, "second of {name}");
    digits.parse().expect("a number")
}

fn added(dir: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["migrate", "add"];
    all.extend(args);
    let output = persistence(dir, &all, "");
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .map(|l| l.trim_start_matches("created ").to_owned())
        .collect()
}

#[test]
fn migrate_add_twice_in_one_second_gives_ordered_valid_versions() {
    let dir = scratch_dir("add-twice");
    // Without --source: ./migrations, created.
    let first = added(dir.path(), &["one"]);
    let second = added(dir.path(), &["two"]);
    assert!(first[0].starts_with("migrations/"), "{first:?}");
    let (a, b) = (valid_version(&first[0]), valid_version(&second[0]));
    assert!(b > a, "{a} then {b}");
    // Made at the last second of a year, the next one is the next year's first second.
    std::fs::write(dir.path().join("migrations/20991231235959_late.up.sql"), "").expect("write");
    let third = added(dir.path(), &["after", "late"]);
    assert_eq!(valid_version(&third[0]), 21000101000000, "{third:?}");
    // `--dir`, the old spelling of --source, still works.
    let old = added(dir.path(), &["old", "flag", "--dir", "elsewhere"]);
    assert!(old[0].starts_with("elsewhere/"), "{old:?}");
}

#[test]
fn a_missing_source_directory_is_named() {
    let dir = scratch_dir("nosuchdir");
    let url = unreachable_url();
    for command in [["migrate", "status"], ["migrate", "run"], ["db", "reset"]] {
        let mut args = command.to_vec();
        args.extend(["--source", "nosuchdir", "--yes", "--database-url", &url]);
        if command[0] == "migrate" {
            args.retain(|a| *a != "--yes");
        }
        let line = assert_one_line_error(&persistence(dir.path(), &args, ""));
        assert!(
            line.starts_with("error: migrations directory `nosuchdir` does not exist (looked for "),
            "{line}"
        );
        assert!(
            line.contains(&dir.path().join("nosuchdir").display().to_string()),
            "{line}"
        );
        assert!(!line.contains("canonicalizing"), "{line}");
    }
    // No directory at all, and none named: says where it looked and how to start.
    let line = assert_one_line_error(&persistence(
        dir.path(),
        &["migrate", "status", "--database-url", &url],
        "",
    ));
    assert!(
        line.starts_with("error: no migrations directory: looked for "),
        "{line}"
    );
    assert!(line.contains("persistence migrate add NAME"), "{line}");
}
