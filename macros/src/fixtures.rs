//! Finding fixture files at expansion time.
//!
//! `#[sqlx::test]` emits `include_str!("fixtures/users.sql")`, which the compiler resolves
//! relative to the source file that contains the test. This module resolves the same path
//! itself, from the call site's file, so that:
//! - a missing fixture is an error on the literal that names it, listing the paths looked at,
//!   instead of an `include_str!` error inside the expansion;
//! - a bare name can also fall back to `$CARGO_MANIFEST_DIR/fixtures/<name>`: integration tests
//!   live in `tests/`, but this workspace (like many) keeps one `fixtures/` at the crate root;
//! - the expansion can `include_str!` an absolute path, so the test binary is rebuilt when a
//!   fixture changes and the path does not depend on where the expansion ends up.

use std::path::{Path, PathBuf};

use proc_macro2::Span;

use crate::args::{FixtureLocation, FixtureRef};
use crate::env::{Env, display, normalize};
use crate::error::Errors;

/// A fixture found on disk.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedFixture {
    /// The path for `include_str!`: absolute when it was resolved here, else the relative path
    /// `#[sqlx::test]` would have used (resolved by the compiler).
    pub(crate) include: String,
    /// The path shown in the harness's messages: relative to the crate when inside it.
    pub(crate) display: String,
    /// The literal that named it.
    pub(crate) span: Span,
}

/// Resolves every fixture, recording an error for each one that is missing.
pub(crate) fn resolve_all(
    fixtures: &[FixtureRef],
    env: &Env,
    errors: &mut Errors,
) -> Vec<ResolvedFixture> {
    fixtures
        .iter()
        .filter_map(|fixture| match resolve(fixture, env) {
            Ok(resolved) => Some(resolved),
            Err(message) => {
                errors.spanned(&fixture.lit, message);
                None
            }
        })
        .collect()
}

/// Resolves one fixture: the first candidate that is a file, or a message listing them all.
fn resolve(fixture: &FixtureRef, env: &Env) -> Result<ResolvedFixture, String> {
    let span = fixture.lit.span();
    let source_dir = env.source_file.as_deref().and_then(Path::parent);
    let manifest_dir = env.manifest_dir.as_deref();

    let (candidates, unchecked) = match &fixture.location {
        FixtureLocation::Bare(name) => {
            let relative = Path::new("fixtures").join(name);
            let mut candidates: Vec<PathBuf> = source_dir
                .into_iter()
                .chain(manifest_dir)
                .map(|dir| normalize(&dir.join(&relative)))
                .collect();
            candidates.dedup();
            (candidates, format!("fixtures/{name}"))
        }
        FixtureLocation::Relative(path) => (
            source_dir
                .map(|dir| normalize(&dir.join(path)))
                .into_iter()
                .collect(),
            path.clone(),
        ),
    };

    if source_dir.is_none() {
        // Without the source file's location (e.g. an IDE expanding code not on disk), leave
        // the relative path to the compiler, exactly as `#[sqlx::test]` does, unless the crate
        // root fallback is known to exist.
        if let Some(found) = candidates.iter().find(|path| path.is_file()) {
            return found_at(found, manifest_dir, span);
        }
        return Ok(ResolvedFixture {
            include: unchecked.clone(),
            display: unchecked,
            span,
        });
    }

    if let Some(found) = candidates.iter().find(|path| path.is_file()) {
        return found_at(found, manifest_dir, span);
    }
    if env.in_documentation() {
        // The reader's file: the `include_str!` is never compiled (see `Env::in_documentation`).
        return Ok(ResolvedFixture {
            include: unchecked.clone(),
            display: unchecked,
            span,
        });
    }

    let written = fixture.lit.value();
    // Relative to the crate root when inside it: shorter, and the same on every machine.
    let mut message = format!("fixture `{written}` not found; looked for (from the crate root):");
    for candidate in &candidates {
        message.push_str(&format!("\n  {}", display(candidate, manifest_dir)));
    }
    message.push_str(match fixture.location {
        FixtureLocation::Bare(_) => {
            "\na bare name is looked up in `fixtures/` next to the test's source file, then in \
             `fixtures/` at the crate root; a path with a `/` is relative to the source file"
        }
        FixtureLocation::Relative(_) => "\nfixture paths are relative to the test's source file",
    });
    Err(message)
}

fn found_at(
    path: &Path,
    manifest_dir: Option<&Path>,
    span: Span,
) -> Result<ResolvedFixture, String> {
    let include = path
        .to_str()
        .ok_or_else(|| format!("fixture path `{}` is not UTF-8", path.display()))?
        .to_owned();
    Ok(ResolvedFixture {
        include,
        display: display(path, manifest_dir),
        span,
    })
}

