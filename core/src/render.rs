//! How `ui!` renders: straight into one pre-sized buffer, in one pass.
//!
//! `ui!` still calls each component's builder and props (so the types, and every error
//! message, are the builders'), but it does not build a tree: once a component's props are
//! applied it writes the start tag, then its children in place, then the end tag. A fresh
//! built-in component writes its start and end tags as single `&'static str` pieces made
//! when ferrex was compiled, and a string literal child arrives already escaped by the
//! macro, so a `text(n)` cell costs two copies and a number, with no allocation.
//!
//! The elements the server still has to find after rendering (drop zones, elements with
//! event actions) are kept, typed, beside the HTML: see [`Rendered`](crate::node::Rendered).
//!
//! Which path a call takes is decided by the types at the call site ("autoref
//! specialisation": a method found at a shallower reference depth wins): containers stream
//! their children, other built-ins take their positional arguments first and render at the
//! end, and any other `Into<Node>` type (a user's component) is built and rendered as a
//! [`Node`]. A component that does not stream is given its nested calls as their builders,
//! as `positional(parent, child)` in the builder API (see [`Parent`]). Nothing here is a
//! public API.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::__private::PositionalOf;
use crate::manifest::PageManifest;
use crate::node::{Element, Node, Rendered, escape};

/// The buffer a `ui!` page is written into.
#[derive(Debug, Default)]
pub struct Html {
    buf: String,
    manifest: PageManifest,
}

/// The most bytes a render reserves up front from its call site's last size.
pub const MAX_HINT: usize = 256 * 1024;

impl Html {
    /// An empty buffer that allocates nothing until written to.
    #[inline]
    pub fn new() -> Html {
        Html::default()
    }

    /// A buffer sized for what this call site wrote last time, up to [`MAX_HINT`]: one
    /// session's huge page must not make every other render at the call site reserve as
    /// much (the buffer still grows as needed).
    #[inline]
    pub fn with_hint(hint: &SizeHint) -> Html {
        let last = hint.0.load(Ordering::Relaxed).min(MAX_HINT);
        Html {
            buf: String::with_capacity((last + last / 8).max(256)),
            manifest: PageManifest::default(),
        }
    }

    /// Writes markup as it is (start and end tags, literals the macro escaped).
    #[inline]
    pub fn raw(&mut self, markup: &str) {
        self.buf.push_str(markup);
    }

    /// Writes text, escaped.
    #[inline]
    pub fn text(&mut self, text: &str) {
        escape(&mut self.buf, text);
    }

    /// Writes a node, noting its drop zones and uploads in the page manifest.
    pub fn node(&mut self, node: Node) {
        match node {
            Node::Empty => {}
            Node::Text(text) => self.text(&text),
            Node::Trusted(markup) => self.raw(markup),
            Node::Rendered(rendered) => {
                let Rendered { html, manifest } = *rendered;
                if self.buf.is_empty() {
                    // A whole page handed over: reuse its buffer.
                    self.buf = html;
                } else {
                    self.buf.push_str(&html);
                }
                self.manifest.extend(manifest);
            }
            node @ (Node::Element(_) | Node::Fragment(_)) => {
                node.render_into(&mut self.buf);
                self.note_manifest(&node);
            }
        }
    }

    /// Records the page manifest facts of a node that was just written.
    fn note_manifest(&mut self, node: &Node) {
        match node {
            Node::Element(el) => {
                if el.has_manifest_facts() {
                    self.manifest.note(el.drop_zone(), el.all_actions());
                }
                el.children().iter().for_each(|c| self.note_manifest(c));
            }
            Node::Fragment(nodes) => nodes.iter().for_each(|n| self.note_manifest(n)),
            Node::Rendered(rendered) => self.manifest.extend(rendered.manifest.clone()),
            Node::Empty | Node::Text(_) | Node::Trusted(_) => {}
        }
    }

    /// Writes an element's start tag and the children it already holds (an icon's SVG).
    #[inline]
    pub(crate) fn open_element(&mut self, el: &Element) {
        el.render_start(&mut self.buf);
        let children = el.children();
        if !children.is_empty() {
            self.held_children(children);
        }
    }

