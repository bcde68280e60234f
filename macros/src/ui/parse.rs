//! `ui!` syntax → model. The grammar (DESIGN §3):
//!
//! ```text
//! node  := PATH "(" [arg ("," arg)*] ")" | LITERAL | "{" expr "}" | if … | for … | expr
//! arg   := NAME "=" value | node
//! value := NAME "(" … NAME "=" … ")"      (a DSL call with named args: download(url = …))
//!        | Type::method ["(" value,* ")"]  (a handler reference)
//!        | expr
//! ```

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::discouraged::Speculative;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, Lit, Pat, Path, Token};

/// A node of the page.
pub enum Node {
    /// `button("Go", on_click = X)`.
    Call(Call),
    /// `"text"` or `42`.
    Lit(Lit),
    /// `{ expr }`.
    Block(TokenStream),
    /// `if cond { … } else { … }`.
    If(IfNode),
    /// `for pat in expr { … }`.
    For(ForNode),
    /// Any other Rust expression (`name`, `s.count`).
    Expr(Expr),
}

/// A component call.
pub struct Call {
    pub path: Path,
    pub paren: Span,
    pub args: Vec<Arg>,
}

/// One argument of a component call.
pub enum Arg {
    Positional(Node),
    Prop(Prop),
}

/// `name = value`.
pub struct Prop {
    pub name: Ident,
    pub value: Value,
}

/// The value of a prop or of a DSL/handler argument.
pub enum Value {
    Dsl(Dsl),
    Handler(HandlerRef),
    /// `(a, b, …)` with a handler reference or DSL call among its items (several event
    /// actions for one prop, e.g. `on_click = (S::save, clear_selected_files("f"))`).
    Tuple(Span, Vec<Value>),
    Expr(Expr),
}

/// `download(url = …, filename = …)`.
pub struct Dsl {
    pub name: Ident,
    pub paren: Span,
    pub positional: Vec<Value>,
    pub named: Vec<Prop>,
}

/// `State::method` or `State::method(args…)`.
pub struct HandlerRef {
    pub state: Path,
    pub method: Ident,
    pub args: Option<(Span, Vec<Value>)>,
}

pub struct IfNode {
    pub cond: Expr,
    pub then: Vec<Node>,
    pub else_branch: Option<ElseBranch>,
}

pub enum ElseBranch {
    If(Box<IfNode>),
    Nodes(Vec<Node>),
}

pub struct ForNode {
    pub pat: Pat,
    pub expr: Expr,
    pub body: Vec<Node>,
}

/// Parses the whole macro input: nodes separated by commas.
pub fn parse_root(tokens: TokenStream) -> syn::Result<Vec<Node>> {
    Parser::parse2(parse_nodes, tokens)
}

fn parse_nodes(input: ParseStream) -> syn::Result<Vec<Node>> {
    let mut nodes = Vec::new();
    while !input.is_empty() {
        nodes.push(parse_node(input)?);
        if input.is_empty() {
            break;
        }
        expect_comma(input)?;
    }
    Ok(nodes)
}

fn expect_comma(input: ParseStream) -> syn::Result<()> {
    if input.peek(Token![,]) {
        input.parse::<Token![,]>()?;
        return Ok(());
    }
    let next: TokenTree = input.parse()?;
    Err(syn::Error::new(
        next.span(),
        format!("expected `,` before `{next}`: separate children and props with commas"),
    ))
}

/// True when the next tokens end a list item: end of input or a comma.
fn at_item_end(input: ParseStream) -> bool {
    input.is_empty() || input.peek(Token![,])
}

