//! `#[event]` on an `impl` block: every `&mut self` method becomes a handler of the state.
//! parse (block → handlers) → check (spanned errors, and what can still be generated) →
//! expand (the `State` impl and its companion, or the fallback beside the errors).

mod check;
mod expand;
mod fallback;
mod parse;

use proc_macro2::TokenStream;
use quote::quote;

pub fn event(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Vec::new();
    if !attr.is_empty() {
        errors.push(syn::Error::new_spanned(
            &attr,
            "`#[event]` takes no arguments",
        ));
    }
    let block = match parse::parse(item.clone()) {
        Ok(block) => block,
        Err(err) => {
            // No stub here: there is no state type to give one to, and a stub for a struct
            // the attribute sits on could clash with that struct's real `#[event]` impl.
            errors.push(err);
            let errors = errors.iter().map(syn::Error::to_compile_error);
            return quote!(#(#errors)* #item);
        }
    };
    let plan = check::check(&block, &mut errors);
    let generated = match &plan {
        check::Plan::Stub => fallback::stub(&block),
        check::Plan::Table(usable) => expand::table(&block, usable),
    };
    let item = &block.item;
    let errors = errors.iter().map(syn::Error::to_compile_error);
    quote! {
        #item
        #(#errors)*
        #generated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::{Expr, ImplItem, Item, ItemImpl, Lit};

    /// The expansion of `#[event(attr)] item`, as items.
    fn expand(attr: TokenStream, item: TokenStream) -> Vec<Item> {
        let file: syn::File = syn::parse2(event(attr, item)).expect("the expansion is items");
        file.items
    }

    /// The messages of the `compile_error!`s in the expansion.
    fn errors(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .filter_map(|item| match item {
                Item::Macro(m) if path_ends(&m.mac.path, "compile_error") => Some(
                    m.mac
                        .parse_body::<syn::LitStr>()
                        .expect("a message")
                        .value(),
                ),
                _ => None,
            })
            .collect()
    }

    fn path_ends(path: &syn::Path, name: &str) -> bool {
        path.segments.last().is_some_and(|s| s.ident == name)
    }

    /// The impls inside the generated `const _: () = { … };`.
    fn generated_impls(items: &[Item]) -> Vec<&ItemImpl> {
        items
            .iter()
            .filter_map(|item| match item {
                Item::Const(c) => match &*c.expr {
                    Expr::Block(b) => Some(&b.block.stmts),
                    _ => None,
                },
                _ => None,
            })
            .flatten()
            .filter_map(|stmt| match stmt {
                syn::Stmt::Item(Item::Impl(i)) => Some(i),
                _ => None,
            })
            .collect()
    }

    fn state_impl(items: &[Item]) -> &ItemImpl {
        let impls = generated_impls(items);
        let states: Vec<_> = impls
            .into_iter()
            .filter(|i| {
                i.trait_
                    .as_ref()
                    .is_some_and(|(_, p, _)| path_ends(p, "State"))
            })
            .collect();
        let [state] = &states[..] else {
            panic!("expected one State impl, got {}", states.len());
        };
        state
    }

    /// The names in `const HANDLERS`.
    fn handler_names(state: &ItemImpl) -> Vec<String> {
        let handlers = state.items.iter().find_map(|item| match item {
            ImplItem::Const(c) if c.ident == "HANDLERS" => Some(&c.expr),
            _ => None,
        });
        let Some(Expr::Reference(r)) = handlers else {
            panic!("HANDLERS is `&[…]`");
        };
        let Expr::Array(list) = &*r.expr else {
            panic!("HANDLERS is `&[…]`");
        };
        list.elems
            .iter()
            .map(|e| match e {
                Expr::Lit(l) => match &l.lit {
                    Lit::Str(s) => s.value(),
                    _ => panic!("a handler name is a string"),
                },
                _ => panic!("a handler name is a string"),
            })
            .collect()
    }

    /// `name(arity)` for each method of the companion type.
    fn companion_methods(items: &[Item]) -> Vec<String> {
        generated_impls(items)
            .into_iter()
            .filter(|i| i.trait_.is_none())
            .flat_map(|i| &i.items)
            .filter_map(|item| match item {
                ImplItem::Fn(f) => Some(format!("{}({})", f.sig.ident, f.sig.inputs.len() - 1)),
                _ => None,
            })
            .collect()
    }

    fn events_type(state: &ItemImpl) -> String {
        state
            .items
            .iter()
            .find_map(|item| match item {
                ImplItem::Type(t) if t.ident == "Events" => {
                    let ty = &t.ty;
                    Some(quote!(#ty).to_string())
                }
                _ => None,
            })
            .expect("type Events")
    }

    #[test]
    fn a_valid_block_expands_to_its_state_impl_with_every_handler() {
        let items = expand(
            TokenStream::new(),
            quote! {
                impl Shop {
                    fn add(&mut self, by: i64) {}
                    async fn tag(&mut self, label: String, times: u32) {}
                    fn total(&self) -> i64 { 0 }
                }
            },
        );
        assert!(errors(&items).is_empty());
        assert!(
            matches!(&items[0], Item::Impl(i) if i.trait_.is_none()),
            "the block comes first, unchanged"
        );
        let state = state_impl(&items);
        assert_eq!(handler_names(state), ["add", "tag"]);
        assert_eq!(events_type(state), "ShopEvents");
        assert_eq!(companion_methods(&items), ["add(1)", "tag(2)"]);
    }

    #[test]
    fn a_bad_handler_is_one_error_and_the_valid_handlers_are_still_dispatched() {
        let items = expand(
            TokenStream::new(),
            quote! {
                impl Counter {
                    fn add(&mut self, by: i64) {}
                    fn rename(&mut self, label: &str) {}
                    fn reset(&mut self) {}
                }
            },
        );
        assert_eq!(
            errors(&items),
            [
                "an event handler cannot take a reference: its arguments arrive from the browser; take an owned `String` instead"
            ]
        );
        let state = state_impl(&items);
        assert_eq!(handler_names(state), ["add", "reset"]);
        // `rename` keeps a placeholder so pages that use it add no error of their own.
        assert_eq!(
            companion_methods(&items),
            ["add(1)", "rename(1)", "reset(0)"]
        );
        let user_block = items
            .iter()
            .find_map(|item| match item {
                Item::Impl(i) if i.trait_.is_none() => Some(i),
                _ => None,
            })
            .expect("the user's block is emitted");
        assert_eq!(
            user_block.items.len(),
            3,
            "the bad handler stays in the user's block"
        );
    }

    #[test]
    fn the_placeholder_method_takes_any_argument() {
        let items = expand(
            TokenStream::new(),
            quote! {
                impl Counter {
                    fn pick<T>(&mut self, value: T, other: impl Sized) {}
                }
            },
        );
        assert_eq!(errors(&items).len(), 2);
        let companion = generated_impls(&items)
            .into_iter()
            .find(|i| i.trait_.is_none())
            .expect("the companion impl");
        let tokens = quote!(#companion).to_string();
        assert!(
            tokens.contains("pub fn pick (self , _ : impl :: core :: marker :: Sized , _ : impl :: core :: marker :: Sized)"),
            "{tokens}"
        );
    }

    #[test]
    fn arguments_to_the_attribute_are_an_error_beside_the_full_expansion() {
        let items = expand(quote!(Shop), quote!(impl Shop { fn add(&mut self) {} }));
        assert_eq!(errors(&items), ["`#[event]` takes no arguments"]);
        assert_eq!(handler_names(state_impl(&items)), ["add"]);
    }

    #[test]
    fn a_trait_impl_gets_a_stub_state_with_placeholder_methods() {
        let items = expand(
            TokenStream::new(),
            quote! {
                impl Handlers for Shop {
                    fn add(&mut self, by: i64) {}
                }
            },
        );
        assert_eq!(
            errors(&items),
            ["`#[event]` goes on the state's own `impl` block, not on a trait impl"]
        );
        let state = state_impl(&items);
        assert!(
            handler_names(state).is_empty(),
            "a stub dispatches to nothing"
        );
        assert_eq!(events_type(state), "ShopEvents");
        assert_eq!(companion_methods(&items), ["add(1)"]);
    }

    #[test]
    fn a_generic_state_gets_a_stub_bounded_on_the_state_traits() {
        let items = expand(
            TokenStream::new(),
            quote! {
                impl<T: Default> Tally<T> where T: Clone {
                    fn push(&mut self, item: T) {}
                }
            },
        );
        assert_eq!(
            errors(&items),
            ["a state type with `#[event]` cannot be generic"]
        );
        let state = state_impl(&items);
        assert!(handler_names(state).is_empty());
        assert_eq!(events_type(state), "()");
        let where_clause = state
            .generics
            .where_clause
            .as_ref()
            .expect("a where clause");
        let where_clause = quote!(#where_clause).to_string();
        assert!(where_clause.contains("T : Clone"), "{where_clause}");
        assert!(
            where_clause.contains(
                "Tally < T > : :: core :: default :: Default + :: ferrex :: prelude :: Serialize"
            ),
            "{where_clause}"
        );
    }

    #[test]
    fn not_an_impl_block_is_one_error_and_the_item_unchanged() {
        let items = expand(
            TokenStream::new(),
            quote!(
                struct Shop;
            ),
        );
        assert_eq!(
            errors(&items),
            ["`#[event]` goes on an `impl YourState { … }` block"]
        );
        assert!(
            items
                .iter()
                .any(|item| matches!(item, Item::Struct(s) if s.ident == "Shop"))
        );
        assert!(generated_impls(&items).is_empty());
    }
}
