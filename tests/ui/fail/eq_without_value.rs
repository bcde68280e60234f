use ferrex::prelude::*;

fn main() {
    let _ = ui! { button("Go", on_click = ) };
}
