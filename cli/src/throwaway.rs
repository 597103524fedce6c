//! A throwaway, migrated database for commands that need the schema but not the data:
//! `generate` introspects it, `prepare` lets sqlx's macros describe queries against it.
//!
//! The server comes from the harness's backends, as for `dev`, with a state directory of
//! its own (the project's `<target>/persistence/tools`) and no idle grace: it goes as soon as
//! the command lets go of it. Each run creates its own database, so two commands at once
//! never meet.

use std::time::Duration;

use persistence::ephemeral::{BackendKind, Server};
use persistence::postgres::{Error, migrate, quote_identifier};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection};

use crate::error::CliError;
use crate::project::Project;
use crate::server;

/// How long connecting to the throwaway server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A migrated database on a server of its own (or on the external server of
/// `TEST_DATABASE_URL`, where only the database is this run's).
pub(crate) struct Throwaway {
    server: Server,
    /// Where its server keeps its state.
    state_dir: std::path::PathBuf,
    external_url: Option<String>,
    database: String,
}

impl Throwaway {
    /// Starts (or joins) the server, creates a database named after `purpose` and this
    /// process, and applies `migrator`.
    pub(crate) async fn start(migrator: &Migrator, purpose: &str) -> Result<Self, CliError> {
        let project = Project::current()?;
        let state_dir = project.tools_dir();
        let settings = server::settings(state_dir.clone())?;
        let external_url = settings.external_url.clone();
        let server = server::start(settings, &project).await?;
        let database = format!("persistence_{purpose}_{}", std::process::id());
        let throwaway = Self {
            server,
            state_dir,
            external_url,
            database,
        };
        let mut admin = connect(throwaway.server.admin_options()).await?;
        let created = throwaway.recreate(&mut admin).await;
        let _ = admin.close().await;
        created?;
        let mut connection = connect(&throwaway.options()).await?;
        let applied = migrate::run(migrator, &mut connection).await;
        let _ = connection.close().await;
        applied?;
        Ok(throwaway)
    }

    /// Options to connect to the migrated database.
    pub(crate) fn options(&self) -> PgConnectOptions {
        self.server.options_for(&self.database)
    }

    /// A URL of the migrated database for other programs (`DATABASE_URL` of `cargo check`).
    /// It holds the password of `TEST_DATABASE_URL` on the external backend: never print it.
    pub(crate) fn url(&self) -> String {
        if self.server.backend() == BackendKind::External
            && let Some(external) = &self.external_url
            && let Ok(mut url) = url::Url::parse(external)
        {
            url.set_path(&format!("/{}", self.database));
            return url.to_string();
        }
        // With the generated password of the harness's own server: never print it either.
        self.server.owner_url(&self.database)
    }

    /// Connects to the migrated database.
    pub(crate) async fn connect(&self) -> Result<PgConnection, CliError> {
        connect(&self.options()).await
    }

    /// Drops the database, lets go of the server and waits until its supervisor has removed
    /// it (unless another command still uses it): nothing of it outlives the command.
    pub(crate) async fn finish(self) {
        if let Ok(mut admin) = connect(self.server.admin_options()).await {
            let _ = drop_database(&mut admin, &self.database).await;
            let _ = admin.close().await;
        }
        server::let_go(self.server, &self.state_dir).await;
    }

    /// A database left by a killed run of this process id is dropped first.
    async fn recreate(&self, admin: &mut PgConnection) -> Result<(), CliError> {
        drop_database(admin, &self.database).await?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE DATABASE {}",
            quote_identifier(&self.database)
        )))
        .execute(&mut *admin)
        .await
        .map_err(Error::from)?;
        Ok(())
    }
}

async fn drop_database(admin: &mut PgConnection, database: &str) -> Result<(), CliError> {
    let force = admin.server_version_num().is_some_and(|v| v >= 130_000);
    let sql = format!(
        "DROP DATABASE IF EXISTS {}{}",
        quote_identifier(database),
        if force { " WITH (FORCE)" } else { "" }
    );
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *admin)
        .await
        .map_err(Error::from)?;
    Ok(())
}

async fn connect(options: &PgConnectOptions) -> Result<PgConnection, CliError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(connection) => Ok(connection.map_err(Error::from)?),
        Err(_) => Err(CliError::Refused(format!(
            "the throwaway server did not accept a connection within {CONNECT_TIMEOUT:?}"
        ))),
    }
}
