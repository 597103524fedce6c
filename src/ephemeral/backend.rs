use std::fmt;
use std::str::FromStr;

use super::EphemeralError;

/// Where a test server comes from (`PERSISTENCE_TEST_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// `external` if `TEST_DATABASE_URL` is set, else `docker` if a daemon answers and has (or
    /// can pull) the image, else `native` if PostgreSQL's binaries are installed, else an
    /// error that says how to get each.
    #[default]
    Auto,
    /// A container started with testcontainers (`PERSISTENCE_TEST_IMAGE`).
    Docker,
    /// A server started from local PostgreSQL binaries, data on tmpfs.
    Native,
    /// The server `TEST_DATABASE_URL` names; the harness creates databases on it.
    External,
}

impl BackendKind {
    /// The name used in `PERSISTENCE_TEST_BACKEND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Docker => "docker",
            Self::Native => "native",
            Self::External => "external",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = EphemeralError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "docker" => Ok(Self::Docker),
            "native" => Ok(Self::Native),
            "external" => Ok(Self::External),
            _ => Err(EphemeralError::BadSetting {
                name: "PERSISTENCE_TEST_BACKEND",
                value: value.to_owned(),
                expected: "auto, docker, native or external",
            }),
        }
    }
}
