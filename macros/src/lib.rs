//! ferrex-macros: `ui!` (pages as component calls), `#[event]` (state handlers),
//! `#[state]` (a state's serde derives) and `#[ferrex::main]` (the entry point). Each macro is a pipeline: parse (syntax → model), check (semantic errors, spanned),
//! expand (model → builder calls spanned on the user's tokens).

mod event;
mod main_fn;
mod state;
mod ui;

use proc_macro::TokenStream;

/// Writes a page: component calls, text, Rust expressions, `if` and `for`, as a `Node`.
///
/// ```
/// use ferrex::prelude::*;
///
/// #[state]
/// #[derive(Default)]
/// struct Counter { count: i64, history: Vec<i64> }
///
/// #[event]
/// impl Counter {
///     fn add(&mut self, by: i64) { self.count += by; self.history.push(by); }
///     fn reset(&mut self) { self.count = 0; }
/// }
///
/// fn index(s: &Counter) -> Node {
///     ui! {
///         vstack(
///             heading("Counter", level = 1),
///             text("Count: ", s.count, id = "count"),
///             hstack(
///                 button("+1", on_click = Counter::add(1)),
///                 button("Reset", on_click = Counter::reset, variant = Variant::Outline),
///             ),
///             if s.history.is_empty() {
///                 text("Nothing yet.")
///             } else {
///                 list(for step in &s.history { list_item(*step) })
///             },
///         )
///     }
/// }
///
/// let html = index(&Counter::default()).to_html();
/// assert!(html.contains(r#"<p class="fx-text" id="count">Count: 0</p>"#));
/// ```
///
/// The grammar:
///
/// ```text
/// node   := NAME "(" [arg ("," arg)*] ")"      a component call
///         | LITERAL                             text (strings, numbers)
///         | "{" expr "}"                        any Rust expression
///         | "if" expr "{" nodes "}" ["else" …]  plain Rust control flow
///         | "for" pat "in" expr "{" nodes "}"
///         | expr                                any other Rust expression
/// arg    := node                                positional: a child (or an icon's name, …)
///         | NAME "=" value                      a prop
/// value  := NAME "(" … NAME "=" … ")"           a call with named args: download(url = …)
///         | State::method ["(" value,* ")"]     a typed handler reference
///         | "(" value "," value,* ")"           several actions, run in order
///         | expr                                any Rust expression
/// ```
///
/// `name(…)` calls a component: a built-in or any function without arguments returning a
/// builder (props are its methods, positional arguments go through `Positional`). A
/// function that takes arguments and returns a `Node` goes in braces: `{ row(item) }`.
///
/// Mistakes are compile errors at the token written: an unknown prop or one given twice,
/// a prop of the wrong type, a child a component does not take, a handler given the
/// wrong arguments, `download()` without `url` or `data`, a literal asset path (`href =
/// "/logo.png"`) with no such file in the nearest `assets/` folder, a malformed `accept`
/// rule, an unknown icon name.
///
/// The `ferrex` crate's `guide` module (`docs/guide/` in the repository) has the whole
/// story: every built-in component and prop, states and events, downloads, uploads.
#[proc_macro]
pub fn ui(input: TokenStream) -> TokenStream {
    ui::ui(input.into(), assets_dir_for_call_site()).into()
}

