//! The `#[db_test]` attribute of the `persistence` crate.
//!
//! Use it through `persistence::db_test` (cargo feature `testing`); this crate only holds the
//! proc macro. The expansion calls the harness in `persistence::testing`, which provides the
//! PostgreSQL server, the migrated template and the per-test isolation.

use std::path::PathBuf;

use proc_macro::TokenStream;

mod args;
mod error;
mod expand;
mod fixtures;
mod migrations;
mod signature;
mod stand_in;
mod time_pause;

/// Turns an `async fn` into a test that gets its own view of a migrated PostgreSQL database.
///
/// ```rust,ignore
/// use persistence::db_test;
/// use sqlx::{PgConnection, PgPool};
///
/// #[db_test] // a rolled-back transaction; migrations from ./migrations
/// async fn publishes_a_page(conn: &mut PgConnection) -> anyhow::Result<()> {
///     sqlx::query("INSERT INTO pages (slug) VALUES ('home')")
///         .execute(&mut *conn)
///         .await?;
///     Ok(())
/// }
///
/// #[db_test(fixtures("users", "sites"))] // a database of its own, because of the `PgPool`
/// async fn two_sessions_see_the_commit(pool: PgPool) {
///     // ...
/// }
/// ```
///
/// The function becomes a plain `#[test]`, so it runs under `cargo test` and
/// `cargo nextest run` alike. Do not add `#[test]` (or `#[tokio::test]`) yourself. Other
/// attributes are kept: `#[should_panic]`, `#[ignore]`, doc comments, `#[cfg(...)]`, ...
///
/// # Signature
///
/// The function must be `async`, not generic, not a method. Its argument says what the test
/// gets, and therefore how it is isolated:
///
/// | argument | the test gets | isolation |
/// |---|---|---|
/// | `conn: &mut PgConnection` | a connection inside a transaction, rolled back afterwards | transaction |
/// | `pool: PgPool` (or `Pool<Postgres>`) | a pool to a database of its own, dropped afterwards | database |
/// | `conn: PoolConnection<Postgres>` | one connection of such a pool | database |
/// | `db: TestDb` | the harness's handle on such a database | database |
/// | `opts: PgConnectOptions` | options to connect to such a database | database |
/// | `opts: PgPoolOptions, connect: PgConnectOptions` | as `#[sqlx::test]` (also as one tuple-typed argument) | database |
/// | none | no database, only the runtime | — |
///
/// Types are recognised by the last segment of their path, so `sqlx::PgPool` and `PgPool` are
/// both fine; type aliases are not seen through.
///
/// The return type is passed through: `()`, or a `Result<(), E>` with `E: Debug`
/// (`anyhow::Result<()>`, `Result<(), sqlx::Error>`, ...) whose `Err` fails the test, as with
/// any `#[test]`.
///
/// # Arguments
///
/// - `isolation = "transaction"` or `isolation = "database"`. Without it the signature
///   chooses (see above). It must agree with the signature: a transaction needs
///   `&mut PgConnection`, a database needs an owned handle.
/// - `migrations = "<dir>"`: the migrations to apply, relative to the crate root
///   (`CARGO_MANIFEST_DIR`), as for `sqlx::migrate!`. Without `migrations` or `migrator`,
///   `./migrations` is applied if that directory exists, else nothing.
/// - `migrations = false`: start from an empty database.
/// - `migrator = "path::TO::MIGRATOR"` (or without quotes): a
///   `static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!(...)` of your own. Cannot be
///   combined with `migrations`.
/// - `fixtures(...)`: SQL files run, in order, before the body (inside the transaction in
///   transaction mode). Several `fixtures(...)` lists may be given; their order is kept.
///   - `fixtures("users", "sites")`: bare names. `.sql` is added when the name has no
///     extension, and the file is looked up as `fixtures/users.sql` next to the source file
///     that contains the test (as `#[sqlx::test]` does), then as `fixtures/users.sql` at the
///     crate root. The second place is where this workspace keeps its fixtures, shared by all
///     the files of `tests/`.
///   - `fixtures("../fixtures/users.sql")`: a path with a `/` is relative to the source file,
///     taken as written.
///   - `fixtures(path = "../fixtures", scripts("users", "sites"))`: `<path>/<name>.sql`,
///     relative to the source file.
///
///   Files are found when the test is compiled: a missing fixture is a compile error listing
///   the paths looked at, and the test is rebuilt when a fixture changes.
/// - `flavor = "current_thread"` or `flavor = "multi_thread"`: run the test on a fresh tokio
///   runtime of that flavor, as `#[tokio::test]` would (e.g. for `tokio::time::pause`).
///   Without it the test runs on the harness's shared runtime, whose pooled connections stay
///   warm between tests.
/// - `worker_threads = <n>`: with `flavor = "multi_thread"` only.
///
/// Unknown, repeated or conflicting arguments are compile errors, all reported at once.
///
/// # rstest
///
/// Put `#[db_test]` **above** `#[rstest]`. Each case becomes a test of its own, with its own
/// transaction or database:
///
/// ```rust,ignore
/// #[db_test(fixtures("users"))]
/// #[rstest]
/// #[case::admin("admin", true)]
/// #[case::guest("guest", false)]
/// async fn can_publish(#[case] role: &str, #[case] allowed: bool, conn: &mut PgConnection) {
///     // ...
/// }
/// ```
///
/// The database argument is recognised by its type; the other arguments are rstest's (cases,
/// `#[values]`, fixtures). `#[db_test]` marks the database argument `#[ignore]` (so rstest
/// leaves it to the test instead of looking for a fixture of that name) and adds
/// `#[test_attr(persistence::db_test(...))]` (so rstest puts `#[db_test]` on each case instead
/// of a `#[test]` of its own).
///
/// The same written by hand also works, below `#[rstest]`:
///
/// ```rust,ignore
/// #[rstest]
/// #[case(1)]
/// #[case(2)]
/// #[test_attr(db_test)]
/// async fn counts(#[case] n: i64, #[ignore] conn: &mut PgConnection) { /* ... */ }
/// ```
///
/// A plain `#[db_test]` *below* `#[rstest]` does not work: rstest only recognises test
/// attributes whose name is `test`, and rejects an `async fn` without one.
///
/// # Coming from `#[sqlx::test]`
///
/// Replacing `#[sqlx::test]` with `#[db_test]` keeps every argument and signature meaning the
/// same (`PgPool`, `PoolConnection<Postgres>`, `PgPoolOptions, PgConnectOptions` get a
/// database of their own, as there). Differences:
/// - more signatures: `&mut PgConnection` (much faster: a transaction instead of a database),
///   `TestDb`, `PgConnectOptions` alone;
/// - the function must be `async` (`#[sqlx::test]` also takes a plain `fn` without arguments);
/// - bare fixture names also fall back to the crate root's `fixtures/`, and missing fixtures
///   are reported with the paths looked at;
/// - `fixtures()` and `fixtures(path = "...")` without scripts, which name no fixture, are
///   errors rather than no-ops;
/// - `migrations = "migrations"` (no `./`) is accepted, relative to the crate root;
/// - the default `./migrations` does not read `migrations_dir` from `sqlx.toml`: name the
///   directory with `migrations = "..."` if yours differs (other `sqlx.toml` settings apply, as
///   the migrations are embedded with `sqlx::migrate!`).
///
/// # Requirements
///
/// The expansion names `::persistence` (with the `testing` feature) and `::sqlx` (for
/// `sqlx::migrate!`, features `migrate` and `macros`): both must be dependencies of the crate
/// that contains the tests, under those names.
///
/// # Errors
///
/// Every mistake is a compile error on the tokens at fault, and all are reported together:
///
/// ```text
/// error: `isolation = "database"` gives the test a database of its own, but `&mut PgConnection`
///        is a connection inside a rolled-back transaction. Take `pool: PgPool`, `db: TestDb` or
///        `conn: PoolConnection<Postgres>`, or remove `isolation` (or write `isolation = "transaction"`)
///  --> tests/pages.rs:7:23
///   |
/// 7 | #[db_test(isolation = "database")]
///   |                       ^^^^^^^^^^
/// ```
#[proc_macro_attribute]
pub fn db_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let env = fixtures::Env {
        manifest_dir: std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        // The file that contains the test: fixture paths are relative to it, as the
        // `include_str!` of `#[sqlx::test]` is. rustc may name it relative to its working
        // directory, which is also ours.
        source_file: proc_macro::Span::call_site()
            .local_file()
            .and_then(|file| std::path::absolute(file).ok()),
    };
    let item = proc_macro2::TokenStream::from(item);
    match expand::expand(args.into(), item.clone(), &env) {
        Ok(tokens) => tokens.into(),
        Err(error) => stand_in::with_errors(error, item).into(),
    }
}
