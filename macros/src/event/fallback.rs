//! What `#[event]` emits beside its errors, so that one mistake is one error: placeholder
//! companion methods for refused handlers, and a stub `State` impl for a refused block.
//! None of it ever runs: it only exists in a build that fails on the macro's own error.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Type, parse_quote};

use super::expand::{StateImpl, companion, companion_name};
use super::parse::{EventBlock, Handler};

/// The companion method for a handler left out of the dispatch table.
///
/// Without it, a page that uses the handler (`on_click = S::rename("x")`) would add "no
/// method named `rename`" — wrong, and pointing at a name the user spelled right. So the
/// method exists, with the handler's arity but no parameter types: whatever the page
/// passes compiles, and the only error is the one at the handler's definition. Argument
/// types are checked again once the handler is fixed.
pub fn placeholder_method(state_name: &str, handler: &Handler, self_ty: &Type) -> TokenStream {
    let name = &handler.name;
    let full = format!("{state_name}.{name}");
    let params = handler
        .params
        .iter()
        .map(|param| quote_spanned!(param.ty.span()=> _: impl ::core::marker::Sized));
    quote! {
        #[doc(hidden)]
        #[allow(clippy::too_many_arguments)]
        pub fn #name(self, #(#params),*) -> ::ferrex::__private::EventRef<#self_ty> {
            ::ferrex::__private::EventRef::new(#full, ::std::vec::Vec::new())
        }
    }
}

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
