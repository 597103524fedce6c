//! Deciding, at expansion time, which migrations a test embeds.
//!
//! Directories are relative to `CARGO_MANIFEST_DIR`, as for `sqlx::migrate!` and
//! `#[sqlx::test]`. The directory is checked here so that a typo is an error on the literal that
//! names the directory (with the absolute path it was looked up as); reading the migrations is
//! left to `sqlx::migrate!`, which also honours the crate's `sqlx.toml` (table name, schemas).
//!
//! Without `migrations`, the default is what `#[sqlx::test]` applies: the crate's `sqlx.toml`
//! `[migrate] migrations-dir` when it sets one, else `./migrations` if it exists.

use std::path::{Path, PathBuf};

use proc_macro2::Span;
use syn::LitStr;

use crate::args::MigrationsArg;
use crate::env::{display, normalize};
use crate::error::Errors;

/// The directory `#[sqlx::test]` applies when nothing is said, if it exists.
const DEFAULT_DIR: &str = "./migrations";

/// sqlx's per-crate configuration file, beside `Cargo.toml`.
const SQLX_TOML: &str = "sqlx.toml";

/// The schema a test starts from, resolved.
#[derive(Clone)]
pub(crate) enum Schema {
    /// No migrations: `migrations = false`, or no `./migrations` directory.
    None,
    /// `sqlx::migrate!(<dir>)`; the literal carries the user's span, so errors of
    /// `sqlx::migrate!` (a malformed file name, ...) point at it.
    Dir(LitStr),
    /// A `Migrator` the user embedded.
    Migrator(syn::Path),
}

/// Resolves `arg`, recording an error when a named directory does not exist (unless the test
/// is written `in_documentation`, where the directory is the reader's: see
/// `Env::in_documentation`).
pub(crate) fn resolve(
    arg: &MigrationsArg,
    manifest_dir: Option<&Path>,
    in_documentation: bool,
    errors: &mut Errors,
) -> Schema {
    match arg {
        MigrationsArg::Disabled => Schema::None,
        MigrationsArg::Migrator(path) => Schema::Migrator(path.clone()),
        MigrationsArg::Default => {
            let Some(root) = manifest_dir else {
                return Schema::None;
            };
            match configured_dir(root) {
                Ok(Some(dir)) if normalize(&root.join(&dir)).is_dir() => {
                    Schema::Dir(LitStr::new(&for_migrate_macro(&dir), Span::call_site()))
                }
                Ok(None) if root.join(DEFAULT_DIR).is_dir() => {
                    Schema::Dir(LitStr::new(DEFAULT_DIR, Span::call_site()))
                }
                Ok(None) => Schema::None,
                // The reader's crate is not this one: nothing of ours to check.
                _ if in_documentation => Schema::None,
                Ok(Some(dir)) => {
                    errors.at(
                        Span::call_site(),
                        format!(
                            "`{SQLX_TOML}` sets `[migrate] migrations-dir = \"{dir}\"`, but `{}` is \
                             not a directory: fix the setting, or name the directory with \
                             `#[db_test(migrations = \"...\")]`",
                            display(&normalize(&root.join(&dir)), Some(root))
                        ),
                    );
                    Schema::None
                }
                Err(message) => {
                    errors.at(Span::call_site(), message);
                    Schema::None
                }
            }
        }
        MigrationsArg::Dir(lit) => {
            let dir = lit.value();
            let Some(root) = manifest_dir else {
                errors.spanned(
                    lit,
                    "CARGO_MANIFEST_DIR is not set, and `migrations` is relative to it: build \
                     with cargo",
                );
                return Schema::None;
            };
            let resolved: PathBuf = normalize(&root.join(&dir));
            if resolved.is_dir() || in_documentation {
                Schema::Dir(LitStr::new(&for_migrate_macro(&dir), lit.span()))
            } else {
                let what = if resolved.exists() {
                    "is not a directory"
                } else {
                    "not found"
                };
                errors.spanned(
                    lit,
                    format!(
                        "migrations directory `{dir}` {what}: looked for `{}` from the crate root \
                         (CARGO_MANIFEST_DIR), which `migrations` is relative to; write \
                         `migrations = false` for a test without migrations",
                        display(&resolved, Some(root))
                    ),
                );
                Schema::None
            }
        }
    }
}

