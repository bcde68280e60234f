use ferrex::prelude::*;

fn index() -> Node {
    ui! { text("Hello") }
}

#[ferrex::main]
fn main() {
    let _ = App::new().page("/", index);
}
