//! Turning a validated test into code.
//!
//! The generated test is a plain synchronous `#[test]` function, so it runs under libtest and
//! nextest alike and keeps `#[should_panic]`, `#[ignore]` and friends. It nests the user's body
//! as an `async fn`, describes the test in a `TestSpec`, and hands both to the runtime in
//! `persistence::testing::run`, which owns everything dynamic (servers, templates, runtimes).
//! All paths are absolute so the expansion means the same in any module.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::{FnArg, Ident, ItemFn, ReturnType, parse_quote};

use crate::args::{self, Args, Isolation};
use crate::env::{Env, normalize};
use crate::error::Errors;
use crate::fixtures::{self, ResolvedFixture};
use crate::migrations::{self, Schema};
use crate::signature::{self, DbArgs, TestFn};
use crate::time_pause;

/// Expands `#[db_test(<args>)] <item>`, or returns every error found.
pub(crate) fn expand(args: TokenStream, item: TokenStream, env: &Env) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let parsed = args::parse(args.clone(), &mut errors);

    let item: ItemFn = match syn::parse2(item) {
        Ok(item) => item,
        Err(error) => {
            return Err(errors.with(syn::Error::new(
                error.span(),
                "`#[db_test]` applies to an `async fn`: `#[db_test] async fn name(conn: &mut \
                 PgConnection) { ... }`",
            )));
        }
    };

    let test = signature::check(item, &mut errors);
    if let Some(test) = &test {
        check_against_signature(&parsed, &test.db, &mut errors);
        // An rstest template is checked when each case comes back through `#[db_test]`.
        if !test.rstest {
            let body = test.item.block.to_token_stream();
            time_pause::check(body, parsed.flavor, &mut errors);
        }
    }
    let schema = migrations::resolve(
        &parsed.migrations,
        env.manifest_dir.as_deref(),
        env.in_documentation(),
        &mut errors,
    );
    let fixtures = fixtures::resolve_all(&parsed.fixtures, env, &mut errors);
    errors.finish()?;
    let Some(test) = test else {
        // `check` returns `None` only after recording an error.
        return Err(syn::Error::new(
            Span::call_site(),
            "invalid `#[db_test]` function",
        ));
    };

    if test.rstest {
        Ok(rstest_template(test, args))
    } else {
        Ok(test_fn(test, &parsed, &schema, &fixtures, env))
    }
}

/// The checks that need both the arguments and the signature.
fn check_against_signature(args: &Args, db: &DbArgs, errors: &mut Errors) {
    let Some(implied) = db.isolation() else {
        for (name, span) in &args.database_only {
            errors.at(
                *span,
                format!(
                    "`{name}` needs a database, but this test takes no database argument: add one \
                     (e.g. `conn: &mut PgConnection`), or remove `{name}`"
                ),
            );
        }
        return;
    };
    let Some(isolation) = &args.isolation else {
        return;
    };
    match (isolation.value, implied) {
        (Isolation::Transaction, Isolation::Database) => errors.spanned(
            &isolation.lit,
            "`isolation = \"transaction\"` needs a `conn: &mut PgConnection` argument (a connection \
             inside the transaction); an owned handle such as `PgPool` or `TestDb` gets a \
             database of its own. Take `conn: &mut PgConnection`, or write \
             `isolation = \"database\"`",
        ),
        (Isolation::Database, Isolation::Transaction) => errors.spanned(
            &isolation.lit,
            "`isolation = \"database\"` gives the test a database of its own, but \
             `&mut PgConnection` is a connection inside a rolled-back transaction. Take \
             `pool: PgPool`, `db: TestDb` or `conn: PoolConnection<Postgres>`, or remove \
             `isolation` (or write `isolation = \"transaction\"`)",
        ),
        _ => {}
    }
}