#[cfg(test)]
mod tests {
    use syn::LitStr;

    use super::*;

    /// `macros/tests/db_test/`, which holds real fixture files.
    fn tests_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/db_test")
    }

    fn env(source_file: Option<&str>, manifest_dir: &str) -> Env {
        Env {
            manifest_dir: Some(tests_dir().join(manifest_dir)),
            source_file: source_file.map(|file| tests_dir().join(file)),
        }
    }

    fn fixture(location: FixtureLocation) -> FixtureRef {
        FixtureRef {
            location,
            lit: LitStr::new("users", Span::call_site()),
        }
    }

    fn bare(name: &str) -> FixtureRef {
        fixture(FixtureLocation::Bare(name.into()))
    }

    fn relative(path: &str) -> FixtureRef {
        fixture(FixtureLocation::Relative(path.into()))
    }

    #[test]
    fn bare_name_next_to_the_source_file() {
        let found = resolve(&bare("users.sql"), &env(Some("pass/a.rs"), ".")).expect("found");
        assert_eq!(
            found.include,
            tests_dir()
                .join("pass/fixtures/users.sql")
                .to_string_lossy()
        );
        assert_eq!(found.display, "pass/fixtures/users.sql");
    }

    #[test]
    fn bare_name_falls_back_to_the_crate_root() {
        // `fail/` has no `fixtures/` of its own; the "crate root" here is `tests/db_test/pass`.
        let found = resolve(&bare("sites.sql"), &env(Some("fail/a.rs"), "pass")).expect("found");
        assert_eq!(
            found.include,
            tests_dir()
                .join("pass/fixtures/sites.sql")
                .to_string_lossy()
        );
        assert_eq!(found.display, "fixtures/sites.sql");
    }

    #[test]
    fn explicit_path_is_relative_to_the_source_file() {
        let found = resolve(
            &relative("../pass/fixtures/users.sql"),
            &env(Some("fail/a.rs"), "."),
        )
        .expect("found");
        assert_eq!(
            found.include,
            tests_dir()
                .join("pass/fixtures/users.sql")
                .to_string_lossy()
        );
        assert_eq!(found.display, "pass/fixtures/users.sql");
        // No crate-root fallback for explicit paths.
        assert!(
            resolve(
                &relative("fixtures/sites.sql"),
                &env(Some("fail/a.rs"), "pass")
            )
            .is_err()
        );
    }

    #[test]
    fn missing_fixture_lists_every_candidate() {
        let message =
            resolve(&bare("nope.sql"), &env(Some("fail/a.rs"), "pass")).expect_err("an error");
        let expected_source = tests_dir().join("fail/fixtures/nope.sql");
        assert!(
            message.starts_with(&format!(
                "fixture `users` not found; looked for (from the crate root):\n  {}\n  \
                 fixtures/nope.sql\n",
                expected_source.display(),
            )),
            "{message}"
        );
    }

    #[test]
    fn without_a_source_file_the_compiler_resolves_it() {
        let found = resolve(&bare("nope.sql"), &env(None, ".")).expect("found");
        assert_eq!(found.include, "fixtures/nope.sql");
        // ... unless the crate-root fallback exists.
        let found = resolve(&bare("users.sql"), &env(None, "pass")).expect("found");
        assert_eq!(found.display, "fixtures/users.sql");
    }

    #[test]
    fn in_documentation_a_missing_fixture_is_the_readers() {
        let found = resolve(&bare("nope.sql"), &env(Some("pass/README.md"), ".")).expect("found");
        assert_eq!(found.include, "fixtures/nope.sql");
        let found = resolve(
            &relative("../x/nope.sql"),
            &env(Some("pass/README.md"), "."),
        )
        .expect("found");
        assert_eq!(found.include, "../x/nope.sql");
        // One that exists is still found, and embedded by its absolute path.
        let found = resolve(&bare("users.sql"), &env(Some("pass/README.md"), ".")).expect("found");
        assert_eq!(found.display, "pass/fixtures/users.sql");
    }

    #[test]
    fn resolve_all_reports_each_missing_fixture() {
        let mut errors = Errors::default();
        let found = resolve_all(
            &[bare("a.sql"), bare("users.sql"), bare("b.sql")],
            &env(Some("pass/t.rs"), "."),
            &mut errors,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            errors.finish().expect_err("an error").into_iter().count(),
            2
        );
    }
}
