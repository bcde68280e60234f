//! ferrex-macros: `ui!` (pages as component calls) and `#[event]` (state handlers).
//! Each macro is a pipeline: parse (syntax → model), check (semantic errors, spanned),
//! expand (model → builder calls spanned on the user's tokens).

mod event;
mod ui;

use proc_macro::TokenStream;

/// Builds a page: `ui! { vstack(text("Hi"), button("Go", on_click = State::go)) }`.
/// See the `ferrex` crate's documentation for the grammar.
#[proc_macro]
pub fn ui(input: TokenStream) -> TokenStream {
    ui::ui(input.into(), assets_dir_for_call_site()).into()
}

/// Makes the `&mut self` methods of an `impl` block a state's event handlers.
#[proc_macro_attribute]
pub fn event(attr: TokenStream, item: TokenStream) -> TokenStream {
    event::event(attr.into(), item.into()).into()
}

/// The assets folder `ui!` checks literal asset URLs against, for the file this is called
/// in: the nearest `assets/` beside it or in a parent folder up to the crate root.
#[proc_macro]
pub fn assets_dir(input: TokenStream) -> TokenStream {
    if !input.is_empty() {
        return quote::quote!(::core::compile_error!("`assets_dir!()` takes no arguments")).into();
    }
    let dir = assets_dir_for_call_site().display().to_string();
    quote::quote!(#dir).into()
}

/// The icon names the `ui!` check knows (compared with ferrex-core's list by a test).
#[doc(hidden)]
#[proc_macro]
pub fn __icon_names(_: TokenStream) -> TokenStream {
    let names = ui::ICON_NAMES;
    quote::quote!(&[#(#names),*]).into()
}

fn assets_dir_for_call_site() -> std::path::PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    let file = proc_macro::Span::call_site().local_file();
    ui::find_assets_dir(file.as_deref(), &manifest)
}
