//! Which database a command works on, found the same way by every command that needs one
//! (`migrate`, `db`, `health`, `studio`, `generate --database-url`): `--database-url`, else
//! `DATABASE_URL` (the environment, else a `.env` file), else the database of the
//! `persistence dev` running for this project. `PERSISTENCE_*` variables override the URL's
//! parameters in every case. With none of the three, one line says all three ways.

use std::path::Path;

use persistence::postgres::{ConfigError, PgConfig};

use crate::dev::session;
use crate::error::CliError;
use crate::project::Project;

/// Finds the database as the module documentation says.
pub(crate) fn config(url: Option<&str>) -> Result<PgConfig, CliError> {
    find_with(url, Project::current)
}

/// [`config`], with the project (needed only when no URL is given) from `project`.
fn find_with(
    url: Option<&str>,
    project: impl FnOnce() -> Result<Project, CliError>,
) -> Result<PgConfig, CliError> {
    let builder = PgConfig::builder().with_env();
    if let Some(url) = url {
        return Ok(builder.url(url).build()?);
    }
    match builder.build() {
        Ok(config) => Ok(config),
        Err(ConfigError::MissingUrl) => {
            let project = project()?;
            match dev_url(&project.dev_dir()) {
                Some(url) => Ok(PgConfig::builder().with_env().url(url).build()?),
                None => Err(CliError::NoDatabase(project.root)),
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// The URL of the database of the `dev` running in `dev_dir`, with the server's generated
/// password (readable by its owner only).
fn dev_url(dev_dir: &Path) -> Option<String> {
    let (server, database) = session::running_database(dev_dir)?;
    Some(server.owner_url(&database))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nowhere() -> Result<Project, CliError> {
        let dir =
            std::env::temp_dir().join(format!("persistence-cli-database-{}", std::process::id()));
        Ok(Project {
            root: dir.clone(),
            state_dir: dir.join("state"),
        })
    }

    #[test]
    fn the_flag_comes_first() {
        let config = find_with(
            Some("postgres://u:secret@db.example.com/app?connection_limit=2"),
            nowhere,
        )
        .expect("valid");
        assert_eq!(config.database(), "app");
        assert_eq!(config.connection_limit(), 2);
        let error = find_with(Some("mysql://u:secret@h/db"), nowhere).expect_err("bad scheme");
        assert!(!error.to_string().contains("secret"));
    }

    #[test]
    fn without_any_the_line_says_all_three_ways() {
        if std::env::var_os("DATABASE_URL").is_some() {
            eprintln!("skipped: DATABASE_URL is set in this environment");
            return;
        }
        // No `dev` runs in a state directory that does not exist.
        let line = match find_with(None, nowhere) {
            Err(error) => error.to_string(),
            Ok(config) => panic!("found {config}"),
        };
        assert!(line.starts_with("DATABASE_URL is not set"), "{line}");
        for way in [
            "--database-url",
            "DATABASE_URL",
            ".env",
            "`persistence dev`",
        ] {
            assert!(line.contains(way), "{way}: {line}");
        }
    }
}
