use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ephemeral::EphemeralError;

/// A directory holding `initdb` and `postgres`, and the version they report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    /// The directory.
    pub dir: PathBuf,
    /// `15.18`, from `postgres --version`.
    pub version: String,
}

impl PgBinaries {
    /// Finds the binaries: `explicit` (`PERSISTENCE_PG_BIN`) if given, else
    /// `pg_config --bindir`, else `PATH`, else the newest `/usr/lib/postgresql/*/bin`.
    pub fn find(explicit: Option<&Path>) -> Result<Self, EphemeralError> {
        let candidates = match explicit {
            Some(dir) => vec![dir.to_path_buf()],
            None => default_candidates(),
        };
        candidates
            .iter()
            .find(|dir| has_server_binaries(dir))
            .map(|dir| Self::at(dir))
            .unwrap_or_else(|| {
                Err(EphemeralError::BinariesNotFound {
                    searched: candidates.clone(),
                })
            })
    }

    fn at(dir: &Path) -> Result<Self, EphemeralError> {
        let postgres = dir.join("postgres");
        let output = Command::new(&postgres)
            .arg("--version")
            .output()
            .map_err(|e| EphemeralError::io("run", &postgres, e))?;
        let text = String::from_utf8_lossy(&output.stdout);
        let version = parse_version(&text).ok_or_else(|| EphemeralError::Command {
            command: format!("{} --version", postgres.display()),
            detail: format!("unexpected output {text:?}"),
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            version,
        })
    }

    /// The path of one of the binaries.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn has_server_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

fn default_candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    dirs.extend(versioned.into_iter().map(|(_, dir)| dir));
    dirs
}

/// `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` -> `15.18`.
fn parse_version(text: &str) -> Option<String> {
    let rest = text.split(')').nth(1)?.trim();
    let version = rest.split_whitespace().next()?;
    version
        .chars()
        .next()?
        .is_ascii_digit()
        .then(|| version.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            parse_version("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n").as_deref(),
            Some("15.18")
        );
        assert_eq!(
            parse_version("postgres (PostgreSQL) 17beta1\n").as_deref(),
            Some("17beta1")
        );
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn a_directory_without_binaries_is_reported_with_what_was_searched() {
        let err = PgBinaries::find(Some(Path::new("/nonexistent/pg/bin"))).expect_err("missing");
        let text = err.to_string();
        assert!(
            text.contains("/nonexistent/pg/bin") && text.contains("PERSISTENCE_PG_BIN"),
            "{text}"
        );
    }
}
