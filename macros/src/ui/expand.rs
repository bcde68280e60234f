//! `ui!` model → Rust: builder method calls resolved in the caller's scope, every
//! generated call spanned on the token the user wrote so errors point there.

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::{Arg, Call, Dsl, ElseBranch, HandlerRef, IfNode, Node, Value};

/// The whole page as one `Node` expression.
pub fn expand_root(nodes: &[Node]) -> TokenStream {
    match nodes {
        [] => quote!(::ferrex::__private::Node::Empty),
        [one] => into_node(one),
        many => fragment(many),
    }
}

fn into_node(node: &Node) -> TokenStream {
    let expr = expand_node(node);
    let span = node_span(node);
    quote_spanned!(span=> ::ferrex::__private::into_node(#expr))
}

fn fragment(nodes: &[Node]) -> TokenStream {
    let items = nodes.iter().map(into_node);
    quote!(::ferrex::__private::Node::Fragment(
        ::std::vec![#(#items),*]
    ))
}

fn body(nodes: &[Node]) -> TokenStream {
    match nodes {
        [] => quote!(::ferrex::__private::Node::Empty),
        [one] => into_node(one),
        many => fragment(many),
    }
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

/// A node as an expression of its own type (a builder, `&str`, `Node`, …).
fn expand_node(node: &Node) -> TokenStream {
    match node {
        Node::Call(call) => expand_call(call),
        Node::Lit(lit) => quote!(#lit),
        Node::Block(tokens) => quote!({ #tokens }),
        Node::Expr(expr) => quote!(#expr),
        Node::If(if_node) => expand_if(if_node),
        Node::For(for_node) => {
            let pat = &for_node.pat;
            let expr = &for_node.expr;
            let item = body(&for_node.body);
            let acc = quote_spanned!(Span::mixed_site()=> __fx_nodes);
            quote! {{
                let mut #acc = ::std::vec::Vec::new();
                for #pat in #expr {
                    #acc.push(#item);
                }
                ::ferrex::__private::Node::Fragment(#acc)
            }}
        }
    }
}

fn expand_if(if_node: &IfNode) -> TokenStream {
    let cond = &if_node.cond;
    let then = body(&if_node.then);
    let otherwise = match &if_node.else_branch {
        None => quote!(::ferrex::__private::Node::Empty),
        Some(ElseBranch::If(inner)) => expand_if(inner),
        Some(ElseBranch::Nodes(nodes)) => body(nodes),
    };
    quote!(if #cond { #then } else { #otherwise })
}

fn expand_call(call: &Call) -> TokenStream {
    let path = &call.path;
    let name_span = path.segments.last().map_or(call.paren, |s| s.ident.span());
    let b = quote_spanned!(Span::mixed_site()=> __fx);
    let ctor = paren_group(TokenStream::new(), name_span);
    let mut steps = Vec::new();
    for arg in &call.args {
        match arg {
            Arg::Positional(node) => {
                let value = expand_node(node);
                let span = node_span(node);
                steps.push(quote_spanned!(span=>
                    let #b = ::ferrex::__private::positional(#b, #value);
                ));
            }
            Arg::Prop(prop) => {
                let name = &prop.name;
                let value = expand_value(&prop.value, Some(&name.to_string()), None);
                let args = paren_group(value, name.span());
                steps.push(quote!(let #b = #b.#name #args;));
            }
        }
    }
    // The block is spanned on the component's name: an error about the whole call (a
    // child a parent does not take) points there, not at the whole macro.
    block(
        quote! {
            let #b = #path #ctor;
            #(#steps)*
            #b
        },
        name_span,
    )
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

/// The value a bare handler on this event prop receives as its argument.
fn event_value_marker(prop: &str) -> Option<&'static str> {
    match prop {
        "on_input" | "on_change" => Some("InputValue"),
        "on_drop" => Some("DroppedFiles"),
        "on_drop_rejected" => Some("RejectedFiles"),
        "on_upload_progress" => Some("ProgressValue"),
        _ => None,
    }
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
    fn a_call_becomes_builder_calls() {
        let out = expand(quote!(button("Go", disabled = true)));
        assert!(out.contains("button ()"), "{out}");
        assert!(out.contains("positional (__fx , \"Go\")"), "{out}");
        assert!(out.contains(". disabled (true)"), "{out}");
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
    fn several_roots_make_a_fragment() {
        let out = expand(quote!(text("a"), text("b")));
        assert!(
            out.starts_with(":: ferrex :: __private :: Node :: Fragment"),
            "{out}"
        );
    }
}
