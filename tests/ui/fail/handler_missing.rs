use ferrex::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    count: i64,
}

#[event]
impl Counter {
    fn reset(&mut self) {
        self.count = 0;
    }
}

fn main() {
    let _ = ui! { button("Reset", on_click = Counter::resett) };
}
