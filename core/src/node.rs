//! The `Node` tree a page is built from, and its HTML rendering through maud.
//! Every text and attribute value is escaped on the way out; only the built-in icons are trusted markup.

use std::borrow::Cow;
use std::fmt::Write as _;

use maud::{Escaper, Render};

use crate::action::ClientAction;
use crate::manifest::{DropZone, PageManifest};
use crate::upload::UploadLimits;

/// One piece of a page: an element, text, a list of nodes, or nothing.
///
/// Nodes are usually built by `ui!`, but every component builder converts into one:
///
/// ```
/// use ferrex_core::prelude::*;
/// let node: Node = text().child("Hello <world>").into();
/// assert_eq!(node.to_html(), r#"<p class="fx-text">Hello &lt;world&gt;</p>"#);
/// ```
#[derive(Debug, Clone, Default)]
pub enum Node {
    /// Renders nothing.
    #[default]
    Empty,
    /// Text, escaped when rendered.
    Text(Cow<'static, str>),
    /// An HTML element with attributes and children.
    Element(Box<Element>),
    /// Several nodes side by side.
    Fragment(Vec<Node>),
    /// Markup shipped with ferrex itself (icons); never built from user input.
    Trusted(&'static str),
    /// Markup `ui!` has already written, with the page manifest collected on the way.
    Rendered(Box<Rendered>),
}

/// What `ui!` makes: the page's HTML, written once into one buffer, and its
/// [`PageManifest`] (drop zones and uploads), collected typed while it was written.
///
/// ```
/// use ferrex_core::prelude::*;
/// let page: Node = vstack().child(upload().id("f")).into();
/// let mut out = ferrex_core::__private::Html::new();
/// out.node(page);
/// let Node::Rendered(rendered) = out.into_node() else { panic!() };
/// assert!(rendered.as_str().starts_with(r#"<div class="fx-vstack"><div class="fx-upload""#));
/// assert_eq!(rendered.manifest().zones()[0].id, "f");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub(crate) html: String,
    pub(crate) manifest: PageManifest,
}

impl Rendered {
    /// The HTML.
    pub fn as_str(&self) -> &str {
        &self.html
    }

