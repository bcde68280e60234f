//! The HTML of every built-in component, built through `ui!` as a page would build it:
//! tags, classes, attributes, event attributes, and escaping of everything a user supplies.

use ferrex::icons::IconName;
use ferrex::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Files {
    names: Vec<String>,
    note: String,
}

#[event]
impl Files {
    fn handle(&mut self, files: Vec<UploadFile>) {
        self.names = files.into_iter().map(|f| f.name).collect();
    }
    fn refused(&mut self, files: Vec<RejectedFile>) {
        self.names = files.into_iter().map(|f| f.reason).collect();
    }
    fn note(&mut self, text: String) {
        self.note = text;
    }
    fn pick(&mut self, index: u32, label: String, starred: bool) {
        self.note = format!("{index} {label} {starred}");
    }
}

fn html(node: Node) -> String {
    node.to_html()
}

// ---------------------------------------------------------------------------------------
// Components.

#[test]
fn fragment_renders_its_children_and_no_element_of_its_own() {
    assert_eq!(
        html(ui! { fragment("a", text("b"), 3) }),
        r#"a<p class="fx-text">b</p>3"#
    );
    assert_eq!(html(ui! { fragment() }), "");
}

#[test]
fn layout_containers_are_divs_with_their_class() {
    assert_eq!(html(ui! { box("x") }), r#"<div class="fx-box">x</div>"#);
    assert_eq!(
        html(ui! { vstack("a", "b") }),
        r#"<div class="fx-vstack">ab</div>"#
    );
    assert_eq!(
        html(ui! { hstack("a") }),
        r#"<div class="fx-hstack">a</div>"#
    );
    assert_eq!(
        html(ui! { center("a") }),
        r#"<div class="fx-center">a</div>"#
    );
    assert_eq!(
        html(ui! { container("a") }),
        r#"<div class="fx-container">a</div>"#
    );
}

#[test]
fn stack_gap_align_and_style_all_apply() {
    assert_eq!(
        html(ui! { vstack("a", gap = "1rem", align = "center", style = "color:red") }),
        r#"<div class="fx-vstack" style="gap:1rem;align-items:center;color:red">a</div>"#
    );
    assert_eq!(
        html(ui! { hstack("a", style = "color:red;", gap = "2px", wrap = true) }),
        r#"<div class="fx-hstack fx-wrap" style="color:red;gap:2px">a</div>"#
    );
    assert_eq!(
        html(ui! { hstack("a", wrap = false) }),
        r#"<div class="fx-hstack">a</div>"#
    );
}

#[test]
fn heading_is_h2_by_default_and_levels_are_clamped_to_1_through_6() {
    assert_eq!(
        html(ui! { heading("T") }),
        r#"<h2 class="fx-heading">T</h2>"#
    );
    for level in 1..=6u8 {
        assert_eq!(
            html(ui! { heading("T", level = level) }),
            format!(r#"<h{level} class="fx-heading">T</h{level}>"#)
        );
    }
    assert_eq!(
        html(ui! { heading("T", level = 0) }),
        r#"<h1 class="fx-heading">T</h1>"#
    );
    assert_eq!(
        html(ui! { heading("T", level = 9) }),
        r#"<h6 class="fx-heading">T</h6>"#
    );
}

#[test]
fn text_and_code_render_paragraphs_and_inline_code() {
    assert_eq!(
        html(ui! { text("Hello ", "world") }),
        r#"<p class="fx-text">Hello world</p>"#
    );
    assert_eq!(
        html(ui! { code("x < y") }),
        r#"<code class="fx-code">x &lt; y</code>"#
    );
}

#[test]
fn link_has_its_href_and_an_external_link_opens_a_new_tab_without_an_opener() {
    assert_eq!(
        html(ui! { link("Home", href = "/") }),
        r#"<a class="fx-link" href="/">Home</a>"#
    );
    assert_eq!(
        html(ui! { link("Rust", href = "https://www.rust-lang.org", external = true) }),
        r#"<a class="fx-link" href="https://www.rust-lang.org" target="_blank" rel="noopener noreferrer">Rust</a>"#
    );
    assert_eq!(
        html(ui! { link("Here", href = "/here", external = false) }),
        r#"<a class="fx-link" href="/here">Here</a>"#
    );
}

#[test]
fn button_is_type_button_and_solid_by_default() {
    assert_eq!(
        html(ui! { button("Go") }),
        r#"<button class="fx-button fx-button-solid" type="button">Go</button>"#
    );
}

#[test]
fn button_variants_set_their_class() {
    let cases = [
        (Variant::Solid, "solid"),
        (Variant::Soft, "soft"),
        (Variant::Outline, "outline"),
        (Variant::Ghost, "ghost"),
        (Variant::Danger, "danger"),
    ];
    for (variant, name) in cases {
        assert_eq!(
            html(ui! { button("Go", variant = variant) }),
            format!(r#"<button class="fx-button fx-button-{name}" type="button">Go</button>"#)
        );
    }
    assert_eq!(
        html(ui! { button("Go", variant = Variant::Ghost, class = "wide") }),
        r#"<button class="fx-button fx-button-ghost wide" type="button">Go</button>"#
    );
}

#[test]
fn button_disabled_and_submit() {
    assert_eq!(
        html(ui! { button("Go", disabled = true) }),
        r#"<button class="fx-button fx-button-solid" type="button" disabled>Go</button>"#
    );
    assert_eq!(
        html(ui! { button("Go", disabled = false) }),
        r#"<button class="fx-button fx-button-solid" type="button">Go</button>"#
    );
    assert_eq!(
        html(ui! { button("Send", submit = true) }),
        r#"<button class="fx-button fx-button-solid" type="submit">Send</button>"#
    );
    assert_eq!(
        html(ui! { button("Send", submit = false) }),
        r#"<button class="fx-button fx-button-solid" type="button">Send</button>"#
    );
}

#[test]
fn icon_renders_its_built_in_svg_hidden_from_screen_readers() {
    let expected = format!(
        r#"<span class="fx-icon" aria-hidden="true">{}</span>"#,
        IconName::Upload.svg()
    );
    assert_eq!(html(ui! { icon("upload") }), expected);
    for name in ferrex::icons::ICON_NAMES {
        let svg = IconName::parse(name)
            .expect("every listed name parses")
            .svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{name}");
    }
}

#[test]
fn the_icon_names_the_macro_checks_are_the_icons_core_draws() {
    let from_macro: &[&str] = ferrex::__icon_names!();
    assert_eq!(from_macro, ferrex::icons::ICON_NAMES);
    for name in from_macro {
        assert!(
            ferrex::icons::IconName::parse(name).is_some(),
            "`{name}` has no SVG"
        );
    }
}

#[test]
fn an_icon_name_only_known_at_run_time_may_be_unknown_and_shows_a_square() {
    let name = String::from("nope");
    let out = html(ui! { icon(name.as_str()) });
    assert!(
        out.starts_with(r#"<span class="fx-icon" aria-hidden="true"><svg"#),
        "{out}"
    );
    assert!(out.contains("<rect"), "{out}");
}

#[test]
fn image_is_a_void_element_with_its_attributes() {
    assert_eq!(
        html(ui! { image(src = "/a.png", alt = "A", width = 10, height = 20) }),
        r#"<img class="fx-image" src="/a.png" alt="A" width="10" height="20" style="aspect-ratio:10/20">"#
    );
}

#[test]
fn input_is_a_text_input_with_its_attributes() {
    assert_eq!(
        html(ui! { input() }),
        r#"<input class="fx-input" type="text">"#
    );
    assert_eq!(
        html(
            ui! { input(value = "v", placeholder = "Name", name = "n", kind = "email", disabled = true) }
        ),
        r#"<input class="fx-input" type="email" value="v" placeholder="Name" name="n" disabled>"#
    );
}

#[test]
fn progress_has_a_max_of_100_unless_told() {
    assert_eq!(
        html(ui! { progress(value = 30) }),
        r#"<progress class="fx-progress" max="100" value="30" data-fx-percent="30%"></progress>"#
    );
    assert_eq!(
        html(ui! { progress(value = 0.25, max = 1) }),
        r#"<progress class="fx-progress" max="1" value="0.25" data-fx-percent="25%"></progress>"#
    );
}

#[test]
fn progress_labels_its_percentage_whatever_the_order_of_its_props() {
    assert!(html(ui! { progress(max = 8, value = 2) }).contains(r#"data-fx-percent="25%""#));
    assert!(html(ui! { progress(value = 0) }).contains(r#"data-fx-percent="0%""#));
    // Out of range is clamped as the bar is; without a value the bar is indeterminate.
    assert!(html(ui! { progress(value = 250) }).contains(r#"data-fx-percent="100%""#));
    assert!(html(ui! { progress(value = -3, max = 0) }).contains(r#"data-fx-percent="0%""#));
    assert!(!html(ui! { progress(max = 10) }).contains("data-fx-percent"));
}

#[test]
fn an_image_with_both_sizes_keeps_their_ratio() {
    assert_eq!(
        html(ui! { image(src = "/a.png", width = 120, height = 90) }),
        r#"<img class="fx-image" src="/a.png" width="120" height="90" style="aspect-ratio:120/90">"#
    );
    assert!(!html(ui! { image(src = "/a.png", height = 90) }).contains("aspect-ratio"));
}

#[test]
fn list_is_unordered_unless_ordered() {
    assert_eq!(
        html(ui! { list(list_item("a"), list_item("b")) }),
        r#"<ul class="fx-list"><li class="fx-list-item">a</li><li class="fx-list-item">b</li></ul>"#
    );
    assert_eq!(
        html(ui! { list(list_item("a"), ordered = true) }),
        r#"<ol class="fx-list"><li class="fx-list-item">a</li></ol>"#
    );
    assert_eq!(
        html(ui! { list(ordered = false) }),
        r#"<ul class="fx-list"></ul>"#
    );
}

#[test]
fn common_props_render_as_attributes() {
    assert_eq!(
        html(
            ui! { text("t", id = "i", class = "a b", style = "s", key = "k", title = "T", aria_label = "L") }
        ),
        r#"<p class="fx-text a b" id="i" style="s" data-fx-key="k" title="T" aria-label="L">t</p>"#
    );
}

#[test]
fn upload_with_every_prop() {
    let out = html(ui! {
        upload(
            text("Drop photos"),
            id = "photos",
            multiple = true,
            accept = [".png", "image/*"],
            max_files = 2,
            max_size = 1024,
            min_size = 1,
            disabled = true,
            no_click = true,
            no_drag = true,
            no_keyboard = true,
            on_drop = Files::handle,
            on_drop_rejected = Files::refused,
            class = "zone",
            style = "min-height:4rem",
            aria_label = "Photos",
        )
    });
    let expected = concat!(
        r#"<div class="fx-upload zone" role="button" tabindex="0" style="min-height:4rem" aria-label="Photos" id="photos" aria-disabled="true""#,
        r#" data-fx-upload="{&quot;multiple&quot;:true,&quot;accept&quot;:[&quot;.png&quot;,&quot;image/*&quot;],&quot;max_files&quot;:2,&quot;max_size&quot;:1024,&quot;min_size&quot;:1,&quot;disabled&quot;:true,&quot;no_click&quot;:true,&quot;no_drag&quot;:true,&quot;no_keyboard&quot;:true}""#,
        r#" data-fx-drop="[{&quot;t&quot;:&quot;upload&quot;,&quot;id&quot;:&quot;photos&quot;,&quot;h&quot;:&quot;Files.handle&quot;,&quot;args&quot;:[{&quot;$upload&quot;:&quot;photos&quot;}],&quot;progress&quot;:null}]""#,
        r#" data-fx-drop-rejected="[{&quot;t&quot;:&quot;event&quot;,&quot;h&quot;:&quot;Files.refused&quot;,&quot;args&quot;:[{&quot;$rejected&quot;:true}]}]">"#,
        r#"<input class="fx-upload-input" type="file" hidden tabindex="-1" multiple accept=".png,image/*">"#,
        r#"<p class="fx-text">Drop photos</p>"#,
        "</div>",
    );
    assert_eq!(out, expected);
}

#[test]
fn upload_without_props_is_a_single_file_zone_named_default() {
    assert_eq!(
        html(ui! { upload("Drop") }),
        concat!(
            r#"<div class="fx-upload" role="button" tabindex="0" id="default" aria-label="Upload files""#,
            r#" data-fx-upload="{&quot;multiple&quot;:false,&quot;accept&quot;:[],&quot;max_files&quot;:null,&quot;max_size&quot;:null,&quot;min_size&quot;:null,&quot;disabled&quot;:false,&quot;no_click&quot;:false,&quot;no_drag&quot;:false,&quot;no_keyboard&quot;:false}">"#,
            r#"<input class="fx-upload-input" type="file" hidden tabindex="-1">"#,
            "Drop</div>",
        )
    );
}

#[test]
fn selected_files_names_its_drop_zone() {
    assert_eq!(
        html(ui! { selected_files("photos") }),
        r#"<div class="fx-selected-files" data-fx-selected-files="photos" aria-live="polite"></div>"#
    );
    assert_eq!(
        html(ui! { selected_files(id = "docs") }),
        r#"<div class="fx-selected-files" data-fx-selected-files="docs" aria-live="polite"></div>"#
    );
}

// ---------------------------------------------------------------------------------------
// Escaping.

const NASTY: &str = r#"<script>alert("x")</script>"#;
const NASTY_ESCAPED: &str = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;";

#[test]
fn text_from_users_is_escaped() {
    assert_eq!(
        html(ui! { text(NASTY) }),
        format!(r#"<p class="fx-text">{NASTY_ESCAPED}</p>"#)
    );
    let owned = NASTY.to_owned();
    assert_eq!(
        html(ui! { fragment(owned, " & ", '<') }),
        format!("{NASTY_ESCAPED} &amp; &lt;")
    );
}

#[test]
fn attribute_values_from_users_are_escaped() {
    assert_eq!(
        html(
            ui! { link("x", href = "/a?q=\"><script>", title = NASTY, class = "a\" onclick=\"b") }
        ),
        format!(
            r#"<a class="fx-link a&quot; onclick=&quot;b" href="/a?q=&quot;&gt;&lt;script&gt;" title="{NASTY_ESCAPED}">x</a>"#
        )
    );
    assert_eq!(
        html(ui! { input(value = NASTY) }),
        format!(r#"<input class="fx-input" type="text" value="{NASTY_ESCAPED}">"#)
    );
}

#[test]
fn handler_arguments_in_event_json_are_escaped() {
    let out = html(ui! {
        button("x", on_click = Files::note("\"</script><script>alert(1)</script>"))
    });
    assert_eq!(
        out,
        concat!(
            r#"<button class="fx-button fx-button-solid" type="button" data-fx-click="[{&quot;t&quot;:&quot;event&quot;,&quot;h&quot;:&quot;Files.note&quot;,"#,
            r#"&quot;args&quot;:[&quot;\&quot;&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;]}]">x</button>"#
        )
    );
    assert!(!out.contains("<script>"));
}

// ---------------------------------------------------------------------------------------
// Event attributes.

#[test]
fn a_handler_reference_with_arguments_carries_them_as_json() {
    let label = String::from("café");
    assert_eq!(
        html(ui! { button("Pick", on_click = Files::pick(7, &label, true)) }),
        concat!(
            r#"<button class="fx-button fx-button-solid" type="button" data-fx-click="[{&quot;t&quot;:&quot;event&quot;,"#,
            r#"&quot;h&quot;:&quot;Files.pick&quot;,&quot;args&quot;:[7,&quot;café&quot;,true]}]">Pick</button>"#
        )
    );
    // Borrowed, not moved: the page can still use it.
    assert_eq!(label, "café");
}

#[test]
fn a_download_carries_its_url_and_filename() {
    assert_eq!(
        html(
            ui! { button("Get", on_click = download(url = "/files/report", filename = "report.pdf")) }
        ),
        concat!(
            r#"<button class="fx-button fx-button-solid" type="button" data-fx-click="[{&quot;t&quot;:&quot;download&quot;,"#,
            r#"&quot;url&quot;:&quot;/files/report&quot;,&quot;filename&quot;:&quot;report.pdf&quot;}]">Get</button>"#
        )
    );
    assert!(
        html(ui! { link("Get", on_click = download(url = "/files/report")) })
            .contains(r#"data-fx-click="[{&quot;t&quot;:&quot;download&quot;,&quot;url&quot;:&quot;/files/report&quot;,&quot;filename&quot;:null}]""#)
    );
}

#[test]
fn download_data_travels_in_the_page_as_base64() {
    let csv = String::from("a,b\n1,2\n");
    let rows: Vec<i64> = vec![1, 2];
    let out = html(ui! {
        fragment(
            button("CSV", on_click = download(data = csv, filename = "t.csv")),
            button("JSON", on_click = download(data = rows)),
        )
    });
    // "a,b\n1,2\n" and "[\n  1,\n  2\n]" in base64.
    assert!(
        out.contains(r#"{&quot;t&quot;:&quot;download&quot;,&quot;data&quot;:&quot;YSxiCjEsMgo=&quot;,&quot;filename&quot;:&quot;t.csv&quot;,&quot;type&quot;:&quot;text/csv&quot;}"#),
        "{out}"
    );
    assert!(
        out.contains(r#"{&quot;t&quot;:&quot;download&quot;,&quot;data&quot;:&quot;WwogIDEsCiAgMgpd&quot;,&quot;filename&quot;:&quot;data.json&quot;,&quot;type&quot;:&quot;application/json&quot;}"#),
        "{out}"
    );
}

#[test]
fn clearing_and_cancelling_name_the_drop_zone() {
    assert_eq!(
        html(ui! { button("Clear", on_click = clear_selected_files("photos")) }),
        r#"<button class="fx-button fx-button-solid" type="button" data-fx-click="[{&quot;t&quot;:&quot;clear_selected_files&quot;,&quot;id&quot;:&quot;photos&quot;}]">Clear</button>"#
    );
    assert_eq!(
        html(ui! { button("Stop", on_click = cancel_upload("photos")) }),
        r#"<button class="fx-button fx-button-solid" type="button" data-fx-click="[{&quot;t&quot;:&quot;cancel_upload&quot;,&quot;id&quot;:&quot;photos&quot;}]">Stop</button>"#
    );
}

#[test]
fn several_client_actions_on_one_event_run_in_order() {
    let out = html(ui! {
        button("Reset", on_click = (cancel_upload("photos"), clear_selected_files("photos")))
    });
    assert!(
        out.contains(r#"data-fx-click="[{&quot;t&quot;:&quot;cancel_upload&quot;,&quot;id&quot;:&quot;photos&quot;},{&quot;t&quot;:&quot;clear_selected_files&quot;,&quot;id&quot;:&quot;photos&quot;}]""#),
        "{out}"
    );
}

#[test]
fn on_drop_with_a_bare_handler_uploads_to_it_from_its_own_zone() {
    let out = html(ui! { upload(id = "docs", on_drop = Files::handle) });
    assert!(
        out.contains(r#"data-fx-drop="[{&quot;t&quot;:&quot;upload&quot;,&quot;id&quot;:&quot;docs&quot;,&quot;h&quot;:&quot;Files.handle&quot;,&quot;args&quot;:[{&quot;$upload&quot;:&quot;docs&quot;}],&quot;progress&quot;:null}]""#),
        "{out}"
    );
}

#[test]
fn upload_limits_are_read_back_from_the_rendered_page() {
    let page = ui! {
        vstack(
            text("Photos"),
            upload(id = "photos", multiple = true, max_files = 2, max_size = 1024, min_size = 1, accept = ".png"),
            upload(id = "one"),
        )
    };
    let photos = page
        .upload_limits("photos")
        .expect("zone `photos` is on the page");
    assert!(photos.multiple);
    assert_eq!(photos.max_files, Some(2));
    assert_eq!(photos.max_size, Some(1024));
    assert_eq!(photos.min_size, Some(1));
    assert_eq!(photos.accept, [".png"]);
    assert_eq!(photos.file_count_limit(), 2);

    let one = page
        .upload_limits("one")
        .expect("zone `one` is on the page");
    assert!(!one.multiple);
    assert_eq!(one.file_count_limit(), 1);

    assert!(page.upload_limits("missing").is_none());
}
