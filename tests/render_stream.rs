//! `ui!` writes pages straight into one buffer. These tests hold it to the tree the builder
//! API builds (the same components, rendered node by node) for every kind of child, for
//! components of the user's own that do not stream, and check that what the server looks
//! up after rendering (drop zones, upload actions) is still found.

use std::borrow::Cow;

use ferrex::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Files {
    names: Vec<String>,
}

#[event]
impl Files {
    fn save(&mut self, files: Vec<UploadFile>) {
        self.names = files.into_iter().map(|f| f.name).collect();
    }
}

/// A user component that is not a built-in: it keeps its children and renders through
/// `Into<Node>`, like any component written outside ferrex.
#[derive(Default)]
struct Card {
    title: String,
    children: Vec<Node>,
}

fn card() -> Card {
    Card::default()
}

impl Card {
    fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }
}

impl<C: Into<Node>> Positional<C> for Card {
    fn positional(mut self, child: C) -> Self {
        self.children.push(child.into());
        self
    }
}

impl From<Card> for Node {
    fn from(card: Card) -> Node {
        let mut body = r#box().class("card-body");
        for child in card.children {
            body = body.child(child);
        }
        vstack()
            .class("card")
            .child(heading().level(3).child(card.title))
            .child(body)
            .into()
    }
}

/// A user component that takes one typed value, not children.
struct Badge {
    count: u32,
}

fn badge() -> Badge {
    Badge { count: 0 }
}

impl Positional<u32> for Badge {
    fn positional(mut self, count: u32) -> Self {
        self.count = count;
        self
    }
}

impl From<Badge> for Node {
    fn from(badge: Badge) -> Node {
        code().child(badge.count).class("badge").into()
    }
}

/// One tab of [`Tabs`]: a label and a body. It is a node of its own too.
#[derive(Default)]
struct Tab {
    label: String,
    body: Vec<Node>,
}

fn tab() -> Tab {
    Tab::default()
}

impl Tab {
    fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
}

impl<C: Into<Node>> Positional<C> for Tab {
    fn positional(mut self, child: C) -> Self {
        self.body.push(child.into());
        self
    }
}

impl From<Tab> for Node {
    fn from(tab: Tab) -> Node {
        r#box().class("tab").child(tab.label).child(tab.body).into()
    }
}

/// A user component that takes only `Tab`s: it reads their labels for its header and
/// shows the selected one's body.
#[derive(Default)]
struct Tabs {
    tabs: Vec<Tab>,
    selected: usize,
}

fn tabs() -> Tabs {
    Tabs::default()
}

impl Tabs {
    fn selected(mut self, index: usize) -> Self {
        self.selected = index;
        self
    }
}

impl Positional<Tab> for Tabs {
    fn positional(mut self, tab: Tab) -> Self {
        self.tabs.push(tab);
        self
    }
}

impl From<Tabs> for Node {
    fn from(tabs: Tabs) -> Node {
        let mut header = hstack().class("tab-header");
        for (i, tab) in tabs.tabs.iter().enumerate() {
            let mut label = button().child(tab.label.clone());
            if i == tabs.selected {
                label = label.class("selected");
            }
            header = header.child(label);
        }
        let body = tabs
            .tabs
            .into_iter()
            .nth(tabs.selected)
            .map(|tab| Node::from_iter(tab.body));
        vstack().class("tabs").child(header).child(body).into()
    }
}

/// A user component that looks at its children: each button among them gets a class, and
/// the bar says how many there are.
#[derive(Default)]
struct Toolbar {
    children: Vec<Node>,
}

fn toolbar() -> Toolbar {
    Toolbar::default()
}

impl<C: Into<Node>> Positional<C> for Toolbar {
    fn positional(mut self, child: C) -> Self {
        self.children.push(child.into());
        self
    }
}

impl From<Toolbar> for Node {
    fn from(toolbar: Toolbar) -> Node {
        let mut buttons = 0;
        let mut bar = hstack();
        for mut child in toolbar.children {
            if let Node::Element(el) = &mut child
                && el.tag() == "button"
            {
                el.add_class("tool");
                buttons += 1;
            }
            bar = bar.child(child);
        }
        bar.class(format!("toolbar buttons-{buttons}")).into()
    }
}

#[test]
fn a_user_component_that_takes_one_child_type_takes_nested_calls_of_it() {
    let page = ui! { tabs(tab(label = "a"), tab(label = "b")) };
    let tree: Node = tabs()
        .positional(tab().label("a"))
        .positional(tab().label("b"))
        .into();
    assert_eq!(page.to_html(), tree.to_html());
    let html = page.to_html();
    assert!(
        html.contains(concat!(
            r#"<button class="fx-button fx-button-solid selected" type="button">a</button>"#,
            r#"<button class="fx-button fx-button-solid" type="button">b</button>"#
        )),
        "{html}"
    );
}