/// The migrations directory the crate's `sqlx.toml` sets (`[migrate] migrations-dir`), if
/// it has one; an error message when the file cannot be read as TOML.
#[cfg(feature = "sqlx-toml")]
fn configured_dir(root: &Path) -> Result<Option<String>, String> {
    let path = root.join(SQLX_TOML);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("`{SQLX_TOML}` of this crate is not valid TOML: {e}"))?;
    match table.get("migrate").and_then(|m| m.get("migrations-dir")) {
        None => Ok(None),
        Some(toml::Value::String(dir)) => Ok(Some(dir.clone())),
        Some(other) => Err(format!(
            "`{SQLX_TOML}` sets `[migrate] migrations-dir` to a {}: expected a string, the \
             directory relative to the crate root",
            other.type_str()
        )),
    }
}

/// Without the `sqlx-toml` feature a `sqlx.toml` is not read; one that names a migrations
/// directory is an error that says how to have it read (sqlx needs its own `sqlx-toml`
/// feature for the file too).
#[cfg(not(feature = "sqlx-toml"))]
fn configured_dir(root: &Path) -> Result<Option<String>, String> {
    let text = std::fs::read_to_string(root.join(SQLX_TOML)).unwrap_or_default();
    if text.contains("migrations-dir") {
        Err(format!(
            "this crate's `{SQLX_TOML}` names a migrations directory, which `#[db_test]` reads \
             with the `sqlx-toml` feature of persistence-pg (as sqlx reads the file with its own \
             `sqlx-toml` feature): add it, e.g. `persistence-pg = {{ features = [\"testing\", \
             \"sqlx-toml\"] }}`, or name the directory with `#[db_test(migrations = \"...\")]`"
        ))
    } else {
        Ok(None)
    }
}

