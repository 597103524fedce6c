//! `tokio::time::pause()` needs a current-thread runtime: on the multi-thread runtime
//! `#[db_test]` uses by default it panics, and tokio's panic does not say what to change in
//! the attribute. A call written in the test body is reported at compile time instead.

use proc_macro2::{Span, TokenStream, TokenTree};

use crate::error::Errors;
use crate::harness::RuntimeFlavor;

/// Records an error at each `time::pause` in `body` unless the test has its own
/// current-thread runtime.
pub(crate) fn check(body: TokenStream, flavor: &RuntimeFlavor, errors: &mut Errors) {
    if matches!(flavor, RuntimeFlavor::CurrentThread) {
        return;
    }
    for span in pause_calls(body) {
        errors.at(
            span,
            "`tokio::time::pause` needs a current-thread runtime, and `#[db_test]` runs the test \
             on a multi-thread one unless told: write `#[db_test(flavor = \"current_thread\")]` \
             (with any other arguments)",
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

    fn count(body: TokenStream, flavor: RuntimeFlavor) -> usize {
        let mut errors = Errors::default();
        check(body, &flavor, &mut errors);
        errors
            .finish()
            .map_or_else(|e| e.into_iter().count(), |()| 0)
    }

    #[test]
    fn pause_outside_a_current_thread_runtime_is_an_error() {
        let body = quote!({
            tokio::time::pause();
            async { ::tokio::time::pause() }.await;
            pause();
            other::pause();
        });
        assert_eq!(count(body.clone(), RuntimeFlavor::Shared), 2);
        assert_eq!(
            count(
                body.clone(),
                RuntimeFlavor::MultiThread {
                    worker_threads: None
                }
            ),
            2
        );
        assert_eq!(count(body, RuntimeFlavor::CurrentThread), 0);
    }
}
