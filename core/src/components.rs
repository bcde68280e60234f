//! The built-in components: one builder type per component, its props as methods.
//! `ui!` turns `button("Go", on_click = X)` into `button().positional("Go").on_click(X)`.

use crate::event::IntoEvent;
use crate::icons::IconName;
use crate::node::{Element, Node, Prewritten};
use crate::props::{IntoNumber, IntoText, Positional, Variant};
use crate::render::{Container as Streams, Html, Stream};

/// The tags and attributes of a fresh element, written out at compile time exactly as
/// rendering it attribute by attribute would write them.
macro_rules! prewritten {
    ($tag:literal, $class:literal, void = $void:expr $(, ($an:literal, $av:literal))*) => {
        Prewritten {
            start: concat!(
                "<", $tag, " class=\"", $class, "\"",
                $(" ", $an, "=\"", $av, "\"",)*
                ">"
            ),
            end: if $void { "" } else { concat!("</", $tag, ">") },
            attrs: &[$(($an, $av)),*],
        }
    };
}

/// The props every builder with an `el: Element` has besides `id` (which the upload zone
/// keeps apart): `class`, `style`, `key`, `title`, `aria_label`, `attr`.
macro_rules! element_props {
    () => {
        /// Extra CSS classes, after the component's own.
        pub fn class(mut self, class: impl IntoText) -> Self {
            self.el.add_class(class.into_text());
            self
        }
        /// Inline CSS (combined with what `gap`/`align` set).
        pub fn style(mut self, style: impl IntoText) -> Self {
            self.el.add_style(style.into_text());
            self
        }
        /// A stable identity among siblings, so the page keeps this element across updates.
        pub fn key(mut self, key: impl IntoText) -> Self {
            self.el.attr("data-fx-key", key.into_text());
            self
        }
        /// A tooltip.
        pub fn title(mut self, title: impl IntoText) -> Self {
            self.el.attr("title", title.into_text());
            self
        }
        /// The accessible name, for elements without visible text.
        pub fn aria_label(mut self, label: impl IntoText) -> Self {
            self.el.attr("aria-label", label.into_text());
            self
        }
        /// Any other attribute (`data-*`, `aria-*`, …).
        pub fn attr(mut self, name: impl IntoText, value: impl IntoText) -> Self {
            self.el.attr(name.into_text(), value.into_text());
            self
        }
    };
}
pub(crate) use element_props;

