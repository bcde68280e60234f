//! `ui!` model → Rust that writes the page straight into one buffer.
//!
//! Each component call still runs its builder and props, spanned on the tokens the user
//! wrote, so type errors are the builders' and point there. Then, instead of building a
//! tree, the call writes its start tag, its children in place and its end tag into the
//! page's buffer (`ferrex_core`'s `render` module says how the call site picks the path).
//! Props are applied before the children are written, whatever their order in the call;
//! string literal children are escaped here, at expansion time. A nested call is also
//! expanded as a plain builder, given with `positional(parent, child)` to a parent that
//! does not stream (a user's component may take only one child type, or read its children).

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Lit;
use syn::spanned::Spanned;

use super::parse::{Arg, Call, Dsl, ElseBranch, HandlerRef, IfNode, Node, Value};

/// A local of the generated code: invisible to the user's expressions, located at `span`
/// so that errors about it point at the user's token.
fn local(name: &str, span: Span) -> Ident {
    Ident::new(name, Span::mixed_site().located_at(span))
}

/// The buffer the current node is written into.
fn out() -> Ident {
    local("__fx_out", Span::call_site())
}

/// The whole page as one `Node` expression.
pub fn expand_root(nodes: &[Node]) -> TokenStream {
    if nodes.is_empty() {
        return quote!(::ferrex::__private::Node::Empty);
    }
    let out = out();
    let html = local("__fx_html", Span::call_site());
    let hint = local("__FX_SIZE", Span::call_site());
    let items = nodes.iter().map(emit_item);
    quote! {{
        #[allow(unused_imports)]
        use ::ferrex::__private::{
            ArgApply as _, ArgNode as _, ArgSkip as _, ArgStream as _, CompContainer as _,
            CompLeaf as _, CompNode as _, EmitNode as _, EmitStream as _, ParentAside as _,
            ParentInline as _,
        };
        static #hint: ::ferrex::__private::SizeHint = ::ferrex::__private::SizeHint::new();
        let mut #html = ::ferrex::__private::Html::with_hint(&#hint);
        {
            let #out: &mut ::ferrex::__private::Html = &mut #html;
            #(#items)*
        }
        #html.finish(&#hint)
    }}
}

fn node_span(node: &Node) -> Span {
    match node {
        Node::Call(call) => call.path.span(),
        Node::Lit(lit) => lit.span(),
        Node::Block(tokens) => tokens.span(),
        Node::If(i) => i.cond.span(),
        Node::For(f) => f.expr.span(),
        Node::Expr(e) => e.span(),
    }
}

/// Statements writing a node that is not a component's positional argument: a root, or
/// a node in the body of an `if` or `for`.
fn emit_item(node: &Node) -> TokenStream {
    let out = out();
    match node {
        Node::Call(call) => expand_call(call),
        Node::Lit(Lit::Str(lit)) => {
            let escaped = escape(&lit.value());
            quote_spanned!(lit.span()=> #out.raw(#escaped);)
        }
        Node::If(if_node) => expand_if(if_node),
        Node::For(for_node) => {
            let pat = &for_node.pat;
            let expr = &for_node.expr;
            let body = for_node.body.iter().map(emit_item);
            quote! {
                for #pat in #expr {
                    #(#body)*
                }
            }
        }
        Node::Lit(_) | Node::Block(_) | Node::Expr(_) => {
            let span = node_span(node);
            let value = value_expr(node);
            let v = local("__fx_v", span);
            quote_spanned! {span=>
                match #value {
                    #v => (&&::ferrex::__private::Emit(&#v)).__fx_kind().emit(#v, #out),
                }
            }
        }
    }
}

