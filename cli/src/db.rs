//! `persistence db reset`: drop, recreate and migrate a development database.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::Subcommand;
use persistence::postgres::{PgConfig, migrate};

use crate::database;
use crate::error::CliError;
use crate::migrate::print_applied;
use crate::source::SourceArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum DbCommand {
    /// Drop the database, create it again and apply the migrations (development only: refuses
    /// a non-local server unless --force).
    Reset {
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
        /// Allow a server that is not on this machine.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        source: SourceArgs,
    },
}

pub(crate) async fn run(command: DbCommand, url: Option<&str>) -> Result<ExitCode, CliError> {
    match command {
        DbCommand::Reset { yes, force, source } => {
            let config = database::config(url)?;
            check_allowed(&config, force)?;
            let migrator = source.migrator().await?;
            if !yes {
                let stdin = std::io::stdin();
                confirm(&config, &mut stdin.lock(), &mut std::io::stderr())?;
            }
            let applied = migrate::reset(&config, &migrator).await?;
            say!(
                "reset database {} on {}",
                config.database(),
                config.endpoint()
            );
            print_applied(&applied);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Refuses non-local servers without `--force`: resetting is for development databases.
fn check_allowed(config: &PgConfig, force: bool) -> Result<(), CliError> {
    if force || config.host().is_local() {
        return Ok(());
    }
    Err(CliError::Refused(format!(
        "refusing to reset database `{}` on {}: it is not on this machine and `db reset` is for \
         development databases; pass --force if you really mean it",
        config.database(),
        config.endpoint()
    )))
}

/// Asks "y/N" on `prompt`, reading the answer from `answers`; anything but yes aborts.
fn confirm(
    config: &PgConfig,
    answers: &mut impl BufRead,
    prompt: &mut impl Write,
) -> Result<(), CliError> {
    let io = |e| CliError::Io("asking for confirmation".to_owned(), e);
    write!(
        prompt,
        "This drops database `{}` on {} with all its data, recreates it and applies the migrations. Continue? [y/N] ",
        config.database(),
        config.endpoint()
    )
    .and_then(|()| prompt.flush())
    .map_err(io)?;
    let mut answer = String::new();
    answers.read_line(&mut answer).map_err(io)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::Aborted(
            "aborted: the database was left untouched (pass --yes to skip the question)".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> PgConfig {
        PgConfig::from_url(url).expect("valid")
    }

    #[test]
    fn only_local_servers_without_force() {
        assert!(check_allowed(&config("postgres://localhost/app"), false).is_ok());
        assert!(check_allowed(&config("postgres://127.0.0.1:5433/app"), false).is_ok());
        assert!(check_allowed(&config("postgres:///app?host=/var/run/postgresql"), false).is_ok());
        let error = check_allowed(&config("postgres://u:secret@db.example.com/app"), false)
            .expect_err("remote");
        let message = error.to_string();
        assert!(
            message.starts_with("refusing to reset database `app` on db.example.com"),
            "{message}"
        );
        assert!(!message.contains("secret"));
        assert!(check_allowed(&config("postgres://db.example.com/app"), true).is_ok());
    }

    #[test]
    fn confirmation() {
        let config = config("postgres://localhost:5432/app");
        for yes in ["y\n", "YES\n", " yes "] {
            let mut prompt = Vec::new();
            confirm(&config, &mut yes.as_bytes(), &mut prompt).expect("confirmed");
            let prompt = String::from_utf8(prompt).expect("utf8");
            assert!(
                prompt.contains("drops database `app` on localhost:5432"),
                "{prompt}"
            );
        }
        for no in ["\n", "n\n", "", "maybe\n"] {
            let error = confirm(&config, &mut no.as_bytes(), &mut Vec::new()).expect_err("aborted");
            assert!(error.to_string().starts_with("aborted"));
        }
    }
}
