use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ephemeral::EphemeralError;
use crate::ephemeral::platform::{self, InstallRoot};

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
    /// `pg_config --bindir`, else `PATH`, else the newest of the system's usual places:
    /// `/usr/lib/postgresql/*/bin` (Debian, Ubuntu); Homebrew's
    /// `/opt/homebrew/opt/postgresql@*/bin` and `/usr/local/opt/postgresql@*/bin`, then
    /// Postgres.app's `/Applications/Postgres.app/Contents/Versions/*/bin` (macOS).
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
    dirs.extend(installed(&platform::install_roots()));
    dirs
}

/// The `bin` directories of the versions installed under `roots`: newest version first, and
/// for one version in the order of `roots`.
fn installed(roots: &[InstallRoot]) -> Vec<PathBuf> {
    let mut versioned: Vec<(u32, usize, PathBuf)> = roots
        .iter()
        .enumerate()
        .flat_map(|(rank, root)| {
            std::fs::read_dir(&root.parent)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(move |entry| {
                    let name = entry.file_name();
                    let version = name.to_str()?.strip_prefix(root.prefix)?.parse().ok()?;
                    Some((version, rank, entry.path().join("bin")))
                })
        })
        .collect();
    versioned.sort_by_key(|(version, rank, _)| (std::cmp::Reverse(*version), *rank));
    versioned.into_iter().map(|(_, _, dir)| dir).collect()
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
    fn finds_installed_versions_newest_first_in_every_layout() {
        let root =
            std::env::temp_dir().join(format!("persistence-installs-{}", std::process::id()));
        let brew = root.join("opt");
        let app = root.join("Versions");
        for dir in [
            brew.join("postgresql@15"),
            brew.join("postgresql@17"),
            brew.join("postgresql"),
            brew.join("redis"),
            app.join("16"),
            app.join("17"),
            app.join("latest"),
        ] {
            std::fs::create_dir_all(dir.join("bin")).expect("mkdir");
        }
        let found = installed(&[
            InstallRoot {
                parent: brew.clone(),
                prefix: "postgresql@",
            },
            InstallRoot {
                parent: app.clone(),
                prefix: "",
            },
        ]);
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(
            found,
            vec![
                brew.join("postgresql@17/bin"),
                app.join("17/bin"),
                app.join("16/bin"),
                brew.join("postgresql@15/bin"),
            ]
        );
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
