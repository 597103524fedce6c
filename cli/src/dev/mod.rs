//! `persistence dev [--once]`: a throwaway PostgreSQL for local development.
//!
//! The server comes from the test harness's backends (`persistence::ephemeral`): a native
//! server from local PostgreSQL binaries, a container, or the external server of
//! `TEST_DATABASE_URL`, chosen by `PERSISTENCE_TEST_BACKEND` exactly as for tests. Its state
//! lives with the project the command runs in (`<target>/persistence/dev`, see
//! [`crate::project`]), apart from the test suite's, so two projects never share a server by
//! accident; its idle grace is zero: the server and its data go as soon as this command
//! exits. While it runs, a [`session`] record tells the other commands which database it
//! serves.

mod database;
pub(crate) mod session;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use persistence::ephemeral::state_dir::StateDir;
use persistence::ephemeral::{BackendKind, Server};
use persistence::postgres::{
    Error, HealthOptions, check_with, format_server_version, migrate, shutdown_signal,
};
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};

use crate::error::CliError;
use crate::health::render;
use crate::project::Project;
use crate::server::{self, LetGo};
use crate::source::{Source, SourceArgs, missing_message};
use session::DEFAULT_DATABASE;

/// How long connecting to the development server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Set everything up, print it, then remove it all and exit, instead of waiting for Ctrl-C.
    #[arg(long)]
    once: bool,
    /// The database to create and migrate.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_DATABASE)]
    database: String,
    #[command(flatten)]
    source: SourceArgs,
}

/// What `dev` set up and must take down again.
struct Setup {
    /// The database was created by this run (on an external server it is dropped at the end).
    created: bool,
    /// The server was already running for another `dev`: this run only joined it, and
    /// leaves it to that one to remove.
    joined: bool,
    /// The record that tells other commands which database this `dev` serves.
    session: Option<session::Recorded>,
}

/// The migrations `dev` applies, and how to name them in its report.
struct Migrations {
    migrator: Option<Migrator>,
    described: String,
    /// What the database is marked as being for: the absolute migrations directory.
    origin: String,
}

impl Migrations {
    /// Reads the source before any server starts, so a wrong `--source` costs nothing. A
    /// missing default directory is not an error here: the database is created empty.
    async fn load(args: &SourceArgs) -> Result<Self, CliError> {
        Ok(match args.resolve()? {
            Source::Dir(dir) => Self {
                migrator: Some(args.migrator().await?),
                described: dir.display().to_string(),
                origin: std::fs::canonicalize(&dir)
                    .unwrap_or(dir)
                    .display()
                    .to_string(),
            },
            Source::Missing(looked) => Self {
                migrator: None,
                described: missing_message(&looked),
                origin: "nowhere (no migrations directory)".to_owned(),
            },
        })
    }
}

