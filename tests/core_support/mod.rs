//! Helpers of the production core's integration tests (`core_*.rs`, `cli_*.rs`): usable URLs
//! for the harness's databases, ports nobody listens on, a role whose password the server
//! checks, and the `persistence` binary with a clean environment.

#![allow(dead_code)]

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use persistence::ephemeral::BackendKind;
use persistence::postgres::ErrorCategory;
use sqlx::{Connection, PgConnection};

/// A URL with credentials that works for `database` on the test server: the harness's
/// display URL (trust authentication, no password), or for an external server
/// `TEST_DATABASE_URL` with its password, pointed at `database`.
pub async fn url_for(database: &str) -> String {
    let server = persistence::ephemeral::server().await.expect("test server");
    if server.backend() == BackendKind::External
        && let Ok(external) = std::env::var("TEST_DATABASE_URL")
    {
        let mut url = url::Url::parse(&external).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{database}"));
        return url.to_string();
    }
    server.display_url(database)
}

/// The test server's backend.
pub async fn backend() -> BackendKind {
    persistence::ephemeral::server()
        .await
        .expect("test server")
        .backend()
}

/// `url` with more query parameters.
pub fn with_params(url: &str, params: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{params}")
}

/// A loopback port that was free a moment ago: connecting to it is refused at once.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

/// `host:port` of a URL.
pub fn host_port(url: &str) -> (String, u16) {
    let url = url::Url::parse(url).expect("a URL");
    (
        url.host_str().expect("a host").to_owned(),
        url.port().unwrap_or(5432),
    )
}

