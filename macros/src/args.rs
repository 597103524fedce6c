//! Parsing the attribute's arguments: `#[db_test(isolation = "database", fixtures("users"))]`.
//!
//! The grammar is `#[sqlx::test]`'s (`migrations`, `migrator`, `fixtures`), plus `isolation` and
//! `#[tokio::test]`'s `flavor` / `worker_threads`. Values are checked here, one argument at a
//! time; what depends on the signature or on the file system is checked in `expand.rs`,
//! `migrations.rs` and `fixtures.rs`.

use std::path::Path;

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, LitStr, Meta, Token};

use crate::error::Errors;
use crate::harness::RuntimeFlavor;

mod fixture_list;

use fixture_list::parse_fixtures;
pub(crate) use fixture_list::{FixtureLocation, FixtureRef};

/// One argument the attribute knows: everything the parser and its messages say about it.
struct ArgSpec {
    name: &'static str,
    /// The forms it takes, as the "unknown argument" error lists them.
    takes: &'static str,
    /// It only means something for a test that takes a database: a test without one must not
    /// silently ignore it.
    database_only: bool,
    /// It may be given more than once (`fixtures(...)` lists add up); any other argument given
    /// twice is an error.
    repeatable: bool,
    /// Reads its value into `parsed`; the span is the argument's name, for the checks that can
    /// only be made once every argument is read.
    read: fn(&Meta, Span, &mut Parsed, &mut Errors),
}

/// Every argument, in the order the "unknown argument" error lists them.
const ARGUMENTS: [ArgSpec; 7] = [
    ArgSpec {
        name: "isolation",
        takes: r#"isolation = "transaction" | "database""#,
        database_only: true,
        repeatable: false,
        read: |meta, _, parsed, errors| parsed.args.isolation = parse_isolation(meta, errors),
    },
    ArgSpec {
        name: "migrations",
        takes: r#"migrations = "<dir>" | false"#,
        database_only: true,
        repeatable: false,
        read: |meta, _, parsed, errors| {
            if let Some(migrations) = parse_migrations(meta, errors) {
                parsed.args.migrations = migrations;
            }
        },
    },
    ArgSpec {
        name: "migrator",
        takes: r#"migrator = "<path>""#,
        database_only: true,
        repeatable: false,
        read: |meta, _, parsed, errors| {
            if let Some(path) = parse_migrator(meta, errors) {
                parsed.args.migrations = MigrationsArg::Migrator(path);
            }
        },
    },
    ArgSpec {
        name: "fixtures",
        takes: "fixtures(...)",
        database_only: true,
        repeatable: true,
        read: |meta, _, parsed, errors| match meta {
            Meta::List(list) => parsed.args.fixtures.extend(parse_fixtures(list, errors)),
            _ => errors.spanned(
                meta,
                "expected a list of fixtures: `fixtures(\"users\", \"sites\")`",
            ),
        },
    },
    ArgSpec {
        name: "role",
        takes: r#"role = "<name>""#,
        database_only: true,
        repeatable: false,
        read: |meta, _, parsed, errors| parsed.args.role = parse_role(meta, errors),
    },
    ArgSpec {
        name: "flavor",
        takes: r#"flavor = "current_thread" | "multi_thread""#,
        database_only: false,
        repeatable: false,
        read: |meta, _, parsed, errors| {
            parsed.flavor_given = true;
            if let Some(flavor) = parse_flavor(meta, errors) {
                parsed.args.flavor = Some(flavor);
            }
        },
    },
    ArgSpec {
        name: "worker_threads",
        takes: "worker_threads = <n>",
        database_only: false,
        repeatable: false,
        read: |meta, span, parsed, errors| {
            parsed.worker_threads = parse_worker_threads(meta, errors).map(|n| (n, span));
        },
    },
];

