//! How `persistence studio` starts: without a database it says in one line how to get one;
//! a port in use is named with the way out (`--port 0`); `--open` without a browser opener
//! is only a warning, and the page is served all the same.

use std::process::Command;

use persistence::db_test;
use persistence::testing::TestDb;

use crate::support::cli::{cli, texts};
use crate::support::server::url_for;
use crate::support::studio::Studio;
use crate::support::tempdir::temp_dir;

/// Runs `command`, which must fail with one line on stderr and nothing on stdout; returns
/// the line.
fn one_line_failure(mut command: Command) -> String {
    let output = command.output().expect("run studio");
    let (stdout, stderr) = texts(&output);
    assert!(!output.status.success());
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn without_a_database_it_says_how_to_get_one() {
    let dir = temp_dir("studio-none");
    let state = dir.path().join("state");
    let mut command = cli(dir.path(), &["studio", "--port", "0"]);
    command.env("PERSISTENCE_STATE_DIR", &state);
    let stderr = one_line_failure(command);
    assert!(
        stderr.starts_with("error: no database to open: DATABASE_URL is not set")
            && stderr.contains("pass --database-url")
            && stderr.contains("DATABASE_URL")
            && stderr.contains("`persistence dev`"),
        "{stderr}"
    );
}

#[test]
fn a_server_that_does_not_answer_is_named_by_host_and_port() {
    let dir = temp_dir("studio-unreachable");
    // Nothing listens on port 1.
    let url = "postgres://app:s3cret-pw@127.0.0.1:1/app";
    let stderr = one_line_failure(cli(
        dir.path(),
        &["studio", "--port", "0", "--database-url", url],
    ));
    assert!(
        stderr.starts_with("error: cannot reach the database server: 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
}

#[db_test(isolation = "database", migrations = false)]
async fn a_busy_port_is_named_and_open_failing_is_a_warning(db: TestDb) {
    let dir = temp_dir("studio-start");
    let url = url_for(db.name()).await;
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("address").port().to_string();
    let output = cli(
        dir.path(),
        &["studio", "--port", &port, "--database-url", &url],
    )
    .output()
    .expect("run studio");
    let (_, stderr) = texts(&output);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("listening on 127.0.0.1:{port}")) && stderr.contains("--port 0"),
        "{stderr}"
    );
    drop(busy);

    // No opener on PATH: a warning, and the studio serves.
    let mut command = cli(
        dir.path(),
        &["studio", "--port", "0", "--open", "--database-url", &url],
    );
    command.env("PATH", dir.path());
    let studio = Studio::spawn(command);
    assert_eq!(studio.get("/").status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !studio
        .output()
        .contains("warning: could not open a browser")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no warning: {}",
            studio.output()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