    /// Children held by a streamed element are rare (an icon's markup): render them from
    /// a copy so their manifest facts are noted too.
    #[cold]
    fn held_children(&mut self, children: &[Node]) {
        for child in children {
            self.node(child.clone());
        }
    }

    /// Writes an element's end tag and notes what it tells the page manifest.
    #[inline]
    pub(crate) fn close_element(&mut self, el: &mut Element) {
        el.render_end(&mut self.buf);
        if el.has_manifest_facts() {
            self.note(el);
        }
    }

    #[cold]
    pub(crate) fn note(&mut self, el: &Element) {
        self.manifest.note(el.drop_zone(), el.all_actions());
    }

    /// The page as a node; remembers its size for the next render at this call site.
    #[inline]
    pub fn finish(self, hint: &SizeHint) -> Node {
        hint.0.store(self.buf.len(), Ordering::Relaxed);
        self.into_node()
    }

    /// The markup as a node.
    pub fn into_node(self) -> Node {
        if self.buf.is_empty() && self.manifest.is_empty() {
            Node::Empty
        } else {
            Node::Rendered(Box::new(Rendered {
                html: self.buf,
                manifest: self.manifest,
            }))
        }
    }
}

/// How much a `ui!` call site wrote last time, so the next render allocates once.
#[derive(Debug, Default)]
pub struct SizeHint(AtomicUsize);

impl SizeHint {
    /// No size known yet.
    pub const fn new() -> SizeHint {
        SizeHint(AtomicUsize::new(0))
    }
}

// ---------------------------------------------------------------------------------------
// What streams.

/// A component builder that `ui!` can write directly: its start tag once its props are
/// set, then (for a [`Container`]) its children in place, then its end tag.
pub trait Stream {
    /// Writes the start tag (and anything the builder already holds inside it).
    fn open(&mut self, out: &mut Html);
    /// Writes the end tag.
    fn close(self, out: &mut Html);
}

/// A component whose positional arguments are all children, streamed between its start
/// and end tags.
pub trait Container: Stream {}

/// A child value that writes itself without becoming a [`Node`] first.
pub trait StreamChild: Into<Node> {
    /// Writes the value (escaped, when it is text).
    fn stream(self, out: &mut Html);
}

impl StreamChild for &str {
    #[inline]
    fn stream(self, out: &mut Html) {
        out.text(self);
    }
}
impl StreamChild for String {
    #[inline]
    fn stream(self, out: &mut Html) {
        out.text(&self);
    }
}
impl StreamChild for &String {
    #[inline]
    fn stream(self, out: &mut Html) {
        out.text(self);
    }
}
impl StreamChild for std::borrow::Cow<'static, str> {
    #[inline]
    fn stream(self, out: &mut Html) {
        out.text(&self);
    }
}
impl StreamChild for Node {
    #[inline]
    fn stream(self, out: &mut Html) {
        out.node(self);
    }
}
impl<T: StreamChild> StreamChild for Option<T> {
    #[inline]
    fn stream(self, out: &mut Html) {
        if let Some(child) = self {
            child.stream(out);
        }
    }
}
impl<T: StreamChild> StreamChild for Vec<T> {
    #[inline]
    fn stream(self, out: &mut Html) {
        for child in self {
            child.stream(out);
        }
    }
}

macro_rules! stream_integer {
    ($($ty:ty),*) => {$(
        impl StreamChild for $ty {
            #[inline]
            fn stream(self, out: &mut Html) {
                out.raw(itoa::Buffer::new().format(self));
            }
        }
        impl StreamChild for &$ty {
            #[inline]
            fn stream(self, out: &mut Html) {
                (*self).stream(out);
            }
        }
    )*};
}
stream_integer!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

macro_rules! stream_display {
    ($($ty:ty),*) => {$(
        impl StreamChild for $ty {
            #[inline]
            fn stream(self, out: &mut Html) {
                // The same text as `to_string()`, which has nothing to escape (digits, `.`,
                // `-`, `inf`, `NaN`); writing into a String never fails.
                let _ = write!(out.buf, "{self}");
            }
        }
        impl StreamChild for &$ty {
            #[inline]
            fn stream(self, out: &mut Html) {
                (*self).stream(out);
            }
        }
    )*};
}
stream_display!(f32, f64);

