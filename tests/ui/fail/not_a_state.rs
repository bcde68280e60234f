use ferrex::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct NotState {
    count: i64,
}

impl NotState {
    fn go(&mut self) {
        self.count += 1;
    }
}

fn main() {
    let mut s = NotState::default();
    s.go();
    let _ = ui! { button("Go", on_click = NotState::go) };
}
