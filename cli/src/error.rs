//! What the tool reports when it stops early: one line, never a password.

use std::path::{Path, PathBuf};

use persistence::ephemeral::EphemeralError;
use persistence::postgres::{ConfigError, Error, redact_passwords};

use crate::generate::error::GenerateError;
use crate::prepare::error::PrepareError;

/// What the tool reports when it stops early. Every message is one line without secrets:
/// each variant's text goes through [`one_line`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// An error of the production core.
    #[error("{}", one_line(&.0.to_string()))]
    Core(#[from] Error),
    /// The tool refused to do something dangerous, or cannot do what was asked.
    #[error("{}", one_line(.0))]
    Refused(String),
    /// The user answered "no".
    #[error("{}", one_line(.0))]
    Aborted(String),
    /// Reading the terminal or starting the runtime failed.
    #[error("{}", one_line(&format!("{}: {}", .0, .1)))]
    Io(String, #[source] std::io::Error),
    /// The migration source is missing or unusable.
    #[error("{}", one_line(.0))]
    Source(String),
    /// No database was named, and no `persistence dev` runs for the project (at this path).
    #[error("{}", no_database(.0))]
    NoDatabase(PathBuf),
    /// The same, for `studio`, which says what it could not do.
    #[cfg_attr(not(feature = "studio"), allow(dead_code))]
    #[error("no database to open: {}", no_database(.0))]
    NoDatabaseToOpen(PathBuf),
    /// No development server could be had (`dev`).
    #[error("{}", one_line(&format!("no development server: {}", .0)))]
    Server(#[source] EphemeralError),
    /// A test server could not be found or stopped (`test-server`).
    #[error("{}", one_line(&.0.to_string()))]
    TestServer(#[source] EphemeralError),
    /// `generate` failed or found the models out of date.
    #[error("{}", one_line(&.0.to_string()))]
    Generate(#[from] GenerateError),
    /// `prepare` failed or found `.sqlx/` out of date.
    #[error("{}", one_line(&.0.to_string()))]
    Prepare(#[from] PrepareError),
}

impl From<ConfigError> for CliError {
    fn from(error: ConfigError) -> Self {
        Self::Core(error.into())
    }
}

/// The three ways to name a database, when none was found for the project at `project`.
fn no_database(project: &Path) -> String {
    format!(
        "DATABASE_URL is not set and no `persistence dev` runs for {}: pass --database-url \
         postgres://USER:PASSWORD@HOST/DATABASE, set DATABASE_URL (in the environment or a .env \
         file), or start `persistence dev` there in another terminal",
        project.display()
    )
}

/// Collapses whitespace (server messages may span lines) and masks any password.
pub(crate) fn one_line(text: &str) -> String {
    let masked = redact_passwords(text);
    masked.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_line_without_secrets() {
        let error = CliError::Refused("line one\nline two postgres://u:secret@h/db".into());
        assert_eq!(error.to_string(), "line one line two postgres://u:***@h/db");
        let error = CliError::Io("reading".into(), std::io::Error::other("broken\npipe"));
        assert_eq!(error.to_string(), "reading: broken pipe");
        let error = CliError::from(ConfigError::MissingUrl);
        assert!(error.to_string().starts_with("DATABASE_URL is not set"));
        assert!(CliError::Aborted("no".into()).to_string() == "no");
        let error = CliError::NoDatabase(PathBuf::from("/work/notes"));
        let line = error.to_string();
        assert!(
            line.starts_with("DATABASE_URL is not set and no `persistence dev` runs for /work/notes: pass --database-url "),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