/// Makes the `&mut self` methods of an `impl` block a state's event handlers, callable
/// from a page as `State::method` or `State::method(args…)`.
///
/// The state is a struct with `Default`, `Serialize` and `Deserialize`; each browser
/// session has its own. Methods taking `&self` or no `self` are left alone.
///
/// ```
/// use ferrex::prelude::*;
///
/// #[state]
/// #[derive(Default)]
/// struct Files { names: Vec<String>, progress: f64, draft: String }
///
/// #[event]
/// impl Files {
///     /// No arguments: `on_click = Files::clear`.
///     fn clear(&mut self) { self.names.clear(); }
///
///     /// A bound argument: `on_click = Files::remove(i)`.
///     fn remove(&mut self, index: usize) -> Result<(), String> {
///         if index >= self.names.len() {
///             return Err(format!("there is no file {index}"));
///         }
///         self.names.remove(index);
///         Ok(())
///     }
///
///     /// The input's value: `on_input = Files::set_draft`.
///     fn set_draft(&mut self, text: String) { self.draft = text; }
///
///     /// Uploaded files: `on_click = Files::save(upload_files("files"))`, or a zone's
///     /// `on_drop = Files::save`.
///     async fn save(&mut self, files: Vec<UploadFile>) -> Result<(), UploadError> {
///         for file in files {
///             self.names.push(file.persist_to_upload_dir().await?.name);
///         }
///         Ok(())
///     }
///
///     /// Upload progress: `upload_files("files", on_upload_progress = Files::progress)`.
///     fn progress(&mut self, p: UploadProgress) { self.progress = p.fraction; }
///
///     /// A file for the browser to download.
///     fn export(&mut self) -> Download {
///         Download::json(&self.names).filename("files.json")
///     }
/// }
///
/// fn index(s: &Files) -> Node {
///     ui! {
///         vstack(
///             upload(text("Drop files here"), id = "files", multiple = true),
///             button("Upload", on_click = Files::save(
///                 upload_files("files", on_upload_progress = Files::progress))),
///             progress(value = s.progress, max = 1),
///             input(value = &s.draft, on_input = Files::set_draft),
///             for (i, name) in s.names.iter().enumerate() {
///                 hstack(text(name), button("Remove", on_click = Files::remove(i)), key = name)
///             },
///             button("Export", on_click = Files::export),
///             button("Clear", on_click = Files::clear),
///         )
///     }
/// }
///
/// let mut files = Files { names: vec!["a.txt".into()], ..Files::default() };
/// assert!(index(&files).to_html().contains("Files.remove"));
/// assert!(files.remove(3).is_err());
/// ```
///
/// A handler takes owned arguments that are `Serialize + Deserialize` (they arrive as
/// JSON), and returns `()`, a `Download`, a `ClientAction`, an `Action`, a `Vec` or an
/// `Option` of those, or a `Result<_, E: Display>` whose `Err` the user sees. It may be
/// `async` (its future must be `Send`). Generic handlers, references, `impl Trait` and
/// patterns as arguments are compile errors.
#[proc_macro_attribute]
pub fn event(attr: TokenStream, item: TokenStream) -> TokenStream {
    event::event(attr.into(), item.into()).into()
}

/// Makes a struct or enum a state: derives `Serialize` and `Deserialize` through the serde
/// that ferrex re-exports (`ferrex::serde`), so the crate needs no serde dependency of its
/// own. Put it above the type's other attributes; derive `Default` beside it.
///
/// ```
/// use ferrex::prelude::*;
///
/// #[state]
/// #[derive(Default)]
/// struct Counter { count: i64 }
///
/// #[event]
/// impl Counter {
///     fn add(&mut self, by: i64) { self.count += by; }
/// }
///
/// fn travels_as_json<T: Serialize + for<'de> Deserialize<'de>>() {}
/// travels_as_json::<Counter>();
/// ```
///
/// Other types that travel as JSON (a handler's argument of your own type) derive the
/// traits from the prelude and name the crate:
///
/// ```
/// use ferrex::prelude::*;
///
/// #[derive(Serialize, Deserialize)]
/// #[serde(crate = "ferrex::serde")]
/// struct Filter { tag: String }
/// # let _ = Filter { tag: String::new() };
/// ```
#[proc_macro_attribute]
pub fn state(attr: TokenStream, item: TokenStream) -> TokenStream {
    state::state(attr.into(), item.into()).into()
}

/// The entry point: `main` builds and returns the `App`, ferrex serves it until the
/// process is stopped, on a tokio runtime of its own (no `#[tokio::main]` needed).
///
/// It listens on `127.0.0.1:3000`, or on `FERREX_ADDR` (`0.0.0.0:8080`) or `PORT`
/// (`8080`) when set, prints `ferrex serving on http://…`, and serves static files from
/// the folder `ui!` checks asset URLs against for this file (the nearest `assets/` beside
/// it, up to the crate root), wherever the program is started from. If that folder is
/// gone at run time (the binary was copied elsewhere), `assets/` in the working folder is
/// served instead. A failure to start (a busy port) is printed as one sentence and the
/// process exits with status 1. `main` may be `async` to await set-up before it returns
/// the app.
///
/// ```no_run
/// use ferrex::prelude::*;
///
/// fn index() -> Node {
///     ui! { text("Hello") }
/// }
///
/// #[ferrex::main]
/// fn main() -> App {
///     App::new().page("/", index)
/// }
/// ```
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    let dir = assets_dir_for_call_site().display().to_string();
    main_fn::main(attr.into(), item.into(), &dir).into()
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
