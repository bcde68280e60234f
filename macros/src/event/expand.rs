//! The code `#[event]` generates: the `State` impl with a compile-time dispatch table, and
//! the companion type whose methods (one per handler, with its parameter types) build
//! typed `EventRef`s for `ui!`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Generics, Ident, Type};

use super::parse::{EventBlock, Handler};

/// The full expansion. A handler that is not usable stays out of the dispatch table but
/// keeps a placeholder companion method (see [`placeholder_method`]).
pub fn table(block: &EventBlock, usable: &[bool]) -> TokenStream {
    let self_ty = &block.item.self_ty;
    let state_name = block.state_name();
    let events_ty = companion_name(block);
    let dispatched: Vec<&Handler> = block
        .handlers
        .iter()
        .zip(usable)
        .filter_map(|(handler, &ok)| ok.then_some(handler))
        .collect();
    let methods = block.handlers.iter().zip(usable).map(|(handler, &ok)| {
        if ok {
            companion_method(&state_name, handler, self_ty)
        } else {
            placeholder_method(&state_name, handler, self_ty)
        }
    });
    let companion = companion(&events_ty, methods);
    let state = StateImpl {
        generics: &block.item.generics,
        self_ty,
        state_name: &state_name,
        events: quote!(#events_ty),
        handlers: &dispatched,
    };
    let state = state.to_tokens();
    quote_spanned! {self_ty.span()=>
        const _: () = {
            #companion
            #state
        };
    }
}

/// `CounterEvents` for `Counter`, spanned on the user's type.
pub fn companion_name(block: &EventBlock) -> Ident {
    let self_ty = &block.item.self_ty;
    format_ident!("{}Events", block.state_name(), span = self_ty.span())
}

/// The companion struct and its methods.
pub fn companion(events_ty: &Ident, methods: impl Iterator<Item = TokenStream>) -> TokenStream {
    quote_spanned! {events_ty.span()=>
        /// The handlers of this state, as typed event references (used by `ui!`).
        #[derive(Default, Clone, Copy)]
        #[doc(hidden)]
        pub struct #events_ty;

        impl #events_ty {
            #(#methods)*
        }
    }
}

/// The method `ui!` calls for `State::handler(args…)`: each argument is bounded on the
/// handler's parameter type, spanned on that type, so a wrong argument names it.
fn companion_method(state_name: &str, handler: &Handler, self_ty: &Type) -> TokenStream {
    let name = &handler.name;
    let full = format!("{state_name}.{name}");
    let params = named_params(handler)
        .map(|(arg, ty)| quote_spanned!(ty.span()=> #arg: impl ::ferrex::__private::ArgFor<#ty>));
    let args = named_params(handler).map(
        |(arg, ty)| quote_spanned!(ty.span()=> ::ferrex::__private::ArgFor::<#ty>::into_arg(#arg)),
    );
    let doc = format!("A reference to the handler `{full}`.");
    quote! {
        #[doc = #doc]
        #[allow(clippy::too_many_arguments)]
        pub fn #name(self, #(#params),*) -> ::ferrex::__private::EventRef<#self_ty> {
            ::ferrex::__private::EventRef::new(#full, ::std::vec![#(#args),*])
        }
    }
}

/// The parameters of a handler `check` accepted (all of them are named).
fn named_params(handler: &Handler) -> impl Iterator<Item = (&Ident, &Type)> {
    handler
        .params
        .iter()
        .filter_map(|param| Some((param.ident()?, &param.ty)))
}

/// `impl State for …`: its name, its handler names and the dispatch `match` over them.
pub struct StateImpl<'a> {
    pub generics: &'a Generics,
    pub self_ty: &'a Type,
    pub state_name: &'a str,
    pub events: TokenStream,
    pub handlers: &'a [&'a Handler],
}

impl StateImpl<'_> {
    pub fn to_tokens(&self) -> TokenStream {
        let StateImpl {
            generics,
            self_ty,
            state_name,
            events,
            handlers,
        } = self;
        let (impl_generics, _, where_clause) = generics.split_for_impl();
        let names = handlers.iter().map(|h| h.name.to_string());
        let arms = handlers.iter().map(|h| dispatch_arm(state_name, h));
        quote_spanned! {self_ty.span()=>
            impl #impl_generics ::ferrex::__private::State for #self_ty #where_clause {
                const NAME: &'static str = #state_name;
                const HANDLERS: &'static [&'static str] = &[#(#names),*];
                type Events = #events;

                fn dispatch<'__fx>(
                    &'__fx mut self,
                    method: &str,
                    args: ::ferrex::__private::EventInput,
                ) -> ::ferrex::__private::Result<
                    ::ferrex::__private::HandlerFuture<'__fx>,
                    ::ferrex::__private::EventError,
                > {
                    #[allow(unreachable_code)]
                    match method {
                        #(#arms)*
                        _ => {
                            let _ = args;
                            ::ferrex::__private::Err(::ferrex::__private::EventError::UnknownHandler(
                                ::std::format!("{}.{}", #state_name, method),
                            ))
                        }
                    }
                }
            }
        }
    }
}

/// `"add" => { decode the arguments; call the handler in a boxed future }`.
fn dispatch_arm(state_name: &str, handler: &Handler) -> TokenStream {
    let name = &handler.name;
    let key = name.to_string();
    let full = format!("{state_name}.{name}");
    let count = handler.params.len();
    let decoder = Ident::new("__fx_args", Span::mixed_site());
    let decode = named_params(handler).map(|(arg, ty)| {
        let label = arg.to_string();
        quote!(let #arg: #ty = #decoder.next(#label)?;)
    });
    let call_args = named_params(handler).map(|(arg, _)| arg);
    let call = if handler.is_async {
        quote!(self.#name(#(#call_args),*).await)
    } else {
        quote!(self.#name(#(#call_args),*))
    };
    quote! {
        #key => {
            #[allow(unused_mut, unused_variables)]
            let mut #decoder = ::ferrex::__private::ArgDecoder::new(#full, args, #count)?;
            #(#decode)*
            ::ferrex::__private::Ok(::ferrex::__private::Box::pin(async move {
                ::ferrex::__private::into_actions(#call)
            }))
        }
    }
}

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
