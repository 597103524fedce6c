//! Temporary directories: made one way, and always removed (when dropped, so also when the
//! test fails).

pub use tempfile::TempDir;

/// A fresh empty directory under the system's temporary directory, its name starting with
/// `persistence-<tag>-`, removed when dropped. Readable by every user as a directory made
/// with the default umask is: a server started as root runs as PostgreSQL's own user, which
/// must reach what a test puts there.
pub fn temp_dir(tag: &str) -> TempDir {
    let prefix = format!("persistence-{tag}-");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o755));
    builder.tempdir().expect("create a temporary directory")
}