/// Declares a component builder: the struct, its constructor function, the props every
/// component has (`id`, `class`, `style`, `key`, `title`, `aria_label`, `on_click`), and its
/// conversion into a [`Node`].
macro_rules! component {
    (
        $(#[$meta:meta])*
        $fun:ident -> $name:ident, $tag:literal, $class:literal $(, void = $void:literal)?
        $(, attrs = [$(($an:literal, $av:literal)),*])?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        #[must_use = "a component does nothing until it is placed on a page"]
        pub struct $name {
            el: Element,
        }

        $(#[$meta])*
        #[inline]
        pub fn $fun() -> $name {
            const VOID: bool = false $(|| $void)?;
            const PREWRITTEN: Prewritten = prewritten!($tag, $class, void = VOID $($(, ($an, $av))*)?);
            $name { el: Element::component($tag, $class, VOID, &PREWRITTEN) }
        }

        impl $name {
            /// The element's `id` attribute.
            pub fn id(mut self, id: impl IntoText) -> Self {
                self.el.attr("id", id.into_text());
                self
            }
            element_props!();
            /// Runs a handler or client action on click.
            pub fn on_click(mut self, handler: impl IntoEvent) -> Self {
                self.el.on("click", handler.into_client_actions());
                self
            }
        }

        impl From<$name> for Node {
            fn from(c: $name) -> Node {
                c.into_node()
            }
        }

        impl maud::Render for $name {
            fn render_to(&self, buffer: &mut String) {
                Node::from(self.clone()).render_to(buffer);
            }
        }
    };
}

/// Components `ui!` writes as one element: start tag, children, end tag.
macro_rules! stream_element {
    ($($name:ident),*) => {$(
        impl Stream for $name {
            #[inline]
            fn open(&mut self, out: &mut Html) {
                out.open_element(&self.el);
            }
            #[inline]
            fn close(mut self, out: &mut Html) {
                out.close_element(&mut self.el);
            }
        }
    )*};
}

/// Components whose positional arguments are children, and whose `into_node` is plain.
macro_rules! container {
    ($($name:ident),*) => {$(
        stream_element!($name);
        impl Streams for $name {}
        impl<C: Into<Node>> Positional<C> for $name {
            fn positional(mut self, child: C) -> Self {
                self.el.push(child);
                self
            }
        }
        impl $name {
            /// Adds a child node.
            pub fn child(mut self, child: impl Into<Node>) -> Self {
                self.el.push(child);
                self
            }
            fn into_node(self) -> Node {
                self.el.into()
            }
        }
    )*};
}

component! {
    /// A plain block (`<div>`), the general-purpose container. In `ui!` it is written
    /// `box(…)`; its children are any nodes.
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let page = ui! { box("a", class = "card") };
    /// assert_eq!(page.to_html(), r#"<div class="fx-box card">a</div>"#);
    /// ```
    r#box -> Box, "div", "fx-box"
}
component! {
    /// Children stacked vertically with a gap (`0.75rem` unless `gap` says otherwise),
    /// aligned by `align`.
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let page = ui! { vstack(text("a"), text("b"), gap = "2rem", align = "center") };
    /// assert!(page.to_html().starts_with(r#"<div class="fx-vstack" style="gap:2rem;align-items:center"><p"#));
    /// ```
    vstack -> VStack, "div", "fx-vstack"
}
component! {
    /// Children side by side with a gap (`0.75rem` unless `gap` says otherwise);
    /// `wrap = true` lets them wrap onto the next line.
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let page = ui! { hstack(button("Yes"), button("No"), wrap = true) };
    /// assert!(page.to_html().starts_with(r#"<div class="fx-hstack fx-wrap"><button"#));
    /// ```
    hstack -> HStack, "div", "fx-hstack"
}
component! {
    /// Children centred both ways.
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let page = ui! { center(text("Nothing here yet"), style = "min-height:10rem") };
    /// assert!(page.to_html().starts_with(r#"<div class="fx-center" style="min-height:10rem">"#));
    /// ```
    center -> Center, "div", "fx-center"
}
component! {
    /// A centred column of readable width (at most `52rem`), usually a page's outermost
    /// component.
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let page = ui! { container(heading("Files", level = 1)) };
    /// assert_eq!(page.to_html(), r#"<div class="fx-container"><h1 class="fx-heading">Files</h1></div>"#);
    /// ```
    container -> Container, "div", "fx-container"
}
component! {
    /// A paragraph of text. Its children are text, numbers, other values and nodes, all
    /// HTML-escaped.
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let unread = 3;
    /// let page = ui! { text("You have ", unread, " <new> messages", id = "inbox") };
    /// assert_eq!(page.to_html(), r#"<p class="fx-text" id="inbox">You have 3 &lt;new&gt; messages</p>"#);
    /// ```
    text -> Text, "p", "fx-text"
}
component! {
    /// Inline code.
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let page = ui! { text("Compare with ", code("x < y"), ".") };
    /// assert_eq!(page.to_html(), r#"<p class="fx-text">Compare with <code class="fx-code">x &lt; y</code>.</p>"#);
    /// ```
    code -> Code, "code", "fx-code"
}
component! {
    /// A heading, `<h2>` unless `level` says otherwise (1–6).
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let page = ui! { heading("Files", level = 1), heading("Uploads") };
    /// assert_eq!(page.to_html(), r#"<h1 class="fx-heading">Files</h1><h2 class="fx-heading">Uploads</h2>"#);
    /// ```
    heading -> Heading, "h2", "fx-heading"
}
component! {
    /// A list (`<ul>`, or `<ol>` with `ordered = true`) of [`list_item`]s.
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let names = ["a", "b"];
    /// let page = ui! { list(for name in names { list_item(name, key = name) }, ordered = true) };
    /// assert_eq!(
    ///     page.to_html(),
    ///     r#"<ol class="fx-list"><li class="fx-list-item" data-fx-key="a">a</li><li class="fx-list-item" data-fx-key="b">b</li></ol>"#
    /// );
    /// ```
    list -> List, "ul", "fx-list"
}
component! {
    /// An item of a [`list`]. Give the items of a list that changes a `key`, so the page
    /// keeps each one across updates.
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let page = ui! { list(list_item("Tea", key = "tea")) };
    /// assert_eq!(page.to_html(), r#"<ul class="fx-list"><li class="fx-list-item" data-fx-key="tea">Tea</li></ul>"#);
    /// ```
    list_item -> ListItem, "li", "fx-list-item"
}
component! {
    /// A link; to an asset (`href = "/banner.png"`), a page, or another site (`external = true`
    /// opens it in a new tab). In `ui!`, a literal `href` to a path with an extension must
    /// name a file in the assets folder.
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let page = ui! {
    ///     link("About", href = "/about"),
    ///     link("Rust", href = "https://www.rust-lang.org", external = true),
    /// };
    /// assert_eq!(
    ///     page.to_html(),
    ///     r#"<a class="fx-link" href="/about">About</a><a class="fx-link" href="https://www.rust-lang.org" target="_blank" rel="noopener noreferrer">Rust</a>"#
    /// );
    /// ```
    link -> Link, "a", "fx-link"
}
component! {
    /// A button: `on_click` runs handlers or client actions, `variant` picks its look,
    /// `disabled` greys it out. It never submits a form (`type="button"`) unless
    /// `submit = true`.
    ///
    /// ```
    /// use ferrex::prelude::*;
    ///
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct Counter { count: i64 }
    ///
    /// #[event]
    /// impl Counter {
    ///     fn add(&mut self, by: i64) { self.count += by; }
    /// }
    ///
    /// let page = ui! {
    ///     button("+1", on_click = Counter::add(1)),
    ///     button("Go", variant = Variant::Outline, disabled = true),
    /// };
    /// let html = page.to_html();
    /// assert!(html.starts_with(r#"<button class="fx-button fx-button-solid" type="button" data-fx-click="[{&quot;t&quot;:&quot;event&quot;,&quot;h&quot;:&quot;Counter.add&quot;,&quot;args&quot;:[1]}]">+1</button>"#));
    /// assert!(html.ends_with(r#"<button class="fx-button fx-button-outline" type="button" disabled>Go</button>"#));
    /// ```
    button -> Button, "button", "fx-button fx-button-solid", attrs = [("type", "button")]
}
component! {
    /// A group of nodes with no element of its own (so the common props render nothing).
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let page = ui! { fragment("a", code("b")) };
    /// assert_eq!(page.to_html(), r#"a<code class="fx-code">b</code>"#);
    /// ```
    fragment -> Fragment, "", ""
}
component! {
    /// An image: `src`, `alt`, and `width`/`height` in CSS pixels. It takes no children.
    /// With one size the other follows the picture's own proportions; with both, the image
    /// fills that box (cropped, not stretched: `object-fit: cover`) and keeps its ratio when
    /// a narrow column shrinks it.
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let page = ui! { image(src = "/a.png", alt = "A", width = 10) };
    /// assert_eq!(page.to_html(), r#"<img class="fx-image" src="/a.png" alt="A" width="10">"#);
    /// let square = ui! { image(src = "/a.png", width = 48, height = 48) };
    /// assert!(square.to_html().ends_with(r#"width="48" height="48" style="aspect-ratio:48/48">"#));
    /// ```
    image -> Image, "img", "fx-image", void = true
}
component! {
    /// A text input (or any other `kind`: `"email"`, `"checkbox"`, …). `on_input` runs on
    /// every keystroke, `on_change` when the value is committed; a bare `State::method`
    /// handler receives the value as its argument (a `String`, or a `bool` for a checkbox).
    ///
    /// ```
    /// use ferrex::prelude::*;
    ///
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct Form { name: String }
    ///
    /// #[event]
    /// impl Form {
    ///     fn set_name(&mut self, name: String) { self.name = name; }
    /// }
    ///
    /// let s = Form { name: "a\"b".into() };
    /// let page = ui! { input(value = &s.name, placeholder = "Name", on_input = Form::set_name) };
    /// assert!(page.to_html().starts_with(r#"<input class="fx-input" type="text" value="a&quot;b" placeholder="Name" data-fx-input="#));
    /// ```
    input -> Input, "input", "fx-input", void = true, attrs = [("type", "text")]
}
component! {
    /// A progress bar (`value` out of `max`, default 100; any number type), with its
    /// percentage beside it (`data-fx-percent`, which the stylesheet shows after the bar).
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let done = 30.0;
    /// let page = ui! { progress(value = done) };
    /// assert_eq!(page.to_html(), r#"<progress class="fx-progress" max="100" value="30" data-fx-percent="30%"></progress>"#);
    /// ```
    progress -> Progress, "progress", "fx-progress", attrs = [("max", "100")]
}
component! {
    /// An icon from ferrex's built-in set, drawn in the colour of the text around it:
    /// `icon("upload")`. In `ui!` a literal name is checked at compile time; the names are
    /// those of [`IconName`].
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let page = ui! { button(icon("download"), "Download") };
    /// assert!(page.to_html().contains(r#"<span class="fx-icon" aria-hidden="true"><svg"#));
    /// ```
    icon -> Icon, "span", "fx-icon"
}

container!(
    Box, VStack, HStack, Center, Container, Text, Code, Heading, List, ListItem, Link, Button
);
stream_element!(Image, Input, Progress, Icon);

impl Stream for Fragment {
    #[inline]
    fn open(&mut self, _: &mut Html) {}
    #[inline]
    fn close(self, _: &mut Html) {}
}
impl Streams for Fragment {}

impl Positional<&str> for Icon {
    fn positional(self, name: &str) -> Self {
        self.name(name)
    }
}

impl<C: Into<Node>> Positional<C> for Fragment {
    fn positional(mut self, child: C) -> Self {
        self.el.push(child);
        self
    }
}

impl Fragment {
    /// Adds a child node.
    pub fn child(mut self, child: impl Into<Node>) -> Self {
        self.el.push(child);
        self
    }
    fn into_node(self) -> Node {
        Node::Fragment(self.el.children().to_vec())
    }
}

impl VStack {
    /// The space between children, as a CSS length (`"1rem"`).
    pub fn gap(self, gap: impl IntoText) -> Self {
        let style = format!("gap:{}", gap.into_text());
        self.style(style)
    }
    /// Horizontal alignment of the children: `"start"`, `"center"`, `"end"`, `"stretch"`.
    pub fn align(self, align: impl IntoText) -> Self {
        let style = format!("align-items:{}", align.into_text());
        self.style(style)
    }
}

impl HStack {
    /// The space between children, as a CSS length (`"1rem"`).
    pub fn gap(self, gap: impl IntoText) -> Self {
        let style = format!("gap:{}", gap.into_text());
        self.style(style)
    }
    /// Let children wrap onto the next line.
    pub fn wrap(mut self, wrap: bool) -> Self {
        if wrap {
            self.el.add_class("fx-wrap");
        }
        self
    }
}

impl Heading {
    /// The heading level, 1 to 6 (values outside are clamped).
    pub fn level(mut self, level: u8) -> Self {
        const TAGS: [&str; 6] = ["h1", "h2", "h3", "h4", "h5", "h6"];
        static PREWRITTEN: [Prewritten; 6] = [
            prewritten!("h1", "fx-heading", void = false),
            prewritten!("h2", "fx-heading", void = false),
            prewritten!("h3", "fx-heading", void = false),
            prewritten!("h4", "fx-heading", void = false),
            prewritten!("h5", "fx-heading", void = false),
            prewritten!("h6", "fx-heading", void = false),
        ];
        let i = usize::from(level.clamp(1, 6)) - 1;
        self.el.reshape(TAGS[i], "fx-heading", &PREWRITTEN[i]);
        self
    }
}

impl List {
    /// A numbered list (`<ol>`).
    pub fn ordered(mut self, ordered: bool) -> Self {
        static OL: Prewritten = prewritten!("ol", "fx-list", void = false);
        static UL: Prewritten = prewritten!("ul", "fx-list", void = false);
        if ordered {
            self.el.reshape("ol", "fx-list", &OL);
        } else {
            self.el.reshape("ul", "fx-list", &UL);
        }
        self
    }
}

impl Link {
    /// Where the link goes.
    pub fn href(mut self, href: impl IntoText) -> Self {
        self.el.attr("href", href.into_text());
        self
    }
    /// Opens in a new tab, without giving the other site a handle on this page.
    pub fn external(mut self, external: bool) -> Self {
        if external {
            self.el.attr("target", "_blank");
            self.el.attr("rel", "noopener noreferrer");
        }
        self
    }
}

impl Button {
    /// The look: [`Variant::Solid`] (default), `Soft`, `Outline`, `Ghost`, `Danger`.
    pub fn variant(mut self, variant: Variant) -> Self {
        static PREWRITTEN: [Prewritten; 5] = [
            prewritten!(
                "button",
                "fx-button fx-button-solid",
                void = false,
                ("type", "button")
            ),
            prewritten!(
                "button",
                "fx-button fx-button-soft",
                void = false,
                ("type", "button")
            ),
            prewritten!(
                "button",
                "fx-button fx-button-outline",
                void = false,
                ("type", "button")
            ),
            prewritten!(
                "button",
                "fx-button fx-button-ghost",
                void = false,
                ("type", "button")
            ),
            prewritten!(
                "button",
                "fx-button fx-button-danger",
                void = false,
                ("type", "button")
            ),
        ];
        let fresh = match variant {
            Variant::Solid => &PREWRITTEN[0],
            Variant::Soft => &PREWRITTEN[1],
            Variant::Outline => &PREWRITTEN[2],
            Variant::Ghost => &PREWRITTEN[3],
            Variant::Danger => &PREWRITTEN[4],
        };
        self.el.reshape("button", variant.class(), fresh);
        self
    }
    /// Greys the button out and ignores clicks.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.el.flag("disabled", disabled);
        self
    }
    /// Makes it a form's submit button.
    pub fn submit(mut self, submit: bool) -> Self {
        self.el
            .attr("type", if submit { "submit" } else { "button" });
        self
    }
}

impl Image {
    /// The image URL.
    pub fn src(mut self, src: impl IntoText) -> Self {
        self.el.attr("src", src.into_text());
        self
    }
    /// The text that stands for the image (screen readers, broken images).
    pub fn alt(mut self, alt: impl IntoText) -> Self {
        self.el.attr("alt", alt.into_text());
        self
    }
    /// Width in CSS pixels.
    pub fn width(mut self, width: u32) -> Self {
        self.el.attr("width", width.to_string());
        self.keep_ratio();
        self
    }
    /// Height in CSS pixels.
    pub fn height(mut self, height: u32) -> Self {
        self.el.attr("height", height.to_string());
        self.keep_ratio();
        self
    }
    /// Once both sizes are given, their ratio is the box's: the stylesheet's `height: auto`
    /// (which lets a wide image shrink with its column) would otherwise take the picture's
    /// own ratio and turn a 120×120 box into 120×90.
    fn keep_ratio(&mut self) {
        if let (Some(w), Some(h)) = (self.el.get_attr("width"), self.el.get_attr("height")) {
            let ratio = format!("aspect-ratio:{w}/{h}");
            self.el.add_style(ratio);
        }
    }
    fn into_node(self) -> Node {
        self.el.into()
    }
}

impl Input {
    /// The current value (the page keeps what the user is typing across updates).
    pub fn value(mut self, value: impl IntoText) -> Self {
        self.el.attr("value", value.into_text());
        self
    }
    /// Hint text shown while empty.
    pub fn placeholder(mut self, placeholder: impl IntoText) -> Self {
        self.el.attr("placeholder", placeholder.into_text());
        self
    }
    /// The field's name in a form.
    pub fn name(mut self, name: impl IntoText) -> Self {
        self.el.attr("name", name.into_text());
        self
    }
    /// The input type: `"text"` (default), `"email"`, `"number"`, `"password"`, `"checkbox"`, ….
    pub fn kind(mut self, kind: impl IntoText) -> Self {
        self.el.attr("type", kind.into_text());
        self
    }
    /// Greys the input out.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.el.flag("disabled", disabled);
        self
    }
    /// Runs on every change of the value.
    pub fn on_input(mut self, handler: impl IntoEvent) -> Self {
        self.el.on("input", handler.into_client_actions());
        self
    }
    /// Runs when the value is committed (Enter, leaving the field).
    pub fn on_change(mut self, handler: impl IntoEvent) -> Self {
        self.el.on("change", handler.into_client_actions());
        self
    }
    fn into_node(self) -> Node {
        self.el.into()
    }
}

impl Progress {
    /// How far along, out of `max`.
    pub fn value(mut self, value: impl IntoNumber) -> Self {
        self.el.attr("value", value.into_number().to_string());
        self.label_percent();
        self
    }
    /// The value that means done (default 100).
    pub fn max(mut self, max: impl IntoNumber) -> Self {
        self.el.attr("max", max.into_number().to_string());
        self.label_percent();
        self
    }
    /// Writes `value` as a whole percentage of `max` (clamped to 0–100, as the bar is) for
    /// the stylesheet to show; a bar without a value is indeterminate and gets none.
    fn label_percent(&mut self) {
        let number = |name| self.el.get_attr(name).and_then(|v| v.parse::<f64>().ok());
        let Some(value) = number("value") else {
            return;
        };
        let max = number("max").filter(|m| *m > 0.0).unwrap_or(100.0);
        let percent = (value / max * 100.0).clamp(0.0, 100.0);
        let percent = if percent.is_nan() {
            0.0
        } else {
            percent.round()
        };
        self.el.attr("data-fx-percent", format!("{percent}%"));
    }
    fn into_node(self) -> Node {
        self.el.into()
    }
}

impl Icon {
    /// Which icon (see [`IconName`]); an unknown name shows an empty square.
    pub fn name(mut self, name: &str) -> Self {
        let svg = IconName::parse(name).map_or(crate::icons::UNKNOWN, IconName::svg);
        self.el.clear_children();
        self.el.attr_first("aria-hidden", "true");
        self.el.push(Node::Trusted(svg));
        self
    }
    fn into_node(self) -> Node {
        self.el.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders an element both ways: from its tags written out in advance, and attribute
    /// by attribute after a change that keeps everything as it was.
    fn both_ways(el: &Element) -> (String, String) {
        let fresh = Node::from(el.clone()).to_html();
        let mut with_extras = el.clone();
        with_extras.extras_mut();
        (fresh, Node::from(with_extras).to_html())
    }

    #[test]
    fn every_component_writes_the_tags_it_would_write_attribute_by_attribute() {
        let elements = [
            r#box().el,
            vstack().el,
            hstack().el,
            center().el,
            container().el,
            text().el,
            code().el,
            heading().el,
            list().el,
            list_item().el,
            link().el,
            button().el,
            image().el,
            input().el,
            progress().el,
            icon().el,
        ];
        for el in &elements {
            let (fresh, with_extras) = both_ways(el);
            assert_eq!(fresh, with_extras, "<{}>", el.tag());
            assert!(fresh.starts_with(&format!("<{}", el.tag())), "{fresh}");
        }
        let (fresh, _) = both_ways(&button().el);
        assert_eq!(
            fresh,
            r#"<button class="fx-button fx-button-solid" type="button"></button>"#
        );
        let (fresh, _) = both_ways(&input().el);
        assert_eq!(fresh, r#"<input class="fx-input" type="text">"#);
    }

    #[test]
    fn the_other_shapes_of_a_component_write_what_they_would_write_attribute_by_attribute() {
        let mut shapes: Vec<Element> = (0..=7).map(|l| heading().level(l).el).collect();
        shapes.push(list().ordered(true).el);
        shapes.push(list().ordered(false).el);
        for v in [
            Variant::Solid,
            Variant::Soft,
            Variant::Outline,
            Variant::Ghost,
            Variant::Danger,
        ] {
            shapes.push(button().variant(v).el);
            // A changed element changes shape the slow way.
            shapes.push(button().submit(true).variant(v).el);
            shapes.push(heading().class("x").level(3).el);
        }
        for el in &shapes {
            let (fresh, with_extras) = both_ways(el);
            assert_eq!(fresh, with_extras);
        }
        assert_eq!(
            Node::from(button().submit(true).variant(Variant::Ghost)).to_html(),
            r#"<button class="fx-button fx-button-ghost" type="submit"></button>"#
        );
        assert_eq!(
            Node::from(heading().class("x").level(3)).to_html(),
            r#"<h3 class="fx-heading x"></h3>"#
        );
    }

    #[test]
    fn a_prop_that_changes_nothing_visible_still_renders_the_same() {
        let same = [
            Node::from(heading().level(2)).to_html(),
            Node::from(button().variant(Variant::Solid)).to_html(),
            Node::from(button().disabled(false)).to_html(),
            Node::from(list().ordered(false)).to_html(),
        ];
        assert_eq!(same[0], r#"<h2 class="fx-heading"></h2>"#);
        assert_eq!(
            same[1],
            r#"<button class="fx-button fx-button-solid" type="button"></button>"#
        );
        assert_eq!(same[2], same[1]);
        assert_eq!(same[3], r#"<ul class="fx-list"></ul>"#);
    }
}
