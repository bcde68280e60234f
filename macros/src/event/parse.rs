//! The grammar of an `#[event]` block: the `impl` block and its handlers (the `&mut self`
//! methods) with their parameters, as written, before any rule is checked.

use proc_macro2::{Span, TokenStream};
use syn::{FnArg, Generics, Ident, ImplItem, ImplItemFn, ItemImpl, Pat, Type};

/// An `#[event]` impl block.
pub struct EventBlock {
    /// The block as written: it is emitted unchanged, whatever the errors.
    pub item: ItemImpl,
    /// Its `&mut self` methods, in source order.
    pub handlers: Vec<Handler>,
}

/// A `&mut self` method of the block.
pub struct Handler {
    pub name: Ident,
    pub is_async: bool,
    pub generics: Generics,
    /// The parameters after `&mut self`.
    pub params: Vec<Param>,
}

/// One handler parameter, `pat: ty`.
pub struct Param {
    pub pat: Pat,
    pub ty: Type,
}

impl Param {
    /// The parameter's name, when its pattern is a plain identifier.
    pub fn ident(&self) -> Option<&Ident> {
        match &self.pat {
            Pat::Ident(p) => Some(&p.ident),
            _ => None,
        }
    }
}

impl EventBlock {
    /// The state's name as events spell it: the last segment of the type's path.
    pub fn state_name(&self) -> String {
        match &*self.item.self_ty {
            Type::Path(p) => p
                .path
                .segments
                .last()
                .map_or_else(|| "State".to_owned(), |s| s.ident.to_string()),
            _ => "State".to_owned(),
        }
    }
}

pub fn parse(item: TokenStream) -> syn::Result<EventBlock> {
    let item: ItemImpl = syn::parse2(item).map_err(|_| {
        syn::Error::new(
            Span::call_site(),
            "`#[event]` goes on an `impl YourState { … }` block",
        )
    })?;
    let handlers = item
        .items
        .iter()
        .filter_map(|item| match item {
            ImplItem::Fn(method) if takes_mut_self(method) => Some(handler(method)),
            _ => None,
        })
        .collect();
    Ok(EventBlock { item, handlers })
}

/// `&mut self`, `&'a mut self` and `self: &mut Self` (syn gives all three the receiver
/// type `&mut Self`); `&self`, `self` and `mut self` are helpers, not handlers.
fn takes_mut_self(method: &ImplItemFn) -> bool {
    let Some(FnArg::Receiver(receiver)) = method.sig.inputs.first() else {
        return false;
    };
    matches!(
        &*receiver.ty,
        Type::Reference(r) if r.mutability.is_some()
            && matches!(&*r.elem, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"))
    )
}

fn handler(method: &ImplItemFn) -> Handler {
    let sig = &method.sig;
    let params = sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(Param {
                pat: (*typed.pat).clone(),
                ty: (*typed.ty).clone(),
            }),
            FnArg::Receiver(_) => None,
        })
        .collect();
    Handler {
        name: sig.ident.clone(),
        is_async: sig.asyncness.is_some(),
        generics: sig.generics.clone(),
        params,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn names(block: &EventBlock) -> Vec<String> {
        block.handlers.iter().map(|h| h.name.to_string()).collect()
    }

    #[test]
    fn sync_and_async_handlers_are_read_with_their_parameters() {
        let block = parse(quote! {
            impl Shop {
                fn add(&mut self, by: i64) {}
                async fn tag(&mut self, label: String, mut times: u32) {}
                fn reset(&mut self) {}
            }
        })
        .expect("an impl block parses");
        assert_eq!(names(&block), ["add", "tag", "reset"]);
        let [add, tag, reset] = &block.handlers[..] else {
            panic!("three handlers");
        };
        assert!(!add.is_async && tag.is_async && !reset.is_async);
        let params = |h: &Handler| -> Vec<String> {
            h.params
                .iter()
                .map(|p| {
                    let ty = &p.ty;
                    format!("{}: {}", p.ident().expect("a plain name"), quote!(#ty))
                })
                .collect()
        };
        assert_eq!(params(add), ["by: i64"]);
        assert_eq!(params(tag), ["label: String", "times: u32"]);
        assert!(reset.params.is_empty());
    }

    #[test]
    fn only_methods_taking_self_by_mutable_reference_are_handlers() {
        let block = parse(quote! {
            impl<'a> Shop {
                fn plain(&mut self) {}
                fn with_lifetime(&'a mut self) {}
                fn typed(self: &mut Self) {}
                fn read(&self) {}
                fn consume(self) {}
                fn consume_mut(mut self) {}
                fn boxed(self: Box<Self>) {}
                fn constructor() -> Self { Shop }
                fn other(shop: &mut Shop) {}
                const LIMIT: u32 = 3;
            }
        })
        .expect("an impl block parses");
        assert_eq!(names(&block), ["plain", "with_lifetime", "typed"]);
    }

    #[test]
    fn a_pattern_parameter_has_no_name() {
        let block = parse(quote! {
            impl Shop {
                fn at(&mut self, (x, y): (i32, i32), _: bool) {}
            }
        })
        .expect("an impl block parses");
        let params = &block.handlers[0].params;
        assert_eq!(params.len(), 2);
        assert!(params.iter().all(|p| p.ident().is_none()));
    }

    #[test]
    fn the_state_name_is_the_last_segment_of_the_type() {
        let block = parse(quote!(impl crate::shop::Shop {})).expect("an impl block parses");
        assert_eq!(block.state_name(), "Shop");
    }

    #[test]
    fn anything_but_an_impl_block_is_refused() {
        for item in [
            quote!(
                struct Shop;
            ),
            quote!(
                fn add() {}
            ),
            quote!(impl),
        ] {
            let err = parse(item).err().expect("not an impl block");
            assert_eq!(
                err.to_string(),
                "`#[event]` goes on an `impl YourState { … }` block"
            );
        }
    }
}