fn parse_node(input: ParseStream) -> syn::Result<Node> {
    if input.peek(Token![if]) {
        return parse_if(input).map(Node::If);
    }
    if input.peek(Token![for]) {
        return parse_for(input).map(Node::For);
    }
    if input.peek(syn::token::Brace) {
        let content;
        syn::braced!(content in input);
        let inner: TokenStream = content.parse()?;
        if inner.is_empty() {
            return Err(syn::Error::new(
                input.span(),
                "empty `{}`: put an expression inside, or remove it",
            ));
        }
        return Ok(Node::Block(inner));
    }
    if input.peek(Lit) {
        let fork = input.fork();
        let lit: Lit = fork.parse()?;
        if at_item_end(&fork) {
            input.parse::<Lit>()?;
            return Ok(Node::Lit(lit));
        }
    }
    if let Some(call) = try_parse_call(input)? {
        return Ok(Node::Call(call));
    }
    if input.is_empty() {
        return Err(input.error("expected a component, text, `{expr}`, `if` or `for`"));
    }
    parse_expr(input).map(Node::Expr)
}

/// An expression up to the next top-level comma, with a clear message when there is none.
fn parse_expr(input: ParseStream) -> syn::Result<Expr> {
    let fork = input.fork();
    match fork.parse::<Expr>() {
        Ok(_) => input.parse::<Expr>(),
        Err(_) => {
            let next: TokenTree = input.parse()?;
            Err(syn::Error::new(
                next.span(),
                format!(
                    "unexpected `{next}`: expected a component call, text, `{{expr}}`, `if`, `for` or a Rust expression"
                ),
            ))
        }
    }
}

/// `path(args)` followed by a comma or the end. `box` is allowed as a name.
fn try_parse_call(input: ParseStream) -> syn::Result<Option<Call>> {
    let fork = input.fork();
    let Ok(path) = parse_call_path(&fork) else {
        return Ok(None);
    };
    if !fork.peek(syn::token::Paren) {
        return Ok(None);
    }
    let group: proc_macro2::Group = fork.parse()?;
    if !at_item_end(&fork) {
        return Ok(None);
    }
    input.advance_to(&fork);
    let args = Parser::parse2(parse_call_args, group.stream())?;
    Ok(Some(Call {
        path,
        paren: group.span(),
        args,
    }))
}

fn parse_call_path(input: ParseStream) -> syn::Result<Path> {
    if input.peek(Token![box]) {
        let kw: Token![box] = input.parse()?;
        return Ok(Path::from(Ident::new_raw("box", kw.span)));
    }
    if input.peek(Token![::]) || input.peek(Ident::peek_any) {
        let path = Path::parse_mod_style(input)?;
        return Ok(path);
    }
    Err(input.error("not a call"))
}

fn parse_call_args(input: ParseStream) -> syn::Result<Vec<Arg>> {
    let mut args = Vec::new();
    while !input.is_empty() {
        if is_prop_start(input) {
            args.push(Arg::Prop(parse_prop(input)?));
        } else {
            args.push(Arg::Positional(parse_node(input)?));
        }
        if input.is_empty() {
            break;
        }
        expect_comma(input)?;
    }
    Ok(args)
}

/// `name =` but not `name ==`.
fn is_prop_start(input: ParseStream) -> bool {
    input.peek(Ident::peek_any) && input.peek2(Token![=]) && !input.peek2(Token![==])
}

fn parse_prop(input: ParseStream) -> syn::Result<Prop> {
    let name = Ident::parse_any(input)?;
    let eq: Token![=] = input.parse()?;
    if at_item_end(input) {
        return Err(syn::Error::new(
            eq.span,
            format!("expected a value after `{name} =`"),
        ));
    }
    let value = parse_value(input)?;
    Ok(Prop { name, value })
}

fn parse_value(input: ParseStream) -> syn::Result<Value> {
    if let Some(tuple) = try_parse_tuple(input)? {
        return Ok(tuple);
    }
    if let Some(dsl) = try_parse_dsl(input)? {
        return Ok(Value::Dsl(dsl));
    }
    if let Some(handler) = try_parse_handler(input)? {
        return Ok(Value::Handler(handler));
    }
    parse_expr(input).map(Value::Expr)
}

