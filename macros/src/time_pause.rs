//! `tokio::time::pause()` needs a current-thread runtime: on the multi-thread runtime a test
//! asks for with `flavor = "multi_thread"` it panics, and tokio's panic does not say what to
//! change in the attribute. A call written in the test body is reported at compile time
//! instead.

use proc_macro2::{Span, TokenStream, TokenTree};

use crate::error::Errors;
use crate::harness::RuntimeFlavor;

/// Records an error at each `time::pause` in `body` when the test asks for a multi-thread
/// runtime.
pub(crate) fn check(body: TokenStream, flavor: Option<RuntimeFlavor>, errors: &mut Errors) {
    if !matches!(flavor, Some(RuntimeFlavor::MultiThread { .. })) {
        return;
    }
    for span in pause_calls(body) {
        errors.at(
            span,
            "`tokio::time::pause` needs a current-thread runtime, and this test asks for \
             `flavor = \"multi_thread\"`: remove it (a test runs on a current-thread runtime \
             by default)",
        );
    }
}

/// The spans of `pause` in every `time::pause` path of `tokens`, nested groups included.
fn pause_calls(tokens: TokenStream) -> Vec<Span> {
    let mut found = Vec::new();
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Group(group) => found.extend(pause_calls(group.stream())),
            TokenTree::Ident(ident) if ident == "pause" && i >= 3 => {
                let path = matches!(
                    (&trees[i - 3], &trees[i - 2], &trees[i - 1]),
                    (TokenTree::Ident(time), TokenTree::Punct(a), TokenTree::Punct(b))
                        if time == "time" && a.as_char() == ':' && b.as_char() == ':'
                );
                if path {
                    found.push(ident.span());
                }
            }
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn count(body: TokenStream, flavor: Option<RuntimeFlavor>) -> usize {
        let mut errors = Errors::default();
        check(body, flavor, &mut errors);
        errors
            .finish()
            .map_or_else(|e| e.into_iter().count(), |()| 0)
    }

    #[test]
    fn pause_on_a_multi_thread_runtime_is_an_error() {
        let body = quote!({
            tokio::time::pause();
            async { ::tokio::time::pause() }.await;
            pause();
            other::pause();
        });
        assert_eq!(
            count(
                body.clone(),
                Some(RuntimeFlavor::MultiThread {
                    worker_threads: None
                })
            ),
            2
        );
        assert_eq!(count(body.clone(), Some(RuntimeFlavor::CurrentThread)), 0);
        assert_eq!(
            count(body, None),
            0,
            "the default runtime is current-thread"
        );
    }
}
