use ferrex::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Tally<T> {
    items: Vec<T>,
}

#[event]
impl<T: Default> Tally<T> {
    fn push(&mut self, item: T) {
        self.items.push(item);
    }
}

fn page(t: &Tally<i64>) -> Node {
    ui! { text(t.items.len().to_string()) }
}

fn main() {
    let _app = App::new().page("/", page);
}