impl StreamChild for char {
    #[inline]
    fn stream(self, out: &mut Html) {
        out.text(self.encode_utf8(&mut [0; 4]));
    }
}
impl StreamChild for &char {
    #[inline]
    fn stream(self, out: &mut Html) {
        (*self).stream(out);
    }
}
impl StreamChild for bool {
    #[inline]
    fn stream(self, out: &mut Html) {
        out.raw(if self { "true" } else { "false" });
    }
}
impl StreamChild for &bool {
    #[inline]
    fn stream(self, out: &mut Html) {
        (*self).stream(out);
    }
}

// ---------------------------------------------------------------------------------------
// The call site's choices. Each probe is a reference wrapper; `ui!` calls `__fx_kind()`
// on it through enough `&`s that the most specific impl whose bounds hold is found first.
// The tag it returns does the work with the values themselves.

/// How a component call is rendered: `(&&&Comp(&builder)).__fx_kind()`.
pub struct Comp<'a, B>(pub &'a B);

/// A component whose children stream between its tags.
#[derive(Clone, Copy)]
pub struct ContainerCall;
/// A built-in that takes values (an icon's name) and renders once they are in.
#[derive(Clone, Copy)]
pub struct LeafCall;
/// Any other component: built, turned into a [`Node`], then rendered.
#[derive(Clone, Copy)]
pub struct NodeCall;

/// Picks [`ContainerCall`].
pub trait CompContainer {
    /// The tag.
    #[inline]
    fn __fx_kind(&self) -> ContainerCall {
        ContainerCall
    }
}
impl<B: Container> CompContainer for &&Comp<'_, B> {}

/// Picks [`LeafCall`].
pub trait CompLeaf {
    /// The tag.
    #[inline]
    fn __fx_kind(&self) -> LeafCall {
        LeafCall
    }
}
impl<B: Stream> CompLeaf for &Comp<'_, B> {}

/// Picks [`NodeCall`].
pub trait CompNode {
    /// The tag.
    #[inline]
    fn __fx_kind(&self) -> NodeCall {
        NodeCall
    }
}
impl<B> CompNode for Comp<'_, B> {}

impl ContainerCall {
    /// After the props: the start tag.
    #[inline]
    pub fn open<B: Container>(self, builder: &mut B, out: &mut Html) {
        builder.open(out);
    }
    /// After the children: the end tag.
    #[inline]
    pub fn close<B: Container>(self, builder: B, out: &mut Html) {
        builder.close(out);
    }
}

impl LeafCall {
    /// Nothing yet: positional values still change the element.
    #[inline]
    pub fn open<B>(self, _: &mut B, _: &mut Html) {}
    /// The whole element.
    #[inline]
    pub fn close<B: Stream>(self, mut builder: B, out: &mut Html) {
        builder.open(out);
        builder.close(out);
    }
}

impl NodeCall {
    /// Nothing yet: the component is built first.
    #[inline]
    pub fn open<B>(self, _: &mut B, _: &mut Html) {}
    /// The component as a node.
    #[inline]
    pub fn close<B: Into<Node>>(self, builder: B, out: &mut Html) {
        out.node(builder.into());
    }
}

/// How a positional value (text, a number, an expression) reaches its component:
/// `(&&&&PositionalProbe(&builder, &value)).__fx_kind()`.
pub struct PositionalProbe<'a, B, C>(pub &'a B, pub &'a C);

/// Written in place, inside a container.
#[derive(Clone, Copy)]
pub struct StreamArg;
/// Turned into a node and written in place, inside a container.
#[derive(Clone, Copy)]
pub struct NodeArg;
/// Given to the builder (an icon's name, a user component's child).
#[derive(Clone, Copy)]
pub struct ApplyArg;
/// Not accepted: `ui!` reports that from its own check of `positional`.
#[derive(Clone, Copy)]
pub struct SkipArg;

