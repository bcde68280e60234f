//! What `#[event]` emits for a refused block beside its errors, so that one mistake is one
//! error: a stub `State` impl with placeholder companion methods. None of it ever runs: it
//! only exists in a build that fails on the macro's own error.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse_quote;
use syn::spanned::Spanned;

use super::expand::{StateImpl, companion, companion_name, placeholder_method};
use super::parse::EventBlock;

/// A `State` impl with no handlers (dispatch answers `UnknownHandler`), for a block that
/// cannot be a handler table: pages that read the state, and `App::page` with them, still
/// compile, so they add no "not a UI state type" errors to the block's own.
pub fn stub(block: &EventBlock) -> TokenStream {
    let item = &block.item;
    let self_ty = &*item.self_ty;
    let state_name = block.state_name();
    let (generics, companion, events) = if item.generics.params.is_empty() {
        let events_ty = companion_name(block);
        let methods = block
            .handlers
            .iter()
            .map(|handler| placeholder_method(&state_name, handler, self_ty));
        let companion = companion(&events_ty, methods);
        (item.generics.clone(), companion, quote!(#events_ty))
    } else {
        // A generic type is `State`'s supertraits only for some arguments (a derived
        // `Serialize` wants `T: Serialize`), so the stub is bounded on them: `Tally<i64>`
        // is a state where `Tally<T>` derives them. There is no companion: `ui!` names a
        // handler as `Type::method`, which cannot carry the type's arguments. The serde
        // traits are named through the prelude because `__private` has no path to them.
        let mut generics = item.generics.clone();
        generics.make_where_clause().predicates.push(parse_quote! {
            #self_ty: ::core::default::Default
                + ::ferrex::prelude::Serialize
                + for<'__de> ::ferrex::prelude::Deserialize<'__de>
                + ::core::marker::Send
                + 'static
        });
        (generics, TokenStream::new(), quote!(()))
    };
    let state = StateImpl {
        generics: &generics,
        self_ty,
        state_name: &state_name,
        events,
        handlers: &[],
    };
    let state = state.to_tokens();
    quote_spanned! {self_ty.span()=>
        const _: () = {
            #companion
            #state
        };
    }
}