pub(crate) async fn run(args: DevArgs, url: Option<&str>) -> Result<ExitCode, CliError> {
    if url.is_some() {
        return Err(CliError::Refused(
            "`dev` starts a server of its own and takes no --database-url; to use an existing \
             server, set TEST_DATABASE_URL (and PERSISTENCE_TEST_BACKEND=external)"
                .to_owned(),
        ));
    }
    database::check_name(&args.database)?;
    let migrations = Migrations::load(&args.source).await?;
    let project = Project::current()?;
    let state_dir = project.dev_dir();
    let settings = server::settings(state_dir.clone())?;
    // A server already recorded here belongs to another `dev` that is running.
    let running_before = StateDir::new(&state_dir)
        .live_server()
        .map(|state| state.instance_id);

    // Ctrl-C / SIGTERM are handled from here on, also while the server starts: whatever
    // was set up is taken down again.
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let server = tokio::select! {
        server = server::start(settings, &project) => server?,
        _ = &mut signal => {
            // A server being started is removed by its supervisor once this process is gone.
            say!("interrupted while starting the server; nothing is left behind");
            return Ok(ExitCode::SUCCESS);
        }
    };

    let mut setup = Setup {
        created: false,
        joined: running_before.as_deref() == Some(server.instance()),
        session: None,
    };
    let served = tokio::select! {
        served = serve(&server, &args, &migrations, &state_dir, &mut setup) => served,
        _ = &mut signal => {
            say!("interrupted");
            Ok(true)
        }
    };
    // Ready and healthy, and not `--once`: wait for the signal.
    let served = match served {
        Ok(true) if !args.once => {
            say!("ready: press Ctrl-C to stop the server and remove it with its data");
            signal.await.map(|_| true).map_err(CliError::Core)
        }
        other => other,
    };
    // Other commands stop pointing at the database before it goes.
    drop(setup.session.take());
    let removed = take_down(server, &args.database, &setup, &state_dir).await;
    let healthy = served?;
    removed?;
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Creates and migrates the database, prints the URL and the health report. `Ok(healthy)`.
async fn serve(
    server: &Server,
    args: &DevArgs,
    migrations: &Migrations,
    state_dir: &Path,
    setup: &mut Setup,
) -> Result<bool, CliError> {
    let database = args.database.as_str();
    let mut admin = connect(server.admin_options()).await?;
    let version = admin
        .server_version_num()
        .map(format_server_version)
        .or_else(|| server.version().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    match server.backend() {
        BackendKind::External => say!(
            "using PostgreSQL {version} of TEST_DATABASE_URL ({}); only the database `{database}` \
             is removed when this command exits, the external server is not",
            server.display_url("").trim_end_matches('/')
        ),
        backend if setup.joined => say!(
            "joined the PostgreSQL {version} server ({backend} backend) of another running \
             `persistence dev`; it stays until that one exits"
        ),
        backend => say!(
            "started PostgreSQL {version} ({backend} backend); it is removed with its data when \
             this command exits"
        ),
    }
    let created = database::create(&mut admin, database, &migrations.origin).await;
    let _ = admin.close().await;
    setup.created = created?;

    let options = server.options_for(database);
    let verb = if setup.created { "created" } else { "reused" };
    match &migrations.migrator {
        Some(migrator) => {
            let mut connection = connect(&options).await?;
            let applied = migrate::run(migrator, &mut connection).await;
            let _ = connection.close().await;
            let applied = applied?;
            say!(
                "{verb} database `{database}`; applied {} migration(s), {} in all, from {}",
                applied.len(),
                migrator
                    .iter()
                    .filter(|m| m.migration_type.is_up_migration())
                    .count(),
                migrations.described
            );
        }
        None => say!(
            "{verb} database `{database}` without migrations: {}",
            migrations.described
        ),
    }

    if server.backend() != BackendKind::External {
        setup.session = Some(session::Session::write(
            state_dir,
            database,
            &migrations.described,
        ));
    }
    say!("DATABASE_URL={}", server.owner_url(database));
    if server.backend() == BackendKind::External {
        say!("(the password, shown as ***, is the one in TEST_DATABASE_URL)");
    }

    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options);
    let report = check_with(&pool, &HealthOptions::default()).await;
    pool.close().await;
    say!("{}", render(&report));
    Ok(report.is_usable())
}

async fn connect(options: &PgConnectOptions) -> Result<PgConnection, CliError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(connection) => Ok(connection.map_err(Error::from)?),
        Err(_) => Err(CliError::Refused(format!(
            "the development server did not accept a connection within {CONNECT_TIMEOUT:?}"
        ))),
    }
}

/// Drops what this run created on an external server, lets go of the server and waits for
/// its supervisor to remove it.
async fn take_down(
    server: Server,
    database: &str,
    setup: &Setup,
    state_dir: &Path,
) -> Result<(), CliError> {
    // The backend it really is (never `auto`), as the report named it when it started.
    let backend = server.backend();
    if backend == BackendKind::External {
        if !setup.created {
            say!("kept database `{database}`: it existed before this command");
            return Ok(());
        }
        let mut admin = connect(server.admin_options()).await?;
        let dropped = database::drop(&mut admin, database).await;
        let _ = admin.close().await;
        dropped?;
        say!("dropped database `{database}`; the external server keeps running");
        return Ok(());
    }
    if setup.joined {
        drop(server);
        say!(
            "left the {backend} server running for the other `persistence dev`, which removes it \
             when it exits"
        );
        return Ok(());
    }
    // Releases this process's hold on the server: with no idle grace, its supervisor stops
    // it and deletes its data at once, unless another `dev` still uses it.
    match server::let_go(server, state_dir).await {
        LetGo::Removed(took) => say!(
            "removed the PostgreSQL server and its data in {} ms",
            took.as_millis()
        ),
        LetGo::StillUsed => say!(
            "the {backend} server is still in use by another `persistence dev`; it is removed \
             when that one exits"
        ),
    }
    Ok(())
}