/// `(a, b, …)` whose items include a handler reference or a DSL call; any other
/// parenthesised value stays an expression.
fn try_parse_tuple(input: ParseStream) -> syn::Result<Option<Value>> {
    if !input.peek(syn::token::Paren) {
        return Ok(None);
    }
    let fork = input.fork();
    let group: proc_macro2::Group = fork.parse()?;
    let has_comma = group
        .stream()
        .into_iter()
        .any(|tt| matches!(&tt, TokenTree::Punct(p) if p.as_char() == ','));
    if !at_item_end(&fork) || !has_comma {
        return Ok(None);
    }
    let Ok(items) = Parser::parse2(parse_values, group.stream()) else {
        return Ok(None);
    };
    if items.iter().all(|v| matches!(v, Value::Expr(_))) {
        return Ok(None);
    }
    input.advance_to(&fork);
    Ok(Some(Value::Tuple(group.span(), items)))
}

/// `name(…)` whose arguments include at least one `key = value`.
fn try_parse_dsl(input: ParseStream) -> syn::Result<Option<Dsl>> {
    if !(input.peek(Ident) && input.peek2(syn::token::Paren)) {
        return Ok(None);
    }
    let fork = input.fork();
    let name: Ident = fork.parse()?;
    let group: proc_macro2::Group = fork.parse()?;
    if !at_item_end(&fork) || !has_named_arg(group.stream()) {
        return Ok(None);
    }
    input.advance_to(&fork);
    let (positional, named) = Parser::parse2(parse_dsl_args, group.stream())?;
    Ok(Some(Dsl {
        name,
        paren: group.span(),
        positional,
        named,
    }))
}

/// Whether a comma-separated token list has a top-level `ident = …` item.
fn has_named_arg(tokens: TokenStream) -> bool {
    let mut item_start = true;
    let mut prev_ident = false;
    let mut iter = tokens.into_iter().peekable();
    while let Some(tt) = iter.next() {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                item_start = true;
                prev_ident = false;
                continue;
            }
            TokenTree::Punct(p) if p.as_char() == '=' && prev_ident => {
                let eq_eq = matches!(iter.peek(), Some(TokenTree::Punct(n)) if n.as_char() == '=');
                if !eq_eq && p.spacing() == proc_macro2::Spacing::Alone {
                    return true;
                }
            }
            _ => {}
        }
        prev_ident = item_start && matches!(tt, TokenTree::Ident(_));
        item_start = false;
    }
    false
}

type DslArgs = (Vec<Value>, Vec<Prop>);

fn parse_dsl_args(input: ParseStream) -> syn::Result<DslArgs> {
    let mut positional = Vec::new();
    let mut named = Vec::new();
    while !input.is_empty() {
        if is_prop_start(input) {
            named.push(parse_prop(input)?);
        } else {
            if !named.is_empty() {
                return Err(input.error("positional arguments go before named ones"));
            }
            positional.push(parse_value(input)?);
        }
        if input.is_empty() {
            break;
        }
        expect_comma(input)?;
    }
    Ok((positional, named))
}

/// `Type::method` or `Type::method(args…)`: a path of two or more segments whose last is
/// a lower-case method and whose second-to-last starts with an upper-case letter.
fn try_parse_handler(input: ParseStream) -> syn::Result<Option<HandlerRef>> {
    let fork = input.fork();
    let Ok(mut state) = Path::parse_mod_style(&fork) else {
        return Ok(None);
    };
    if !is_handler_path(&state) {
        return Ok(None);
    }
    let group = if fork.peek(syn::token::Paren) {
        Some(fork.parse::<proc_macro2::Group>()?)
    } else {
        None
    };
    if !at_item_end(&fork) {
        return Ok(None);
    }
    input.advance_to(&fork);
    // `is_handler_path` saw at least two segments: split off the method.
    let Some(method) = state.segments.pop().map(|p| p.into_value().ident) else {
        return Ok(None);
    };
    // Rebuilding drops the trailing `::` the pop left behind.
    state.segments = std::mem::take(&mut state.segments).into_iter().collect();
    let args = match group {
        Some(group) => Some((group.span(), Parser::parse2(parse_values, group.stream())?)),
        None => None,
    };
    Ok(Some(HandlerRef {
        state,
        method,
        args,
    }))
}

