//! `persistence dev`: starts a throwaway PostgreSQL with the harness's backends, migrates a
//! database, prints a `DATABASE_URL` that works and the health report, and removes it all
//! when it exits: at once with `--once`, on SIGTERM otherwise (exit 0 both ways).
//!
//! Each test gives the command a private `PERSISTENCE_STATE_DIR` (its server lives in
//! `<dir>/dev`) and a database name of its own, so tests never share a server or database.

// The SIGTERM test, and what only it uses, is Unix-only.
#![cfg_attr(not(unix), allow(unused_imports, dead_code))]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use persistence::ephemeral::BackendKind;
use sqlx::{Connection, PgConnection};

use crate::support::cli::{cli, texts, wait_with_timeout};
use crate::support::schema;
use crate::support::server::{backend, url_for};
use crate::support::tempdir::temp_dir;

/// The tests' schema, which they hand to `dev` with `--source`.
const MIGRATIONS: i64 = schema::MIGRATIONS as i64;

fn database_name(tag: &str) -> String {
    format!("persistence_dev_{tag}_{}", std::process::id())
}

pub(crate) fn dev(state: &Path, args: &[&str]) -> std::process::Command {
    let mut all = vec!["dev"];
    all.extend(args);
    let mut command = cli(state, &all);
    command.env("PERSISTENCE_STATE_DIR", state);
    command
}

/// `DATABASE_URL=...` from the output.
pub(crate) fn database_url(stdout: &str) -> String {
    let urls: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("DATABASE_URL="))
        .collect();
    assert_eq!(urls.len(), 1, "one DATABASE_URL line: {stdout}");
    urls[0].to_owned()
}

/// The URL's shape: postgres://, loopback, our database, and the server's generated password
/// (an external server's own is masked).
fn assert_url_shape(url: &str, database: &str, backend: BackendKind) {
    let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(parsed.scheme(), "postgres");
    assert_eq!(parsed.path(), format!("/{database}"));
    assert!(parsed.port().is_some(), "{url}");
    if backend == BackendKind::External {
        assert!(matches!(parsed.password(), None | Some("***")), "{url}");
    } else {
        assert_eq!(parsed.host_str(), Some("127.0.0.1"), "{url}");
        assert_eq!(parsed.username(), "postgres");
        // The server's generated password: the URL works as printed.
        let password = parsed.password().unwrap_or_default();
        assert!(password.len() >= 32, "a generated password: {url}");
    }
}

/// A URL with credentials for `database` on the server `dev` used.
async fn usable(url: &str, database: &str, backend: BackendKind) -> String {
    if backend == BackendKind::External {
        url_for(database).await
    } else {
        url.to_owned()
    }
}

/// What the state file said about the server while it ran.
struct ServerRecord {
    instance_dir: Option<PathBuf>,
    container_id: Option<String>,
    pids: Vec<u32>,
}

fn server_record(dev_state: &Path) -> ServerRecord {
    let text = std::fs::read(dev_state.join("server.json")).expect("server.json while it runs");
    let state: serde_json::Value = serde_json::from_slice(&text).expect("JSON");
    let pid = |key: &str| state[key].as_u64().and_then(|p| u32::try_from(p).ok());
    ServerRecord {
        instance_dir: state["instance_dir"].as_str().map(PathBuf::from),
        container_id: state["container_id"].as_str().map(str::to_owned),
        pids: [pid("supervisor_pid"), pid("postmaster_pid")]
            .into_iter()
            .flatten()
            .collect(),
    }
}

fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    state.is_some_and(|s| !matches!(s, 'Z' | 'X'))
}

/// Nothing of the server is left: no state file, data directory, process or container.
fn assert_nothing_left(dev_state: &Path, record: Option<&ServerRecord>) {
    assert!(
        !dev_state.join("server.json").exists(),
        "the state file outlived the command"
    );
    let Some(record) = record else { return };
    if let Some(dir) = &record.instance_dir {
        assert!(!dir.exists(), "{} outlived the command", dir.display());
    }
    for pid in &record.pids {
        assert!(!alive(*pid), "process {pid} outlived the command");
    }
    if let Some(container) = &record.container_id {
        let listed = std::process::Command::new("docker")
            .args(["ps", "-a", "-q", "--no-trunc", "--filter"])
            .arg(format!("id={container}"))
            .output()
            .expect("docker ps");
        assert!(
            String::from_utf8_lossy(&listed.stdout).trim().is_empty(),
            "container {container} outlived the command"
        );
    }
}

