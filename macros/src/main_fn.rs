//! `#[ferrex::main]` on `fn main() -> App`: the body builds the app, ferrex runs it on a
//! runtime of its own, serving assets from the folder `ui!` checks for this file.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType};

pub fn main(attr: TokenStream, item: TokenStream, assets_dir: &str) -> TokenStream {
    let mut errors = Vec::new();
    if !attr.is_empty() {
        errors.push(syn::Error::new_spanned(
            &attr,
            "`#[ferrex::main]` takes no arguments: the address comes from `PORT` or `FERREX_ADDR`",
        ));
    }
    let function = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            errors.push(syn::Error::new_spanned(
                &item,
                "`#[ferrex::main]` goes on `fn main() -> App`",
            ));
            let errors = errors.iter().map(syn::Error::to_compile_error);
            return quote!(#(#errors)* #item);
        }
    };
    let sig = &function.sig;
    if !sig.inputs.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.inputs,
            "`main` takes no arguments",
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "`main` takes no generic parameters",
        ));
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => quote!(#ty),
        ReturnType::Default => {
            errors.push(syn::Error::new_spanned(
                sig,
                "`#[ferrex::main]` serves the app `main` returns: write `fn main() -> App` and return the app",
            ));
            quote!(::ferrex::App)
        }
    };
    if !errors.is_empty() {
        // The function as written, beside the errors: one mistake, one error.
        let errors = errors.iter().map(syn::Error::to_compile_error);
        return quote!(#(#errors)* #function);
    }
    let attrs = &function.attrs;
    let vis = &function.vis;
    let name = &sig.ident;
    let body = &function.block;
    // The body runs inside the runtime, so an `async fn main` may await before it returns
    // the app; a plain one runs there unchanged.
    let run = quote_spanned! {output.span()=>
        ::ferrex::__private::run_main(#assets_dir, async move {
            let app: #output = #body;
            app
        })
    };
    quote! {
        #(#attrs)*
        #vis fn #name() {
            #run
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_run_with_the_assets_folder() {
        let out = main(
            quote!(),
            quote!(
                fn main() -> App {
                    App::new()
                }
            ),
            "/crate/assets",
        );
        let out = out.to_string();
        assert!(out.contains("run_main (\"/crate/assets\""), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn a_main_without_the_app_is_refused() {
        let out = main(
            quote!(),
            quote!(
                fn main() {}
            ),
            "/a",
        )
        .to_string();
        assert!(out.contains("write `fn main() -> App`"), "{out}");
        let out = main(
            quote!(),
            quote!(
                struct S;
            ),
            "/a",
        )
        .to_string();
        assert!(out.contains("goes on `fn main() -> App`"), "{out}");
    }
}
