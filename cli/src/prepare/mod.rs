//! `persistence prepare [--check]`: sqlx's offline query data (`.sqlx/`) without a
//! database to set up.
//!
//! A throwaway server is started and migrated (as for `dev`), then `cargo check
//! --all-targets` runs with `DATABASE_URL` pointing at it, `SQLX_OFFLINE=false` and
//! `SQLX_OFFLINE_DIR` set to a scratch directory: sqlx's `query!` macros describe every
//! query against the database and write `query-<hash>.json` there (sqlx-macros-core writes
//! only when `SQLX_OFFLINE_DIR` is set and the macros run online). As `cargo sqlx prepare`
//! does, the sources of every package that uses sqlx are touched first, so cargo really
//! expands their macros again. The scratch directory then replaces `.sqlx/` (stale files
//! are removed), or with `--check` is compared with it.

pub(crate) mod error;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::SystemTime;

use clap::Args;

use crate::error::CliError;
use crate::source::SourceArgs;
use crate::throwaway::Throwaway;
use error::PrepareError;

/// The directory sqlx's macros read offline data from, beside the package's Cargo.toml.
const OFFLINE_DIR: &str = ".sqlx";

#[derive(Debug, Args)]
pub(crate) struct PrepareArgs {
    /// Write nothing; exit 1, naming the query files, when `.sqlx/` is not what the queries
    /// give.
    #[arg(long)]
    check: bool,
    /// Check the whole workspace and keep `.sqlx/` at the workspace root (cargo --workspace).
    #[arg(long)]
    workspace: bool,
    /// Check only this package (cargo -p); repeatable.
    #[arg(short, long, value_name = "SPEC")]
    package: Vec<String>,
    /// Features to activate (cargo --features).
    #[arg(short = 'F', long, value_name = "FEATURES")]
    features: Vec<String>,
    /// Activate all features (cargo --all-features).
    #[arg(long)]
    all_features: bool,
    /// Do not activate the default features (cargo --no-default-features).
    #[arg(long)]
    no_default_features: bool,
    #[command(flatten)]
    source: SourceArgs,
    /// More arguments for `cargo check`, after `--`.
    #[arg(last = true, value_name = "CARGO_ARGS")]
    cargo_args: Vec<String>,
}

impl PrepareArgs {
    /// The `cargo check` arguments that select packages and features.
    fn cargo_check_args(&self) -> Vec<String> {
        let mut args = vec!["check".to_owned(), "--all-targets".to_owned()];
        if self.workspace {
            args.push("--workspace".to_owned());
        }
        for package in &self.package {
            args.extend(["--package".to_owned(), package.clone()]);
        }
        for features in &self.features {
            args.extend(["--features".to_owned(), features.clone()]);
        }
        if self.all_features {
            args.push("--all-features".to_owned());
        }
        if self.no_default_features {
            args.push("--no-default-features".to_owned());
        }
        args.extend(self.cargo_args.iter().cloned());
        args
    }
}

