//! Which migrations a command works on: `--source DIR`, else `./migrations` (as sqlx-cli),
//! else the `migrations/` of the crate the current directory belongs to.

use std::path::{Path, PathBuf};

use clap::Args;
use persistence::postgres::Error;
use sqlx::migrate::Migrator;

use crate::error::CliError;

/// The directory looked for when `--source` is not given.
pub(crate) const DEFAULT_DIR: &str = "migrations";

/// Which migrations to use.
#[derive(Debug, Default, Args)]
pub(crate) struct SourceArgs {
    /// The migrations directory [default: ./migrations, else the migrations/ of the crate
    /// the current directory is in].
    #[arg(long, value_name = "DIR")]
    pub(crate) source: Option<PathBuf>,
}

/// Where the migrations come from, once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A directory that exists.
    Dir(PathBuf),
    /// Nothing was named and no default directory exists; these paths were looked at.
    Missing(Vec<PathBuf>),
}

impl SourceArgs {
    /// Resolves the source against the current directory.
    pub(crate) fn resolve(&self) -> Result<Source, CliError> {
        let cwd = std::env::current_dir()
            .map_err(|e| CliError::Io("reading the current directory".to_owned(), e))?;
        self.resolve_in(&cwd)
    }

    /// Resolves the source against `cwd`: an explicit `--source` must be a directory.
    pub(crate) fn resolve_in(&self, cwd: &Path) -> Result<Source, CliError> {
        match &self.source {
            Some(dir) => {
                let absolute = cwd.join(dir);
                if absolute.is_dir() {
                    return Ok(Source::Dir(dir.clone()));
                }
                let what = if absolute.exists() {
                    "is not a directory"
                } else {
                    "does not exist"
                };
                Err(CliError::Source(format!(
                    "migrations directory `{}` {what} (looked for {}): pass --source the \
                     directory that holds your .sql migrations, or create it with \
                     `persistence migrate add --source {} NAME`",
                    dir.display(),
                    absolute.display(),
                    dir.display()
                )))
            }
            None => Ok(default_dir(cwd)),
        }
    }

    /// The migrator of the resolved source; a missing default directory is an error that
    /// says how to get one.
    pub(crate) async fn migrator(&self) -> Result<Migrator, CliError> {
        match self.resolve()? {
            Source::Dir(dir) => Ok(Migrator::new(dir.as_path()).await.map_err(Error::from)?),
            Source::Missing(looked) => Err(CliError::Source(missing_message(&looked))),
        }
    }
}

/// `./migrations`, else the `migrations/` beside the nearest `Cargo.toml` above `cwd`.
fn default_dir(cwd: &Path) -> Source {
    let mut looked = vec![cwd.join(DEFAULT_DIR)];
    if looked[0].is_dir() {
        return Source::Dir(PathBuf::from(DEFAULT_DIR));
    }
    if let Some(root) = cwd.ancestors().find(|dir| dir.join("Cargo.toml").is_file()) {
        let candidate = root.join(DEFAULT_DIR);
        if candidate.is_dir() {
            return Source::Dir(candidate);
        }
        if candidate != looked[0] {
            looked.push(candidate);
        }
    }
    Source::Missing(looked)
}

/// The message for [`Source::Missing`].
pub(crate) fn missing_message(looked: &[PathBuf]) -> String {
    let places: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
    format!(
        "no migrations directory: looked for {}; create your first migration with \
         `persistence migrate add NAME`, or pass --source DIR",
        places.join(" and ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "persistence-cli-source-{tag}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create");
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn args(source: Option<&str>) -> SourceArgs {
        SourceArgs {
            source: source.map(PathBuf::from),
        }
    }

    #[test]
    fn the_current_directory_first_then_the_crate_root() {
        let scratch = Scratch::new("default");
        let root = &scratch.0;
        let nested = root.join("src/bin");
        std::fs::create_dir_all(&nested).expect("create");
        let missing = args(None).resolve_in(&nested).expect("resolves");
        assert!(
            matches!(&missing, Source::Missing(looked) if looked == &[nested.join("migrations")])
        );

        std::fs::write(root.join("Cargo.toml"), "").expect("write");
        let Source::Missing(looked) = args(None).resolve_in(&nested).expect("resolves") else {
            panic!("still missing");
        };
        assert_eq!(looked, [nested.join("migrations"), root.join("migrations")]);
        let message = missing_message(&looked);
        assert!(
            message.contains("persistence migrate add NAME"),
            "{message}"
        );
        assert!(message.contains(&root.join("migrations").display().to_string()));

        std::fs::create_dir_all(root.join("migrations")).expect("create");
        assert_eq!(
            args(None).resolve_in(&nested).expect("resolves"),
            Source::Dir(root.join("migrations"))
        );
        assert_eq!(
            args(None).resolve_in(root).expect("resolves"),
            Source::Dir(PathBuf::from("migrations"))
        );
    }

    #[test]
    fn an_explicit_source_must_be_a_directory() {
        let scratch = Scratch::new("explicit");
        let error = args(Some("nosuchdir"))
            .resolve_in(&scratch.0)
            .expect_err("missing");
        let message = error.to_string();
        assert!(
            message.starts_with("migrations directory `nosuchdir` does not exist (looked for "),
            "{message}"
        );
        assert!(message.contains(&scratch.0.join("nosuchdir").display().to_string()));
        assert!(!message.contains("canonicalizing"), "{message}");
        std::fs::write(scratch.0.join("file"), "").expect("write");
        let message = args(Some("file"))
            .resolve_in(&scratch.0)
            .expect_err("a file")
            .to_string();
        assert!(message.contains("`file` is not a directory"), "{message}");
    }

    #[tokio::test]
    async fn a_directory_is_loaded() {
        let scratch = Scratch::new("load");
        let dir = scratch.0.join("migrations");
        std::fs::create_dir_all(&dir).expect("create");
        std::fs::write(dir.join("1_one.sql"), "SELECT 1;").expect("write");
        std::fs::write(dir.join("2_two.up.sql"), "SELECT 2;").expect("write");
        std::fs::write(dir.join("2_two.down.sql"), "SELECT 3;").expect("write");
        let source = args(Some(dir.to_str().expect("UTF-8")));
        let migrator = source.migrator().await.expect("loaded");
        let versions: Vec<i64> = migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| m.version)
            .collect();
        assert_eq!(versions, [1, 2]);
        let message = args(Some("nosuchdir"))
            .migrator()
            .await
            .expect_err("missing")
            .to_string();
        assert!(message.contains("`nosuchdir` does not exist"), "{message}");
    }
}
