//! Handler references in every form: bare, with literal, borrowed and `&str` arguments,
//! bare on `on_input`/`on_change`/`on_drop`/`on_drop_rejected`, and with upload files and
//! upload progress as arguments.

use ferrex::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Shop {
    name: String,
    count: i64,
    agreed: bool,
    saved: Vec<String>,
    fraction: f64,
}

#[event]
impl Shop {
    fn add(&mut self, by: i64) {
        self.count += by;
    }
    fn reset(&mut self) {
        self.count = 0;
    }
    fn rename(&mut self, name: String) {
        self.name = name;
    }
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
    fn agree(&mut self, agreed: bool) {
        self.agreed = agreed;
    }
    fn tag(&mut self, label: String, times: u32) {
        self.name = label.repeat(times as usize);
    }
    async fn save(&mut self, files: Vec<UploadFile>) {
        self.saved = files.into_iter().map(|f| f.name).collect();
    }
    fn progress(&mut self, p: UploadProgress) {
        self.fraction = p.fraction;
    }
    fn handle(&mut self, files: Vec<UploadFile>) {
        self.saved = files.into_iter().map(|f| f.name).collect();
    }
    fn refused(&mut self, files: Vec<RejectedFile>) {
        self.saved = files.into_iter().map(|f| f.reason).collect();
    }
}

fn page(s: &Shop) -> Node {
    ui! {
        vstack(
            button("+1", on_click = Shop::add(1)),
            button("Reset", on_click = Shop::reset, variant = Variant::Danger),
            button("Same name", on_click = Shop::rename(&s.name)),
            button("Literal name", on_click = Shop::rename("Bob")),
            button("Tag", on_click = Shop::tag("x", 3)),
            input(value = &s.name, on_input = Shop::set_name, placeholder = "Name"),
            input(kind = "checkbox", on_change = Shop::agree),
            upload(
                text("Drop files here"),
                id = "files",
                multiple = true,
                accept = [".png", "image/*", "text/csv"],
                max_files = 3,
                max_size = 5 * 1024 * 1024,
                min_size = 1u32,
                disabled = false,
                no_click = false,
                no_drag = false,
                no_keyboard = true,
                on_drop = Shop::handle,
                on_drop_rejected = Shop::refused,
                class = "zone",
                style = "min-height:4rem",
                aria_label = "Your files",
            ),
            selected_files("files"),
            button("Upload", on_click = Shop::save(upload_files("files", on_upload_progress = Shop::progress))),
            button("Plain upload", on_click = Shop::save(upload_files("files"))),
            button("Clear", on_click = clear_selected_files("files")),
            button("Cancel", on_click = cancel_upload("files")),
            text(s.name.as_str()),
        )
    }
}

fn main() {
    let s = Shop {
        name: "Ann".into(),
        ..Shop::default()
    };
    let node = page(&s);
    let html = node.to_html();
    for expected in [
        r#"data-fx-click="[{&quot;t&quot;:&quot;event&quot;,&quot;h&quot;:&quot;Shop.add&quot;,&quot;args&quot;:[1]}]""#,
        r#"&quot;h&quot;:&quot;Shop.reset&quot;,&quot;args&quot;:[]"#,
        r#"&quot;h&quot;:&quot;Shop.rename&quot;,&quot;args&quot;:[&quot;Ann&quot;]"#,
        r#"&quot;h&quot;:&quot;Shop.rename&quot;,&quot;args&quot;:[&quot;Bob&quot;]"#,
        r#"&quot;h&quot;:&quot;Shop.tag&quot;,&quot;args&quot;:[&quot;x&quot;,3]"#,
        r#"data-fx-input="[{&quot;t&quot;:&quot;event&quot;,&quot;h&quot;:&quot;Shop.set_name&quot;,&quot;args&quot;:[{&quot;$value&quot;:true}]}]""#,
        r#"data-fx-change="[{&quot;t&quot;:&quot;event&quot;,&quot;h&quot;:&quot;Shop.agree&quot;,&quot;args&quot;:[{&quot;$value&quot;:true}]}]""#,
        r#"data-fx-drop="[{&quot;t&quot;:&quot;upload&quot;,&quot;id&quot;:&quot;files&quot;,&quot;h&quot;:&quot;Shop.handle&quot;,&quot;args&quot;:[{&quot;$upload&quot;:&quot;files&quot;}],&quot;progress&quot;:null}]""#,
        r#"&quot;h&quot;:&quot;Shop.refused&quot;,&quot;args&quot;:[{&quot;$rejected&quot;:true}]"#,
        r#"{&quot;t&quot;:&quot;upload&quot;,&quot;id&quot;:&quot;files&quot;,&quot;h&quot;:&quot;Shop.save&quot;,&quot;args&quot;:[{&quot;$upload&quot;:&quot;files&quot;}],&quot;progress&quot;:&quot;Shop.progress&quot;}"#,
        r#"&quot;progress&quot;:null"#,
        r#"{&quot;t&quot;:&quot;clear_selected_files&quot;,&quot;id&quot;:&quot;files&quot;}"#,
        r#"{&quot;t&quot;:&quot;cancel_upload&quot;,&quot;id&quot;:&quot;files&quot;}"#,
        r#"<div class="fx-selected-files" data-fx-selected-files="files" aria-live="polite"></div>"#,
        r#"class="fx-upload zone""#,
        r#"aria-label="Your files""#,
        r#"accept=".png,image/*,text/csv""#,
        r#"<p class="fx-text">Ann</p>"#,
    ] {
        assert!(html.contains(expected), "missing {expected}\nin {html}");
    }
    let limits = node.upload_limits("files").expect("the zone is on the page");
    assert!(limits.multiple && limits.no_keyboard && !limits.disabled);
    assert_eq!(limits.max_files, Some(3));
    assert_eq!(limits.max_size, Some(5 * 1024 * 1024));
    assert_eq!(limits.min_size, Some(1));
    assert_eq!(limits.accept, [".png", "image/*", "text/csv"]);
}