/// A literal, block or expression node as an expression of its own type.
fn value_expr(node: &Node) -> TokenStream {
    match node {
        Node::Lit(lit) => quote!(#lit),
        Node::Block(tokens) => quote!({ #tokens }),
        Node::Expr(expr) => quote!(#expr),
        Node::Call(_) | Node::If(_) | Node::For(_) => TokenStream::new(),
    }
}

fn expand_if(if_node: &IfNode) -> TokenStream {
    let cond = &if_node.cond;
    let then = if_node.then.iter().map(emit_item);
    let otherwise = match &if_node.else_branch {
        None => TokenStream::new(),
        Some(ElseBranch::If(inner)) => {
            let inner = expand_if(inner);
            quote!(else #inner)
        }
        Some(ElseBranch::Nodes(nodes)) => {
            let nodes = nodes.iter().map(emit_item);
            quote!(else { #(#nodes)* })
        }
    };
    quote!(if #cond { #(#then)* } #otherwise)
}

/// A component call: its builder and props, then its start tag, its positional
/// arguments in order, its end tag.
fn expand_call(call: &Call) -> TokenStream {
    let path = &call.path;
    let name_span = path.segments.last().map_or(call.paren, |s| s.ident.span());
    let b = local("__fx_b", Span::call_site());
    let kind = local("__fx_k", Span::call_site());
    let out = out();
    let ctor = paren_group(TokenStream::new(), name_span);
    let mut props = Vec::new();
    let mut children = Vec::new();
    for arg in &call.args {
        match arg {
            Arg::Positional(node) => children.push(expand_positional(node, &b)),
            Arg::Prop(prop) => {
                let name = &prop.name;
                let value = expand_value(&prop.value, Some(&name.to_string()), None);
                let args = paren_group(value, name.span());
                // The receiver sits at the prop too: rustc underlines the whole method call
                // for a prop the builder lacks, and a receiver spanned on the macro would
                // stretch that from `ui! {` down to the prop.
                let receiver = local("__fx_b", name.span());
                props.push(quote!(let #b = #receiver.#name #args;));
            }
        }
    }
    let close = quote_spanned!(name_span=> #kind.close(#b, #out););
    // The block is spanned on the component's name: an error about the whole call (a
    // component that is not a node) points there, not at the whole macro.
    block(
        quote! {
            let #b = #path #ctor;
            #(#props)*
            let mut #b = #b;
            let #kind = (&&&::ferrex::__private::Comp(&#b)).__fx_kind();
            #kind.open(&mut #b, #out);
            #(#children)*
            #close
        },
        name_span,
    )
}

/// One positional argument of the component whose builder is `b`.
fn expand_positional(node: &Node, b: &Ident) -> TokenStream {
    let out = out();
    let span = node_span(node);
    match node {
        Node::Call(call) => {
            // Both ways, one picked by the parent's type at compile time: written in
            // place inside a container; otherwise the call's builder is given to the
            // parent's, as the builder API's `positional(parent, child)`.
            let parent = local("__fx_p", span);
            let streamed = expand_call(call);
            let built = build_call(call);
            let give = quote_spanned!(span=> #parent.give(#b, #built));
            quote! {
                let #parent = (&&::ferrex::__private::Parent(&#b)).__fx_kind();
                let #b = if #parent.streams() {
                    #streamed
                    #b
                } else {
                    #give
                };
            }
        }
        Node::If(_) | Node::For(_) => {
            // Written in place inside a container; otherwise into a buffer of its own that
            // the builder then takes as one node.
            let parent = local("__fx_p", span);
            let aside = local("__fx_aside", span);
            let item = emit_item(node);
            quote! {
                let #parent = (&&::ferrex::__private::Parent(&#b)).__fx_kind();
                #[allow(clippy::let_unit_value)]
                let mut #aside = #parent.aside();
                {
                    let #out: &mut ::ferrex::__private::Html = #parent.sink(&mut #aside, #out);
                    #item
                }
                let #b = #parent.take(#b, #aside);
            }
        }
        Node::Lit(_) | Node::Block(_) | Node::Expr(_) => {
            let value = value_expr(node);
            let v = local("__fx_v", span);
            // The builder API's own call, type-checked only: a value the component does
            // not take is reported exactly as there, at the argument.
            let check = quote_spanned! {span=>
                if false {
                    let _ = ::ferrex::__private::positional(
                        ::ferrex::__private::witness(&#b),
                        ::ferrex::__private::witness(&#v),
                    );
                }
            };
            let apply = match node {
                Node::Lit(Lit::Str(lit)) => {
                    let escaped = escape(&lit.value());
                    quote_spanned!(span=> .apply_lit(#b, #v, #escaped, #out))
                }
                _ => quote_spanned!(span=> .apply(#b, #v, #out)),
            };
            quote_spanned! {span=>
                let #b = match #value {
                    #v => {
                        #check
                        (&&&&::ferrex::__private::PositionalProbe(&#b, &#v)).__fx_kind() #apply
                    }
                };
            }
        }
    }
}

/// A component call as its builder, for a parent that does not stream: the builder and
/// props, then each positional argument given with the builder API's own call (a nested
/// call as its builder, an `if` or `for` as the node written into a buffer of its own).
fn build_call(call: &Call) -> TokenStream {
    let path = &call.path;
    let name_span = path.segments.last().map_or(call.paren, |s| s.ident.span());
    let c = local("__fx_c", Span::call_site());
    let ctor = paren_group(TokenStream::new(), name_span);
    let mut props = Vec::new();
    let mut children = Vec::new();
    for arg in &call.args {
        match arg {
            Arg::Positional(node) => {
                let span = node_span(node);
                let value = match node {
                    Node::Call(inner) => build_call(inner),
                    Node::If(_) | Node::For(_) => {
                        let out = out();
                        let aside = local("__fx_aside", span);
                        let item = emit_item(node);
                        quote! {{
                            let mut #aside = ::ferrex::__private::Html::new();
                            {
                                let #out: &mut ::ferrex::__private::Html = &mut #aside;
                                #item
                            }
                            #aside.into_node()
                        }}
                    }
                    Node::Lit(_) | Node::Block(_) | Node::Expr(_) => value_expr(node),
                };
                children.push(quote_spanned! {span=>
                    let #c = ::ferrex::__private::positional(#c, #value);
                });
            }
            Arg::Prop(prop) => {
                let name = &prop.name;
                let value = expand_value(&prop.value, Some(&name.to_string()), None);
                let args = paren_group(value, name.span());
                let receiver = local("__fx_c", name.span());
                props.push(quote!(let #c = #receiver.#name #args;));
            }
        }
    }
    // Props first, as when the call streams: the same builder either way.
    block(
        quote! {
            let #c = #path #ctor;
            #(#props)*
            #(#children)*
            #c
        },
        name_span,
    )
}

/// HTML-escapes a literal the way the renderer escapes text at run time.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// A prop or argument value. `prop` names the event prop a bare handler reference is given
/// to (it decides which event value the handler receives); `dsl` names the DSL call whose
/// argument this is.
fn expand_value(value: &Value, prop: Option<&str>, dsl: Option<&str>) -> TokenStream {
    match value {
        Value::Expr(expr) => {
            if dsl == Some("download") && prop == Some("data") {
                // Strings, bytes and images as they are; any other value as JSON.
                let span = expr.span();
                return quote_spanned! {span=> {
                    #[allow(unused_imports)]
                    use ::ferrex::__private::{ViaData as _, ViaJson as _};
                    (&::ferrex::__private::DataProbe(&(#expr))).download_data()
                }};
            }
            quote!(#expr)
        }
        Value::Dsl(dsl) => expand_dsl(dsl),
        Value::Handler(handler) => expand_handler(handler, prop),
        Value::Tuple(span, items) => {
            let items = items.iter().map(|item| expand_value(item, prop, dsl));
            let group = paren_group(quote!(#(#items,)*), *span);
            quote!(#group)
        }
    }
}

fn expand_dsl(dsl: &Dsl) -> TokenStream {
    let name = &dsl.name;
    let dsl_name = name.to_string();
    let positional = dsl
        .positional
        .iter()
        .map(|v| expand_value(v, None, Some(&dsl_name)));
    let ctor = paren_group(quote!(#(#positional),*), dsl.paren);
    let b = quote_spanned!(Span::mixed_site()=> __fx_dsl);
    let steps = dsl.named.iter().map(|prop| {
        let key = &prop.name;
        let value = expand_value(&prop.value, Some(&key.to_string()), Some(&dsl_name));
        let args = paren_group(value, key.span());
        // The receiver is wrapped in a block spanned on the key, so a bound the step
        // does not meet (a second source for `download`) is reported at the key.
        let receiver = block(quote!(#b), key.span());
        quote!(let #b = #receiver.#key #args;)
    });
    // `download(…)` ends with a call that requires a source; spanned on the name, so a
    // download without one is reported at `download`.
    let finish = (dsl_name == "download").then(|| {
        let receiver = block(quote!(#b), name.span());
        let finish = syn::Ident::new("finish", name.span());
        quote!(let #b = #receiver.#finish();)
    });
    block(
        quote! {
            let #b = #name #ctor;
            #(#steps)*
            #finish
            #b
        },
        name.span(),
    )
}

/// `State::method(args)` → `events::<State>().method(args)`: the companion type generated
/// by `#[event]` has one method per handler with the handler's parameter types.
fn expand_handler(handler: &HandlerRef, prop: Option<&str>) -> TokenStream {
    let state = &handler.state;
    let method = &handler.method;
    let state_span = state.span();
    let events = quote_spanned!(state_span=> ::ferrex::__private::events::<#state>());
    let args = match &handler.args {
        Some((paren, values)) => {
            let values = values.iter().map(|v| expand_value(v, None, None));
            paren_group(quote!(#(#values),*), *paren)
        }
        None => {
            let marker = prop.and_then(event_value_marker).map(|marker| {
                let marker = syn::Ident::new(marker, method.span());
                quote_spanned!(method.span()=> ::ferrex::__private::#marker)
            });
            paren_group(quote!(#marker), method.span())
        }
    };
    quote!(#events.#method #args)
}

/// The marker type standing for the value a bare handler on this event prop receives
/// (which value that is, is a wire fact: [`ferrex_wire::PropValue`]).
fn event_value_marker(prop: &str) -> Option<&'static str> {
    ferrex_wire::PropValue::of(prop).map(|value| match value {
        ferrex_wire::PropValue::Input => "InputValue",
        ferrex_wire::PropValue::DroppedFiles => "DroppedFiles",
        ferrex_wire::PropValue::RejectedFiles => "RejectedFiles",
        ferrex_wire::PropValue::Progress => "ProgressValue",
    })
}

fn block(inner: TokenStream, span: Span) -> TokenStream {
    let mut group = Group::new(Delimiter::Brace, inner);
    group.set_span(span);
    quote!(#group)
}

fn paren_group(inner: TokenStream, span: Span) -> Group {
    let mut group = Group::new(Delimiter::Parenthesis, inner);
    group.set_span(span);
    group
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::parse::parse_root;

    fn expand(tokens: TokenStream) -> String {
        expand_root(&parse_root(tokens).expect("parses")).to_string()
    }

    #[test]
    fn a_call_runs_its_builder_and_props_then_writes_its_children_in_place() {
        let out = expand(quote!(button("Go", disabled = true)));
        assert!(out.contains("let __fx_b = button ()"), "{out}");
        assert!(out.contains(". disabled (true)"), "{out}");
        // Props come before the start tag, whatever their place in the call.
        let open = out.find(". open (").expect("opens");
        assert!(out.find(". disabled (true)").expect("prop") < open, "{out}");
        // A positional argument is checked with the builder API's own call.
        assert!(
            out.contains("positional (:: ferrex :: __private :: witness (& __fx_b)"),
            "{out}"
        );
        assert!(out.find(". close (").expect("closes") > open, "{out}");
    }

    #[test]
    fn string_literals_are_escaped_at_expansion_time() {
        let out = expand(quote!(text("a < b & \"c\"")));
        assert!(
            out.contains(
                r#"apply_lit (__fx_b , __fx_v , "a &lt; b &amp; &quot;c&quot;" , __fx_out)"#
            ),
            "{out}"
        );
        let out = expand(quote!("<root>"));
        assert!(out.contains(r#"__fx_out . raw ("&lt;root&gt;")"#), "{out}");
    }

    #[test]
    fn nested_calls_if_and_for_are_written_where_their_parent_says() {
        let out = expand(quote!(vstack(
            text("a"),
            if x {
                "b"
            },
            for y in z {
                text(y)
            }
        )));
        assert_eq!(out.matches("Parent (& __fx_b)").count(), 3, "{out}");
        assert!(out.contains("for y in z"), "{out}");
        assert!(out.contains("if x"), "{out}");
    }

    #[test]
    fn a_nested_call_is_also_built_for_a_parent_that_does_not_stream() {
        let out = expand(quote!(tabs(
            tab(icon("x"), label = "a"),
            if y {
                "b"
            }
        )));
        // Streamed, or given to the parent as its builder: the parent's type picks.
        assert!(out.contains(". streams ()"), "{out}");
        assert!(out.contains(". give (__fx_b , {"), "{out}");
        let built = out.find("let __fx_c = tab ()").expect("builds the call");
        // Props first, then the builder API's own call for each positional argument.
        let label = out[built..].find(". label (\"a\")").expect("prop");
        let icon = out[built..]
            .find("let __fx_c = icon ()")
            .expect("nested builder");
        assert!(label < icon, "{out}");
        assert!(
            out.contains("positional (__fx_c , { let __fx_c = icon ()"),
            "{out}"
        );
        // An `if` is still written into a buffer of its own.
        assert!(out.contains(". aside ()"), "{out}");
    }

    #[test]
    fn a_bare_handler_takes_no_arguments_on_click() {
        let out = expand(quote!(button(on_click = Counter::reset)));
        assert!(out.contains("events :: < Counter > () . reset ()"), "{out}");
    }

    #[test]
    fn a_bare_handler_on_input_receives_the_value() {
        let out = expand(quote!(input(on_input = Form::set_name)));
        assert!(
            out.contains(". set_name (:: ferrex :: __private :: InputValue)"),
            "{out}"
        );
    }

    #[test]
    fn download_data_goes_through_the_probe() {
        let out = expand(quote!(button(
            on_click = download(data = s.items, filename = "a.json")
        )));
        assert!(out.contains("DataProbe"), "{out}");
        assert!(out.contains(". filename (\"a.json\")"), "{out}");
    }

    #[test]
    fn several_roots_are_written_into_one_buffer() {
        let out = expand(quote!(text("a"), text("b")));
        assert_eq!(out.matches("Html :: with_hint").count(), 1, "{out}");
        assert_eq!(out.matches("let __fx_b = text ()").count(), 2, "{out}");
        assert!(
            out.trim_end()
                .ends_with("__fx_html . finish (& __FX_SIZE) }"),
            "{out}"
        );
    }

    #[test]
    fn nothing_is_an_empty_node() {
        let out = expand(TokenStream::new());
        assert_eq!(out, ":: ferrex :: __private :: Node :: Empty");
    }

    #[test]
    fn escape_matches_the_renderer() {
        assert_eq!(
            escape(r#"<a href="x">&</a>'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;'"
        );
    }
}
