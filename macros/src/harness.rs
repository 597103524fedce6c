//! The one value the attribute hands the harness as a type of the harness's: the runtime.
//!
//! `persistence` depends on this crate, so this crate cannot name `persistence::testing`'s
//! types; `RuntimeFlavor` mirrors its namesake, and its `ToTokens` impl below is the one place
//! where a value becomes the harness path the expansion writes. (The test's mode is not
//! mirrored: the expansion calls the entry point the signature implies.)

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

/// The tokio runtime a test's body runs on. Mirrors `persistence::testing::RuntimeFlavor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum RuntimeFlavor {
    /// `flavor = "current_thread"`, the default (as for `#[tokio::test]`).
    #[default]
    CurrentThread,
    /// `flavor = "multi_thread"`, with `worker_threads = N` if given.
    MultiThread { worker_threads: Option<usize> },
}

impl ToTokens for RuntimeFlavor {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
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
            tokens(&RuntimeFlavor::CurrentThread),
            ":: persistence :: testing :: RuntimeFlavor :: CurrentThread"
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
