//! `persistence init`: prepares a crate for migrations and `#[db_test]`: a `migrations/`
//! directory, and a `build.rs` that makes cargo rebuild when a migration is added, removed or
//! edited (`sqlx::migrate!` embeds the files, but cargo only watches files it knows about).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::error::CliError;
use crate::source::DEFAULT_DIR;

/// The line that makes cargo watch the migrations directory.
const WATCH: &str = "cargo:rerun-if-changed=migrations";

/// The build script `init` writes when the crate has none.
const BUILD_RS: &str = "\
//! Rebuilds when a migration is added, removed or edited: `sqlx::migrate!` (and `#[db_test]`)
//! embed the files of `migrations/`, but cargo only watches files it knows about.
fn main() {
    println!(\"cargo:rerun-if-changed=migrations\");
}
";

/// What `init` did, one line each.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Done {
    CreatedMigrations(PathBuf),
    WroteBuildScript(PathBuf),
    AlreadyWatched(PathBuf),
}

pub(crate) fn run() -> Result<ExitCode, CliError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::Io("reading the current directory".to_owned(), e))?;
    let Some(root) = cwd.ancestors().find(|dir| dir.join("Cargo.toml").is_file()) else {
        return Err(CliError::Refused(format!(
            "no Cargo.toml in {} or above: run `persistence init` inside your crate",
            cwd.display()
        )));
    };
    for done in init(root)? {
        match done {
            Done::CreatedMigrations(dir) => say!("created {}", dir.display()),
            Done::WroteBuildScript(file) => say!(
                "wrote {}: cargo now rebuilds when a migration changes",
                file.display()
            ),
            Done::AlreadyWatched(file) => say!("{} already watches migrations/", file.display()),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates `<root>/migrations` and `<root>/build.rs` where missing. An existing build script
/// is never rewritten: without the line, the error says what to add.
pub(crate) fn init(root: &Path) -> Result<Vec<Done>, CliError> {
    let mut done = Vec::new();
    let migrations = root.join(DEFAULT_DIR);
    if !migrations.is_dir() {
        std::fs::create_dir_all(&migrations)
            .map_err(|e| CliError::Io(format!("creating {}", migrations.display()), e))?;
        done.push(Done::CreatedMigrations(migrations));
    }
    let build_rs = root.join("build.rs");
    match std::fs::read_to_string(&build_rs) {
        Ok(script) if script.contains(WATCH) => done.push(Done::AlreadyWatched(build_rs)),
        Ok(_) => {
            return Err(CliError::Refused(format!(
                "{} exists and does not watch the migrations: add \
                 `println!(\"{WATCH}\");` to its `main`",
                build_rs.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(&build_rs, BUILD_RS)
                .map_err(|e| CliError::Io(format!("writing {}", build_rs.display()), e))?;
            done.push(Done::WroteBuildScript(build_rs));
        }
        Err(e) => return Err(CliError::Io(format!("reading {}", build_rs.display()), e)),
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_is_missing_and_keeps_what_is_there() {
        let root = std::env::temp_dir().join(format!("persistence-init-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create");

        let done = init(&root).expect("init");
        assert_eq!(
            done,
            [
                Done::CreatedMigrations(root.join("migrations")),
                Done::WroteBuildScript(root.join("build.rs"))
            ]
        );
        let script = std::fs::read_to_string(root.join("build.rs")).expect("build.rs");
        assert!(script.contains("println!(\"cargo:rerun-if-changed=migrations\");"));

        assert_eq!(
            init(&root).expect("again"),
            [Done::AlreadyWatched(root.join("build.rs"))]
        );

        std::fs::write(root.join("build.rs"), "fn main() {}\n").expect("write");
        let error = init(&root)
            .expect_err("a build script of its own")
            .to_string();
        assert!(error.contains("does not watch the migrations: add `println!(\"cargo:rerun-if-changed=migrations\");`"), "{error}");
        assert_eq!(
            std::fs::read_to_string(root.join("build.rs")).expect("kept"),
            "fn main() {}\n"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