/// Picks [`StreamArg`].
pub trait ArgStream {
    /// The tag.
    #[inline]
    fn __fx_kind(&self) -> StreamArg {
        StreamArg
    }
}
impl<B: Container, C: StreamChild> ArgStream for &&&PositionalProbe<'_, B, C> {}

/// Picks [`NodeArg`].
pub trait ArgNode {
    /// The tag.
    #[inline]
    fn __fx_kind(&self) -> NodeArg {
        NodeArg
    }
}
impl<B: Container, C: Into<Node>> ArgNode for &&PositionalProbe<'_, B, C> {}

/// Picks [`ApplyArg`].
pub trait ArgApply {
    /// The tag.
    #[inline]
    fn __fx_kind(&self) -> ApplyArg {
        ApplyArg
    }
}
impl<B, C: PositionalOf<B>> ArgApply for &PositionalProbe<'_, B, C> {}

/// Picks [`SkipArg`].
pub trait ArgSkip {
    /// The tag.
    #[inline]
    fn __fx_kind(&self) -> SkipArg {
        SkipArg
    }
}
impl<B, C> ArgSkip for PositionalProbe<'_, B, C> {}

impl StreamArg {
    /// Writes the value.
    #[inline]
    pub fn apply<B, C: StreamChild>(self, builder: B, value: C, out: &mut Html) -> B {
        value.stream(out);
        builder
    }
    /// Writes a string literal the macro escaped.
    #[inline]
    pub fn apply_lit<B, C>(self, builder: B, _: C, escaped: &'static str, out: &mut Html) -> B {
        out.raw(escaped);
        builder
    }
}

impl NodeArg {
    /// Writes the value as a node.
    #[inline]
    pub fn apply<B, C: Into<Node>>(self, builder: B, value: C, out: &mut Html) -> B {
        out.node(value.into());
        builder
    }
    /// Writes the value as a node.
    #[inline]
    pub fn apply_lit<B, C: Into<Node>>(self, builder: B, value: C, _: &str, out: &mut Html) -> B {
        self.apply(builder, value, out)
    }
}

impl ApplyArg {
    /// Gives the value to the builder.
    #[inline]
    pub fn apply<B, C: PositionalOf<B>>(self, builder: B, value: C, _: &mut Html) -> B {
        value.apply_to(builder)
    }
    /// Gives the value to the builder.
    #[inline]
    pub fn apply_lit<B, C: PositionalOf<B>>(
        self,
        builder: B,
        value: C,
        _: &str,
        _: &mut Html,
    ) -> B {
        value.apply_to(builder)
    }
}

impl SkipArg {
    /// Drops the value (the program does not compile: see [`crate::__private::positional`]).
    #[inline]
    pub fn apply<B, C>(self, builder: B, _: C, _: &mut Html) -> B {
        builder
    }
    /// Drops the value.
    #[inline]
    pub fn apply_lit<B, C>(self, builder: B, _: C, _: &str, _: &mut Html) -> B {
        builder
    }
}

/// Where a nested call, `if` or `for` inside a component goes:
/// `(&&Parent(&builder)).__fx_kind()`.
///
/// A container writes it in place. Any other component (a user's, or a built-in that
/// takes values) is given a nested call as the call's own builder, exactly as the builder
/// API's `positional(parent, child)` would, so a component that takes a specific child
/// type (`Positional<Tab>`) or looks at its children gets them; `ui!` expands such a call
/// both ways and [`streams`](InlineChild::streams) picks one at compile time. An `if` or
/// `for` has no builder: it is written into a buffer of its own and handed over as one
/// [`Node`].
pub struct Parent<'a, B>(pub &'a B);

/// In place, inside a container.
#[derive(Clone, Copy)]
pub struct InlineChild;
/// Given to the builder: a nested call as its builder, an `if` or `for` as the [`Node`]
/// written into a buffer of its own.
#[derive(Clone, Copy)]
pub struct AsideChild;

/// Picks [`InlineChild`].
pub trait ParentInline {
    /// The tag.
    #[inline]
    fn __fx_kind(&self) -> InlineChild {
        InlineChild
    }
}
impl<B: Container> ParentInline for &Parent<'_, B> {}

