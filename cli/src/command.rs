//! The command line: argument parsing, dispatch, and the exit code.
//!
//! Contract: on failure the tool prints exactly one line, `error: <message>`, on stderr (no
//! password, no backtrace) and exits with 1. Usage errors are clap's and exit with 2.
//! Logging is off unless `-v` or `RUST_LOG` turns it on, so that contract holds by default.

use std::process::ExitCode;

use crate::error::{CliError, one_line};
use crate::{db, dev, generate, health, init, migrate, prepare, studio, test_server};
use clap::{ArgAction, Parser, Subcommand};

/// Migrations, development databases and health checks for PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "persistence", version, propagate_version = true)]
pub struct Cli {
    /// The database URL [default: DATABASE_URL from the environment or a .env file, else the
    /// database of this project's running `persistence dev`]. PERSISTENCE_* variables still
    /// override its parameters.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,

    /// Log more (-v: info, -vv: debug, -vvv: trace), on stderr. RUST_LOG takes precedence.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply, inspect, create and revert migrations.
    Migrate {
        #[command(subcommand)]
        command: migrate::MigrateCommand,
    },
    /// Development database maintenance.
    Db {
        #[command(subcommand)]
        command: db::DbCommand,
    },
    /// Check that the database answers; exit 0 on pass or warn, 1 on fail.
    Health(health::HealthArgs),
    /// Prepare this crate: a migrations/ directory and a build.rs that makes cargo rebuild
    /// (tests included) when a migration is added, removed or edited.
    Init,
    /// Start a throwaway PostgreSQL (no setup needed), migrate a database on it, print its
    /// DATABASE_URL and health; remove it all on Ctrl-C (or at once with --once).
    Dev(dev::DevArgs),
    /// List the servers the test harness and `dev` started (this project's, then this user's
    /// others), with kept databases, or stop them.
    TestServer {
        #[command(subcommand)]
        command: test_server::TestServerCommand,
    },
    /// Write Rust row types (structs, enums) for the tables of the migrated schema.
    Generate(generate::GenerateArgs),
    /// Write sqlx's offline query data (.sqlx/) by checking the crate against a throwaway
    /// migrated database.
    Prepare(prepare::PrepareArgs),
    /// Browse and edit the database's data in a web page on 127.0.0.1 (default database:
    /// --database-url, else DATABASE_URL, else the one of this project's running
    /// `persistence dev`).
    Studio(studio::StudioArgs),
}

/// Parses the arguments, runs the command, and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    // Keep the one-line contract even for bugs: no backtrace, no multi-line panic message.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        eprintln!("error: internal error: {}", one_line(&message));
    }));
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io("starting the async runtime".to_owned(), e))
        .and_then(|runtime| runtime.block_on(run(cli)));
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command. `Ok` carries the exit code for commands whose result is a verdict
/// (`migrate status`, `health`).
async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let url = cli.database_url.as_deref();
    match cli.command {
        Command::Migrate { command } => migrate::run(command, url).await,
        Command::Db { command } => db::run(command, url).await,
        Command::Health(args) => health::run(args, url).await,
        Command::Dev(args) => dev::run(args, url).await,
        Command::Init => init::run(),
        Command::TestServer { command } => test_server::run(command).await,
        Command::Generate(args) => generate::run(args, url).await,
        Command::Prepare(args) => prepare::run(args, url).await,
        Command::Studio(args) => studio::run(args, url).await,
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "off",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_every_command() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).expect("valid arguments");
        let cli = parse(&["persistence", "migrate", "run"]);
        assert!(matches!(
            cli.command,
            Command::Migrate {
                command: migrate::MigrateCommand::Run(_)
            }
        ));
        let cli = parse(&[
            "persistence",
            "migrate",
            "status",
            "--json",
            "--source",
            "m",
        ]);
        assert!(matches!(
            cli.command,
            Command::Migrate {
                command: migrate::MigrateCommand::Status { json: true, .. }
            }
        ));
        let cli = parse(&[
            "persistence",
            "migrate",
            "add",
            "create",
            "users",
            "--source",
            "x",
        ]);
        assert!(matches!(
            &cli.command,
            Command::Migrate {
                command: migrate::MigrateCommand::Add { source: Some(dir), .. }
            } if dir.as_os_str() == "x"
        ));
        // `--dir`, its old name, still works.
        let cli = parse(&["persistence", "migrate", "add", "x", "--dir", "y"]);
        assert!(matches!(
            &cli.command,
            Command::Migrate {
                command: migrate::MigrateCommand::Add { source: Some(dir), .. }
            } if dir.as_os_str() == "y"
        ));
        let cli = parse(&["persistence", "dev", "--once", "--source", "db/migrations"]);
        assert!(matches!(cli.command, Command::Dev(_)));
        assert!(
            Cli::try_parse_from(["persistence", "migrate", "run", "--builtin-migrations"]).is_err(),
            "the library no longer embeds a schema of its own"
        );
        let cli = parse(&["persistence", "migrate", "revert"]);
        assert!(matches!(
            cli.command,
            Command::Migrate {
                command: migrate::MigrateCommand::Revert(_)
            }
        ));
        let cli = parse(&["persistence", "db", "reset", "--yes", "--force"]);
        assert!(matches!(
            cli.command,
            Command::Db {
                command: db::DbCommand::Reset {
                    yes: true,
                    force: true,
                    ..
                }
            }
        ));
        let cli = parse(&[
            "persistence",
            "-vv",
            "health",
            "--json",
            "--database-url",
            "postgres://h/d",
        ]);
        assert!(matches!(cli.command, Command::Health(_)));
        assert_eq!(cli.verbose, 2);
        assert_eq!(cli.database_url.as_deref(), Some("postgres://h/d"));
        assert!(Cli::try_parse_from(["persistence", "migrate", "add"]).is_err());
        assert!(Cli::try_parse_from(["persistence"]).is_err());
    }
}