pub(crate) async fn run(args: PrepareArgs, url: Option<&str>) -> Result<ExitCode, CliError> {
    if url.is_some() {
        return Err(CliError::Refused(
            "`prepare` starts a migrated server of its own and takes no --database-url; to \
             use an existing server, set TEST_DATABASE_URL (and PERSISTENCE_TEST_BACKEND=external)"
                .to_owned(),
        ));
    }
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::Io("reading the current directory".to_owned(), e))?;
    let workspace = Workspace::read(&cwd)?;
    let target = if args.workspace {
        workspace.root.join(OFFLINE_DIR)
    } else {
        workspace.package_dir(&cwd).join(OFFLINE_DIR)
    };
    let migrator = args.source.migrator().await?;

    let scratch = std::env::temp_dir().join(format!(
        "persistence-prepare-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&scratch).map_err(|e| io("creating", &scratch, e))?;
    let throwaway = Throwaway::start(&migrator, "prepare").await?;
    let checked = check_online(&args, &cwd, &workspace, &throwaway.url(), &scratch).await;
    throwaway.finish().await;
    let outcome = checked.and_then(|()| {
        let fresh = query_files(&scratch)?;
        let committed = query_files(&target)?;
        compare_or_write(&args, &target, &fresh, &committed)
    });
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

/// Touches the sources of the packages that use sqlx, then runs `cargo check` online.
async fn check_online(
    args: &PrepareArgs,
    cwd: &Path,
    workspace: &Workspace,
    database_url: &str,
    scratch: &Path,
) -> Result<(), CliError> {
    workspace.touch_sqlx_users()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&cargo);
    command
        .args(args.cargo_check_args())
        .current_dir(cwd)
        .env("DATABASE_URL", database_url)
        .env("SQLX_OFFLINE", "false")
        .env("SQLX_OFFLINE_DIR", scratch)
        .stdin(Stdio::null())
        // cargo's progress and errors go to the user's terminal, as for cargo sqlx prepare.
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let status = tokio::task::spawn_blocking(move || command.status())
        .await
        .map_err(|e| PrepareError::Cargo(format!("running cargo check failed: {e}")))?
        .map_err(|e| {
            PrepareError::Cargo(format!(
                "cannot run `{}`: {e}; is cargo on PATH?",
                cargo.to_string_lossy()
            ))
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(PrepareError::Cargo(format!(
            "cargo check failed ({status}) against the migrated throwaway database; its \
             errors are above"
        ))
        .into())
    }
}

/// `--check`: compare; otherwise make `target` hold exactly the fresh files.
fn compare_or_write(
    args: &PrepareArgs,
    target: &Path,
    fresh: &BTreeMap<String, Vec<u8>>,
    committed: &BTreeMap<String, Vec<u8>>,
) -> Result<ExitCode, CliError> {
    let changes = differences(fresh, committed);
    let shown = target.display().to_string();
    if args.check {
        if changes.is_empty() {
            say!("{shown} is up to date ({} query file(s))", fresh.len());
            return Ok(ExitCode::SUCCESS);
        }
        return Err(PrepareError::OutOfDate {
            dir: shown,
            changes: changes.join(", "),
        }
        .into());
    }
    if changes.is_empty() {
        say!(
            "{shown} is already up to date ({} query file(s))",
            fresh.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(target).map_err(|e| io("creating", target, e))?;
    for (name, data) in fresh {
        if committed.get(name) != Some(data) {
            let path = target.join(name);
            std::fs::write(&path, data).map_err(|e| io("writing", &path, e))?;
        }
    }
    for name in committed.keys().filter(|name| !fresh.contains_key(*name)) {
        let path = target.join(name);
        std::fs::remove_file(&path).map_err(|e| io("removing", &path, e))?;
    }
    say!(
        "wrote {shown}: {} query file(s); {}",
        fresh.len(),
        changes.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// `query-<hash>.json (new)`, `(changed)`, `(stale)`, in file name order.
fn differences(
    fresh: &BTreeMap<String, Vec<u8>>,
    committed: &BTreeMap<String, Vec<u8>>,
) -> Vec<String> {
    let mut names: Vec<&String> = fresh.keys().chain(committed.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| match (fresh.get(name), committed.get(name)) {
            (Some(_), None) => Some(format!("{name} (new)")),
            (None, Some(_)) => Some(format!("{name} (stale)")),
            (Some(a), Some(b)) if a != b => Some(format!("{name} (changed)")),
            _ => None,
        })
        .collect()
}

/// The `query-*.json` files of `dir` (none when it does not exist).
fn query_files(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, CliError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io("reading", dir, e)),
    };
    let mut files = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| io("reading", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("query-") && name.ends_with(".json") {
            let data = std::fs::read(entry.path()).map_err(|e| io("reading", &entry.path(), e))?;
            files.insert(name, data);
        }
    }
    Ok(files)
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> CliError {
    PrepareError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
    .into()
}

/// What `cargo metadata` says about the workspace of the current directory.
struct Workspace {
    root: PathBuf,
    packages: Vec<Package>,
}

struct Package {
    dir: PathBuf,
    uses_sqlx: bool,
    sources: Vec<PathBuf>,
}

impl Workspace {
    fn read(cwd: &Path) -> Result<Self, CliError> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let output = Command::new(&cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(cwd)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                PrepareError::Cargo(format!(
                    "cannot run `{} metadata`: {e}; is cargo on PATH?",
                    cargo.to_string_lossy()
                ))
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(PrepareError::Cargo(format!(
                "`cargo metadata` failed in {}: {}",
                cwd.display(),
                stderr.trim()
            ))
            .into());
        }
        let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
            .map_err(|e| PrepareError::Cargo(format!("`cargo metadata` printed no JSON: {e}")))?;
        Ok(Self::from_metadata(&metadata))
    }

    fn from_metadata(metadata: &serde_json::Value) -> Self {
        let root = PathBuf::from(metadata["workspace_root"].as_str().unwrap_or("."));
        let packages = metadata["packages"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|package| {
                let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or(""));
                let uses_sqlx = package["dependencies"].as_array().is_some_and(|deps| {
                    deps.iter()
                        .any(|dep| matches!(dep["name"].as_str(), Some("sqlx" | "sqlx-macros")))
                });
                let sources = package["targets"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|target| target["src_path"].as_str().map(PathBuf::from))
                    .collect();
                Package {
                    dir: manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
                    uses_sqlx,
                    sources,
                }
            })
            .collect();
        Self { root, packages }
    }

    /// The directory of the package `cwd` is in (the deepest one), else the workspace root.
    fn package_dir(&self, cwd: &Path) -> PathBuf {
        self.packages
            .iter()
            .map(|p| &p.dir)
            .filter(|dir| cwd.starts_with(dir))
            .max_by_key(|dir| dir.components().count())
            .cloned()
            .unwrap_or_else(|| self.root.clone())
    }

    /// Sets the modification time of every target's root file of the packages that use
    /// sqlx to now, so that cargo compiles them (and expands their macros) again.
    fn touch_sqlx_users(&self) -> Result<(), CliError> {
        let now = SystemTime::now();
        for source in self
            .packages
            .iter()
            .filter(|p| p.uses_sqlx)
            .flat_map(|p| &p.sources)
        {
            let touched = std::fs::File::options()
                .append(true)
                .open(source)
                .and_then(|file| file.set_modified(now));
            match touched {
                Ok(()) => {}
                // A target whose file is generated or missing is cargo's business.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("touching", source, e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cargo_arguments_are_forwarded() {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: PrepareArgs,
        }
        let parsed = Wrapper::try_parse_from([
            "prepare",
            "-p",
            "app",
            "--features",
            "a,b",
            "--no-default-features",
            "--",
            "--locked",
        ])
        .expect("valid");
        assert_eq!(
            parsed.args.cargo_check_args(),
            [
                "check",
                "--all-targets",
                "--package",
                "app",
                "--features",
                "a,b",
                "--no-default-features",
                "--locked"
            ]
        );
    }

    #[test]
    fn differences_name_the_files() {
        let files = |entries: &[(&str, &str)]| -> BTreeMap<String, Vec<u8>> {
            entries
                .iter()
                .map(|(n, d)| ((*n).to_owned(), d.as_bytes().to_vec()))
                .collect()
        };
        let fresh = files(&[("query-a.json", "1"), ("query-b.json", "2")]);
        let committed = files(&[("query-b.json", "3"), ("query-c.json", "4")]);
        assert_eq!(
            differences(&fresh, &committed),
            [
                "query-a.json (new)",
                "query-b.json (changed)",
                "query-c.json (stale)"
            ]
        );
        assert!(differences(&fresh, &fresh).is_empty());
    }

    #[test]
    fn packages_that_use_sqlx() {
        let workspace = Workspace::from_metadata(&json!({
            "workspace_root": "/ws",
            "packages": [
                {"manifest_path": "/ws/Cargo.toml", "dependencies": [{"name": "sqlx"}],
                 "targets": [{"src_path": "/ws/src/lib.rs"}]},
                {"manifest_path": "/ws/macros/Cargo.toml", "dependencies": [{"name": "syn"}],
                 "targets": [{"src_path": "/ws/macros/src/lib.rs"}]}
            ]
        }));
        assert_eq!(workspace.root, Path::new("/ws"));
        let users: Vec<bool> = workspace.packages.iter().map(|p| p.uses_sqlx).collect();
        assert_eq!(users, [true, false]);
        assert_eq!(
            workspace.package_dir(Path::new("/ws/macros/src")),
            Path::new("/ws/macros")
        );
        assert_eq!(
            workspace.package_dir(Path::new("/ws/src")),
            Path::new("/ws")
        );
    }
}
