//! What `persistence generate` reports when it cannot write the models.

/// Why the models could not be generated, or why `--check` failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GenerateError {
    /// A column's type has no Rust mapping.
    #[error(
        "cannot map column `{table}.{column}` of type `{pg_type}` to a Rust type: add \
         `--type {key}=path::To::RustType` (a type that implements sqlx's Decode for it)"
    )]
    Unmappable {
        table: String,
        column: String,
        pg_type: String,
        key: String,
    },
    /// Two tables or enums would get the same Rust name.
    #[error(
        "`{first}` and `{second}` would both become the Rust type `{rust}`: rename one of them"
    )]
    NameClash {
        first: String,
        second: String,
        rust: String,
    },
    /// `--check`: the file differs from what the schema gives.
    #[error("{path} is out of date: {changes}; run `persistence generate --out {path}`")]
    OutOfDate { path: String, changes: String },
    /// `--check` without `--out`.
    #[error("--check compares with a file: pass --out PATH")]
    CheckWithoutOut,
    /// Reading or writing the output file.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
}
