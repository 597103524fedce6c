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

/// The proc macro of `persistence::db_test` (cargo feature `testing`), from the
/// `persistence-macros` crate: use it through `persistence`, whose documentation of `db_test`
/// gives the signatures, the arguments and examples compiled as doctests.
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