/// `sqlx::migrate!` refuses a path without a directory part (`"migrations"`), which it reserves
/// for paths relative to the source file; here every directory is relative to the crate root,
/// so say so explicitly.
fn for_migrate_macro(dir: &str) -> String {
    let has_parent = Path::new(dir)
        .parent()
        .is_some_and(|parent| !parent.as_os_str().is_empty());
    if has_parent {
        dir.to_owned()
    } else {
        format!("./{dir}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
    }

    fn lit(value: &str) -> LitStr {
        LitStr::new(value, Span::call_site())
    }

    #[test]
    fn default_is_migrations_when_it_exists() {
        let mut errors = Errors::default();
        let schema = resolve(&MigrationsArg::Default, Some(&root()), false, &mut errors);
        assert!(matches!(schema, Schema::Dir(lit) if lit.value() == "./migrations"));
        let schema = resolve(
            &MigrationsArg::Default,
            Some(&root().join("db_test")),
            false,
            &mut errors,
        );
        assert!(matches!(schema, Schema::None));
        let schema = resolve(&MigrationsArg::Default, None, false, &mut errors);
        assert!(matches!(schema, Schema::None));
        assert!(errors.is_empty());
    }

    #[cfg(feature = "sqlx-toml")]
    #[test]
    fn the_default_follows_sqlx_toml() {
        let crate_root = std::env::temp_dir().join(format!(
            "persistence-macros-sqlx-toml-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(crate_root.join("db/migrations")).expect("dirs");
        std::fs::create_dir_all(crate_root.join("migrations")).expect("dirs");
        let write = |text: &str| std::fs::write(crate_root.join("sqlx.toml"), text).expect("write");
        let resolve_default = || {
            let mut errors = Errors::default();
            let schema = resolve(
                &MigrationsArg::Default,
                Some(&crate_root),
                false,
                &mut errors,
            );
            let messages: Vec<String> = match errors.finish() {
                Ok(()) => Vec::new(),
                Err(all) => all.into_iter().map(|e| e.to_string()).collect(),
            };
            (schema, messages)
        };

        write("[migrate]\nmigrations-dir = \"db/migrations\"\n");
        let (schema, messages) = resolve_default();
        assert!(matches!(schema, Schema::Dir(lit) if lit.value() == "db/migrations"));
        assert!(messages.is_empty());

        // A file without the setting leaves the default.
        write("[macros]\n");
        let (schema, _) = resolve_default();
        assert!(matches!(schema, Schema::Dir(lit) if lit.value() == "./migrations"));

        write("[migrate]\nmigrations-dir = \"nowhere\"\n");
        let (schema, messages) = resolve_default();
        assert!(matches!(schema, Schema::None));
        assert!(
            messages[0].contains("migrations-dir = \"nowhere\""),
            "{messages:?}"
        );

        write("[migrate\n");
        let (_, messages) = resolve_default();
        assert!(messages[0].contains("not valid TOML"), "{messages:?}");
        let _ = std::fs::remove_dir_all(&crate_root);
    }

    #[cfg(not(feature = "sqlx-toml"))]
    #[test]
    fn without_the_feature_a_sqlx_toml_naming_the_directory_says_how_to_read_it() {
        let crate_root = std::env::temp_dir().join(format!(
            "persistence-macros-no-sqlx-toml-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(crate_root.join("migrations")).expect("dirs");
        let resolve_default = |text: &str| {
            std::fs::write(crate_root.join("sqlx.toml"), text).expect("write");
            let mut errors = Errors::default();
            let schema = resolve(
                &MigrationsArg::Default,
                Some(&crate_root),
                false,
                &mut errors,
            );
            let messages: Vec<String> = match errors.finish() {
                Ok(()) => Vec::new(),
                Err(all) => all.into_iter().map(|e| e.to_string()).collect(),
            };
            (schema, messages)
        };
        let (_, messages) = resolve_default("[migrate]\nmigrations-dir = \"db\"\n");
        assert!(
            messages[0].contains("`sqlx-toml` feature of persistence-pg"),
            "{messages:?}"
        );
        let (schema, messages) = resolve_default("[macros]\n");
        assert!(messages.is_empty());
        assert!(matches!(schema, Schema::Dir(lit) if lit.value() == "./migrations"));
        let _ = std::fs::remove_dir_all(&crate_root);
    }

    #[test]
    fn named_directory() {
        let mut errors = Errors::default();
        let schema = resolve(
            &MigrationsArg::Dir(lit("migrations")),
            Some(&root()),
            false,
            &mut errors,
        );
        assert!(matches!(schema, Schema::Dir(lit) if lit.value() == "./migrations"));
        let schema = resolve(
            &MigrationsArg::Dir(lit("tests/migrations")),
            Some(&root().join("..")),
            false,
            &mut errors,
        );
        assert!(matches!(schema, Schema::Dir(lit) if lit.value() == "tests/migrations"));
        assert!(errors.is_empty());
    }

    #[test]
    fn missing_directory() {
        let mut errors = Errors::default();
        resolve(
            &MigrationsArg::Dir(lit("./nope")),
            Some(&root()),
            false,
            &mut errors,
        );
        resolve(
            &MigrationsArg::Dir(lit("ui.rs")),
            Some(&root()),
            false,
            &mut errors,
        );
        let messages: Vec<String> = errors
            .finish()
            .expect_err("an error")
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            messages[0].starts_with(
                "migrations directory `./nope` not found: looked for `nope` from the crate root"
            ),
            "{messages:?}"
        );
        assert!(messages[1].starts_with("migrations directory `ui.rs` is not a directory"));
    }

    #[test]
    fn in_documentation_a_missing_directory_is_the_readers() {
        let mut errors = Errors::default();
        let schema = resolve(
            &MigrationsArg::Dir(lit("migrations")),
            Some(&root().join("db_test")),
            true,
            &mut errors,
        );
        assert!(matches!(schema, Schema::Dir(lit) if lit.value() == "./migrations"));
        assert!(errors.is_empty());
    }

    #[test]
    fn disabled_and_migrator() {
        let mut errors = Errors::default();
        assert!(matches!(
            resolve(&MigrationsArg::Disabled, Some(&root()), false, &mut errors),
            Schema::None
        ));
        let path: syn::Path = syn::parse_quote!(crate::MIGRATOR);
        assert!(matches!(
            resolve(
                &MigrationsArg::Migrator(path),
                Some(&root()),
                false,
                &mut errors
            ),
            Schema::Migrator(_)
        ));
    }

    #[test]
    fn paths_for_sqlx_migrate() {
        assert_eq!(for_migrate_macro("migrations"), "./migrations");
        assert_eq!(for_migrate_macro("./migrations"), "./migrations");
        assert_eq!(for_migrate_macro("../db/migrations"), "../db/migrations");
    }
}
