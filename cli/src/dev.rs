//! `persistence dev [--once]`: a throwaway PostgreSQL for local development.
//!
//! The server comes from the test harness's backends (`persistence::ephemeral`): a native
//! server from local PostgreSQL binaries, a container, or the external server of
//! `TEST_DATABASE_URL`, chosen by `PERSISTENCE_TEST_BACKEND` exactly as for tests. Its state
//! lives in `<state dir>/dev`, so a development server is never the test suite's, and its
//! idle grace is zero: the server and its data go as soon as this command exits.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use persistence::ephemeral::platform::process_alive;
use persistence::ephemeral::{self, BackendKind, IdleGrace, Server, Settings};
use persistence::postgres::{
    Error, HealthOptions, check_with, format_server_version, migrate, quote_identifier,
    shutdown_signal,
};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection};

use crate::error::CliError;
use crate::health::render;
use crate::source::{Source, SourceArgs, missing_message};

/// The database `dev` creates unless `--database` says otherwise.
pub(crate) const DEFAULT_DATABASE: &str = "persistence_dev";

/// How long connecting to the development server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait, after letting go of the server, for its supervisor to remove it.
const REMOVAL_WAIT: Duration = Duration::from_secs(30);

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
}

/// The migrations `dev` applies, and how to name them in its report.
struct Migrations {
    migrator: Option<Migrator>,
    described: String,
}

