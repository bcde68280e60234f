use ferrex::prelude::*;

fn main() {
    let _ = ui! { image("x") };
}
