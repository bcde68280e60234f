use ferrex::prelude::*;

fn main() {
    let _ = ui! { icon("uplod") };
}
