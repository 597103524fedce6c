//! The grammar of `fixtures(...)`, as `#[sqlx::test]` has it: bare names, paths relative to the
//! source file, or `path = "<dir>", scripts("<name>", ...)`. Finding the files is left to
//! `crate::fixtures`, once every argument is read.

use std::path::Path;

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, MetaList, Token};

use crate::error::Errors;

/// Where a fixture file is, before it is looked up on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FixtureLocation {
    /// A bare name (`"users"`, `"users.sql"`): `fixtures/<name>` next to the test's source file,
    /// else `$CARGO_MANIFEST_DIR/fixtures/<name>`. Holds the file name, extension included.
    Bare(String),
    /// A path relative to the directory of the test's source file (`"../fixtures/users.sql"`,
    /// or `path = "dir", scripts("users")` which means `dir/users.sql`).
    Relative(String),
}

/// One fixture named in a `fixtures(...)` list.
#[derive(Clone)]
pub(crate) struct FixtureRef {
    pub(crate) location: FixtureLocation,
    /// The literal that named it, for spans.
    pub(crate) lit: LitStr,
}

/// One item of a `fixtures(...)` list.
enum FixtureItem {
    /// `"users"` or `"../fixtures/users.sql"`.
    Name(LitStr),
    /// `path = "dir"`.
    Dir { key: Ident, dir: LitStr },
    /// `scripts("users", "sites")`.
    Scripts {
        key: Ident,
        names: Punctuated<LitStr, Token![,]>,
    },
}

impl Parse for FixtureItem {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            return input.parse().map(FixtureItem::Name);
        }
        let expected = "expected a fixture name or path (`\"users\"`, `\"../fixtures/users.sql\"`), \
                        or `path = \"<dir>\", scripts(\"<name>\", ...)`";
        let key: Ident = input
            .parse()
            .map_err(|error| syn::Error::new(error.span(), expected))?;
        if key == "path" {
            input.parse::<Token![=]>()?;
            let dir = input.parse()?;
            Ok(FixtureItem::Dir { key, dir })
        } else if key == "scripts" {
            let content;
            syn::parenthesized!(content in input);
            let names = content.parse_terminated(<LitStr as Parse>::parse, Token![,])?;
            Ok(FixtureItem::Scripts { key, names })
        } else {
            Err(syn::Error::new(key.span(), expected))
        }
    }
}

/// Parses one `fixtures(...)` list, with `#[sqlx::test]`'s three forms:
/// - `fixtures("users", "sites")`: bare names, `fixtures/<name>.sql` next to the source file;
/// - `fixtures("../fixtures/users.sql")`: paths relative to the source file, taken as written;
/// - `fixtures(path = "../fixtures", scripts("users", "sites"))`: `<path>/<name>.sql`.
pub(super) fn parse_fixtures(list: &MetaList, errors: &mut Errors) -> Vec<FixtureRef> {
    let Some(items) =
        errors.ok(list.parse_args_with(Punctuated::<FixtureItem, Token![,]>::parse_terminated))
    else {
        return Vec::new();
    };
    if items.is_empty() {
        errors.spanned(
            list,
            "`fixtures()` names no fixture: list at least one, e.g. `fixtures(\"users\")`",
        );
        return Vec::new();
    }

    let mut fixtures = Vec::new();
    let mut dir: Option<(Ident, LitStr)> = None;
    let mut has_scripts = false;
    for (index, item) in items.into_iter().enumerate() {
        match item {
            FixtureItem::Name(lit) if dir.is_some() => errors.spanned(
                lit,
                "after `path = ...`, name the files in `scripts(...)`: \
                 `fixtures(path = \"<dir>\", scripts(\"users\"))`",
            ),
            FixtureItem::Name(lit) => {
                if let Some(location) = name_location(&lit, errors) {
                    fixtures.push(FixtureRef { location, lit });
                }
            }
            FixtureItem::Dir { key, .. } if index != 0 => errors.spanned(
                key,
                "`path` must come first: `fixtures(path = \"<dir>\", scripts(\"users\"))`",
            ),
            FixtureItem::Dir { key, dir: lit } => dir = Some((key, lit)),
            FixtureItem::Scripts { key, .. } if dir.is_none() => errors.spanned(
                key,
                "`scripts(...)` needs the directory first: \
                 `fixtures(path = \"<dir>\", scripts(\"users\"))`",
            ),
            FixtureItem::Scripts { key, names } => {
                has_scripts = true;
                if names.is_empty() {
                    errors.spanned(key, "`scripts()` names no fixture: list at least one");
                }
                let base = dir.as_ref().map(|(_, lit)| lit.value()).unwrap_or_default();
                for lit in names {
                    let name = lit.value();
                    if name.is_empty() {
                        errors.spanned(&lit, "empty fixture name");
                        continue;
                    }
                    let location = FixtureLocation::Relative(format!(
                        "{}/{}",
                        base.trim_end_matches('/'),
                        with_sql_extension(&name)
                    ));
                    fixtures.push(FixtureRef { location, lit });
                }
            }
        }
    }
    if let (Some((key, _)), false) = (&dir, has_scripts) {
        errors.spanned(
            key,
            "`path` names a directory but no fixture: add `scripts(\"<name>\", ...)`",
        );
    }
    fixtures
}

/// Where a string of `fixtures("...")` points: a name without a directory is looked up in
/// `fixtures/` and gets `.sql` if it has no extension; anything with a directory (`a/b.sql`,
/// `./b.sql`, an absolute path) is taken as written, as `#[sqlx::test]` does.
fn name_location(lit: &LitStr, errors: &mut Errors) -> Option<FixtureLocation> {
    let name = lit.value();
    if name.is_empty() {
        errors.spanned(lit, "empty fixture name");
        return None;
    }
    if Path::new(&name).components().count() > 1 {
        Some(FixtureLocation::Relative(name))
    } else {
        Some(FixtureLocation::Bare(with_sql_extension(&name)))
    }
}

/// `users` → `users.sql`; a name with an extension is kept.
fn with_sql_extension(name: &str) -> String {
    if Path::new(name).extension().is_some() {
        name.to_owned()
    } else {
        format!("{name}.sql")
    }
}
