//! Which project a command serves, and where that project's servers keep their state.
//!
//! The project is the cargo workspace (or package) the current directory belongs to. Its
//! state lives in cargo's target directory, as its tests' does: `<target>/persistence` is the
//! test harness's, `dev` keeps its server in `<target>/persistence/dev`, `generate` and
//! `prepare` theirs in `<target>/persistence/tools`. The target directory is cargo's own
//! idea of it (`cargo metadata`'s `target_directory`: `CARGO_TARGET_DIR`, `build.target-dir`
//! and the workspace root all count), so an installed `persistence` and the project's
//! `cargo test` agree. Outside any cargo project the current directory is the project, and
//! its state lives in a directory of this user's keyed by that directory's path.
//! `PERSISTENCE_STATE_DIR`, when set, names the state directory itself, as it does for tests.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use persistence::ephemeral::registry;

use crate::error::CliError;

/// The project of the current directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Project {
    /// The workspace root; outside any cargo project, the current directory.
    pub(crate) root: PathBuf,
    /// The harness's state directory for this project: `<target>/persistence`.
    pub(crate) state_dir: PathBuf,
}

impl Project {
    /// The project of the current directory, as the process environment says.
    pub(crate) fn current() -> Result<Self, CliError> {
        let cwd = std::env::current_dir()
            .map_err(|e| CliError::Io("reading the current directory".to_owned(), e))?;
        Ok(Self::find(&cwd, |name| {
            std::env::var_os(name).filter(|v| !v.is_empty())
        }))
    }

    /// The project of `cwd`, with environment variables read through `var`.
    pub(crate) fn find(cwd: &Path, var: impl Fn(&str) -> Option<OsString>) -> Self {
        let (root, target) = match cwd.ancestors().find(|dir| dir.join("Cargo.toml").is_file()) {
            Some(manifest_dir) => match cargo_metadata(cwd, &var) {
                Some(layout) => layout,
                // A manifest cargo cannot read now (being edited, say): where cargo puts the
                // target directory of a package that is its own workspace.
                None => {
                    let target = var("CARGO_TARGET_DIR")
                        .map_or_else(|| manifest_dir.join("target"), |dir| cwd.join(dir));
                    (manifest_dir.to_path_buf(), target)
                }
            },
            None => (cwd.to_path_buf(), keyed_dir(cwd)),
        };
        let state_dir = match var("PERSISTENCE_STATE_DIR") {
            Some(dir) => cwd.join(dir),
            None => target.join("persistence"),
        };
        Self { root, state_dir }
    }

    /// Where `persistence dev` keeps its server.
    pub(crate) fn dev_dir(&self) -> PathBuf {
        self.state_dir.join("dev")
    }

    /// Where `generate` and `prepare` keep their throwaway servers.
    pub(crate) fn tools_dir(&self) -> PathBuf {
        self.state_dir.join("tools")
    }
}

/// The workspace root and target directory cargo reports for `cwd`, if cargo answers.
fn cargo_metadata(
    cwd: &Path,
    var: &impl Fn(&str) -> Option<OsString>,
) -> Option<(PathBuf, PathBuf)> {
    let cargo = var("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())?;
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    let path = |key: &str| metadata.get(key)?.as_str().map(PathBuf::from);
    Some((path("workspace_root")?, path("target_directory")?))
}

/// `<user dir>/projects/<name>-<hash>` for a directory outside any cargo project: a place of
/// its own per directory, so that two such projects never meet.
fn keyed_dir(dir: &Path) -> PathBuf {
    use std::hash::Hasher;
    // A stable hash of the path's bytes (SipHash with fixed keys), not the randomly seeded
    // one of HashMap: the same directory must get the same place in every run.
    #[allow(
        deprecated,
        reason = "SipHasher's fixed keys are what makes the name stable"
    )]
    let mut hasher = std::hash::SipHasher::new();
    hasher.write(dir.as_os_str().as_encoded_bytes());
    let name: String = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    let base = registry::user_dir().unwrap_or_else(|| std::env::temp_dir().join("persistence"));
    base.join("projects")
        .join(format!("{name}-{:016x}", hasher.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "persistence-cli-project-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create");
        dir
    }

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    #[test]
    fn outside_any_project_each_directory_has_a_place_of_its_own() {
        let base = scratch("outside");
        let (a, b) = (base.join("a"), base.join("b"));
        let project = Project::find(&a, no_env);
        assert_eq!(project.root, a);
        assert_eq!(
            project,
            Project::find(&a, no_env),
            "the same place every time"
        );
        assert_ne!(project.state_dir, Project::find(&b, no_env).state_dir);
        assert!(
            project.state_dir.starts_with(std::env::temp_dir()),
            "{}",
            project.state_dir.display()
        );
        assert_eq!(project.dev_dir(), project.state_dir.join("dev"));
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn the_state_directory_variable_wins() {
        let base = scratch("state-var");
        let project = Project::find(&base, |name| {
            (name == "PERSISTENCE_STATE_DIR").then(|| OsString::from("state"))
        });
        assert_eq!(project.state_dir, base.join("state"));
        assert_eq!(project.tools_dir(), base.join("state").join("tools"));
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_manifest_cargo_cannot_read_falls_back_to_its_target_directory() {
        let base = scratch("broken-manifest");
        std::fs::write(base.join("Cargo.toml"), "this is not TOML [").expect("write");
        let nested = base.join("src");
        std::fs::create_dir_all(&nested).expect("create");
        let project = Project::find(&nested, no_env);
        assert_eq!(project.root, base);
        assert_eq!(project.state_dir, base.join("target").join("persistence"));
        let elsewhere = Project::find(&nested, |name| {
            (name == "CARGO_TARGET_DIR").then(|| OsString::from("/elsewhere/target"))
        });
        assert_eq!(
            elsewhere.state_dir,
            PathBuf::from("/elsewhere/target/persistence")
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn this_workspace_is_found_from_a_member() {
        let cli = Path::new(env!("CARGO_MANIFEST_DIR"));
        let project = Project::find(&cli.join("src"), |name| {
            matches!(name, "CARGO" | "CARGO_TARGET_DIR")
                .then(|| std::env::var_os(name))
                .flatten()
        });
        assert_eq!(project.root, cli.parent().expect("the workspace"));
        assert!(
            project.state_dir.ends_with("persistence"),
            "{}",
            project.state_dir.display()
        );
    }
}
