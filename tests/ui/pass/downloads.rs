//! `download(…)` in every form: a URL (an asset that exists), a URL with a file name, text
//! data, and a value that is neither text nor bytes (sent as JSON).

use ferrex::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Notes {
    text: String,
    items: Vec<String>,
    report: String,
}

fn page(s: &Notes) -> Node {
    let name = "notes.txt";
    ui! {
        hstack(
            button("Banner", on_click = download(url = "/banner.png")),
            button("Report", on_click = download(url = &s.report, filename = "report.pdf")),
            button("Page", on_click = download(url = "/reports/latest", filename = "latest.html")),
            button("Notes", on_click = download(data = s.text, filename = name)),
            button("Items", on_click = download(data = s.items, filename = "items.json")),
            link("Banner", href = "/banner.png"),
        )
    }
}

fn main() {
    let s = Notes {
        text: "hi".into(),
        items: vec!["a".into(), "b".into()],
        report: "/files/r.pdf".into(),
    };
    let html = page(&s).to_html();
    for expected in [
        r#"[{&quot;t&quot;:&quot;download&quot;,&quot;url&quot;:&quot;/banner.png&quot;,&quot;filename&quot;:null}]"#,
        r#"[{&quot;t&quot;:&quot;download&quot;,&quot;url&quot;:&quot;/files/r.pdf&quot;,&quot;filename&quot;:&quot;report.pdf&quot;}]"#,
        r#"&quot;url&quot;:&quot;/reports/latest&quot;,&quot;filename&quot;:&quot;latest.html&quot;"#,
        // "hi" in base64, as text/plain.
        r#"[{&quot;t&quot;:&quot;download&quot;,&quot;data&quot;:&quot;aGk=&quot;,&quot;filename&quot;:&quot;notes.txt&quot;,&quot;type&quot;:&quot;text/plain"#,
        // `["a", "b"]` as pretty JSON, in base64.
        r#"&quot;data&quot;:&quot;WwogICJhIiwKICAiYiIKXQ==&quot;,&quot;filename&quot;:&quot;items.json&quot;,&quot;type&quot;:&quot;application/json&quot;"#,
        r#"<a class="fx-link" href="/banner.png">Banner</a>"#,
    ] {
        assert!(html.contains(expected), "missing {expected}\nin {html}");
    }
}
