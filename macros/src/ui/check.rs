//! Semantic checks on the `ui!` model that rustc's type checker cannot make: props given
//! twice, literal URLs that are not same-origin paths or name missing assets, malformed
//! `accept` rules, unknown icon names. Every error carries the span of the user's token.

use std::path::{Path, PathBuf};

use syn::{Expr, ExprArray, Lit, LitStr};

use super::parse::{Arg, Call, Dsl, ElseBranch, Node, Prop, Value};

/// The icons ferrex ships (`ferrex_core::icons::ICON_NAMES`; the two lists are compared
/// by a test in the facade crate).
pub const ICON_NAMES: &[&str] = &[
    "upload", "download", "file", "x", "check", "image", "trash", "folder",
];

/// What the checks need to know about where the macro was called.
pub struct Context {
    /// The assets folder that literal asset URLs must exist in.
    pub assets_dir: PathBuf,
}

/// Collects every error in the tree.
pub fn check(nodes: &[Node], cx: &Context, errors: &mut Vec<syn::Error>) {
    for node in nodes {
        check_node(node, cx, errors);
    }
}

fn check_node(node: &Node, cx: &Context, errors: &mut Vec<syn::Error>) {
    match node {
        Node::Call(call) => check_call(call, cx, errors),
        Node::If(if_node) => {
            check(&if_node.then, cx, errors);
            let mut branch = &if_node.else_branch;
            while let Some(b) = branch {
                match b {
                    ElseBranch::If(inner) => {
                        check(&inner.then, cx, errors);
                        branch = &inner.else_branch;
                    }
                    ElseBranch::Nodes(nodes) => {
                        check(nodes, cx, errors);
                        branch = &None;
                    }
                }
            }
        }
        Node::For(for_node) => check(&for_node.body, cx, errors),
        Node::Lit(_) | Node::Block(_) | Node::Expr(_) => {}
    }
}

fn check_call(call: &Call, cx: &Context, errors: &mut Vec<syn::Error>) {
    let name = call
        .path
        .segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default();
    let mut seen: Vec<String> = Vec::new();
    for arg in &call.args {
        match arg {
            Arg::Positional(node) => {
                if name == "icon"
                    && let Node::Lit(Lit::Str(lit)) = node
                {
                    check_icon(lit, errors);
                }
                check_node(node, cx, errors);
            }
            Arg::Prop(prop) => {
                let prop_name = prop.name.to_string();
                if seen.contains(&prop_name) {
                    errors.push(syn::Error::new(
                        prop.name.span(),
                        format!("prop `{prop_name}` is given twice: keep one"),
                    ));
                }
                seen.push(prop_name.clone());
                match prop_name.as_str() {
                    "href" => {
                        if let Some(lit) = lit_str(&prop.value) {
                            check_asset(lit, cx, errors);
                        }
                    }
                    "accept" => check_accept(&prop.value, errors),
                    _ => {}
                }
                check_value(&prop.value, cx, errors);
            }
        }
    }
}

fn check_value(value: &Value, cx: &Context, errors: &mut Vec<syn::Error>) {
    match value {
        Value::Dsl(dsl) => check_dsl(dsl, cx, errors),
        Value::Handler(handler) => {
            if let Some((_, args)) = &handler.args {
                for arg in args {
                    check_value(arg, cx, errors);
                }
            }
        }
        Value::Tuple(_, items) => {
            for item in items {
                check_value(item, cx, errors);
            }
        }
        Value::Expr(_) => {}
    }
}

fn check_dsl(dsl: &Dsl, cx: &Context, errors: &mut Vec<syn::Error>) {
    let mut seen: Vec<String> = Vec::new();
    for Prop { name, value } in &dsl.named {
        let key = name.to_string();
        if seen.contains(&key) {
            errors.push(syn::Error::new(
                name.span(),
                format!("`{key}` is given twice in `{}(…)`: keep one", dsl.name),
            ));
        }
        seen.push(key.clone());
        if dsl.name == "download"
            && key == "url"
            && let Some(lit) = lit_str(value)
        {
            if lit.value().starts_with('/') && !lit.value().starts_with("//") {
                check_asset(lit, cx, errors);
            } else {
                errors.push(syn::Error::new(
                    lit.span(),
                    format!(
                        "`download(url = …)` takes a path on this site starting with `/`, not `{}`: a browser cannot rename or force a download from another origin",
                        lit.value()
                    ),
                ));
            }
        }
        check_value(value, cx, errors);
    }
    for value in &dsl.positional {
        check_value(value, cx, errors);
    }
}

