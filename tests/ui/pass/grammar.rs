//! The whole `ui!` grammar in one page: nested calls, children of every kind, control
//! flow, props given as expressions, `box`, a user component and several root nodes.

use ferrex::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Library {
    title: String,
    count: i64,
    books: Vec<String>,
    open: bool,
    level: u8,
}

/// A user component: a function returning a builder, used like a built-in.
fn card() -> VStack {
    vstack().class("card")
}

fn page(s: &Library) -> Node {
    let name = "Ada";
    let shelf: &[&str] = &["a", "b"];
    ui! {
        container(
            heading(s.title.as_str(), level = s.level + 1),
            hstack(
                text("literal"),
                text(42),
                text(2.5),
                text({ format!("{} books", s.books.len()) }),
                text(name),
                text(s.count),
                text("<", name, ">"),
            ),
            if s.open {
                text("open")
            } else if s.count > 10 {
                text("busy")
            } else {
                text("closed"),
                text("come back later")
            },
            list(
                ordered = s.books.len() > 1,
                for book in &s.books {
                    list_item(book, key = book.as_str())
                },
            ),
            for letter in shelf {
                code(*letter)
            },
            box(
                "boxed",
                class = if s.open { "open" } else { "shut" },
                title = format!("{} of {}", s.count, s.books.len()),
                style = "color:red",
            ),
            card("in a card", id = "c1"),
            { Node::text("a node") },
        ),
        text("second root"),
    }
}

fn main() {
    let s = Library {
        title: "Books".into(),
        count: 3,
        books: vec!["Dune".into(), "Emma".into()],
        open: false,
        level: 0,
    };
    let html = page(&s).to_html();
    assert!(html.starts_with(r#"<div class="fx-container"><h1 class="fx-heading">Books</h1>"#), "{html}");
    assert!(html.contains(r#"<p class="fx-text">literal</p><p class="fx-text">42</p><p class="fx-text">2.5</p>"#), "{html}");
    assert!(html.contains(r#"<p class="fx-text">2 books</p><p class="fx-text">Ada</p><p class="fx-text">3</p>"#), "{html}");
    assert!(html.contains(r#"<p class="fx-text">&lt;Ada&gt;</p>"#), "{html}");
    assert!(html.contains(r#"<p class="fx-text">closed</p><p class="fx-text">come back later</p>"#), "{html}");
    assert!(!html.contains("busy") && !html.contains(">open<"), "{html}");
    assert!(html.contains(r#"<ol class="fx-list"><li class="fx-list-item" data-fx-key="Dune">Dune</li><li class="fx-list-item" data-fx-key="Emma">Emma</li></ol>"#), "{html}");
    assert!(html.contains(r#"<code class="fx-code">a</code><code class="fx-code">b</code>"#), "{html}");
    assert!(html.contains(r#"<div class="fx-box shut" title="3 of 2" style="color:red">boxed</div>"#), "{html}");
    assert!(html.contains(r#"<div class="fx-vstack card" id="c1">in a card</div>"#), "{html}");
    assert!(html.ends_with(r#"a node</div><p class="fx-text">second root</p>"#), "{html}");

    let open = page(&Library { open: true, ..s }).to_html();
    assert!(open.contains(r#"<p class="fx-text">open</p>"#), "{open}");
    assert!(!open.contains("closed"), "{open}");
}
