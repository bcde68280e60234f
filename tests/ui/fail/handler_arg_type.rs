use ferrex::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    count: i64,
}

#[event]
impl Counter {
    fn add(&mut self, by: i64) {
        self.count += by;
    }
}

fn main() {
    let _ = ui! { button("+1", on_click = Counter::add("one")) };
}