/// The server named in the last line of `starts.log` (the supervisor appends each start).
fn last_start(dev_state: &Path) -> ServerRecord {
    let log = std::fs::read_to_string(dev_state.join("starts.log")).expect("starts.log");
    let place = log
        .lines()
        .last()
        .and_then(|line| line.splitn(4, ' ').nth(3))
        .unwrap_or_default()
        .to_owned();
    ServerRecord {
        instance_dir: (!place.is_empty() && !place.starts_with("container:"))
            .then(|| PathBuf::from(&place)),
        container_id: place.strip_prefix("container:").map(str::to_owned),
        pids: Vec::new(),
    }
}

async fn database_exists_on_the_test_server(name: &str) -> bool {
    let server = persistence::ephemeral::server().await.expect("server");
    let mut admin = PgConnection::connect_with(server.admin_options())
        .await
        .expect("admin");
    let exists = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .expect("pg_database");
    let _ = admin.close().await;
    exists
}

#[tokio::test]
async fn dev_once_migrates_prints_a_url_and_health_then_removes_everything() {
    let backend = backend().await;
    let state = temp_dir("cli-dev-once");
    let database = database_name("once");
    let source = schema::migrations_arg();
    let output: Output = dev(
        state.path(),
        &["--once", "--database", &database, "--source", &source],
    )
    .output()
    .expect("the binary runs");
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");

    let url = database_url(&stdout);
    assert_url_shape(&url, &database, backend);
    assert!(
        stdout.contains(&format!(
            "created database `{database}`; applied {MIGRATIONS} migration(s), {MIGRATIONS} in all, \
             from {source}"
        )),
        "{stdout}"
    );
    let health = stdout
        .lines()
        .find(|l| l.starts_with("pass: PostgreSQL "))
        .unwrap_or_else(|| panic!("a passing health report: {stdout}"));
    assert!(health.contains(" answered SELECT 1 in "), "{health}");
    assert!(!stdout.contains("ready:"), "--once does not wait: {stdout}");

    let dev_state = state.path().join("dev");
    if backend == BackendKind::External {
        assert!(stdout.contains("the external server is not"), "{stdout}");
        assert!(!database_exists_on_the_test_server(&database).await);
    } else {
        assert!(
            stdout.contains("removed the PostgreSQL server and its data"),
            "{stdout}"
        );
        assert_nothing_left(&dev_state, Some(&last_start(&dev_state)));
        // The URL it printed led to the server that is now gone.
        let refused = PgConnection::connect(&url).await;
        assert!(refused.is_err(), "the server still answers at {url}");
    }
}

// SIGTERM is a Unix signal.
#[cfg(unix)]
#[tokio::test]
async fn dev_serves_a_working_url_until_sigterm_then_exits_0_leaving_nothing() {
    let backend = backend().await;
    let state = temp_dir("cli-dev-sigterm");
    let dev_state = state.path().join("dev");
    let database = database_name("sigterm");
    let source = schema::migrations_arg();
    let mut command = dev(
        state.path(),
        &["--database", &database, "--source", &source],
    );
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn dev");

    // Read stdout on a thread; hand over every line.
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.iter().any(|l: &String| l.starts_with("ready:")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("dev never got ready: {}", seen.join("\n"));
            }
        }
    }
    let printed = seen.join("\n");
    let url = database_url(&printed);
    assert_url_shape(&url, &database, backend);
    assert!(
        printed.lines().any(|l| l.starts_with("pass: PostgreSQL ")),
        "{printed}"
    );
    let record = (backend != BackendKind::External).then(|| server_record(&dev_state));

    // The URL works: the migrated schema is there and takes writes.
    let mut connection = PgConnection::connect(&usable(&url, &database, backend).await)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    let (current, applied): (String, i64) = sqlx::query_as(
        "SELECT current_database(), (SELECT count(*) FROM _sqlx_migrations WHERE success)",
    )
    .fetch_one(&mut connection)
    .await
    .expect("query");
    assert_eq!(current, database);
    assert_eq!(applied, MIGRATIONS);
    sqlx::query("INSERT INTO users (email, display_name) VALUES ('ada@example.com', 'Ada')")
        .execute(&mut connection)
        .await
        .expect("insert");
    connection.close().await.expect("close");

    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = wait_with_timeout(&mut child, Duration::from_secs(60));
    let _ = reader.join();
    seen.extend(lines_rx.try_iter());
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    let printed = seen.join("\n");
    let status = status.unwrap_or_else(|| panic!("dev did not exit: {printed}\n{stderr}"));
    assert_eq!(status.code(), Some(0), "{printed}\n{stderr}");

    if backend == BackendKind::External {
        assert!(
            printed.contains(&format!("dropped database `{database}`")),
            "{printed}"
        );
        assert!(!database_exists_on_the_test_server(&database).await);
    } else {
        assert!(
            printed.contains("removed the PostgreSQL server and its data"),
            "{printed}"
        );
        assert_nothing_left(&dev_state, record.as_ref());
        assert!(PgConnection::connect(&url).await.is_err(), "still answers");
    }
}

