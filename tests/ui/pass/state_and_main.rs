//! `#[state]` before or after `#[derive(Default)]`, with serde attributes of its own, and
//! an `async` `#[ferrex::main]` (under another name, so this check's own `main` can end).

use ferrex::prelude::*;

#[state]
#[derive(Default)]
struct Before {
    count: i64,
}

#[derive(Default)]
#[state]
struct After {
    #[serde(default)]
    label: String,
}

#[event]
impl Before {
    fn add(&mut self, by: i64) {
        self.count += by;
    }
}

#[event]
impl After {
    fn rename(&mut self, label: String) {
        self.label = label;
    }
}

fn index(before: &Before, after: &After) -> Node {
    ui! {
        vstack(
            text(before.count, " ", &after.label),
            button("+1", on_click = Before::add(1)),
            input(value = &after.label, on_input = After::rename),
        )
    }
}

#[allow(dead_code)]
#[ferrex::main]
async fn serve_it() -> App {
    let title = async { "ferrex".to_owned() }.await;
    App::new().title(title).page("/", index)
}

fn main() {
    let html = index(&Before { count: 2 }, &After { label: "x".into() }).to_html();
    assert!(html.contains("2 x"), "{html}");
}