impl Migrations {
    /// Reads the source before any server starts, so a wrong `--source` costs nothing. A
    /// missing default directory is not an error here: the database is created empty.
    async fn load(args: &SourceArgs) -> Result<Self, CliError> {
        Ok(match args.resolve()? {
            Source::Dir(dir) => Self {
                migrator: Some(args.migrator().await?),
                described: dir.display().to_string(),
            },
            Source::Missing(looked) => Self {
                migrator: None,
                described: missing_message(&looked),
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
    check_database_name(&args.database)?;
    let migrations = Migrations::load(&args.source).await?;
    let settings = dev_settings(Settings::from_env().map_err(CliError::Server)?);
    let state_dir = settings.state_dir.clone();
    let backend = settings.backend;
    // A server already recorded here belongs to another `dev` that is running.
    let running_before = running_instance(&state_dir);

    // Ctrl-C / SIGTERM are handled from here on, also while the server starts: whatever
    // was set up is taken down again.
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let server = tokio::select! {
        server = ephemeral::server_with(settings) => server.map_err(CliError::Server)?,
        _ = &mut signal => {
            // A server being started is removed by its supervisor once this process is gone.
            say!("interrupted while starting the server; nothing is left behind");
            return Ok(ExitCode::SUCCESS);
        }
    };
    let supervisor = supervisor_pid(&state_dir, &server);

    let mut setup = Setup {
        created: false,
        joined: running_before.as_deref() == Some(server.instance()),
    };
    let served = tokio::select! {
        served = serve(&server, &args, &migrations, &mut setup) => served,
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
    let removed = take_down(
        server,
        &args.database,
        &setup,
        backend,
        &state_dir,
        supervisor,
    )
    .await;
    let healthy = served?;
    removed?;
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The harness's settings, moved to a state directory of their own and without idle grace.
fn dev_settings(mut settings: Settings) -> Settings {
    settings.state_dir = settings.state_dir.join("dev");
    settings.idle_grace = IdleGrace::After(Duration::ZERO);
    settings
}

/// Database names are quoted in SQL, but one a shell, a URL and psql all take as-is is kinder.
fn check_database_name(name: &str) -> Result<(), CliError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.starts_with(|c: char| c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(CliError::Refused(format!(
            "`{name}` is not a usable database name for `dev`: use at most 63 letters, digits, \
             `_` or `-`, starting with a letter or `_`"
        )))
    }
}

/// Creates and migrates the database, prints the URL and the health report. `Ok(healthy)`.
async fn serve(
    server: &Server,
    args: &DevArgs,
    migrations: &Migrations,
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
    setup.created = create_database(&mut admin, database).await?;
    let _ = admin.close().await;

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

    say!("DATABASE_URL={}", server.display_url(database));
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

/// Creates `database` unless it exists; `true` if this call created it.
async fn create_database(admin: &mut PgConnection, database: &str) -> Result<bool, CliError> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut *admin)
            .await
            .map_err(Error::from)?;
    if exists {
        return Ok(false);
    }
    let created = sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE DATABASE {}",
        quote_identifier(database)
    )))
    .execute(&mut *admin)
    .await;
    match created {
        Ok(_) => Ok(true),
        // Another `dev` on the same server created it in the meantime.
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P04") => Ok(false),
        Err(error) => Err(Error::from(error).into()),
    }
}

/// Drops what this run created on an external server, lets go of the server and waits for
/// its supervisor to remove it.
async fn take_down(
    server: Server,
    database: &str,
    setup: &Setup,
    backend: BackendKind,
    state_dir: &Path,
    supervisor: Option<u32>,
) -> Result<(), CliError> {
    if server.backend() == BackendKind::External {
        if !setup.created {
            say!("kept database `{database}`: it existed before this command");
            return Ok(());
        }
        let mut admin = connect(server.admin_options()).await?;
        let quoted = quote_identifier(database);
        let force = admin.server_version_num().is_some_and(|v| v >= 130_000);
        if !force {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(database)
            .execute(&mut admin)
            .await
            .map_err(Error::from)?;
        }
        let sql = if force {
            format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        } else {
            format!("DROP DATABASE IF EXISTS {quoted}")
        };
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .map_err(Error::from)?;
        let _ = admin.close().await;
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
    let instance = server.instance().to_owned();
    // Releases this process's hold on the server: with no idle grace, its supervisor stops
    // it and deletes its data at once, unless another `dev` still uses it.
    drop(server);
    let started = Instant::now();
    let removed = tokio::task::spawn_blocking({
        let state_dir = state_dir.to_path_buf();
        move || wait_for_removal(&state_dir, &instance, supervisor)
    })
    .await
    .unwrap_or(false);
    if removed {
        say!(
            "removed the PostgreSQL server and its data in {} ms",
            started.elapsed().as_millis()
        );
    } else {
        say!(
            "the {backend} server is still in use by another `persistence dev`; it is removed \
             when that one exits"
        );
    }
    Ok(())
}

/// The supervisor of the server, from the state file: it exits once the server is gone.
fn supervisor_pid(state_dir: &Path, server: &Server) -> Option<u32> {
    let state = read_state(state_dir)?;
    let same = state.get("instance_id")?.as_str()? == server.instance();
    let pid = state.get("supervisor_pid")?.as_u64()?;
    same.then(|| u32::try_from(pid).ok()).flatten()
}

/// The instance recorded in the state file while its supervisor runs.
fn running_instance(state_dir: &Path) -> Option<String> {
    let state = read_state(state_dir)?;
    let pid = u32::try_from(state.get("supervisor_pid")?.as_u64()?).ok()?;
    let instance = state.get("instance_id")?.as_str()?.to_owned();
    process_alive(pid).then_some(instance)
}

fn read_state(state_dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read(state_path(state_dir)).ok()?;
    serde_json::from_slice(&text).ok()
}

fn state_path(state_dir: &Path) -> PathBuf {
    state_dir.join("server.json")
}

/// Waits until the state file no longer names `instance` and its supervisor has exited
/// (it exits after stopping the server and deleting its data). `false` on timeout.
fn wait_for_removal(state_dir: &Path, instance: &str, supervisor: Option<u32>) -> bool {
    let deadline = Instant::now() + REMOVAL_WAIT;
    loop {
        let recorded = read_state(state_dir).is_some_and(|state| {
            state.get("instance_id").and_then(|v| v.as_str()) == Some(instance)
        });
        if !recorded && !supervisor.is_some_and(process_alive) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names() {
        for good in ["persistence_dev", "app", "_x", "my-app_2"] {
            assert!(check_database_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1app", "-x", "a b", "a\"b", "é", &"x".repeat(64)] {
            let error = check_database_name(bad).expect_err(bad).to_string();
            assert!(error.contains("not a usable database name"), "{error}");
        }
    }

    #[test]
    fn settings_move_to_a_dev_directory_without_grace() {
        let settings = Settings::from_lookup(|name| {
            (name == "PERSISTENCE_STATE_DIR").then(|| "/tmp/state".to_owned())
        })
        .expect("valid");
        let settings = dev_settings(settings);
        assert_eq!(settings.state_dir, PathBuf::from("/tmp/state/dev"));
        assert_eq!(settings.idle_grace, IdleGrace::After(Duration::ZERO));
    }

    #[test]
    fn quoting_and_liveness() {
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
    }
}
