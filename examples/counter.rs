//! A counter, a text input bound to state, and a list: `cargo run --example counter`.
//! Copied into a crate of its own, it needs only `ferrex` in `[dependencies]`.

use ferrex::prelude::*;

#[state]
#[derive(Default)]
struct Counter {
    count: i64,
    draft: String,
    items: Vec<String>,
}

#[event]
impl Counter {
    fn add(&mut self, by: i64) {
        self.count += by;
    }

    fn reset(&mut self) {
        self.count = 0;
    }

    fn set_draft(&mut self, text: String) {
        self.draft = text;
    }

    fn add_item(&mut self) -> Result<(), String> {
        let item = self.draft.trim().to_owned();
        if item.is_empty() {
            return Err("Type something first.".into());
        }
        self.items.push(item);
        self.draft.clear();
        Ok(())
    }

    fn remove(&mut self, index: usize) {
        if index < self.items.len() {
            self.items.remove(index);
        }
    }
}

fn index(s: &Counter) -> Node {
    ui! {
        container(
            vstack(
                heading("Counter", level = 1),
                text(s.count, id = "count", style = "font-size:2.5rem;font-weight:700"),
                hstack(
                    button("−1", on_click = Counter::add(-1), variant = Variant::Outline, id = "dec"),
                    button("+1", on_click = Counter::add(1), id = "inc"),
                    button("Reset", on_click = Counter::reset, variant = Variant::Ghost, id = "reset"),
                ),
                heading("List", level = 2),
                hstack(
                    input(value = &s.draft, placeholder = "New item", on_input = Counter::set_draft, id = "draft"),
                    button("Add", on_click = Counter::add_item, id = "add"),
                ),
                list(
                    for (i, item) in s.items.iter().enumerate() {
                        list_item(
                            item, " ",
                            button(icon("x"), variant = Variant::Ghost, aria_label = "Remove",
                                   on_click = Counter::remove(i)),
                            key = format!("{i}-{item}"),
                        )
                    },
                    id = "items",
                ),
            ),
        )
    }
}

/// The app.
pub fn app() -> App {
    App::new().title("ferrex · Counter").page("/", index)
}

#[allow(dead_code)]
#[ferrex::main]
fn main() -> App {
    app()
}
