//! What the tool reports when it stops early: one line, never a password.

use std::fmt;

use persistence::postgres::{Error, redact_passwords};

use crate::{generate, prepare};

/// What the tool reports when it stops early. Every message is one line without secrets.
#[derive(Debug)]
pub(crate) enum CliError {
    /// An error of the production core.
    Core(Error),
    /// The tool refused to do something dangerous.
    Refused(String),
    /// The user answered "no".
    Aborted(String),
    /// Reading the terminal or starting the runtime failed.
    Io(String, std::io::Error),
    /// The migration source is missing or unusable.
    Source(String),
    /// No development server could be had (`dev`).
    Server(persistence::ephemeral::EphemeralError),
    /// A test server could not be found or stopped (`test-server`).
    TestServer(persistence::ephemeral::EphemeralError),
    /// `generate` failed or found the models out of date.
    Generate(generate::GenerateError),
    /// `prepare` failed or found `.sqlx/` out of date.
    Prepare(prepare::PrepareError),
}

impl From<generate::GenerateError> for CliError {
    fn from(error: generate::GenerateError) -> Self {
        Self::Generate(error)
    }
}

impl From<prepare::PrepareError> for CliError {
    fn from(error: prepare::PrepareError) -> Self {
        Self::Prepare(error)
    }
}

impl From<Error> for CliError {
    fn from(error: Error) -> Self {
        Self::Core(error)
    }
}

impl From<persistence::postgres::ConfigError> for CliError {
    fn from(error: persistence::postgres::ConfigError) -> Self {
        Self::Core(error.into())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Core(error) => error.to_string(),
            Self::Refused(message) | Self::Aborted(message) | Self::Source(message) => {
                message.clone()
            }
            Self::Io(action, error) => format!("{action}: {error}"),
            Self::Server(error) => format!("no development server: {error}"),
            Self::TestServer(error) => error.to_string(),
            Self::Generate(error) => error.to_string(),
            Self::Prepare(error) => error.to_string(),
        };
        f.write_str(&one_line(&text))
    }
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
        let error = CliError::from(persistence::postgres::ConfigError::MissingUrl);
        assert!(error.to_string().starts_with("DATABASE_URL is not set"));
        assert!(CliError::Aborted("no".into()).to_string() == "no");
    }
}
