use ferrex::prelude::*;

fn main() {
    let _ = ui! { upload(id = "f", accept = ["png"]) };
}