/// Waits until `condition` holds, up to `limit`; `false` if it never did.
pub async fn eventually(limit: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Credentials the server really checks: a right and a wrong URL for `database`.
pub struct PasswordUrls {
    /// The role and its password.
    pub right: String,
    /// The same role with a wrong password.
    pub wrong: String,
    /// The wrong password, to check it never shows.
    pub wrong_password: &'static str,
}

const WRONG_PASSWORD: &str = "wrong-Pa55word-7f3c";

/// Runs `body` with URLs whose password the server checks.
///
/// Servers the harness starts (native, docker) trust every loopback connection, so a wrong
/// password would be accepted. For the length of `body`, a role of its own gets a
/// `pg_hba.conf` line of its own (`md5`, which checks SCRAM secrets too) at the top of the
/// server's file, then the file is restored; other roles are not affected. Rewriting the
/// file is serialized by an advisory lock. An external server checks passwords itself: its
/// own role is used, with the password replaced. Returns `None` (and runs nothing) only when
/// an external server does not check passwords.
pub async fn with_checked_password<F, Fut>(database: &str, body: F) -> Option<()>
where
    F: FnOnce(PasswordUrls) -> Fut,
    Fut: Future<Output = ()>,
{
    if backend().await == BackendKind::External {
        let right = url_for(database).await;
        let mut wrong = url::Url::parse(&right).expect("a URL");
        wrong
            .set_password(Some(WRONG_PASSWORD))
            .expect("a URL with credentials");
        let wrong = wrong.to_string();
        if PgConnection::connect(&wrong).await.is_ok() {
            eprintln!("the external server accepts any password: wrong-password case not run");
            return None;
        }
        body(PasswordUrls {
            right,
            wrong,
            wrong_password: WRONG_PASSWORD,
        })
        .await;
        return Some(());
    }

    let server = persistence::ephemeral::server().await.expect("test server");
    let mut admin = PgConnection::connect_with(server.admin_options())
        .await
        .expect("admin connection");
    sqlx::query("SELECT pg_advisory_lock(hashtextextended('persistence-core-tests-hba', 0))")
        .execute(&mut admin)
        .await
        .expect("hba lock");
    let role = format!("persistence_pw_{}", std::process::id());
    let right_password = "right-Pa55word-1b9e";
    let hba_file: String = sqlx::query_scalar("SELECT current_setting('hba_file')")
        .fetch_one(&mut admin)
        .await
        .expect("hba_file");
    let original: String = sqlx::query_scalar("SELECT pg_read_file(current_setting('hba_file'))")
        .fetch_one(&mut admin)
        .await
        .expect("read pg_hba.conf");
    execute(&mut admin, &format!("DROP ROLE IF EXISTS {role}")).await;
    execute(
        &mut admin,
        &format!("CREATE ROLE {role} LOGIN PASSWORD '{right_password}'"),
    )
    .await;
    let ours = format!(
        "# persistence core tests: {role} must give its password\n\
         local all {role} md5\nhost all {role} all md5\n{original}"
    );
    write_file(&mut admin, &hba_file, &ours).await;
    execute(&mut admin, "SELECT pg_reload_conf()").await;

    let base = server.display_url(database);
    let mut right = url::Url::parse(&base).expect("a URL");
    right.set_username(&role).expect("user");
    right.set_password(Some(right_password)).expect("password");
    let mut wrong = right.clone();
    wrong.set_password(Some(WRONG_PASSWORD)).expect("password");
    let (right, wrong) = (right.to_string(), wrong.to_string());

    // The postmaster rereads the file asynchronously after the reload signal.
    let checked = eventually(
        Duration::from_secs(5),
        async || match PgConnection::connect(&wrong).await {
            Ok(connection) => {
                let _ = connection.close().await;
                false
            }
            Err(error) => {
                persistence::postgres::Error::from(error).category() == ErrorCategory::AuthFailed
            }
        },
    )
    .await;

    let outcome = if checked {
        AssertUnwindSafe(body(PasswordUrls {
            right,
            wrong,
            wrong_password: WRONG_PASSWORD,
        }))
        .catch_unwind()
        .await
    } else {
        Ok(())
    };

    write_file(&mut admin, &hba_file, &original).await;
    execute(&mut admin, "SELECT pg_reload_conf()").await;
    let restored: String = sqlx::query_scalar("SELECT pg_read_file(current_setting('hba_file'))")
        .fetch_one(&mut admin)
        .await
        .expect("read pg_hba.conf");
    // Retried: a session of the role may still hold something while it ends.
    let mut dropped = false;
    for _ in 0..50 {
        let drop = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
            .execute(&mut admin)
            .await;
        if drop.is_ok() {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = admin.close().await;
    assert_eq!(restored, original, "pg_hba.conf restored byte for byte");
    assert!(checked, "the server did not start checking the password");
    assert!(dropped, "role {role} could not be dropped");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    Some(())
}

async fn execute(connection: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *connection)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Writes `text` to `path` on the server, byte for byte: one CSV row per line with quote and
/// delimiter characters that never occur, and empty lines as NULL (written as nothing).
async fn write_file(connection: &mut PgConnection, path: &str, text: &str) {
    let lines: Vec<Option<String>> = text
        .strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .map(|line| (!line.is_empty()).then(|| line.to_owned()))
        .collect();
    execute(
        connection,
        "CREATE TEMP TABLE IF NOT EXISTS persistence_file_lines (n int, line text); \
         TRUNCATE persistence_file_lines",
    )
    .await;
    sqlx::query(
        "INSERT INTO persistence_file_lines \
         SELECT n, line FROM unnest($1::text[]) WITH ORDINALITY AS t(line, n)",
    )
    .bind(&lines)
    .execute(&mut *connection)
    .await
    .expect("stage lines");
    let path = path.replace('\'', "''");
    execute(
        connection,
        &format!(
            "COPY (SELECT line FROM persistence_file_lines ORDER BY n) TO '{path}' \
             WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"
        ),
    )
    .await;
}

/// The `persistence` binary, run in an empty directory (no `.env`), without `DATABASE_URL`,
/// logging or `PERSISTENCE_*` overrides of the configuration (the harness's variables stay,
/// so `dev` chooses its backend as the tests do).
pub fn cli(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_persistence"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        let harness = name.starts_with("PERSISTENCE_TEST_")
            || matches!(
                name.as_str(),
                "PERSISTENCE_PG_BIN" | "PERSISTENCE_STATE_DIR" | "PERSISTENCE_SCENARIO"
            );
        if name.starts_with("PERSISTENCE_") && !harness {
            command.env_remove(name);
        }
    }
    command
}

/// A directory of its own under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "persistence-core-{tag}-{}-{nanos:x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// stdout and stderr of a finished command, as text.
pub fn texts(output: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Waits up to `limit` for `child` to exit; kills and reaps it if it does not.
pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
