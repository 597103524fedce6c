//! `persistence health` against real and broken URLs: exit 0 with a `pass` line on a live
//! database; with a bad URL a non-zero exit and exactly one clear line, never the password.

use std::process::Output;

use persistence::db_test;
use persistence::testing::TestDb;

use crate::support::cli::{cli, texts};
use crate::support::server::{free_port, url_for};
use crate::support::tempdir::temp_dir;

const PASSWORD: &str = "s3cret-cli-health";

fn health(args: &[&str]) -> Output {
    let dir = temp_dir("cli-health");
    let mut all = vec!["health"];
    all.extend(args);
    cli(dir.path(), &all).output().expect("the binary runs")
}

/// Exit 1, one non-empty line in all of stdout and stderr, no password; returns the line.
fn assert_one_clear_line(output: &Output) -> String {
    let (stdout, stderr) = texts(output);
    let everything = format!("{stdout}{stderr}");
    assert_eq!(output.status.code(), Some(1), "{everything}");
    let lines: Vec<&str> = everything
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line expected: {everything}");
    assert!(
        !everything.contains(PASSWORD),
        "password leaked: {everything}"
    );
    lines[0].to_owned()
}

#[db_test(migrations = false)]
async fn a_live_database_passes(db: TestDb) {
    let url = url_for(db.name()).await;
    let output = health(&["--database-url", &url]);
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("pass: PostgreSQL "), "{stdout}");
    assert!(stdout.contains(" answered SELECT 1 in "), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");

    let output = health(&["--json", "--database-url", &url]);
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["status"], "pass");
    assert_eq!(
        report["checks"]["postgres:responseTime"][0]["status"],
        "pass"
    );
    // --warn-ms 0: every answer is too slow, which warns but still exits 0.
    let output = health(&["--warn-ms", "0", "--database-url", &url]);
    let (stdout, _) = texts(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("warn: SELECT 1 took "), "{stdout}");
}

#[db_test(migrations = false)]
async fn a_missing_database_is_one_line(db: TestDb) {
    let url = url_for(&format!("{}_missing", db.name())).await;
    let line = assert_one_clear_line(&health(&["--database-url", &url]));
    assert!(
        line.starts_with("fail (database_missing): the database does not exist: "),
        "{line}"
    );
}

#[test]
fn an_unreachable_server_is_one_line() {
    let url = format!("postgres://app:{PASSWORD}@127.0.0.1:{}/app", free_port());
    let line = assert_one_clear_line(&health(&["--timeout-ms", "500", "--database-url", &url]));
    assert!(
        line.starts_with("fail (unreachable): cannot reach the database server: "),
        "{line}"
    );
}

#[test]
fn malformed_urls_are_one_line_naming_the_problem() {
    for (url, expected) in [
        (format!("mysql://app:{PASSWORD}@localhost/app"), "mysql"),
        (
            format!("postgres://app:{PASSWORD}@localhost:99999/app"),
            "99999",
        ),
        (
            format!("postgres://app:{PASSWORD}@localhost/app?pool_timeout=soon"),
            "pool_timeout",
        ),
        (
            format!("postgres://app:{PASSWORD}@localhost/app?sslmode=sometimes"),
            "sslmode",
        ),
        (
            format!("postgres://app:{PASSWORD}@localhost/app?connection_limit=-4"),
            "connection_limit",
        ),
    ] {
        let line = assert_one_clear_line(&health(&["--database-url", &url]));
        assert!(line.starts_with("error: "), "{url}: {line}");
        assert!(line.contains(expected), "{url}: {line}");
    }
}
