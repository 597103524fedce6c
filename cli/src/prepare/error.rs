//! What `persistence prepare` reports when it cannot write `.sqlx/`.

/// Why `.sqlx/` could not be prepared, or why `--check` failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PrepareError {
    /// `cargo metadata` or `cargo check` could not run or failed.
    #[error("{0}")]
    Cargo(String),
    /// `--check`: the query files differ.
    #[error("{dir} is out of date: {changes}; run `persistence prepare` and commit {dir}")]
    OutOfDate { dir: String, changes: String },
    /// Reading or writing query files.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
}
