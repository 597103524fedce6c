//! The `#[db_test]` attribute of the `persistence` crate.
//!
//! Use it through `persistence::db_test` (cargo feature `testing`); this crate only holds the
//! proc macro. The expansion calls the harness in `persistence::testing`, which provides the
//! PostgreSQL server, the migrated template and the per-test isolation.

use proc_macro::TokenStream;

mod args;
mod env;
mod error;
mod expand;
mod fixtures;
mod harness;
mod migrations;
mod signature;
mod stand_in;
mod time_pause;

/// The proc macro of `persistence::db_test` (cargo feature `testing`), from the
/// `persistence-pg-macros` package: use it through `persistence` (package `persistence-pg`),
/// whose documentation of `db_test` gives the signatures, the arguments and examples compiled
/// as doctests.
#[proc_macro_attribute]
pub fn db_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let env = env::Env::of_call_site();
    let item = proc_macro2::TokenStream::from(item);
    match expand::expand(args.into(), item.clone(), &env) {
        Ok(tokens) => tokens.into(),
        Err(error) => stand_in::with_errors(error, item).into(),
    }
}