    /// What the server needs to know about the page.
    pub fn manifest(&self) -> &PageManifest {
        &self.manifest
    }
}

/// An HTML element: its tag, attributes, event actions and children.
///
/// ```
/// use ferrex_core::node::{Element, Node};
/// let mut el = Element::new("section", "card");
/// el.attr("title", "A & B");
/// assert_eq!(Node::from(el).to_html(), r#"<section class="card" title="A &amp; B"></section>"#);
/// ```
#[derive(Debug, Clone)]
pub struct Element {
    tag: &'static str,
    /// The component's own classes, always present.
    class: &'static str,
    void: bool,
    /// While nothing has changed the element since its component made it: its tags and
    /// attributes, written out when ferrex was compiled.
    prewritten: Option<&'static Prewritten>,
    /// Everything else, allocated only when used.
    extras: Option<Box<Extras>>,
}

/// A component's element as it is made: its start and end tags as single pieces
/// (`<p class="fx-text">`, `</p>`) and its own attributes (`type="button"`).
#[derive(Debug)]
pub(crate) struct Prewritten {
    /// Exactly what rendering the fresh element writes up to its children.
    pub(crate) start: &'static str,
    /// Its end tag (empty for a void element).
    pub(crate) end: &'static str,
    /// Its attributes, in order.
    pub(crate) attrs: &'static [(&'static str, &'static str)],
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Extras {
    /// Classes a user added with the `class` prop.
    extra_class: Option<Cow<'static, str>>,
    attrs: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    events: Vec<(&'static str, Vec<ClientAction>)>,
    children: Vec<Node>,
    /// Set on a drop zone: its id and limits, for the page manifest.
    drop_zone: Option<Box<DropZone>>,
}

impl Element {
    /// A new element with the component class `class` (may be empty).
    pub fn new(tag: &'static str, class: &'static str) -> Self {
        Element {
            tag,
            class,
            void: false,
            prewritten: None,
            extras: None,
        }
    }

    /// A component's element, its tags and attributes written out in advance.
    #[inline]
    pub(crate) const fn component(
        tag: &'static str,
        class: &'static str,
        void: bool,
        fresh: &'static Prewritten,
    ) -> Self {
        Element {
            tag,
            class,
            void,
            prewritten: Some(fresh),
            extras: None,
        }
    }

    /// A void element (`<input>`, `<img>`): rendered without children or a closing tag.
    ///
    /// ```
    /// use ferrex_core::node::{Element, Node};
    /// assert_eq!(Node::from(Element::void("br", "")).to_html(), "<br>");
    /// ```
    pub fn void(tag: &'static str, class: &'static str) -> Self {
        Element {
            void: true,
            ..Element::new(tag, class)
        }
    }

    /// The parts that are not always there, allocated on first use.
    fn allocated_extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// The element is about to change: its tags must be written attribute by attribute
    /// from now on, so its own attributes move to the list the changes edit.
    pub(crate) fn extras_mut(&mut self) -> &mut Extras {
        let fresh = self.prewritten.take();
        let more = self.allocated_extras();
        if let Some(fresh) = fresh {
            more.attrs.splice(
                0..0,
                fresh
                    .attrs
                    .iter()
                    .map(|&(n, v)| (Cow::Borrowed(n), Cow::Borrowed(v))),
            );
        }
        more
    }

    /// The attributes, in order.
    fn attrs(&self) -> impl Iterator<Item = (&str, &str)> {
        let fresh = self.prewritten.map_or(&[][..], |f| f.attrs);
        let more = self.extras.as_deref().map_or(&[][..], |m| &m.attrs[..]);
        fresh
            .iter()
            .map(|&(n, v)| (n, v))
            .chain(more.iter().map(|(n, v)| (n.as_ref(), v.as_ref())))
    }

    /// The element's tag name.
    ///
    /// ```
    /// assert_eq!(ferrex_core::node::Element::new("p", "").tag(), "p");
    /// ```
    pub fn tag(&self) -> &'static str {
        self.tag
    }

    /// Changes the tag name (a heading's level, a link that becomes a button).
    ///
    /// ```
    /// let mut el = ferrex_core::node::Element::new("h2", "");
    /// el.set_tag("h3");
    /// assert_eq!(el.tag(), "h3");
    /// ```
    pub fn set_tag(&mut self, tag: &'static str) {
        if tag != self.tag {
            self.extras_mut();
            self.tag = tag;
        }
    }

    /// Sets an attribute, replacing an earlier value of the same name. A name that is not
    /// a plain attribute name (`[A-Za-z_:][A-Za-z0-9_:.-]*`), or that names an inline
    /// event handler (`on…`), is ignored: a name built from user input cannot smuggle in
    /// another attribute or script.
    ///
    /// ```
    /// use ferrex_core::node::{Element, Node};
    /// let mut el = Element::new("a", "");
    /// el.attr("href", "/a");
    /// el.attr("href", "/b");
    /// el.attr("x onfocus=alert(1) autofocus", "");
    /// el.attr("onclick", "alert(1)");
    /// assert_eq!(Node::from(el).to_html(), r#"<a href="/b"></a>"#);
    /// ```
    pub fn attr(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) {
        let name = name.into();
        if !is_safe_attribute_name(&name) {
            return;
        }
        let value = value.into();
        let attrs = &mut self.extras_mut().attrs;
        match attrs.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => attrs.push((name, value)),
        }
    }

    /// Sets or removes a boolean attribute (`disabled`, `multiple`, `hidden`).
    ///
    /// ```
    /// use ferrex_core::node::{Element, Node};
    /// let mut el = Element::new("button", "");
    /// el.flag("disabled", true);
    /// assert_eq!(Node::from(el).to_html(), r#"<button disabled></button>"#);
    /// ```
    pub fn flag(&mut self, name: &'static str, on: bool) {
        if on {
            self.attr(name, "");
        } else if self.get_attr(name).is_some() {
            self.extras_mut().attrs.retain(|(n, _)| n != name);
        }
    }