/// Two arguments that say the same thing two ways: at most one of them may be given.
struct Exclusive {
    pair: [&'static str; 2],
    /// Why, for the error.
    why: &'static str,
    /// Forgets what either said, once one is repeated or both are given: which one was meant is
    /// unknown, and checking the one that stays (say, the directory of a `migrations` that is the
    /// one to remove) would report a problem with what may not stay.
    forget: fn(&mut Args),
}

const EXCLUSIVE: [Exclusive; 1] = [Exclusive {
    pair: ["migrations", "migrator"],
    why: "a `migrator` already says which migrations to apply",
    forget: |args| args.migrations = MigrationsArg::Default,
}];

/// How one test is isolated from the others: the value of `isolation = "..."`, which must
/// agree with what the signature implies (the signature alone picks the entry point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isolation {
    /// A transaction on a clone of its own, rolled back afterwards.
    Transaction,
    /// A database of its own.
    Database,
}

/// `isolation = "..."`, kept with its literal so that a conflict with the signature points at it.
#[derive(Clone)]
pub(crate) struct IsolationArg {
    pub(crate) value: Isolation,
    pub(crate) lit: LitStr,
}

/// Where the schema comes from.
#[derive(Clone, Default)]
pub(crate) enum MigrationsArg {
    /// Nothing said: `./migrations` if that directory exists, as `#[sqlx::test]` does.
    #[default]
    Default,
    /// `migrations = "dir"`, relative to `CARGO_MANIFEST_DIR`.
    Dir(LitStr),
    /// `migrations = false`.
    Disabled,
    /// `migrator = "path"` or `migrator = path`: a `Migrator` the user embedded.
    Migrator(syn::Path),
}

/// Everything the attribute's arguments say.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) isolation: Option<IsolationArg>,
    pub(crate) migrations: MigrationsArg,
    /// Every fixture of every `fixtures(...)` list, in order.
    pub(crate) fixtures: Vec<FixtureRef>,
    /// `role = "..."`: the role the test's connections log in as.
    pub(crate) role: Option<LitStr>,
    /// `flavor = ...` (and `worker_threads`), `None` when not given: the default runtime.
    pub(crate) flavor: Option<RuntimeFlavor>,
    /// The arguments given that only mean something when the test takes a database, with
    /// their spans: a test without a database argument must not silently ignore them.
    pub(crate) database_only: Vec<(&'static str, Span)>,
}

/// Parses the attribute's arguments, recording every problem in `errors`.
///
/// Returns what could be understood: an argument with an error is left at its default, so the
/// checks that follow do not report consequences of an error already reported.
pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
    let Some(metas) = errors.ok(Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens))
    else {
        return Args::default();
    };
    let mut parsed = Parsed::default();
    for meta in &metas {
        let path = meta.path();
        let Some(spec) = ARGUMENTS.iter().find(|spec| path.is_ident(spec.name)) else {
            errors.spanned(path, unknown_argument(path));
            continue;
        };
        let span = path_span(path);
        if let Some(message) = parsed.repeat(spec) {
            errors.at(span, message);
            continue;
        }
        if spec.database_only {
            parsed.args.database_only.push((spec.name, span));
        }
        (spec.read)(meta, span, &mut parsed, errors);
    }
    parsed.finish(errors)
}

/// The arguments read so far, and what can only be checked once all are read.
#[derive(Default)]
struct Parsed {
    args: Args,
    /// Each single-valued argument given so far, to report repeats.
    seen: Vec<&'static str>,
    /// `worker_threads = N` and its span: it needs `flavor`, which may come after it.
    worker_threads: Option<(usize, Span)>,
    /// `flavor` was given, even if its value was wrong.
    flavor_given: bool,
}

