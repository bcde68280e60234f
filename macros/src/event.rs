//! `#[event]` on an `impl` block: every `&mut self` method becomes a handler. Generates the
//! `State` impl with a compile-time dispatch table, and the companion type whose methods
//! (one per handler, with the handler's parameter types and spans) build typed `EventRef`s.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, Pat, Type};

/// One handler: its name, whether it is async, and its parameters.
struct Handler {
    name: Ident,
    is_async: bool,
    params: Vec<(Ident, Type)>,
}

pub fn event(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Vec::new();
    if !attr.is_empty() {
        errors.push(syn::Error::new(
            attr.span(),
            "`#[event]` takes no arguments",
        ));
    }
    let block: ItemImpl = match syn::parse2(item.clone()) {
        Ok(block) => block,
        Err(_) => {
            let err = syn::Error::new(
                Span::call_site(),
                "`#[event]` goes on an `impl YourState { … }` block",
            );
            let err = err.to_compile_error();
            return quote!(#err #item);
        }
    };
    let handlers = collect(&block, &mut errors);
    let generated = if errors.is_empty() {
        generate(&block, &handlers)
    } else {
        TokenStream::new()
    };
    let errors = errors.iter().map(syn::Error::to_compile_error);
    quote! {
        #block
        #(#errors)*
        #generated
    }
}

fn collect(block: &ItemImpl, errors: &mut Vec<syn::Error>) -> Vec<Handler> {
    if let Some((_, path, _)) = &block.trait_ {
        errors.push(syn::Error::new(
            path.span(),
            "`#[event]` goes on the state's own `impl` block, not on a trait impl",
        ));
    }
    if !block.generics.params.is_empty() {
        errors.push(syn::Error::new(
            block.generics.span(),
            "a state type with `#[event]` cannot be generic",
        ));
    }
    let mut handlers = Vec::new();
    for item in &block.items {
        let ImplItem::Fn(method) = item else { continue };
        if !takes_mut_self(method) {
            continue;
        }
        if let Some(handler) = handler(method, errors) {
            handlers.push(handler);
        }
    }
    handlers
}

fn takes_mut_self(method: &ImplItemFn) -> bool {
    matches!(
        method.sig.inputs.first(),
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_some()
    )
}

fn handler(method: &ImplItemFn, errors: &mut Vec<syn::Error>) -> Option<Handler> {
    let sig = &method.sig;
    let before = errors.len();
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new(
            sig.generics.span(),
            "an event handler cannot be generic: its arguments arrive as JSON and need concrete types",
        ));
    }
    let mut params = Vec::new();
    for input in sig.inputs.iter().skip(1) {
        let FnArg::Typed(typed) = input else { continue };
        let name = match &*typed.pat {
            Pat::Ident(p) => p.ident.clone(),
            other => {
                errors.push(syn::Error::new(
                    other.span(),
                    "name this handler argument with a plain identifier (`name: Type`)",
                ));
                continue;
            }
        };
        if let Some(why) = unsupported_type(&typed.ty) {
            errors.push(syn::Error::new_spanned(&typed.ty, why));
            continue;
        }
        params.push((name, (*typed.ty).clone()));
    }
    (errors.len() == before).then(|| Handler {
        name: sig.ident.clone(),
        is_async: sig.asyncness.is_some(),
        params,
    })
}

/// Types a handler cannot receive, because they cannot be decoded from an event.
fn unsupported_type(ty: &Type) -> Option<String> {
    match ty {
        Type::Reference(r) => {
            let owned = match &*r.elem {
                Type::Path(p) if p.path.is_ident("str") => "String".to_owned(),
                Type::Slice(s) => format!("Vec<{}>", quote!(#s.elem).to_string().replace(' ', "")),
                other => quote!(#other).to_string().replace(' ', ""),
            };
            Some(format!(
                "an event handler cannot take a reference: its arguments arrive from the browser; take an owned `{owned}` instead"
            ))
        }
        Type::ImplTrait(_) => Some(
            "an event handler cannot take `impl Trait`: its arguments are decoded from JSON into a concrete type".into(),
        ),
        Type::Infer(_) => Some("write the argument's type".into()),
        _ => None,
    }
}

fn generate(block: &ItemImpl, handlers: &[Handler]) -> TokenStream {
    let self_ty = &block.self_ty;
    let state_name = match &**self_ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or_else(|| "State".to_owned(), |s| s.ident.to_string()),
        _ => "State".to_owned(),
    };
    let events_ty = format_ident!("{}Events", state_name, span = self_ty.span());
    let ty_span = self_ty.span();

    let companion_methods = handlers.iter().map(|h| {
        let name = &h.name;
        let full = format!("{state_name}.{name}");
        let params = h.params.iter().map(
            |(arg, ty)| quote_spanned!(ty.span()=> #arg: impl ::ferrex::__private::ArgFor<#ty>),
        );
        let args = h.params.iter().map(|(arg, ty)| {
            quote_spanned!(ty.span()=> ::ferrex::__private::ArgFor::<#ty>::into_arg(#arg))
        });
        let doc = format!("A reference to the handler `{full}`.");
        quote! {
            #[doc = #doc]
            #[allow(clippy::too_many_arguments)]
            pub fn #name(self, #(#params),*) -> ::ferrex::__private::EventRef<#self_ty> {
                ::ferrex::__private::EventRef::new(#full, ::std::vec![#(#args),*])
            }
        }
    });

    let arms = handlers.iter().map(|h| {
        let name = &h.name;
        let key = name.to_string();
        let full = format!("{state_name}.{name}");
        let count = h.params.len();
        let decoder = Ident::new("__fx_args", Span::mixed_site());
        let decode = h.params.iter().map(|(arg, ty)| {
            let label = arg.to_string();
            quote!(let #arg: #ty = #decoder.next(#label)?;)
        });
        let call_args = h.params.iter().map(|(arg, _)| arg);
        let call = if h.is_async {
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
    });
    let names = handlers.iter().map(|h| h.name.to_string());

    quote_spanned! {ty_span=>
        const _: () = {
            /// The handlers of this state, as typed event references (used by `ui!`).
            #[derive(Default, Clone, Copy)]
            #[doc(hidden)]
            pub struct #events_ty;

            impl #events_ty {
                #(#companion_methods)*
            }

            impl ::ferrex::__private::State for #self_ty {
                const NAME: &'static str = #state_name;
                const HANDLERS: &'static [&'static str] = &[#(#names),*];
                type Events = #events_ty;

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
        };
    }
}
