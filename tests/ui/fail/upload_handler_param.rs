use ferrex::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Files {
    names: Vec<String>,
}

#[event]
impl Files {
    fn save(&mut self, files: String) {
        self.names.push(files);
    }
}

fn main() {
    let _ = ui! {
        upload(id = "f"),
        button("Upload", on_click = Files::save(upload_files("f"))),
    };
}