impl Parsed {
    /// The error when `spec` may not be given here (a repeat, or the other of an exclusive
    /// pair); else records it as given.
    fn repeat(&mut self, spec: &ArgSpec) -> Option<String> {
        let name = spec.name;
        if spec.repeatable {
            return None;
        }
        let exclusive = EXCLUSIVE
            .iter()
            .find(|exclusive| exclusive.pair.contains(&name));
        let message = if self.seen.contains(&name) {
            format!("duplicate `{name}` argument: give it once")
        } else if let Some(exclusive) =
            exclusive.filter(|exclusive| exclusive.pair.iter().any(|a| self.seen.contains(a)))
        {
            let [first, second] = exclusive.pair;
            format!(
                "`{first}` and `{second}` cannot be combined: {}; keep one of them",
                exclusive.why
            )
        } else {
            self.seen.push(name);
            return None;
        };
        if let Some(exclusive) = exclusive {
            (exclusive.forget)(&mut self.args);
        }
        Some(message)
    }

    /// The arguments, once `worker_threads` is checked against the flavor.
    fn finish(mut self, errors: &mut Errors) -> Args {
        if let Some((n, span)) = self.worker_threads {
            match &mut self.args.flavor {
                Some(RuntimeFlavor::MultiThread { worker_threads }) => *worker_threads = Some(n),
                Some(RuntimeFlavor::CurrentThread) => errors.at(
                    span,
                    "`worker_threads` needs the multi-thread runtime: write \
                     `flavor = \"multi_thread\"` instead of `flavor = \"current_thread\"`, or \
                     remove `worker_threads`",
                ),
                // A bad `flavor` value was reported already; do not add a consequence of it.
                None if self.flavor_given => {}
                None => errors.at(
                    span,
                    "`worker_threads` needs the multi-thread runtime (a test runs on a \
                     current-thread one by default, as with `#[tokio::test]`): add \
                     `flavor = \"multi_thread\"`",
                ),
            }
        }
        self.args
    }
}

/// The span of a whole path (`a::b` spans both segments, as `new_spanned` would).
fn path_span(path: &syn::Path) -> Span {
    let first = path
        .segments
        .first()
        .map_or_else(Span::call_site, |s| s.ident.span());
    let last = path.segments.last().map_or(first, |s| s.ident.span());
    first.join(last).unwrap_or(first)
}

/// The message for an argument this attribute does not know, with a suggestion for typos.
fn unknown_argument(path: &syn::Path) -> String {
    let written = quote::quote!(#path).to_string().replace(' ', "");
    let mut message = format!("unknown `#[db_test]` argument `{written}`");
    if let Some(close) = nearest_argument(&written) {
        message.push_str(&format!("; did you mean `{close}`?"));
    }
    message.push_str("\nexpected ");
    for (i, spec) in ARGUMENTS.iter().enumerate() {
        let separator = match i {
            0 => "",
            _ if i + 1 == ARGUMENTS.len() => " or ",
            _ => ", ",
        };
        message.push_str(&format!("{separator}`{}`", spec.takes));
    }
    message
}

/// The known argument closest to `written`, if it is close enough to be a typo of it.
fn nearest_argument(written: &str) -> Option<&'static str> {
    ARGUMENTS
        .iter()
        .map(|spec| (spec.name, strsim::levenshtein(spec.name, written)))
        .filter(|&(_, distance)| distance <= 2)
        .min_by_key(|&(_, distance)| distance)
        .map(|(name, _)| name)
}

/// The value of `name = value`, or an error showing `example`.
fn value_of<'m>(meta: &'m Meta, example: &str, errors: &mut Errors) -> Option<&'m Expr> {
    match meta {
        Meta::NameValue(name_value) => Some(&name_value.value),
        _ => {
            errors.spanned(meta, format!("expected `{example}`"));
            None
        }
    }
}

/// The literal in `value`, looking through the invisible groups `macro_rules!` leaves around
/// `$x:expr` (as `#[sqlx::test]` does).
fn literal(value: &Expr) -> Option<&Lit> {
    match value {
        Expr::Lit(expr) => Some(&expr.lit),
        Expr::Group(group) => literal(&group.expr),
        _ => None,
    }
}

