//! A role whose password the server really checks, for the tests of wrong passwords.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use persistence::ephemeral::BackendKind;
use persistence::postgres::ErrorCategory;
use sqlx::{Connection, PgConnection};

use super::server::{backend, eventually, url_for};

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
