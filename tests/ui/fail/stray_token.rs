use ferrex::prelude::*;

fn main() {
    let _ = ui! { vstack(text("a"), @) };
}