#[test]
fn typed_children_keep_their_own_children_props_and_drop_zones_inside_built_ins() {
    let show = true;
    let names = ["x", "y<"];
    let page = ui! {
        vstack(
            tabs(
                tab(text("first"), upload(id = "in-tab", max_files = 2), label = "One"),
                tab(
                    label = "Two & more",
                    if show { code("shown") },
                    for name in names { text(name) },
                    card(badge(3), title = "inner"),
                ),
                selected = 1,
            ),
            text("after"),
        )
    };
    let tree: Node = vstack()
        .child(
            tabs()
                .positional(
                    tab()
                        .label("One")
                        .positional(text().child("first"))
                        .positional(upload().id("in-tab").max_files(2)),
                )
                .positional(
                    tab()
                        .label("Two & more")
                        .positional(code().child("shown"))
                        .positional(Node::from_iter(names.map(|n| text().child(n))))
                        .positional(card().title("inner").positional(badge().positional(3))),
                )
                .selected(1),
        )
        .child(text().child("after"))
        .into();
    assert_eq!(page.to_html(), tree.to_html());
    let html = page.to_html();
    assert!(
        html.contains(r#"<button class="fx-button fx-button-solid" type="button">One</button>"#),
        "{html}"
    );
    assert!(
        html.contains("<code class=\"fx-code\">shown</code>"),
        "{html}"
    );
    assert!(
        html.contains(r#"<code class="fx-code badge">3</code>"#),
        "{html}"
    );
    // The first tab is not shown, so its drop zone is not on the page.
    assert!(!html.contains("fx-upload"), "{html}");
    assert!(page.upload_limits("in-tab").is_none());

    let shown =
        ui! { tabs(tab(upload(id = "in-tab", max_files = 2, multiple = true), label = "One")) };
    assert_eq!(
        shown.upload_limits("in-tab").map(|l| l.file_count_limit()),
        Some(2)
    );
}

#[test]
fn a_user_component_sees_its_nested_calls_as_their_nodes() {
    let page = ui! {
        toolbar(button("Save"), text("or"), button("Cancel", disabled = true), "!")
    };
    let tree: Node = toolbar()
        .positional(button().child("Save"))
        .positional(text().child("or"))
        .positional(button().child("Cancel").disabled(true))
        .positional("!")
        .into();
    assert_eq!(page.to_html(), tree.to_html());
    let html = page.to_html();
    assert!(html.contains("toolbar buttons-2"), "{html}");
    assert_eq!(html.matches("fx-button-solid tool").count(), 2, "{html}");
}

#[test]
fn a_user_component_takes_streamed_children_and_sits_inside_built_ins() {
    let items = ["a", "b<"];
    let page = ui! {
        vstack(
            card(
                text("first"),
                for item in items { text(item) },
                if items.len() > 1 { "many" },
                title = "Title & co",
            ),
            badge(7),
            gap = "1rem",
        )
    };
    let tree: Node = vstack()
        .child(
            card()
                .title("Title & co")
                .positional(text().child("first"))
                .positional(Node::from_iter(items.map(|i| text().child(i))))
                .positional("many"),
        )
        .child(badge().positional(7))
        .gap("1rem")
        .into();
    assert_eq!(page.to_html(), tree.to_html());
    assert!(
        page.to_html()
            .contains(r#"<h3 class="fx-heading">Title &amp; co</h3>"#)
    );
    assert!(
        page.to_html()
            .contains(r#"<code class="fx-code badge">7</code>"#)
    );
}

#[test]
fn a_user_component_may_be_the_root() {
    let page = ui! { card(text("x"), title = "T") };
    let tree: Node = card().title("T").positional(text().child("x")).into();
    assert_eq!(page.to_html(), tree.to_html());
}

#[test]
fn every_kind_of_child_value_renders_as_its_node_would() {
    let owned = String::from("owned <b>");
    let cow: Cow<'static, str> = Cow::Owned("cow & bull".into());
    let n = 42u32;
    let nothing: Option<&str> = None;
    let page = ui! {
        text(
            "lit",
            &owned,
            cow.clone(),
            n,
            &n,
            -7i64,
            2.5f64,
            1e21f64,
            f32::NAN,
            'c',
            '&',
            true,
            { Some("some") },
            nothing,
            vec!["v1", "v2"],
            vec![Node::text("n1"), Node::Empty],
            { Node::text("block") },
            { code().child("builder") },
            owned.clone(),
        )
    };
    let tree: Node = text()
        .child("lit")
        .child(&owned)
        .child(cow.clone())
        .child(n)
        .child(n)
        .child(-7i64)
        .child(2.5f64)
        .child(1e21f64)
        .child(f32::NAN)
        .child('c')
        .child('&')
        .child(true)
        .child(Some("some"))
        .child(nothing)
        .child(vec!["v1", "v2"])
        .child(vec![Node::text("n1"), Node::Empty])
        .child(Node::text("block"))
        .child(code().child("builder"))
        .child(owned.clone())
        .into();
    assert_eq!(page.to_html(), tree.to_html());
    assert!(
        page.to_html()
            .contains("owned &lt;b&gt;cow &amp; bull4242-72.5")
    );
}

#[test]
fn roots_and_bodies_take_values_too() {
    let rows = vec![vec![1u8, 2], vec![3]];
    let page = ui! {
        "a < b",
        3,
        for row in &rows {
            for cell in row { *cell, "," },
            if row.len() > 1 { "|" } else { code("one") },
        },
    };
    assert_eq!(
        page.to_html(),
        r#"a &lt; b31,2,|3,<code class="fx-code">one</code>"#
    );
}

#[test]
fn an_icon_puts_aria_hidden_first_whatever_the_order_of_its_props() {
    let page = ui! { fragment(icon("x", title = "Close"), icon(title = "Check", "check")) };
    let tree: Node = fragment()
        .child(icon().positional("x").title("Close"))
        .child(icon().title("Check").positional("check"))
        .into();
    assert_eq!(page.to_html(), tree.to_html());
    assert!(
        page.to_html()
            .starts_with(r#"<span class="fx-icon" aria-hidden="true" title="Close"><svg"#)
    );
}

#[test]
fn a_page_inside_a_page_and_a_built_tree_inside_a_page_keep_their_drop_zones() {
    let inner = ui! { upload(id = "inner", max_files = 3, multiple = true) };
    let built: Node = hstack().child(upload().id("built").max_size(10u32)).into();
    let page = ui! {
        vstack(
            { inner },
            { built },
            card(upload(id = "in-card", accept = ".png"), title = "Zones"),
            text("after"),
        )
    };
    assert_eq!(
        page.upload_limits("inner").map(|l| l.file_count_limit()),
        Some(3)
    );
    assert_eq!(
        page.upload_limits("built").and_then(|l| l.max_size),
        Some(10)
    );
    assert_eq!(
        page.upload_limits("in-card").map(|l| l.accept),
        Some(vec![".png".to_owned()])
    );
    assert!(page.upload_limits("after").is_none());
    let html = page.to_html();
    assert_eq!(html.matches(r#"class="fx-upload""#).count(), 3, "{html}");
    assert!(
        html.ends_with(r#"<p class="fx-text">after</p></div>"#),
        "{html}"
    );
}

#[test]
fn upload_actions_in_a_loop_are_found_for_their_zone() {
    let zones = ["one", "two"];
    let page = ui! {
        vstack(
            for zone in zones {
                upload(id = zone),
                button("Send", on_click = Files::save(upload_files(zone))),
            },
            upload(id = "dropped", on_drop = Files::save),
        )
    };
    assert!(page.uploads_to("one", "Files.save"));
    assert!(page.uploads_to("two", "Files.save"));
    assert!(page.uploads_to("dropped", "Files.save"));
    assert!(!page.uploads_to("three", "Files.save"));
    assert!(!page.uploads_to("one", "Files.other"));
}

#[test]
fn rendering_again_at_the_same_call_site_is_right_when_the_page_grows_or_shrinks() {
    fn page(n: usize) -> Node {
        ui! { list(for i in 0..n { list_item(i) }) }
    }
    for n in [0, 1, 500, 3, 2000, 0] {
        let html = page(n).into_html();
        assert_eq!(html.matches("<li").count(), n);
        assert!(html.starts_with(r#"<ul class="fx-list">"#) && html.ends_with("</ul>"));
    }
    assert_eq!(page(4).to_html(), page(4).into_html());
}

#[test]
fn question_marks_and_returns_inside_for_and_if_bodies_leave_the_page_function() {
    fn page(values: &[&str]) -> Result<Node, std::num::ParseIntError> {
        Ok(ui! {
            list(for v in values {
                list_item({ v.parse::<u32>()? * 2 }),
            })
        })
    }
    assert_eq!(
        page(&["1", "20"]).map(Node::into_html),
        Ok(r#"<ul class="fx-list"><li class="fx-list-item">2</li><li class="fx-list-item">40</li></ul>"#.to_owned())
    );
    assert!(page(&["1", "x"]).is_err());
}

#[test]
fn an_empty_page_and_an_empty_fragment_render_nothing() {
    assert!(matches!(ui! {}, Node::Empty));
    assert_eq!(ui! { fragment() }.to_html(), "");
    let none: [&str; 0] = [];
    assert_eq!(ui! { fragment(for x in none { x }) }.into_html(), "");
}

#[test]
fn generic_children_and_components_render_through_into_node() {
    fn framed<T: Into<Node>>(child: T) -> Node {
        ui! { r#box(child, class = "frame") }
    }
    fn listed<C: Into<Node>>(items: Vec<C>) -> Node {
        ui! { list(for item in items { list_item(item) }) }
    }
    fn root<T: Into<Node>>(node: T) -> Node {
        ui! { node }
    }
    assert_eq!(
        framed("a & b").to_html(),
        r#"<div class="fx-box frame">a &amp; b</div>"#
    );
    assert_eq!(
        framed(card().title("T")).to_html(),
        Node::from(r#box().child(card().title("T")).class("frame")).to_html()
    );
    assert_eq!(
        listed(vec![1, 2]).to_html(),
        r#"<ul class="fx-list"><li class="fx-list-item">1</li><li class="fx-list-item">2</li></ul>"#
    );
    assert_eq!(
        root(badge().positional(3)).to_html(),
        r#"<code class="fx-code badge">3</code>"#
    );
    let zone = root(upload().id("g"));
    assert!(zone.upload_limits("g").is_some());
}
