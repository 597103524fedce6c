//! What a rejected `#[db_test]` leaves in place of the function, beside its errors.
//!
//! Replacing the function by its errors alone leaves everything it used unused, and rustc
//! then adds an "unused import" warning for each `use` the test needed: noise on top of the
//! real error. The function stays instead, as an ordinary function that is never called:
//! without the attributes that would make it a test (or an rstest template), without
//! parameter attributes, and with the lints of an unused function silenced.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{FnArg, Item, ItemFn, parse_quote};

/// The item to emit after the errors: the function made inert, any other item as it is, or
/// nothing when the function could not stand on its own (a method, a variadic).
pub(crate) fn stand_in(item: TokenStream) -> TokenStream {
    let Ok(parsed) = syn::parse2::<Item>(item.clone()) else {
        return TokenStream::new();
    };
    let Item::Fn(function) = parsed else {
        return item;
    };
    inert(function).map_or_else(TokenStream::new, ToTokens::into_token_stream)
}

fn inert(mut function: ItemFn) -> Option<ItemFn> {
    let sig = &mut function.sig;
    if sig.variadic.is_some()
        || sig
            .inputs
            .iter()
            .any(|input| matches!(input, FnArg::Receiver(_)))
    {
        return None;
    }
    // Neither may be combined with `async`: only the errors already reported should show.
    sig.constness = None;
    sig.abi = None;
    for input in &mut sig.inputs {
        if let FnArg::Typed(arg) = input {
            arg.attrs.clear();
        }
    }
    function.attrs.retain(|attr| {
        ["doc", "cfg", "cfg_attr", "allow"]
            .iter()
            .any(|name| attr.path().is_ident(name))
    });
    function.attrs.push(parse_quote!(#[allow(
        dead_code,
        unused_variables,
        unused_mut,
        unreachable_code,
        clippy::all
    )]));
    Some(function)
}

/// Every error, then the stand-in.
pub(crate) fn with_errors(error: syn::Error, item: TokenStream) -> TokenStream {
    let errors = error.into_compile_error();
    let item = stand_in(item);
    quote!(#errors #item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_becomes_an_inert_function() {
        let out = stand_in(quote! {
            /// Docs stay.
            #[test]
            #[rstest]
            #[case(1)]
            #[should_panic]
            const async fn t(#[case] n: i32, #[ignore] conn: &mut PgConnection) {}
        })
        .to_string();
        assert_eq!(
            out,
            "# [doc = r\" Docs stay.\"] # [allow (dead_code , unused_variables , unused_mut , \
             unreachable_code , clippy :: all)] async fn t (n : i32 , conn : & mut PgConnection) { }"
        );
    }

    #[test]
    fn what_cannot_stand_alone_is_dropped_and_other_items_kept() {
        assert!(
            stand_in(quote!(
                async fn m(&self) {}
            ))
            .is_empty()
        );
        assert!(stand_in(quote!(not an item)).is_empty());
        assert_eq!(
            stand_in(quote!(
                struct S;
            ))
            .to_string(),
            "struct S ;"
        );
    }
}
