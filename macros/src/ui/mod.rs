//! `ui!`: parse → check → expand. On a syntax error the page expands to an empty node
//! next to the error, so the rest of the function still type-checks: one mistake, one error.

mod check;
mod expand;
mod parse;

use proc_macro2::TokenStream;
use quote::quote;

pub use check::{ICON_NAMES, find_assets_dir};

/// Expands `ui! { … }` given where the assets folder is.
pub fn ui(input: TokenStream, assets_dir: std::path::PathBuf) -> TokenStream {
    let nodes = match parse::parse_root(input) {
        Ok(nodes) => nodes,
        Err(err) => return fallback(vec![err]),
    };
    let mut errors = Vec::new();
    check::check(&nodes, &check::Context { assets_dir }, &mut errors);
    let page = expand::expand_root(&nodes);
    if errors.is_empty() {
        page
    } else {
        // Still emit the page so type errors elsewhere in it are reported too.
        let errors = errors.iter().map(syn::Error::to_compile_error);
        quote!({ #(#errors)* #page })
    }
}

fn fallback(errors: Vec<syn::Error>) -> TokenStream {
    let errors = errors.iter().map(syn::Error::to_compile_error);
    quote!({ #(#errors)* ::ferrex::__private::Node::Empty })
}
