//! Where the expansion happens, and the paths it shows.
//!
//! Fixtures are found relative to the test's source file and the crate root, migrations
//! relative to the crate root; both name what they looked for relative to the crate root.

use std::path::{Component, Path, PathBuf};

/// Where the expansion happens: the inputs of path resolution.
#[derive(Debug, Clone, Default)]
pub(crate) struct Env {
    /// `CARGO_MANIFEST_DIR` of the crate being compiled.
    pub(crate) manifest_dir: Option<PathBuf>,
    /// The absolute path of the source file that contains the test, when the compiler can say
    /// (`proc_macro::Span::local_file`; not for code that comes from nowhere on disk).
    pub(crate) source_file: Option<PathBuf>,
}

impl Env {
    /// The environment of the `#[db_test]` being expanded. Only inside a proc macro: the
    /// compiler answers `local_file`.
    pub(crate) fn of_call_site() -> Env {
        Env {
            manifest_dir: std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
            // The file that contains the test: fixture paths are relative to it, as the
            // `include_str!` of `#[sqlx::test]` is. rustc may name it relative to its working
            // directory, which is also ours.
            source_file: proc_macro::Span::call_site()
                .local_file()
                .and_then(|file| std::path::absolute(file).ok()),
        }
    }

    /// Whether the test is written in documentation rather than in Rust source: an example of
    /// a Markdown file included as docs (`#![doc = include_str!("../README.md")]`). rustdoc
    /// builds such an example without `--test`, so its `#[test]` function, and every file
    /// the expansion embeds in it, is never compiled: the fixtures and migrations it names
    /// are the reader's, not files of the documented crate, and a missing one is no error.
    pub(crate) fn in_documentation(&self) -> bool {
        self.source_file
            .as_deref()
            .is_some_and(|file| file.extension().is_none_or(|ext| ext != "rs"))
    }
}

/// `path` relative to the crate root when it is inside it, else absolute.
pub(crate) fn display(path: &Path, manifest_dir: Option<&Path>) -> String {
    manifest_dir
        .map(normalize)
        .and_then(|root| path.strip_prefix(root).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .to_string_lossy()
        .replace('\\', "/")
}

/// Removes `.` and resolves `..` without touching the file system, so messages show
/// `crate/fixtures/users.sql` rather than `crate/tests/../fixtures/users.sql`.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_documentation_and_rust_is_not() {
        let env = |file: Option<&str>| Env {
            manifest_dir: None,
            source_file: file.map(PathBuf::from),
        };
        assert!(env(Some("/crate/README.md")).in_documentation());
        assert!(env(Some("/crate/src/db_test.md")).in_documentation());
        assert!(!env(Some("/crate/tests/orders.rs")).in_documentation());
        assert!(!env(None).in_documentation());
    }

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d.sql")),
            Path::new("/a/c/d.sql")
        );
        assert_eq!(normalize(Path::new("../x")), Path::new("../x"));
    }

    #[test]
    fn displays_relative_to_the_crate_root() {
        let root = Path::new("/crate");
        assert_eq!(
            display(Path::new("/crate/fixtures/a.sql"), Some(root)),
            "fixtures/a.sql"
        );
        assert_eq!(
            display(Path::new("/elsewhere/a.sql"), Some(root)),
            "/elsewhere/a.sql"
        );
        assert_eq!(display(Path::new("/crate/a.sql"), None), "/crate/a.sql");
    }
}
