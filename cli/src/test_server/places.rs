//! Where `test-server` looks for servers: the current project's state directories (its
//! tests', its `dev`'s and its `generate`/`prepare`'s), then every state directory this
//! user's servers were started in ([`persistence::ephemeral::registry`]), so that a server
//! of another project is found too, shown with that project's path.

use std::path::{Path, PathBuf};

use persistence::ephemeral::registry;

use super::Locate;
use crate::error::CliError;
use crate::project::Project;

/// What a state directory's server is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The test harness's (`cargo test`, `cargo nextest run`).
    Tests,
    /// `persistence dev`'s.
    Dev,
    /// The throwaway server of `persistence generate` or `prepare`.
    Tools,
}

impl Role {
    /// How `status` and `stop` name such a server.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Tests => "test server",
            Self::Dev => "dev server",
            Self::Tools => "generate/prepare server",
        }
    }

    /// A state directory's role, from its name (`<...>/persistence`, `.../dev`, `.../tools`).
    fn of(state_dir: &Path) -> Self {
        match state_dir.file_name().and_then(|name| name.to_str()) {
            Some("dev") => Self::Dev,
            Some("tools") => Self::Tools,
            _ => Self::Tests,
        }
    }
}

/// A state directory to look for a server in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Place {
    pub(super) state_dir: PathBuf,
    pub(super) role: Role,
    /// `None` for the current project's; else the project it serves (when recorded).
    pub(super) elsewhere: Option<Option<PathBuf>>,
}

/// The current project's harness state directory, and every place to look in.
pub(super) fn places(locate: &Locate) -> Result<(PathBuf, Vec<Place>), CliError> {
    let harness = match &locate.target_dir {
        Some(target) => {
            let cwd = std::env::current_dir()
                .map_err(|e| CliError::Io("reading the current directory".to_owned(), e))?;
            cwd.join(target).join("persistence")
        }
        None => Project::current()?.state_dir,
    };
    let mut places: Vec<Place> = [
        (harness.clone(), Role::Tests),
        (harness.join("dev"), Role::Dev),
        (harness.join("tools"), Role::Tools),
    ]
    .into_iter()
    .map(|(state_dir, role)| Place {
        state_dir,
        role,
        elsewhere: None,
    })
    .collect();
    for recorded in registry::recorded() {
        if places
            .iter()
            .any(|p| same_dir(&p.state_dir, &recorded.state_dir))
        {
            continue;
        }
        places.push(Place {
            role: Role::of(&recorded.state_dir),
            state_dir: recorded.state_dir,
            elsewhere: Some(recorded.project),
        });
    }
    Ok((harness, places))
}

/// Whether two paths name one directory (through symbolic links too, when both exist).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_come_from_the_directory_names() {
        assert_eq!(Role::of(Path::new("/p/target/persistence")), Role::Tests);
        assert_eq!(Role::of(Path::new("/p/target/persistence/dev")), Role::Dev);
        assert_eq!(
            Role::of(Path::new("/p/target/persistence/tools")),
            Role::Tools
        );
        assert_eq!(Role::Dev.name(), "dev server");
    }

    #[test]
    fn one_directory_by_two_names() {
        let dir = std::env::temp_dir();
        assert!(same_dir(&dir, &dir.join(".")));
        assert!(!same_dir(&dir, &dir.join("persistence-no-such-dir")));
    }
}
