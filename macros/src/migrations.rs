//! Deciding, at expansion time, which migrations a test embeds.
//!
//! Directories are relative to `CARGO_MANIFEST_DIR`, as for `sqlx::migrate!` and
//! `#[sqlx::test]`. The directory is checked here so that a typo is an error on the literal that
//! names the directory (with the absolute path it was looked up as); reading the migrations is
//! left to `sqlx::migrate!`, which also honours the crate's `sqlx.toml` (table name, schemas).

use std::path::{Path, PathBuf};

use proc_macro2::Span;
use syn::LitStr;

use crate::args::MigrationsArg;
use crate::env::{display, normalize};
use crate::error::Errors;

/// The directory `#[sqlx::test]` applies when nothing is said, if it exists.
const DEFAULT_DIR: &str = "./migrations";

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
        MigrationsArg::Default => match manifest_dir {
            Some(root) if root.join(DEFAULT_DIR).is_dir() => {
                Schema::Dir(LitStr::new(DEFAULT_DIR, Span::call_site()))
            }
            _ => Schema::None,
        },
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
