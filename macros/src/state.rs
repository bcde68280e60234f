//! `#[state]` on a struct or enum: derives its `Serialize` and `Deserialize` through the
//! serde that ferrex re-exports, so a crate that depends on `ferrex` alone can have states.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub fn state(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Vec::new();
    if !attr.is_empty() {
        errors.push(syn::Error::new_spanned(
            &attr,
            "`#[state]` takes no arguments",
        ));
    }
    let input = match syn::parse2::<DeriveInput>(item.clone()) {
        Ok(input) => input,
        Err(_) => {
            errors.push(syn::Error::new_spanned(
                &item,
                "`#[state]` goes on a struct or an enum: the type whose `#[event]` impl has the handlers",
            ));
            let errors = errors.iter().map(syn::Error::to_compile_error);
            return quote!(#(#errors)* #item);
        }
    };
    let already = derived_serde(&input);
    for path in &already {
        errors.push(syn::Error::new_spanned(
            path,
            format!(
                "`#[state]` already derives `{}`: remove it from this `derive`",
                path.segments
                    .last()
                    .map(|s| s.ident.to_string())
                    .unwrap_or_default()
            ),
        ));
    }
    let errors = errors.iter().map(syn::Error::to_compile_error);
    if !already.is_empty() {
        // The type keeps the user's own derives: one error, not a second "conflicting
        // implementation" beside it.
        return quote!(#(#errors)* #input);
    }
    quote! {
        #(#errors)*
        #[derive(::ferrex::serde::Serialize, ::ferrex::serde::Deserialize)]
        #[serde(crate = "::ferrex::serde")]
        #input
    }
}

/// The `Serialize` / `Deserialize` paths in the type's own `#[derive(…)]`s.
fn derived_serde(input: &DeriveInput) -> Vec<syn::Path> {
    let mut found = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let Ok(paths) = attr.parse_args_with(
            syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
        ) else {
            continue;
        };
        found.extend(paths.into_iter().filter(|p| {
            p.segments
                .last()
                .is_some_and(|s| s.ident == "Serialize" || s.ident == "Deserialize")
        }));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(attr: TokenStream, item: TokenStream) -> String {
        state(attr, item).to_string()
    }

    #[test]
    fn derives_serde_through_ferrex() {
        let out = expand(
            quote!(),
            quote!(
                #[derive(Default)]
                struct Counter {
                    count: i64,
                }
            ),
        );
        assert!(out.contains(":: ferrex :: serde :: Serialize"), "{out}");
        assert!(out.contains("crate = \"::ferrex::serde\""), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn a_serde_derive_of_its_own_is_one_error() {
        let out = expand(
            quote!(),
            quote!(
                #[derive(Default, serde::Serialize)]
                struct Counter {
                    count: i64,
                }
            ),
        );
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        assert!(out.contains("already derives `Serialize`"), "{out}");
        assert!(!out.contains(":: ferrex :: serde :: Serialize"), "{out}");
    }

    #[test]
    fn arguments_and_non_types_are_refused() {
        let out = expand(
            quote!(x),
            quote!(
                struct S;
            ),
        );
        assert!(out.contains("takes no arguments"), "{out}");
        let out = expand(
            quote!(),
            quote!(
                fn f() {}
            ),
        );
        assert!(out.contains("goes on a struct or an enum"), "{out}");
    }
}