fn is_handler_path(path: &Path) -> bool {
    let n = path.segments.len();
    if n < 2 {
        return false;
    }
    let method = path.segments[n - 1].ident.to_string();
    let ty = path.segments[n - 2].ident.to_string();
    method.starts_with(|c: char| c.is_lowercase() || c == '_')
        && ty.starts_with(|c: char| c.is_uppercase())
}

fn parse_values(input: ParseStream) -> syn::Result<Vec<Value>> {
    let mut values = Vec::new();
    while !input.is_empty() {
        values.push(parse_value(input)?);
        if input.is_empty() {
            break;
        }
        expect_comma(input)?;
    }
    Ok(values)
}

fn parse_if(input: ParseStream) -> syn::Result<IfNode> {
    input.parse::<Token![if]>()?;
    let cond = Expr::parse_without_eager_brace(input)?;
    let then = parse_braced_nodes(input)?;
    let else_branch = if input.peek(Token![else]) {
        input.parse::<Token![else]>()?;
        if input.peek(Token![if]) {
            Some(ElseBranch::If(Box::new(parse_if(input)?)))
        } else {
            Some(ElseBranch::Nodes(parse_braced_nodes(input)?))
        }
    } else {
        None
    };
    Ok(IfNode {
        cond,
        then,
        else_branch,
    })
}

fn parse_for(input: ParseStream) -> syn::Result<ForNode> {
    input.parse::<Token![for]>()?;
    let pat = Pat::parse_single(input)?;
    input.parse::<Token![in]>()?;
    let expr = Expr::parse_without_eager_brace(input)?;
    let body = parse_braced_nodes(input)?;
    Ok(ForNode { pat, expr, body })
}