/// A `dev` that runs until SIGTERM, once it printed `ready:`; and what it printed so far.
fn start_serving(state: &Path, database: &str) -> (std::process::Child, Vec<String>) {
    let source = schema::migrations_arg();
    serve_until_ready(dev(state, &["--database", database, "--source", &source]))
}

/// Spawns the `dev` of `command` and waits (up to 60 s) until it printed `ready:`; returns it
/// running and what it printed so far.
pub(crate) fn serve_until_ready(mut command: Command) -> (std::process::Child, Vec<String>) {
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = command.spawn().expect("spawn dev");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.iter().any(|l: &String| l.starts_with("ready:")) {
        match lines_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("dev never got ready: {}", seen.join("\n"));
            }
        }
    }
    (child, seen)
}

#[cfg(unix)]
#[tokio::test]
async fn a_second_dev_once_joins_the_running_server_and_says_so() {
    let backend = backend().await;
    let state = temp_dir("cli-dev-second");
    let dev_state = state.path().join("dev");
    let (mut first, _) = start_serving(state.path(), &database_name("first"));
    let record = (backend != BackendKind::External).then(|| server_record(&dev_state));

    let second_database = database_name("second");
    let source = schema::migrations_arg();
    let output = dev(
        state.path(),
        &[
            "--once",
            "--database",
            &second_database,
            "--source",
            &source,
        ],
    )
    .output()
    .expect("the binary runs");
    let (stdout, stderr) = texts(&output);

    let pid = libc::pid_t::try_from(first.id()).expect("pid");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = wait_with_timeout(&mut first, Duration::from_secs(60));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "the first dev exits 0"
    );

    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    if backend == BackendKind::External {
        // Both only create databases on the external server: nothing to join.
        assert!(stdout.contains("the external server is not"), "{stdout}");
        return;
    }
    assert!(stdout.starts_with("joined the PostgreSQL "), "{stdout}");
    assert!(
        stdout.contains("of another running `persistence dev`; it stays until that one exits"),
        "{stdout}"
    );
    assert!(!stdout.contains("started PostgreSQL"), "{stdout}");
    assert!(
        stdout.contains(&format!("created database `{second_database}`")),
        "{stdout}"
    );
    assert!(
        stdout
            .trim_end()
            .ends_with("which removes it when it exits"),
        "{stdout}"
    );
    // The first one removed the server it started, with everything on it.
    assert_nothing_left(&dev_state, record.as_ref());
}

#[test]
fn dev_errors_are_one_line() {
    let state = temp_dir("cli-dev-errors");
    let one_line = |output: Output| {
        let (stdout, stderr) = texts(&output);
        assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
        assert_eq!(stdout, "", "{stdout}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        stderr
    };
    let line = one_line(
        dev(
            state.path(),
            &["--once", "--database-url", "postgres://u:pw@localhost/app"],
        )
        .output()
        .expect("runs"),
    );
    assert!(line.contains("TEST_DATABASE_URL"), "{line}");
    assert!(!line.contains("pw@"), "{line}");

    let line = one_line(
        dev(state.path(), &["--once", "--database", "no such name"])
            .output()
            .expect("runs"),
    );
    assert!(line.contains("not a usable database name"), "{line}");

    // No PostgreSQL binaries where it is told to look.
    let mut command = dev(state.path(), &["--once"]);
    command
        .env("PERSISTENCE_TEST_BACKEND", "native")
        .env("PERSISTENCE_PG_BIN", "/nonexistent/postgresql/bin");
    let line = one_line(command.output().expect("runs"));
    assert!(line.starts_with("error: no development server: "), "{line}");
    assert!(line.contains("PERSISTENCE_PG_BIN"), "{line}");
    assert!(!state.path().join("dev").join("server.json").exists());
}
