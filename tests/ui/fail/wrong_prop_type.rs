use ferrex::prelude::*;

fn main() {
    let _ = ui! { button("Go", disabled = "yes") };
}
