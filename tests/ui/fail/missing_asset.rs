use ferrex::prelude::*;

fn main() {
    let _ = ui! { link("Logo", href = "/missing.png") };
}
