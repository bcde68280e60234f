use ferrex::prelude::*;

fn main() {
    let _ = ui! { link("Home", href = 5) };
}
