use ferrex::prelude::*;

fn main() {
    let _ = ui! { button("Get", on_click = download(url = "/report", filename = 5)) };
}
