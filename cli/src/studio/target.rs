//! Which database the studio opens: the one every command uses ([`crate::database`]:
//! `--database-url`, else `DATABASE_URL`, else the database of the project's running
//! `persistence dev`), or a line that says how to get one. `--database` swaps the database on
//! that server. A failed test's kept database (`persistence_keep_*`) is opened read-only.

use persistence::ephemeral::kept;
use persistence::postgres::PgConfig;

use crate::database;
use crate::error::CliError;

/// The database to serve and how it was chosen.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) config: PgConfig,
    /// Why no writes are allowed, if none are.
    pub(crate) read_only: Option<&'static str>,
}

/// Resolves the database as the module documentation says.
pub(crate) fn resolve(
    url: Option<&str>,
    database: Option<&str>,
    read_only: bool,
) -> Result<Target, CliError> {
    let config = match database::config(url) {
        Ok(config) => config,
        Err(CliError::NoDatabase(project)) => return Err(CliError::NoDatabaseToOpen(project)),
        Err(error) => return Err(error),
    };
    let config = match database {
        Some(name) if !name.is_empty() => config.with_database(name),
        _ => config,
    };
    let read_only = if config.database().starts_with(kept::PREFIX) {
        Some("a failed test's kept database is read-only")
    } else if read_only {
        Some("started with --read-only")
    } else {
        None
    };
    Ok(Target { config, read_only })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_database_is_read_only() {
        let target = resolve(
            Some("postgres://u@h/app"),
            Some("persistence_keep_x"),
            false,
        )
        .expect("valid");
        assert_eq!(target.config.database(), "persistence_keep_x");
        assert!(target.read_only.is_some());
        let target = resolve(Some("postgres://u@h/app"), None, false).expect("valid");
        assert_eq!(target.config.database(), "app");
        assert!(target.read_only.is_none());
        let target = resolve(Some("postgres://u@h/app"), None, true).expect("valid");
        assert_eq!(target.read_only, Some("started with --read-only"));
    }
}
