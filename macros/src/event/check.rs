//! The rules of an `#[event]` block: what makes the whole block unusable as a state (a trait
//! impl, a generic type) and what makes one handler unusable (generics, references, …).

use quote::quote;
use syn::Type;

use super::parse::{EventBlock, Handler};

/// What `expand` may generate, given the rules the block breaks.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// The block cannot be a state's handler table: a stub `State` impl only.
    Stub,
    /// A dispatch table over the handlers marked `true` (one flag per handler, in order).
    Table(Vec<bool>),
}

/// Reports every broken rule into `errors`, each at the user's token, and says what can
/// still be generated.
pub fn check(block: &EventBlock, errors: &mut Vec<syn::Error>) -> Plan {
    let item = &block.item;
    let mut stub = false;
    if let Some((_, path, _)) = &item.trait_ {
        errors.push(syn::Error::new_spanned(
            path,
            "`#[event]` goes on the state's own `impl` block, not on a trait impl",
        ));
        stub = true;
    }
    if !item.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &item.generics,
            "a state type with `#[event]` cannot be generic",
        ));
        stub = true;
    }
    // Checked even for a stub, so that every mistake shows in one build.
    let usable = block
        .handlers
        .iter()
        .map(|handler| check_handler(handler, errors))
        .collect();
    if stub {
        Plan::Stub
    } else {
        Plan::Table(usable)
    }
}

/// Whether the handler can be dispatched to: every parameter named, of a type decoded
/// from JSON.
fn check_handler(handler: &Handler, errors: &mut Vec<syn::Error>) -> bool {
    let before = errors.len();
    if !handler.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &handler.generics,
            "an event handler cannot be generic: its arguments arrive as JSON and need concrete types",
        ));
    }
    for param in &handler.params {
        if param.ident().is_none() {
            errors.push(syn::Error::new_spanned(
                &param.pat,
                "name this handler argument with a plain identifier (`name: Type`)",
            ));
        } else if let Some(why) = unsupported_type(&param.ty) {
            errors.push(syn::Error::new_spanned(&param.ty, why));
        }
    }
    errors.len() == before
}

/// Why a handler cannot receive `ty`: it cannot be decoded from an event.
fn unsupported_type(ty: &Type) -> Option<String> {
    match ty {
        Type::Reference(r) => {
            let owned = match &*r.elem {
                Type::Path(p) if p.path.is_ident("str") => "String".to_owned(),
                Type::Slice(s) => {
                    let elem = &s.elem;
                    format!("Vec<{}>", compact(quote!(#elem)))
                }
                other => compact(quote!(#other)),
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

/// A type as the user would write it in a message (`Vec<u8>`, not `Vec < u8 >`).
fn compact(tokens: proc_macro2::TokenStream) -> String {
    tokens.to_string().replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse::parse;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn run(item: TokenStream) -> (Plan, Vec<String>) {
        let block = parse(item).expect("an impl block parses");
        let mut errors = Vec::new();
        let plan = check(&block, &mut errors);
        (plan, errors.iter().map(ToString::to_string).collect())
    }

    fn only_error(item: TokenStream) -> String {
        let (_, errors) = run(item);
        let [error] = &errors[..] else {
            panic!("expected one error, got {errors:?}");
        };
        error.clone()
    }

    #[test]
    fn a_valid_block_has_no_error_and_every_handler_in_the_table() {
        let (plan, errors) = run(quote! {
            impl Shop {
                fn add(&mut self, by: i64) {}
                async fn save(&mut self, files: Vec<UploadFile>) {}
                fn total(&self) -> i64 { 0 }
            }
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(plan, Plan::Table(vec![true, true]));
    }

    #[test]
    fn a_reference_parameter_suggests_the_owned_type() {
        for (ty, owned) in [
            (quote!(&str), "String"),
            (quote!(&'static str), "String"),
            (quote!(&[u8]), "Vec<u8>"),
            (quote!(&mut Vec<String>), "Vec<String>"),
            (quote!(&Option<i64>), "Option<i64>"),
        ] {
            let error = only_error(quote! {
                impl Shop { fn set(&mut self, value: #ty) {} }
            });
            assert_eq!(
                error,
                format!(
                    "an event handler cannot take a reference: its arguments arrive from the browser; take an owned `{owned}` instead"
                ),
                "for {ty}"
            );
        }
    }

    #[test]
    fn an_impl_trait_parameter_is_refused() {
        let error = only_error(quote! {
            impl Shop { fn set(&mut self, value: impl Into<String>) {} }
        });
        assert_eq!(
            error,
            "an event handler cannot take `impl Trait`: its arguments are decoded from JSON into a concrete type"
        );
    }

    #[test]
    fn an_inferred_parameter_type_is_refused() {
        let error = only_error(quote! {
            impl Shop { fn set(&mut self, value: _) {} }
        });
        assert_eq!(error, "write the argument's type");
    }

    #[test]
    fn a_generic_handler_is_refused() {
        let error = only_error(quote! {
            impl Shop { fn set<T: DeserializeOwned>(&mut self, value: T) {} }
        });
        assert_eq!(
            error,
            "an event handler cannot be generic: its arguments arrive as JSON and need concrete types"
        );
    }

    #[test]
    fn a_pattern_parameter_is_refused() {
        for pat in [quote!((x, y)), quote!(_)] {
            let error = only_error(quote! {
                impl Shop { fn at(&mut self, #pat: (i32, i32)) {} }
            });
            assert_eq!(
                error,
                "name this handler argument with a plain identifier (`name: Type`)"
            );
        }
    }

    #[test]
    fn a_bad_handler_is_left_out_of_the_table_and_the_others_stay() {
        let (plan, errors) = run(quote! {
            impl Shop {
                fn add(&mut self, by: i64) {}
                fn rename(&mut self, name: &str) {}
                fn reset(&mut self) {}
            }
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(plan, Plan::Table(vec![true, false, true]));
    }

    #[test]
    fn a_trait_impl_is_refused_and_gets_a_stub() {
        let (plan, errors) = run(quote! {
            impl Default for Shop { fn default() -> Self { Shop } }
        });
        assert_eq!(
            errors,
            ["`#[event]` goes on the state's own `impl` block, not on a trait impl"]
        );
        assert_eq!(plan, Plan::Stub);
    }

    #[test]
    fn a_generic_state_is_refused_and_gets_a_stub() {
        let (plan, errors) = run(quote! {
            impl<T> Tally<T> { fn push(&mut self, item: T) {} }
        });
        assert_eq!(errors, ["a state type with `#[event]` cannot be generic"]);
        assert_eq!(plan, Plan::Stub);
    }

    #[test]
    fn every_mistake_is_reported_in_one_pass() {
        let (plan, errors) = run(quote! {
            impl<T> Handlers for Tally<T> {
                fn a(&mut self, x: &str, y: impl Sized) {}
                fn b<U>(&mut self, (p, q): (U, U)) {}
            }
        });
        assert_eq!(plan, Plan::Stub);
        assert_eq!(errors.len(), 6, "{errors:?}");
    }
}
