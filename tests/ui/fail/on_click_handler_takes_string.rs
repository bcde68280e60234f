use ferrex::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Form {
    name: String,
}

#[event]
impl Form {
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
}

fn main() {
    let _ = ui! { button("Save", on_click = Form::set_name) };
}
