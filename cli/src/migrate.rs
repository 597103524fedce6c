//! `persistence migrate run|status|add|revert`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use persistence::postgres::connect_one;
use persistence::postgres::migrate::{self, MigrationState, MigrationStatus, StatusReport};
use sqlx::Connection;

use crate::database;
use crate::error::CliError;
use crate::source::{DEFAULT_DIR, Source, SourceArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum MigrateCommand {
    /// Apply the pending migrations.
    Run(SourceArgs),
    /// List applied, pending, edited and failed migrations; exit 1 unless all are applied.
    Status {
        #[command(flatten)]
        source: SourceArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a reversible pair <timestamp>_<name>.up.sql / .down.sql.
    Add {
        /// What the migration does, e.g. "add users email" (becomes add_users_email).
        #[arg(required = true, num_args = 1..)]
        name: Vec<String>,
        /// The migrations directory, created if missing [default: ./migrations, else the
        /// migrations/ of the crate the current directory is in].
        #[arg(long, alias = "dir", value_name = "DIR")]
        source: Option<PathBuf>,
    },
    /// Revert the most recently applied migration with its .down.sql.
    Revert(SourceArgs),
}

pub(crate) async fn run(command: MigrateCommand, url: Option<&str>) -> Result<ExitCode, CliError> {
    match command {
        MigrateCommand::Add { name, source } => {
            let dir = add_directory(source)?;
            let created = migrate::add(&dir, &name.join(" "))?;
            say!("created {}", created.up.display());
            say!("created {}", created.down.display());
            Ok(ExitCode::SUCCESS)
        }
        MigrateCommand::Run(source) => {
            let config = database::config(url)?;
            let migrator = source.migrator().await?;
            let mut connection = connect_one(&config).await?;
            let applied = migrate::run(&migrator, &mut connection).await;
            let _ = connection.close().await;
            print_applied(&applied?);
            Ok(ExitCode::SUCCESS)
        }
        MigrateCommand::Status { source, json } => {
            let config = database::config(url)?;
            let migrator = source.migrator().await?;
            let mut connection = connect_one(&config).await?;
            let report = migrate::status(&migrator, &mut connection).await;
            let _ = connection.close().await;
            let report = report?;
            if json {
                say!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                say!("{}", render_status(&report).trim_end());
            }
            Ok(if report.is_up_to_date() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        MigrateCommand::Revert(source) => {
            let config = database::config(url)?;
            let migrator = source.migrator().await?;
            let mut connection = connect_one(&config).await?;
            let reverted = migrate::revert(&migrator, &mut connection).await;
            let _ = connection.close().await;
            match reverted? {
                Some(migration) => say!("reverted {} {}", migration.version, migration.description),
                None => say!("nothing to revert: no migration is applied"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Where `migrate add` writes: `--source` as given (created if missing), else the default
/// directory if one exists, else `./migrations`.
fn add_directory(source: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(dir) = source {
        return Ok(dir);
    }
    match SourceArgs::default().resolve()? {
        Source::Dir(dir) => Ok(dir),
        Source::Missing(_) => Ok(PathBuf::from(DEFAULT_DIR)),
    }
}

pub(crate) fn print_applied(applied: &[MigrationStatus]) {
    if applied.is_empty() {
        say!("nothing to apply: the database is up to date");
    }
    for migration in applied {
        say!("applied {} {}", migration.version, migration.description);
    }
}

/// One line per migration, then a summary; the lines that need action say what to do.
pub(crate) fn render_status(report: &StatusReport) -> String {
    let mut out = String::new();
    for migration in &report.migrations {
        let (label, note) = match migration.state {
            MigrationState::Applied => ("applied", ""),
            MigrationState::Pending => ("pending", ""),
            MigrationState::Edited => (
                "edited ",
                "  (changed after it was applied: restore the file or add a new migration)",
            ),
            MigrationState::Failed => (
                "failed ",
                "  (failed part-way: fix the database, then delete its row from _sqlx_migrations)",
            ),
        };
        out.push_str(&format!(
            "{label}  {}  {}{note}\n",
            migration.version, migration.description
        ));
    }
    for unknown in &report.unknown {
        out.push_str(&format!(
            "unknown  {}  {}  (applied, but not in the migration source)\n",
            unknown.version, unknown.description
        ));
    }
    let count = |state| report.in_state(state).count();
    out.push_str(&format!(
        "{} applied, {} pending, {} edited, {} failed, {} unknown\n",
        count(MigrationState::Applied),
        count(MigrationState::Pending),
        count(MigrationState::Edited),
        count(MigrationState::Failed),
        report.unknown.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use persistence::postgres::migrate::UnknownMigration;

    #[test]
    fn status_lines() {
        let status = |version, state| MigrationStatus {
            version,
            description: format!("m{version}"),
            state,
            reversible: true,
        };
        let report = StatusReport {
            migrations: vec![
                status(1, MigrationState::Applied),
                status(2, MigrationState::Edited),
                status(3, MigrationState::Failed),
                status(4, MigrationState::Pending),
            ],
            unknown: vec![UnknownMigration {
                version: 9,
                description: "gone".into(),
            }],
        };
        let text = render_status(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "applied  1  m1");
        assert!(lines[1].starts_with("edited   2  m2  (changed after it was applied"));
        assert!(lines[2].starts_with("failed   3  m3  (failed part-way"));
        assert_eq!(lines[3], "pending  4  m4");
        assert_eq!(
            lines[4],
            "unknown  9  gone  (applied, but not in the migration source)"
        );
        assert_eq!(
            lines[5],
            "1 applied, 1 pending, 1 edited, 1 failed, 1 unknown"
        );
    }
}