fn parse_isolation(meta: &Meta, errors: &mut Errors) -> Option<IsolationArg> {
    const EXPECTED: &str = r#"isolation = "transaction"` or `isolation = "database""#;
    let value = value_of(meta, EXPECTED, errors)?;
    let Some(Lit::Str(lit)) = literal(value) else {
        errors.spanned(value, format!("expected a string: `{EXPECTED}`"));
        return None;
    };
    let value = match lit.value().as_str() {
        "transaction" => Isolation::Transaction,
        "database" => Isolation::Database,
        other => {
            errors.spanned(
                lit,
                format!(
                    "unknown isolation `{other}`: expected \"transaction\" (the test runs in a \
                     transaction that is rolled back) or \"database\" (the test gets a database \
                     of its own)"
                ),
            );
            return None;
        }
    };
    Some(IsolationArg {
        value,
        lit: lit.clone(),
    })
}

fn parse_migrations(meta: &Meta, errors: &mut Errors) -> Option<MigrationsArg> {
    const EXPECTED: &str = r#"migrations = "<dir>"` or `migrations = false"#;
    let value = value_of(meta, EXPECTED, errors)?;
    match literal(value) {
        Some(Lit::Str(lit)) => {
            let dir = lit.value();
            if dir.is_empty() {
                errors.spanned(
                    lit,
                    "empty migrations directory: name one, e.g. `migrations = \"./migrations\"`, \
                     or write `migrations = false`",
                );
                None
            } else if Path::new(&dir).is_absolute() {
                // As `sqlx::migrate!`: an absolute path would only build on this machine.
                errors.spanned(
                    lit,
                    "absolute paths only work on this machine: give the migrations directory \
                     relative to CARGO_MANIFEST_DIR, e.g. `migrations = \"./migrations\"`",
                );
                None
            } else {
                Some(MigrationsArg::Dir(lit.clone()))
            }
        }
        Some(Lit::Bool(b)) if !b.value => Some(MigrationsArg::Disabled),
        Some(Lit::Bool(b)) => {
            errors.spanned(
                b,
                "`migrations = true` is redundant: `./migrations` is applied by default when it \
                 exists; name a directory (`migrations = \"<dir>\"`) or write `migrations = false`",
            );
            None
        }
        _ => {
            errors.spanned(
                value,
                format!("expected a directory or `false`: `{EXPECTED}`"),
            );
            None
        }
    }
}

fn parse_migrator(meta: &Meta, errors: &mut Errors) -> Option<syn::Path> {
    const EXPECTED: &str = r#"migrator = "crate::MIGRATOR""#;
    let value = value_of(meta, EXPECTED, errors)?;
    let wrong = "expected the path of a `sqlx::migrate::Migrator` static: `migrator = \
                 \"crate::MIGRATOR\"` (or without quotes)";
    // `migrator = "crate::MIGRATOR"`, as `#[sqlx::test]` spells it. Parsing the literal keeps
    // its span, so a "cannot find value" error points at the string.
    if let Some(lit) = literal(value) {
        if let Lit::Str(lit) = lit
            && let Ok(path) = lit.parse::<syn::Path>()
        {
            return Some(path);
        }
        errors.spanned(lit, wrong);
        return None;
    }
    match value {
        // `migrator = crate::MIGRATOR`.
        Expr::Path(expr) if expr.qself.is_none() && expr.attrs.is_empty() => {
            Some(expr.path.clone())
        }
        _ => {
            errors.spanned(value, wrong);
            None
        }
    }
}

