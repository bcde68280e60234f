use ferrex::prelude::*;

fn main() {
    let _ = ui! { button("Get", on_click = download(url = "/report", data = "1,2,3")) };
}
