//! The harness's types that the attribute decides, mirrored.
//!
//! `persistence` depends on this crate, so this crate cannot name `persistence::testing`'s
//! types; it holds its own copies under the same names, and its `ToTokens` impls below are the
//! one place where a value becomes the harness path the expansion writes. A variant added to
//! the harness's enum is added here too, and in the matching `to_tokens`.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

/// How one test is isolated from the others. Mirrors `persistence::testing::Isolation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isolation {
    /// A transaction on a shared database, rolled back afterwards.
    Transaction,
    /// A database of its own.
    Database,
}

/// The tokio runtime a test runs on. Mirrors `persistence::testing::RuntimeFlavor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum RuntimeFlavor {
    /// The harness's process-wide runtime.
    #[default]
    Shared,
    /// `flavor = "current_thread"`.
    CurrentThread,
    /// `flavor = "multi_thread"`, with `worker_threads = N` if given.
    MultiThread { worker_threads: Option<usize> },
}

impl ToTokens for Isolation {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            Isolation::Transaction => quote!(::persistence::testing::Isolation::Transaction),
            Isolation::Database => quote!(::persistence::testing::Isolation::Database),
        });
    }
}

impl ToTokens for RuntimeFlavor {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            RuntimeFlavor::Shared => quote!(::persistence::testing::RuntimeFlavor::Shared),
            RuntimeFlavor::CurrentThread => {
                quote!(::persistence::testing::RuntimeFlavor::CurrentThread)
            }
            RuntimeFlavor::MultiThread { worker_threads } => {
                let worker_threads = match worker_threads {
                    Some(n) => quote!(::core::option::Option::Some(#n)),
                    None => quote!(::core::option::Option::None),
                };
                quote!(::persistence::testing::RuntimeFlavor::MultiThread {
                    worker_threads: #worker_threads
                })
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_names_the_harness_type() {
        let tokens = |value: &dyn ToTokens| value.to_token_stream().to_string();
        assert_eq!(
            tokens(&Isolation::Database),
            ":: persistence :: testing :: Isolation :: Database"
        );
        assert_eq!(
            tokens(&RuntimeFlavor::MultiThread {
                worker_threads: Some(2)
            }),
            ":: persistence :: testing :: RuntimeFlavor :: MultiThread { worker_threads : :: \
             core :: option :: Option :: Some (2usize) }"
        );
    }
}