fn parse_braced_nodes(input: ParseStream) -> syn::Result<Vec<Node>> {
    if !input.peek(syn::token::Brace) {
        return Err(input.error("expected `{ … }` with the nodes to show"));
    }
    let content;
    syn::braced!(content in input);
    parse_nodes(&content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn one(tokens: TokenStream) -> Node {
        let mut nodes = parse_root(tokens).expect("parses");
        assert_eq!(nodes.len(), 1);
        nodes.remove(0)
    }

    fn err(tokens: TokenStream) -> String {
        match parse_root(tokens) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_call_has_positional_children_and_props() {
        let Node::Call(call) = one(quote!(button("Go", on_click = S::go, disabled = true))) else {
            panic!("not a call")
        };
        assert_eq!(call.path.segments[0].ident, "button");
        assert!(matches!(call.args[0], Arg::Positional(Node::Lit(_))));
        let Arg::Prop(prop) = &call.args[1] else {
            panic!()
        };
        assert_eq!(prop.name, "on_click");
        assert!(matches!(&prop.value, Value::Handler(h) if h.method == "go" && h.args.is_none()));
        let Arg::Prop(prop) = &call.args[2] else {
            panic!()
        };
        assert!(matches!(prop.value, Value::Expr(_)));
    }

    #[test]
    fn download_with_named_args_is_a_dsl_call() {
        let Node::Call(call) = one(quote!(button(
            on_click = download(url = "/a.png", filename = "b.png")
        ))) else {
            panic!()
        };
        let Arg::Prop(prop) = &call.args[0] else {
            panic!()
        };
        let Value::Dsl(dsl) = &prop.value else {
            panic!("not a DSL call")
        };
        assert_eq!(dsl.name, "download");
        assert_eq!(dsl.named.len(), 2);
        assert_eq!(dsl.named[1].name, "filename");
    }

    #[test]
    fn handler_arguments_may_be_dsl_calls() {
        let Node::Call(call) = one(quote!(button(
            on_click = S::up(upload_files("f", on_upload_progress = S::p), 42)
        ))) else {
            panic!()
        };
        let Arg::Prop(prop) = &call.args[0] else {
            panic!()
        };
        let Value::Handler(h) = &prop.value else {
            panic!()
        };
        assert_eq!(h.state.segments.len(), 1);
        let (_, args) = h.args.as_ref().expect("args");
        assert!(matches!(args[0], Value::Dsl(_)));
        assert!(matches!(args[1], Value::Expr(_)));
    }

    #[test]
    fn a_tuple_with_handlers_holds_each_as_a_value() {
        let Node::Call(call) = one(quote!(button(
            on_click = (S::save, clear_selected_files("f"), S::log(1))
        ))) else {
            panic!()
        };
        let Arg::Prop(prop) = &call.args[0] else {
            panic!()
        };
        let Value::Tuple(_, items) = &prop.value else {
            panic!("not a tuple")
        };
        assert_eq!(items.len(), 3);
        assert!(matches!(&items[0], Value::Handler(h) if h.args.is_none()));
        assert!(matches!(items[1], Value::Expr(_)));
        assert!(matches!(&items[2], Value::Handler(h) if h.args.is_some()));
    }

    #[test]
    fn a_tuple_of_plain_values_stays_an_expression() {
        let Node::Call(call) = one(quote!(image(size = (1, 2), src = (s.a)))) else {
            panic!()
        };
        for arg in &call.args {
            let Arg::Prop(prop) = arg else { panic!() };
            assert!(matches!(prop.value, Value::Expr(_)));
        }
    }

    #[test]
    fn a_plain_call_in_a_prop_is_an_expression() {
        let Node::Call(call) = one(quote!(link(name, href = upload_url(name)))) else {
            panic!()
        };
        assert!(matches!(call.args[0], Arg::Positional(Node::Expr(_))));
        let Arg::Prop(prop) = &call.args[1] else {
            panic!()
        };
        assert!(matches!(prop.value, Value::Expr(_)));
    }

    #[test]
    fn if_else_and_for_nest() {
        let node = one(quote!(vstack(
            if s.a { text("a") } else if s.b { text("b") } else { text("c"), text("d") },
            for x in &s.items { text({x}) },
        )));
        let Node::Call(call) = node else { panic!() };
        assert!(
            matches!(&call.args[0], Arg::Positional(Node::If(i)) if matches!(i.else_branch, Some(ElseBranch::If(_))))
        );
        assert!(matches!(&call.args[1], Arg::Positional(Node::For(f)) if f.body.len() == 1));
    }

    #[test]
    fn box_is_a_component_name() {
        let Node::Call(call) = one(quote!(box ("x"))) else {
            panic!()
        };
        assert_eq!(call.path.segments[0].ident.to_string(), "r#box");
    }

    #[test]
    fn a_comparison_is_not_a_prop() {
        let Node::Call(call) = one(quote!(text(a == b))) else {
            panic!()
        };
        assert!(matches!(call.args[0], Arg::Positional(Node::Expr(_))));
    }

    #[test]
    fn a_method_chain_on_a_literal_is_an_expression() {
        assert!(matches!(one(quote!("a".to_uppercase())), Node::Expr(_)));
    }

    #[test]
    fn missing_comma_is_reported_at_the_next_token() {
        let e = err(quote!(vstack(text("a") text("b"))));
        assert!(e.contains("expected `,` before `text`"), "{e}");
    }

    #[test]
    fn eq_without_value_is_reported() {
        let e = err(quote!(button("x", on_click = )));
        assert!(e.contains("expected a value after `on_click =`"), "{e}");
    }

    #[test]
    fn stray_token_is_reported() {
        let e = err(quote!(vstack(@)));
        assert!(e.contains("unexpected `@`"), "{e}");
    }

    #[test]
    fn named_arg_detection_ignores_comparisons() {
        assert!(has_named_arg(quote!(url = "/a")));
        assert!(has_named_arg(quote!("f", on_upload_progress = S::p)));
        assert!(!has_named_arg(quote!(a == b)));
        assert!(!has_named_arg(quote!(x.y(z = 1))));
    }
}