/// Picks [`AsideChild`].
pub trait ParentAside {
    /// The tag.
    #[inline]
    fn __fx_kind(&self) -> AsideChild {
        AsideChild
    }
}
impl<B> ParentAside for Parent<'_, B> {}

impl InlineChild {
    /// A nested call is written in place.
    #[inline]
    pub const fn streams(self) -> bool {
        true
    }
    /// Never called: a nested call streams (see [`streams`](Self::streams)).
    #[inline]
    pub fn give<B, C>(self, builder: B, _: C) -> B {
        builder
    }
    /// No buffer of its own.
    #[inline]
    pub fn aside(self) {}
    /// The page's own buffer.
    #[inline]
    pub fn sink<'a>(self, _: &'a mut (), out: &'a mut Html) -> &'a mut Html {
        out
    }
    /// Nothing to hand over.
    #[inline]
    pub fn take<B>(self, builder: B, _: ()) -> B {
        builder
    }
}

impl AsideChild {
    /// A nested call is given to the builder as its own builder.
    #[inline]
    pub const fn streams(self) -> bool {
        false
    }
    /// Gives a nested call's builder to the parent's, as `positional(parent, child)`.
    #[inline]
    pub fn give<B, C: PositionalOf<B>>(self, builder: B, child: C) -> B {
        child.apply_to(builder)
    }
    /// A buffer of its own (for an `if` or `for`).
    #[inline]
    pub fn aside(self) -> Html {
        Html::new()
    }
    /// That buffer.
    #[inline]
    pub fn sink<'a>(self, aside: &'a mut Html, _: &'a mut Html) -> &'a mut Html {
        aside
    }
    /// Hands what was written to the builder.
    #[inline]
    pub fn take<B>(self, builder: B, aside: Html) -> B
    where
        Node: PositionalOf<B>,
    {
        aside.into_node().apply_to(builder)
    }
}

/// How a node outside any component (the page's roots, the body of an `if` or `for`) is
/// written: `(&&Emit(&value)).__fx_kind()`.
pub struct Emit<'a, T>(pub &'a T);

/// Written directly.
#[derive(Clone, Copy)]
pub struct StreamItem;
/// Written as a [`Node`].
#[derive(Clone, Copy)]
pub struct NodeItem;

/// Picks [`StreamItem`].
pub trait EmitStream {
    /// The tag.
    #[inline]
    fn __fx_kind(&self) -> StreamItem {
        StreamItem
    }
}
impl<T: StreamChild> EmitStream for &Emit<'_, T> {}

/// Picks [`NodeItem`].
pub trait EmitNode {
    /// The tag.
    #[inline]
    fn __fx_kind(&self) -> NodeItem {
        NodeItem
    }
}
impl<T> EmitNode for Emit<'_, T> {}

impl StreamItem {
    /// Writes the value.
    #[inline]
    pub fn emit<T: StreamChild>(self, value: T, out: &mut Html) {
        value.stream(out);
    }
}

impl NodeItem {
    /// Writes the value as a node.
    #[inline]
    pub fn emit<T: Into<Node>>(self, value: T, out: &mut Html) {
        out.node(value.into());
    }
}

/// A value of `T` for type checking only: `ui!` checks a positional argument with the very
/// call the builder API makes, `positional(builder, value)`, without running it.
pub fn witness<T>(_: &T) -> T {
    unreachable!("ui! only type-checks this call")
}

// ---------------------------------------------------------------------------------------
// The upload components, written through their public conversion into a node.

impl Stream for crate::upload::Upload {
    fn open(&mut self, out: &mut Html) {
        let zone = std::mem::replace(self, crate::upload::upload());
        // The zone's start tag and hidden input; its children stream after them.
        if let Node::Element(el) = Node::from(zone) {
            out.open_element(&el);
            out.note(&el);
        }
    }
    fn close(self, out: &mut Html) {
        out.raw("</div>");
    }
}
impl Container for crate::upload::Upload {}

impl Stream for crate::upload::SelectedFiles {
    fn open(&mut self, out: &mut Html) {
        let list = std::mem::replace(self, crate::upload::selected_files());
        out.node(Node::from(list));
    }
    fn close(self, _: &mut Html) {}
}
