//! The first look at `TEST_DATABASE_URL`: one connection when a process first needs the
//! server, so that a wrong port, host, database or password is reported at once, naming the
//! variable and the URL as set (password hidden), instead of later through the name of a
//! database the harness was about to create.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::EphemeralError;
use super::server::Server;
use super::settings::Settings;
use super::state_dir::StateDir;
use crate::postgres::{ErrorCategory, redact_passwords};

/// How long a server that does not answer (a filtered port) is waited for.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The `external` backend: the server `TEST_DATABASE_URL` names; nothing to start or stop.
pub(crate) async fn server(settings: &Settings) -> Result<Server, EphemeralError> {
    let Some(url) = settings.external_url.as_deref() else {
        return Err(EphemeralError::BadSetting {
            name: "TEST_DATABASE_URL",
            value: String::new(),
            expected: "a postgres:// URL when PERSISTENCE_TEST_BACKEND=external",
        });
    };
    let redacted = redact_passwords(url).into_owned();
    let admin: PgConnectOptions =
        url.parse()
            .map_err(|e: sqlx::Error| EphemeralError::External {
                url: redacted.clone(),
                problem: format!(
                    "is not a valid PostgreSQL URL: {}",
                    redact_passwords(&e.to_string())
                ),
            })?;
    probe(&redacted, &admin).await?;
    let url_base = redacted
        .rsplit_once('/')
        .filter(|(base, _)| base.contains("://") && !base.ends_with('/'))
        .map_or_else(|| redacted.clone(), |(base, _)| base.to_owned());
    let files = StateDir::new(&settings.state_dir).external_files(&redacted);
    files
        .create()
        .map_err(|e| EphemeralError::io("create", files.dir(), e))?;
    Ok(Server::external(admin, url_base, files))
}

/// Connects once to `options` (parsed from `TEST_DATABASE_URL`, shown as `url`).
pub(crate) async fn probe(url: &str, options: &PgConnectOptions) -> Result<(), EphemeralError> {
    let at = match options.get_socket() {
        Some(dir) => format!("the socket directory {}", dir.display()),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    let problem =
        match tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect_with(options)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                return Ok(());
            }
            Err(_) => format!(
                "did not answer within {} s at {at}: check the host and port, and that a firewall \
             lets the connection through",
                PROBE_TIMEOUT.as_secs()
            ),
            Ok(Err(err)) => explain(&err, &at, options.get_database()),
        };
    Err(EphemeralError::External {
        url: url.to_owned(),
        problem,
    })
}

fn explain(err: &sqlx::Error, at: &str, database: Option<&str>) -> String {
    let said = match err.as_database_error() {
        Some(db) => db.message().to_owned(),
        None => redact_passwords(&err.to_string()).into_owned(),
    };
    match ErrorCategory::from_sqlx(err) {
        ErrorCategory::Unreachable => format!(
            "cannot be reached: nothing answers at {at} ({said}); check the host and port in \
             TEST_DATABASE_URL, and that PostgreSQL runs there"
        ),
        ErrorCategory::DatabaseMissing => format!(
            "names the database `{}`, which does not exist on the server at {at}; name one \
             that exists (the harness creates its test databases beside it), e.g. \
             postgres://USER:PASSWORD@HOST:PORT/postgres",
            database.unwrap_or("postgres")
        ),
        ErrorCategory::AuthFailed => format!(
            "was refused by the server at {at}: {said}; check the user and password in \
             TEST_DATABASE_URL"
        ),
        _ => format!("could not be used (server at {at}): {said}"),
    }
}