fn lit_str(value: &Value) -> Option<&LitStr> {
    match value {
        Value::Expr(Expr::Lit(lit)) => match &lit.lit {
            Lit::Str(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// A literal same-origin URL whose last segment has an extension names a file: it must
/// be in the assets folder. Page paths (no extension) and ferrex's own routes are not checked.
fn check_asset(lit: &LitStr, cx: &Context, errors: &mut Vec<syn::Error>) {
    let url = lit.value();
    if !url.starts_with('/') || url.starts_with("//") || url.starts_with("/_ferrex/") {
        return;
    }
    let path = url.split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    if !last.contains('.') || last.starts_with('.') {
        return;
    }
    let Ok(decoded) =
        percent_encoding::percent_decode_str(path.trim_start_matches('/')).decode_utf8()
    else {
        return;
    };
    if decoded.split('/').any(|seg| seg == "..") {
        errors.push(syn::Error::new(
            lit.span(),
            format!("`{url}` climbs out of the assets folder with `..`"),
        ));
        return;
    }
    let file = cx.assets_dir.join(decoded.as_ref());
    if !cx.assets_dir.is_dir() {
        errors.push(syn::Error::new(
            lit.span(),
            format!(
                "`{url}` names a file, but this crate has no assets folder: create `{}` and put `{decoded}` in it, or fix the path",
                cx.assets_dir.display()
            ),
        ));
    } else if !file.is_file() {
        errors.push(syn::Error::new(
            lit.span(),
            format!(
                "no file `{decoded}` in the assets folder `{}`: add the file there, or fix the path",
                cx.assets_dir.display()
            ),
        ));
    }
}

fn check_accept(value: &Value, errors: &mut Vec<syn::Error>) {
    let lits: Vec<&LitStr> = match value {
        Value::Expr(Expr::Array(ExprArray { elems, .. })) => elems
            .iter()
            .filter_map(|e| match e {
                Expr::Lit(l) => match &l.lit {
                    Lit::Str(s) => Some(s),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        other => lit_str(other).into_iter().collect(),
    };
    for lit in lits {
        if let Err(why) = ferrex_wire::accept_rule_is_valid(&lit.value()) {
            errors.push(syn::Error::new(lit.span(), why));
        }
    }
}

fn check_icon(lit: &LitStr, errors: &mut Vec<syn::Error>) {
    let name = lit.value();
    if !ICON_NAMES.contains(&name.as_str()) {
        errors.push(syn::Error::new(
            lit.span(),
            format!(
                "there is no icon named `{name}`; the icons are: {}",
                ICON_NAMES.join(", ")
            ),
        ));
    }
}

/// The assets folder for a source file: the nearest `assets/` folder beside it or in a
/// parent, up to the crate root; else `<crate root>/assets`.
pub fn find_assets_dir(source_file: Option<&Path>, manifest_dir: &Path) -> PathBuf {
    if let Some(file) = source_file {
        let file = if file.is_absolute() {
            file.to_path_buf()
        } else {
            manifest_dir.join(file)
        };
        let mut dir = file.parent();
        while let Some(d) = dir {
            let candidate = d.join("assets");
            if candidate.is_dir() {
                return candidate;
            }
            if d == manifest_dir || !d.starts_with(manifest_dir) {
                break;
            }
            dir = d.parent();
        }
    }
    manifest_dir.join("assets")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_asset_url_in_a_crate_without_an_assets_folder_says_to_create_it() {
        let nodes =
            super::super::parse::parse_root(quote::quote!(link("Logo", href = "/logo.png")))
                .expect("parses");
        let cx = Context {
            assets_dir: std::env::temp_dir().join("ferrex-no-such-folder/assets"),
        };
        let mut errors = Vec::new();
        check(&nodes, &cx, &mut errors);
        assert_eq!(errors.len(), 1);
        let message = errors[0].to_string();
        assert!(
            message.contains("this crate has no assets folder: create"),
            "{message}"
        );
        assert!(
            message.contains("ferrex-no-such-folder/assets"),
            "{message}"
        );
        assert!(message.contains("put `logo.png` in it"), "{message}");
    }

    #[test]
    fn assets_dir_is_found_beside_the_source_file() {
        let root = std::env::temp_dir().join(format!("ferrex-macros-test-{}", std::process::id()));
        let examples = root.join("examples");
        std::fs::create_dir_all(examples.join("assets")).expect("mkdir");
        let found = find_assets_dir(Some(&examples.join("files.rs")), &root);
        assert_eq!(found, examples.join("assets"));
        let fallback = find_assets_dir(Some(&root.join("src/main.rs")), &root);
        assert_eq!(fallback, root.join("assets"));
        std::fs::remove_dir_all(&root).ok();
    }
}