    /// The value of an attribute, if set.
    ///
    /// ```
    /// let mut el = ferrex_core::node::Element::new("a", "");
    /// el.attr("href", "/x");
    /// assert_eq!(el.get_attr("href"), Some("/x"));
    /// ```
    pub fn get_attr(&self, name: &str) -> Option<&str> {
        self.attrs().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Adds declarations to the inline style, after any already there (`gap` and
    /// `style` on one stack both apply).
    pub(crate) fn add_style(&mut self, css: impl Into<Cow<'static, str>>) {
        let css = css.into();
        let merged = match self.get_attr("style") {
            Some(prev) if !prev.is_empty() => format!("{};{css}", prev.trim_end_matches(';')),
            _ => css.into_owned(),
        };
        self.attr("style", merged);
    }

    /// Adds user classes after the component's own.
    ///
    /// ```
    /// use ferrex_core::node::{Element, Node};
    /// let mut el = Element::new("div", "fx-box");
    /// el.add_class("wide");
    /// assert_eq!(Node::from(el).to_html(), r#"<div class="fx-box wide"></div>"#);
    /// ```
    pub fn add_class(&mut self, class: impl Into<Cow<'static, str>>) {
        let class = class.into();
        let more = self.extras_mut();
        more.extra_class = Some(match more.extra_class.take() {
            Some(prev) => format!("{prev} {class}").into(),
            None => class,
        });
    }

    /// Attaches client actions to a DOM event (`click`, `input`, `drop`, …).
    /// They render as a `data-fx-<event>` attribute the browser runtime reads.
    ///
    /// ```
    /// use ferrex_core::node::{Element, Node};
    /// use ferrex_core::action::ClientAction;
    /// let mut el = Element::new("button", "");
    /// el.on("click", vec![ClientAction::Redirect { to: "/next".into() }]);
    /// assert!(Node::from(el).to_html().contains(r#"data-fx-click="[{&quot;t&quot;:&quot;redirect&quot;"#));
    /// ```
    pub fn on(&mut self, event: &'static str, actions: Vec<ClientAction>) {
        let events = &mut self.extras_mut().events;
        match events.iter_mut().find(|(e, _)| *e == event) {
            Some(slot) => slot.1.extend(actions),
            None => events.push((event, actions)),
        }
    }

    /// The actions attached to a DOM event.
    ///
    /// ```
    /// let el = ferrex_core::node::Element::new("button", "");
    /// assert!(el.actions("click").is_empty());
    /// ```
    pub fn actions(&self, event: &str) -> &[ClientAction] {
        self.extras
            .as_deref()
            .and_then(|m| m.events.iter().find(|(e, _)| *e == event))
            .map(|(_, a)| a.as_slice())
            .unwrap_or(&[])
    }

    /// Replaces the component's own class (a button's variant).
    pub(crate) fn replace_class(&mut self, class: &'static str) {
        if class != self.class {
            self.extras_mut();
            self.class = class;
        }
    }

    /// Gives a fresh element another of its component's shapes (a heading's level, a
    /// button's variant), tags written out in advance; a changed one changes tag and class.
    pub(crate) fn reshape(
        &mut self,
        tag: &'static str,
        class: &'static str,
        fresh: &'static Prewritten,
    ) {
        if self.prewritten.is_some() {
            self.tag = tag;
            self.class = class;
            self.prewritten = Some(fresh);
        } else {
            self.set_tag(tag);
            self.replace_class(class);
        }
    }

    /// Sets an attribute ahead of the others (an icon's `aria-hidden`, which comes first
    /// whatever props are given).
    pub(crate) fn attr_first(&mut self, name: &'static str, value: &'static str) {
        let attrs = &mut self.extras_mut().attrs;
        match attrs.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = Cow::Borrowed(value),
            None => attrs.insert(0, (Cow::Borrowed(name), Cow::Borrowed(value))),
        }
    }

    /// Removes every child.
    pub(crate) fn clear_children(&mut self) {
        if let Some(more) = &mut self.extras {
            more.children.clear();
        }
    }

    /// Mutable access to all attached event actions.
    pub(crate) fn events_mut(&mut self) -> impl Iterator<Item = &mut ClientAction> {
        self.extras
            .as_deref_mut()
            .into_iter()
            .flat_map(|m| m.events.iter_mut().flat_map(|(_, a)| a.iter_mut()))
    }

    /// Every event action attached to the element.
    pub(crate) fn all_actions(&self) -> impl Iterator<Item = &ClientAction> {
        self.extras
            .as_deref()
            .into_iter()
            .flat_map(|m| m.events.iter().flat_map(|(_, a)| a.iter()))
    }

    /// Marks the element as drop zone `id` with `limits`, for the page manifest.
    pub(crate) fn set_drop_zone(&mut self, id: String, limits: UploadLimits) {
        self.allocated_extras().drop_zone = Some(Box::new(DropZone { id, limits }));
    }

    /// The drop zone this element is, if it is one.
    pub(crate) fn drop_zone(&self) -> Option<&DropZone> {
        self.extras.as_deref().and_then(|m| m.drop_zone.as_deref())
    }

    /// Whether the element tells the page manifest something: it is a drop zone, or one of
    /// its actions starts an upload.
    #[inline]
    pub(crate) fn has_manifest_facts(&self) -> bool {
        match &self.extras {
            None => false,
            Some(more) => {
                more.drop_zone.is_some()
                    || more.events.iter().any(|(_, actions)| {
                        actions
                            .iter()
                            .any(|a| matches!(a, ClientAction::Upload { .. }))
                    })
            }
        }
    }

    /// Appends a child. Fragments stay fragments; `Node::Empty` is dropped.
    ///
    /// ```
    /// use ferrex_core::node::{Element, Node};
    /// let mut el = Element::new("p", "");
    /// el.push("a");
    /// el.push(Node::Empty);
    /// assert_eq!(el.children().len(), 1);
    /// ```
    pub fn push(&mut self, child: impl Into<Node>) {
        match child.into() {
            Node::Empty => {}
            node => self.allocated_extras().children.push(node),
        }
    }

    /// The element's children.
    ///
    /// ```
    /// assert!(ferrex_core::node::Element::new("p", "").children().is_empty());
    /// ```
    #[inline]
    pub fn children(&self) -> &[Node] {
        self.extras.as_deref().map_or(&[], |m| &m.children)
    }

    fn render_into(&self, out: &mut String) {
        self.render_start(out);
        if self.void {
            return;
        }
        for child in self.children() {
            child.render_into(out);
        }
        self.render_end(out);
    }

    /// Writes the start tag: `<tag class=… attrs… data-fx-…>`.
    #[inline]
    pub(crate) fn render_start(&self, out: &mut String) {
        match self.prewritten {
            Some(fresh) => out.push_str(fresh.start),
            None => self.render_start_slow(out),
        }
    }

    /// Writes the end tag (nothing for a void element).
    #[inline]
    pub(crate) fn render_end(&self, out: &mut String) {
        match self.prewritten {
            Some(fresh) => out.push_str(fresh.end),
            None if self.void => {}
            None => {
                out.push_str("</");
                out.push_str(self.tag);
                out.push('>');
            }
        }
    }

    /// The start tag, attribute by attribute.
    #[cold]
    fn render_start_slow(&self, out: &mut String) {
        let extra_class = self
            .extras
            .as_deref()
            .and_then(|m| m.extra_class.as_deref());
        out.push('<');
        out.push_str(self.tag);
        if !self.class.is_empty() || extra_class.is_some() {
            out.push_str(" class=\"");
            out.push_str(self.class);
            if let Some(extra) = extra_class {
                if !self.class.is_empty() {
                    out.push(' ');
                }
                escape(out, extra);
            }
            out.push('"');
        }
        for (name, value) in self.attrs() {
            out.push(' ');
            escape(out, name);
            if !value.is_empty() {
                out.push_str("=\"");
                escape(out, value);
                out.push('"');
            }
        }
        let events = self.extras.as_deref().map_or(&[][..], |m| &m.events[..]);
        for (event, actions) in events {
            if actions.is_empty() {
                continue;
            }
            out.push_str(" data-fx-");
            out.push_str(event);
            out.push_str("=\"");
            // Serialising our own action enum to a String cannot fail.
            let json = serde_json::to_string(actions).unwrap_or_default();
            escape(out, &json);
            out.push('"');
        }
        out.push('>');
    }
}

#[inline]
pub(crate) fn escape(out: &mut String, text: &str) {
    // Writing into a String never fails.
    let _ = Escaper::new(out).write_str(text);
}

impl Node {
    /// A text node.
    ///
    /// ```
    /// assert_eq!(ferrex_core::Node::text("a<b").to_html(), "a&lt;b");
    /// ```
    pub fn text(text: impl Into<Cow<'static, str>>) -> Node {
        Node::Text(text.into())
    }

