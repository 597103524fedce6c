//! `persistence generate [--out PATH] [--check]`: Rust row types from the schema.
//!
//! The schema is the one the migrations make: a throwaway server is started (as for `dev`),
//! a database on it migrated and introspected, and everything removed again. With
//! `--database-url` an existing database is introspected as it is instead (nothing is
//! migrated). Without `--out` the code goes to stdout.

mod check;
mod emit;
pub(crate) mod error;
mod introspect;
mod types;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use sqlx::Connection;

use crate::error::CliError;
use crate::source::SourceArgs;
use crate::throwaway::Throwaway;
use error::GenerateError;
use types::Overrides;

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// The file to write (e.g. src/models.rs) [default: stdout].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Write nothing; exit 1, naming the tables that changed, when --out is not what the
    /// schema gives.
    #[arg(long, requires = "out")]
    check: bool,
    /// Map a PostgreSQL type (its `typname`, e.g. `point`, or `schema.typname`) to a Rust
    /// type that sqlx decodes it into; repeat for more types.
    #[arg(long = "type", value_name = "PG_TYPE=RUST_TYPE", value_parser = types::parse_override)]
    types: Vec<(String, String)>,
    #[command(flatten)]
    source: SourceArgs,
}

pub(crate) async fn run(args: GenerateArgs, url: Option<&str>) -> Result<ExitCode, CliError> {
    if args.check && args.out.is_none() {
        return Err(GenerateError::CheckWithoutOut.into());
    }
    let overrides: Overrides = args.types.iter().cloned().collect();
    let schema = match url {
        Some(url) => {
            let config = crate::database::config(Some(url))?;
            let mut conn = persistence::postgres::connect_one(&config).await?;
            let schema = introspect::read(&mut conn).await;
            let _ = conn.close().await;
            schema?
        }
        None => {
            let migrator = args.source.migrator().await?;
            let throwaway = Throwaway::start(&migrator, "generate").await?;
            let schema = match throwaway.connect().await {
                Ok(mut conn) => {
                    let schema = introspect::read(&mut conn).await;
                    let _ = conn.close().await;
                    schema.map_err(CliError::from)
                }
                Err(error) => Err(error),
            };
            throwaway.finish().await;
            schema?
        }
    };
    let generated = emit::generate(&schema, &overrides)?;
    let code = generated.render();
    let Some(out) = args.out else {
        say!("{}", code.trim_end_matches('\n'));
        return Ok(ExitCode::SUCCESS);
    };
    let shown = out.display().to_string();
    if args.check {
        let existing = read_existing(&out)?;
        let changes = check::differences(existing.as_deref().unwrap_or(""), &generated);
        if existing.is_none() {
            return Err(GenerateError::OutOfDate {
                path: shown,
                changes: "the file does not exist".to_owned(),
            }
            .into());
        }
        if !changes.is_empty() {
            return Err(GenerateError::OutOfDate {
                path: shown,
                changes: changes.join(", "),
            }
            .into());
        }
        say!(
            "{shown} is up to date ({} table(s), {} item(s))",
            schema.tables.len(),
            generated.items.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if read_existing(&out)?.as_deref() == Some(code.as_str()) {
        say!("{shown} is already up to date");
        return Ok(ExitCode::SUCCESS);
    }
    write(&out, &code)?;
    say!(
        "wrote {shown}: {} struct(s) and {} enum(s)",
        schema.tables.len(),
        generated.items.len() - schema.tables.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn read_existing(path: &Path) -> Result<Option<String>, GenerateError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(GenerateError::Io {
            action: "reading",
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Writes through a temporary file, so that an interrupted run leaves the old file whole.
fn write(path: &Path, code: &str) -> Result<(), GenerateError> {
    let io = |action, source| GenerateError::Io {
        action,
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io("creating the directory of", e))?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, code).map_err(|e| io("writing", e))?;
    std::fs::rename(&temporary, path).map_err(|e| io("writing", e))
}