/// `#[db_test]` above `#[rstest]`: hand the function to rstest with the database argument(s)
/// marked `#[ignore]` (rstest then leaves them in each case's signature instead of resolving
/// them as fixtures) and with `#[test_attr(db_test(..))]` (rstest then puts `#[db_test(..)]` on
/// each case instead of its own `#[test]`). Each case is expanded by `#[db_test]` again, as a
/// test of its own.
fn rstest_template(test: TestFn, args: TokenStream) -> TokenStream {
    let mut item = test.item;
    for input in &mut item.sig.inputs {
        if let FnArg::Typed(arg) = input
            && signature::classify(&arg.ty).is_ok()
            && !arg.attrs.iter().any(|attr| attr.path().is_ident("ignore"))
        {
            arg.attrs.push(parse_quote!(#[ignore]));
        }
    }
    item.attrs
        .push(parse_quote!(#[test_attr(::persistence::db_test(#args))]));
    item.into_token_stream()
}

/// The test function itself.
fn test_fn(
    test: TestFn,
    args: &Args,
    schema: &Schema,
    fixtures: &[ResolvedFixture],
    env: &Env,
) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = test.item;
    let name = &sig.ident;
    let output = &sig.output;
    let inputs = &sig.inputs;

    // `mixed_site`: the names the expansion introduces cannot clash with the user's.
    let body_fn = Ident::new("__db_test_body", Span::mixed_site());
    let migrator = Ident::new("__DB_TEST_MIGRATOR", Span::mixed_site());
    let fixtures_const = Ident::new("__DB_TEST_FIXTURES", Span::mixed_site());
    let spec = Ident::new("spec", Span::mixed_site());

    // A test without a database has no schema to build (as with `#[sqlx::test]`).
    let schema = if matches!(test.db, DbArgs::None) {
        &Schema::None
    } else {
        schema
    };
    // The directory on disk the migrations were embedded from, for the harness to notice a
    // test binary that cargo did not rebuild after a migration changed.
    let migrations_dir = match (schema, env.manifest_dir.as_deref()) {
        (Schema::Dir(dir), Some(root)) => {
            let absolute = normalize(&root.join(dir.value()));
            let absolute = absolute.to_string_lossy();
            quote!(.migrations_dir(#absolute))
        }
        _ => quote!(),
    };
    let (migrator_static, migrations) = match schema {
        Schema::None => (None, quote!(::persistence::testing::Migrations::None)),
        Schema::Dir(dir) => (
            // Embedded at compile time; `static` so that the harness gets a `&'static Migrator`.
            Some(quote! {
                static #migrator: ::sqlx::migrate::Migrator = ::sqlx::migrate!(#dir);
            }),
            quote!(::persistence::testing::Migrations::Embedded(&#migrator)),
        ),
        Schema::Migrator(path) => (
            None,
            quote!(::persistence::testing::Migrations::Embedded(&#path)),
        ),
    };

    let fixtures = fixtures.iter().map(|fixture| {
        let display = &fixture.display;
        let include = &fixture.include;
        quote_spanned! {fixture.span=>
            ::persistence::testing::Fixture::new(#display, ::core::include_str!(#include))
        }
    });

    let runtime = args.flavor.unwrap_or_default();
    let role = args.role.as_ref().map(|role| quote!(.role(#role)));

    // Spanned on the return type, so that "`i32` is not a test outcome" points at `-> i32`.
    let outcome_span = match output {
        ReturnType::Type(_, ty) => syn::spanned::Spanned::span(ty),
        ReturnType::Default => name.span(),
    };
    let run = match &test.db {
        DbArgs::None => quote_spanned! {outcome_span=>
            ::persistence::testing::run::without_database(&#spec, #body_fn())
        },
        DbArgs::Connection => {
            let conn = Ident::new("conn", Span::mixed_site());
            // The body borrows the connection, so its future is boxed with that lifetime.
            quote_spanned! {outcome_span=>
                ::persistence::testing::run::transaction(&#spec, |#conn| {
                    ::std::boxed::Box::pin(#body_fn(#conn))
                })
            }
        }
        DbArgs::Owned => quote_spanned! {outcome_span=>
            ::persistence::testing::run::database(&#spec, #body_fn)
        },
        DbArgs::OptionsPair(opts, connect) => {
            // `#[sqlx::test]`'s two arguments arrive as the one `(PgPoolOptions, PgConnectOptions)`
            // the harness builds.
            let (opts_ty, connect_ty) = (&opts.ty, &connect.ty);
            let (a, b) = (
                Ident::new("opts", Span::mixed_site()),
                Ident::new("connect", Span::mixed_site()),
            );
            quote_spanned! {outcome_span=>
                ::persistence::testing::run::database(
                    &#spec,
                    |(#a, #b): (#opts_ty, #connect_ty)| #body_fn(#a, #b),
                )
            }
        }
    };

    let name_str = name.to_string();
    quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() #output {
            async fn #body_fn(#inputs) #output #block

            #migrator_static

            const #fixtures_const: &[::persistence::testing::Fixture] = &[#(#fixtures),*];

            let #spec = ::persistence::testing::TestSpec::new(
                ::core::concat!(::core::module_path!(), "::", #name_str),
            )
            .migrations(#migrations)
            .fixtures(#fixtures_const)
            .runtime(#runtime)#migrations_dir #role;

            #run
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn env() -> Env {
        let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        Env {
            manifest_dir: Some(tests.clone()),
            source_file: Some(tests.join("db_test/pass/source.rs")),
        }
    }

    fn expand_ok(args: TokenStream, item: TokenStream) -> String {
        match expand(args, item, &env()) {
            Ok(tokens) => {
                let file: syn::File = syn::parse2(tokens).expect("the expansion parses");
                // Printed with `cargo test -p persistence-pg-macros -- --nocapture`.
                let pretty = format_tokens(&file);
                println!("{pretty}");
                pretty
            }
            Err(error) => panic!("unexpected error: {error}"),
        }
    }

    fn expand_err(args: TokenStream, item: TokenStream) -> Vec<String> {
        match expand(args, item, &env()) {
            Ok(tokens) => panic!("expected an error, got {tokens}"),
            Err(all) => all.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    /// Token text with `;`/`{`/`}` line breaks: enough to read an expansion without prettyplease.
    fn format_tokens(file: &syn::File) -> String {
        file.to_token_stream()
            .to_string()
            .replace("; ", ";\n")
            .replace("{ ", "{\n")
            .replace("} ", "}\n")
    }

    #[test]
    fn transaction_test() {
        let out = expand_ok(
            quote!(),
            quote! {
                /// Docs stay.
                #[should_panic]
                async fn publishes(conn: &mut PgConnection) -> anyhow::Result<()> { Ok(()) }
            },
        );
        assert!(out.contains("# [should_panic]"));
        assert!(out.contains("# [:: core :: prelude :: v1 :: test]"));
        assert!(out.contains("fn publishes () -> anyhow :: Result < () >"));
        assert!(out.contains(
            "async fn __db_test_body (conn : & mut PgConnection) -> anyhow :: Result < () >"
        ));
        // `tests/migrations` exists, so it is the default.
        assert!(out.contains(":: sqlx :: migrate ! (\"./migrations\")"));
        assert!(
            !out.contains("Isolation"),
            "the mode is the entry point: {out}"
        );
        assert!(out.contains(":: persistence :: testing :: RuntimeFlavor :: CurrentThread"));
        assert!(out.contains(":: persistence :: testing :: run :: transaction (& spec , | conn |"));
        assert!(out.contains("\"publishes\""));
    }

    #[test]
    fn a_role_reaches_the_spec() {
        let out = expand_ok(
            quote!(migrations = false, role = "app"),
            quote!(
                async fn as_app(conn: &mut PgConnection) {}
            ),
        );
        assert!(out.contains(". role (\"app\")"), "{out}");
        let without = expand_ok(
            quote!(migrations = false),
            quote!(
                async fn as_superuser(conn: &mut PgConnection) {}
            ),
        );
        assert!(!without.contains(". role ("), "{without}");
    }

    #[test]
    fn database_test_with_fixtures_and_runtime() {
        let out = expand_ok(
            quote!(
                isolation = "database",
                fixtures("users", "sites"),
                migrations = false,
                flavor = "multi_thread",
                worker_threads = 2
            ),
            quote!(
                async fn two_sessions(db: TestDb) {}
            ),
        );
        assert!(!out.contains("migrate !"));
        assert!(out.contains(":: persistence :: testing :: Migrations :: None"));
        assert!(out.contains(":: persistence :: testing :: Fixture :: new (\"db_test/pass/fixtures/users.sql\" , :: core :: include_str ! (\""));
        assert!(out.contains("db_test/pass/fixtures/sites.sql\")"));
        assert!(!out.contains("Isolation"));
        assert!(out.contains(
            "MultiThread {\nworker_threads : :: core :: option :: Option :: Some (2usize) }"
        ));
        assert!(out.contains("run :: database (& spec , __db_test_body)"));
    }

    #[test]
    fn sqlx_two_argument_form_and_migrator() {
        let out = expand_ok(
            quote!(migrator = "crate::MIGRATOR"),
            quote!(
                async fn t(opts: PgPoolOptions, connect: PgConnectOptions) {}
            ),
        );
        assert!(out.contains("Migrations :: Embedded (& crate :: MIGRATOR)"));
        assert!(out.contains("| (opts , connect) : (PgPoolOptions , PgConnectOptions) | __db_test_body (opts , connect)"));
    }

    #[test]
    fn test_without_a_database() {
        let out = expand_ok(
            quote!(flavor = "current_thread"),
            quote!(
                async fn t() {}
            ),
        );
        assert!(out.contains("run :: without_database (& spec , __db_test_body ())"));
        assert!(
            out.contains("Migrations :: None"),
            "no migrations without a database"
        );
        assert!(out.contains("RuntimeFlavor :: CurrentThread"));
    }

    #[test]
    fn rstest_template_is_handed_to_rstest() {
        let out = expand_ok(
            quote!(fixtures("users")),
            quote! {
                #[rstest]
                #[case(1)]
                async fn t(#[case] n: i32, conn: &mut PgConnection) {}
            },
        );
        assert!(out.starts_with("# [rstest] # [case (1)] # [test_attr (:: persistence :: db_test (fixtures (\"users\")))] async fn t (# [case] n : i32 , # [ignore] conn : & mut PgConnection)"), "{out}");
    }

    #[test]
    fn errors_from_every_stage_at_once() {
        let errors = expand_err(
            quote!(
                isolation = "transaction",
                fixtures("missing"),
                migrations = "./nope",
                bogus = 1
            ),
            quote!(
                unsafe fn t(pool: PgPool) {}
            ),
        );
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors[0].starts_with("unknown `#[db_test]` argument `bogus`"));
        assert!(errors[1].contains("cannot be `unsafe`"));
        assert!(errors[2].starts_with("`isolation = \"transaction\"` needs"));
        assert!(errors[3].starts_with("migrations directory `./nope` not found"));
        assert!(errors[4].starts_with("fixture `missing` not found"));
    }

    #[test]
    fn database_arguments_without_a_database() {
        let errors = expand_err(
            quote!(
                isolation = "database",
                fixtures("users"),
                flavor = "current_thread"
            ),
            quote!(
                async fn t() {}
            ),
        );
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("`isolation` needs a database"));
    }

    #[test]
    fn isolation_database_with_a_connection() {
        let errors = expand_err(
            quote!(isolation = "database"),
            quote!(
                async fn t(conn: &mut PgConnection) {}
            ),
        );
        assert!(errors[0].starts_with("`isolation = \"database\"` gives the test a database"));
    }

    #[test]
    fn not_a_function() {
        let errors = expand_err(
            quote!(),
            quote!(
                struct S;
            ),
        );
        assert!(errors[0].starts_with("`#[db_test]` applies to an `async fn`"));
    }
}