fn parse_role(meta: &Meta, errors: &mut Errors) -> Option<LitStr> {
    const EXPECTED: &str = r#"role = "app""#;
    let value = value_of(meta, EXPECTED, errors)?;
    let Some(Lit::Str(lit)) = literal(value) else {
        errors.spanned(value, format!("expected a string: `{EXPECTED}`"));
        return None;
    };
    let role = lit.value();
    let problem = if role.trim().is_empty() {
        Some("the role name is empty")
    } else if role.len() > 63 {
        Some("a role name has at most 63 bytes")
    } else if role.starts_with("pg_") {
        Some("names starting with `pg_` are reserved by PostgreSQL")
    } else if role != role.trim() || role.contains('\0') {
        Some("a role name has no surrounding spaces or NUL")
    } else {
        None
    };
    if let Some(problem) = problem {
        errors.spanned(
            lit,
            format!("{problem}: name the role the test logs in as, e.g. `{EXPECTED}`"),
        );
        return None;
    }
    Some(lit.clone())
}

fn parse_flavor(meta: &Meta, errors: &mut Errors) -> Option<RuntimeFlavor> {
    const EXPECTED: &str = r#"flavor = "current_thread"` or `flavor = "multi_thread""#;
    let value = value_of(meta, EXPECTED, errors)?;
    let Some(Lit::Str(lit)) = literal(value) else {
        errors.spanned(value, format!("expected a string: `{EXPECTED}`"));
        return None;
    };
    match lit.value().as_str() {
        "current_thread" => Some(RuntimeFlavor::CurrentThread),
        "multi_thread" => Some(RuntimeFlavor::MultiThread {
            worker_threads: None,
        }),
        other => {
            errors.spanned(
                lit,
                format!(
                    "unknown runtime flavor `{other}`: expected \"current_thread\" (the default) \
                     or \"multi_thread\", as for `#[tokio::test]`"
                ),
            );
            None
        }
    }
}

