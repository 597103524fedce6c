//! Which database the studio opens: `--database-url`, else `DATABASE_URL` (environment or
//! `.env`), else the database of a running `persistence dev`, else an error that says how to
//! get one. `--database` swaps the database on that server. A failed test's kept database
//! (`persistence_keep_*`) is opened read-only.

use persistence::ephemeral::state_dir::StateDir;
use persistence::ephemeral::{Settings, kept};
use persistence::postgres::{ConfigError, PgConfig};

use crate::dev::DEFAULT_DATABASE;
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
    let builder = PgConfig::builder().with_env();
    let config = match url {
        Some(url) => builder.url(url).build()?,
        None => match builder.build() {
            Ok(config) => config,
            Err(ConfigError::MissingUrl) => dev_database()?.ok_or_else(no_database)?,
            Err(error) => return Err(error.into()),
        },
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

/// The database of the `persistence dev` that runs for this state directory, if one does.
fn dev_database() -> Result<Option<PgConfig>, CliError> {
    let settings = Settings::from_env().map_err(CliError::Server)?;
    let Some(server) = StateDir::new(settings.state_dir.join("dev")).live_server() else {
        return Ok(None);
    };
    // The harness's servers (native and docker) trust loopback connections of `postgres`.
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{DEFAULT_DATABASE}",
        server.port
    );
    Ok(Some(PgConfig::builder().with_env().url(url).build()?))
}

fn no_database() -> CliError {
    CliError::Refused(
        "no database to open: pass --database-url postgres://USER:PASSWORD@HOST/DATABASE, set \
         DATABASE_URL (in the environment or a .env file), or start a development database \
         with `persistence dev` in another terminal"
            .to_owned(),
    )
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
