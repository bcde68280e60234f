use ferrex::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    count: i64,
    label: String,
}

#[event]
impl Counter {
    fn add(&mut self, by: i64) {
        self.count += by;
    }
    fn rename(&mut self, label: &str) {
        self.label = label.to_owned();
    }
}

fn page(c: &Counter) -> Node {
    ui! {
        vstack(
            text(c.label.as_str()),
            button("+1", on_click = Counter::add(1)),
            button("Rename", on_click = Counter::rename("total")),
        )
    }
}

fn main() {
    let _app = App::new().page("/", page);
}