    /// Renders the node to an HTML string.
    ///
    /// ```
    /// assert_eq!(ferrex_core::Node::from(3).to_html(), "3");
    /// ```
    pub fn to_html(&self) -> String {
        match self {
            Node::Rendered(rendered) => rendered.html.clone(),
            _ => {
                let mut out = String::with_capacity(256);
                self.render_into(&mut out);
                out
            }
        }
    }

    /// Renders the node to an HTML string, reusing the buffer `ui!` already wrote.
    ///
    /// ```
    /// use ferrex_core::prelude::*;
    /// let page: Node = text().child("a").into();
    /// assert_eq!(page.clone().into_html(), page.to_html());
    /// ```
    pub fn into_html(self) -> String {
        match self {
            Node::Rendered(rendered) => rendered.html,
            other => other.to_html(),
        }
    }

    pub(crate) fn render_into(&self, out: &mut String) {
        match self {
            Node::Empty => {}
            Node::Text(text) => escape(out, text),
            Node::Element(el) => el.render_into(out),
            Node::Fragment(nodes) => nodes.iter().for_each(|n| n.render_into(out)),
            Node::Trusted(markup) => out.push_str(markup),
            Node::Rendered(rendered) => out.push_str(&rendered.html),
        }
    }
}

impl Render for Node {
    fn render_to(&self, buffer: &mut String) {
        self.render_into(buffer);
    }
}

impl From<Element> for Node {
    fn from(el: Element) -> Node {
        Node::Element(Box::new(el))
    }
}

impl From<&str> for Node {
    fn from(text: &str) -> Node {
        Node::Text(Cow::Owned(text.to_owned()))
    }
}

impl From<String> for Node {
    fn from(text: String) -> Node {
        Node::Text(Cow::Owned(text))
    }
}

impl From<&String> for Node {
    fn from(text: &String) -> Node {
        Node::Text(Cow::Owned(text.clone()))
    }
}

impl From<Cow<'static, str>> for Node {
    fn from(text: Cow<'static, str>) -> Node {
        Node::Text(text)
    }
}

impl<T: Into<Node>> From<Option<T>> for Node {
    fn from(node: Option<T>) -> Node {
        node.map_or(Node::Empty, Into::into)
    }
}

impl<T: Into<Node>> From<Vec<T>> for Node {
    fn from(nodes: Vec<T>) -> Node {
        Node::Fragment(nodes.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Node>> FromIterator<T> for Node {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Node {
        Node::Fragment(iter.into_iter().map(Into::into).collect())
    }
}

macro_rules! node_from_display {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Node {
            fn from(value: $ty) -> Node {
                Node::Text(Cow::Owned(value.to_string()))
            }
        }
        impl From<&$ty> for Node {
            fn from(value: &$ty) -> Node {
                Node::Text(Cow::Owned(value.to_string()))
            }
        }
    )*};
}
node_from_display!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64, char, bool
);

/// Whether `name` may be written as an attribute name: a plain name, not an inline event
/// handler.
fn is_safe_attribute_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let plain = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'.' | b'-'));
    plain && !name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("on"))
}
