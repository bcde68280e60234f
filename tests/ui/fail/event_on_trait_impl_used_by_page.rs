use ferrex::prelude::*;

#[derive(Serialize, Deserialize)]
struct Counter {
    count: i64,
}

#[event]
impl Default for Counter {
    fn default() -> Self {
        Counter { count: 1 }
    }
}

fn page(c: &Counter) -> Node {
    ui! { text(c.count.to_string()) }
}

fn main() {
    let _app = App::new().page("/", page);
}