fn parse_worker_threads(meta: &Meta, errors: &mut Errors) -> Option<usize> {
    let value = value_of(meta, "worker_threads = <n>", errors)?;
    let Some(Lit::Int(lit)) = literal(value) else {
        errors.spanned(value, "expected a number: `worker_threads = 4`");
        return None;
    };
    match lit.base10_parse::<usize>() {
        Ok(0) => {
            errors.spanned(lit, "`worker_threads` must be at least 1");
            None
        }
        Ok(n) => Some(n),
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn parse_ok(tokens: TokenStream) -> Args {
        let mut errors = Errors::default();
        let args = parse(tokens, &mut errors);
        if let Err(error) = errors.finish() {
            panic!("unexpected error: {error}");
        }
        args
    }

    fn parse_err(tokens: TokenStream) -> Vec<String> {
        let mut errors = Errors::default();
        parse(tokens, &mut errors);
        match errors.finish() {
            Ok(()) => panic!("expected an error"),
            Err(all) => all.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    fn locations(args: &Args) -> Vec<FixtureLocation> {
        args.fixtures.iter().map(|f| f.location.clone()).collect()
    }

    fn bare(name: &str) -> FixtureLocation {
        FixtureLocation::Bare(name.into())
    }

    fn relative(path: &str) -> FixtureLocation {
        FixtureLocation::Relative(path.into())
    }

    #[test]
    fn no_arguments() {
        let args = parse_ok(quote!());
        assert!(args.isolation.is_none());
        assert!(matches!(args.migrations, MigrationsArg::Default));
        assert!(args.fixtures.is_empty());
        assert_eq!(args.flavor, None);
        assert!(args.database_only.is_empty());
    }

    #[test]
    fn isolation() {
        let args = parse_ok(quote!(isolation = "database"));
        assert_eq!(args.isolation.map(|i| i.value), Some(Isolation::Database));
        let args = parse_ok(quote!(isolation = "transaction",));
        assert_eq!(
            args.isolation.map(|i| i.value),
            Some(Isolation::Transaction)
        );
        let errors = parse_err(quote!(isolation = "schema"));
        assert!(
            errors[0].starts_with("unknown isolation `schema`"),
            "{errors:?}"
        );
        let errors = parse_err(quote!(isolation = database));
        assert!(errors[0].starts_with("expected a string"), "{errors:?}");
        let errors = parse_err(quote!(isolation));
        assert!(
            errors[0].starts_with("expected `isolation = "),
            "{errors:?}"
        );
    }

    #[test]
    fn migrations() {
        let args = parse_ok(quote!(migrations = "db/migrations"));
        assert!(
            matches!(&args.migrations, MigrationsArg::Dir(lit) if lit.value() == "db/migrations")
        );
        let args = parse_ok(quote!(migrations = false));
        assert!(matches!(args.migrations, MigrationsArg::Disabled));
        assert!(parse_err(quote!(migrations = true))[0].contains("redundant"));
        assert!(parse_err(quote!(migrations = "/abs/migrations"))[0].starts_with("absolute paths"));
        assert!(parse_err(quote!(migrations = 1))[0].starts_with("expected a directory"));
    }

    #[test]
    fn migrator_as_string_or_path() {
        let args = parse_ok(quote!(migrator = "crate::MIGRATOR"));
        let MigrationsArg::Migrator(path) = args.migrations else {
            panic!("expected a migrator");
        };
        assert_eq!(quote!(#path).to_string(), "crate :: MIGRATOR");
        let args = parse_ok(quote!(migrator = my::MIGRATOR));
        assert!(matches!(args.migrations, MigrationsArg::Migrator(_)));
        assert!(parse_err(quote!(migrator = "not a path"))[0].starts_with("expected the path"));
    }

    #[test]
    fn migrations_and_migrator_conflict() {
        let errors = parse_err(quote!(migrations = "m", migrator = "crate::M"));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("cannot be combined"), "{errors:?}");
        // Neither is kept, so a missing `migrations` directory is not reported on top.
        let mut errors = Errors::default();
        let args = parse(quote!(migrations = "m", migrator = "crate::M"), &mut errors);
        assert!(matches!(args.migrations, MigrationsArg::Default));
    }

    #[test]
    fn duplicates_are_errors() {
        let errors = parse_err(quote!(isolation = "database", isolation = "database"));
        assert_eq!(errors, ["duplicate `isolation` argument: give it once"]);
        // A repeated `migrations` is forgotten, as a conflicting one is: which was meant is
        // unknown.
        let mut errors = Errors::default();
        let args = parse(quote!(migrations = "a", migrations = "b"), &mut errors);
        assert!(matches!(args.migrations, MigrationsArg::Default));
    }

    #[test]
    fn unknown_argument_suggests() {
        let errors = parse_err(quote!(fixture("users")));
        assert!(
            errors[0]
                .starts_with("unknown `#[db_test]` argument `fixture`; did you mean `fixtures`?")
        );
        let errors = parse_err(quote!(timeout = 3));
        assert_eq!(
            errors,
            ["unknown `#[db_test]` argument `timeout`\nexpected \
              `isolation = \"transaction\" | \"database\"`, `migrations = \"<dir>\" | false`, \
              `migrator = \"<path>\"`, `fixtures(...)`, \
              `role = \"<name>\"`, \
              `flavor = \"current_thread\" | \"multi_thread\"` or `worker_threads = <n>`"]
        );
    }

    #[test]
    fn reports_every_error() {
        let errors = parse_err(quote!(
            isolation = "x",
            bogus,
            flavor = "y",
            migrations = true
        ));
        assert_eq!(errors.len(), 4, "{errors:?}");
    }

    #[test]
    fn bare_fixture_names() {
        let args = parse_ok(quote!(fixtures("users", "sites.sql")));
        assert_eq!(locations(&args), [bare("users.sql"), bare("sites.sql")]);
    }

    #[test]
    fn explicit_fixture_paths_are_taken_as_written() {
        let args = parse_ok(quote!(fixtures("../fixtures/users.sql", "./local")));
        assert_eq!(
            locations(&args),
            [relative("../fixtures/users.sql"), relative("./local")]
        );
    }

    #[test]
    fn fixtures_with_path_and_scripts() {
        let args = parse_ok(quote!(fixtures(
            path = "../fixtures/",
            scripts("users", "x.psql")
        )));
        assert_eq!(
            locations(&args),
            [
                relative("../fixtures/users.sql"),
                relative("../fixtures/x.psql")
            ]
        );
    }

    #[test]
    fn several_fixture_lists_keep_their_order() {
        let args = parse_ok(quote!(
            fixtures("a"),
            isolation = "database",
            fixtures(path = "d", scripts("b")),
            fixtures("c")
        ));
        assert_eq!(
            locations(&args),
            [bare("a.sql"), relative("d/b.sql"), bare("c.sql")]
        );
        assert_eq!(args.database_only.len(), 4);
    }

    #[test]
    fn fixture_list_errors() {
        assert!(parse_err(quote!(fixtures()))[0].contains("names no fixture"));
        assert!(parse_err(quote!(fixtures = "users"))[0].starts_with("expected a list"));
        assert!(parse_err(quote!(fixtures(scripts("a"))))[0].contains("needs the directory first"));
        assert!(
            parse_err(quote!(fixtures("a", path = "d")))[0].starts_with("`path` must come first")
        );
        assert!(parse_err(quote!(fixtures(path = "d")))[0].contains("no fixture"));
        assert!(parse_err(quote!(fixtures(path = "d", "a")))[0].starts_with("after `path = ...`"));
        assert!(parse_err(quote!(fixtures(users)))[0].starts_with("expected a fixture name"));
        assert!(parse_err(quote!(fixtures("")))[0].starts_with("empty fixture name"));
    }

    #[test]
    fn runtime_flavor() {
        assert_eq!(
            parse_ok(quote!(flavor = "current_thread")).flavor,
            Some(RuntimeFlavor::CurrentThread)
        );
        assert_eq!(
            parse_ok(quote!(flavor = "multi_thread")).flavor,
            Some(RuntimeFlavor::MultiThread {
                worker_threads: None
            })
        );
        assert_eq!(
            parse_ok(quote!(worker_threads = 4, flavor = "multi_thread")).flavor,
            Some(RuntimeFlavor::MultiThread {
                worker_threads: Some(4)
            })
        );
        assert!(parse_err(quote!(flavor = "local"))[0].starts_with("unknown runtime flavor"));
        assert!(parse_err(quote!(worker_threads = 0))[0].contains("at least 1"));
    }

    #[test]
    fn worker_threads_needs_multi_thread() {
        let errors = parse_err(quote!(worker_threads = 2));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("add `flavor = \"multi_thread\"`"),
            "{errors:?}"
        );
        let errors = parse_err(quote!(flavor = "current_thread", worker_threads = 2));
        assert!(
            errors[0].contains("instead of `flavor = \"current_thread\"`"),
            "{errors:?}"
        );
        // A bad flavor is reported once, not again through `worker_threads`.
        assert_eq!(
            parse_err(quote!(flavor = "nope", worker_threads = 2)).len(),
            1
        );
    }

    #[test]
    fn values_inside_invisible_groups() {
        // What `macro_rules!` passes for `$iso:expr`.
        let group = proc_macro2::Group::new(proc_macro2::Delimiter::None, quote!("database"));
        let args = parse_ok(quote!(isolation = #group));
        assert_eq!(args.isolation.map(|i| i.value), Some(Isolation::Database));
    }

    #[test]
    fn syntax_error() {
        let errors = parse_err(quote!(isolation = ));
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn nearest_argument_for_typos() {
        assert_eq!(nearest_argument("fixture"), Some("fixtures"));
        assert_eq!(nearest_argument("migrater"), Some("migrator"));
        assert_eq!(nearest_argument("workers"), None);
        assert_eq!(nearest_argument(""), None);
    }
}
