//! Multipart bodies for `POST /_ferrex/upload`, as the browser runtime sends them.

use reqwest::multipart::{Form, Part};
use serde_json::json;

/// The `event` field of an upload from page `/`: handler `h` with the files of `zone`,
/// then one bound argument if given.
pub fn upload_event(h: &str, zone: &str, bound: Option<u64>) -> String {
    let mut args = vec![json!({ "$upload": zone })];
    args.extend(bound.map(|b| json!(b)));
    json!({ "page": "/", "h": h, "args": args, "zone": zone }).to_string()
}

/// A multipart form: the `event` field, then one `file` part per `(name, type, bytes)`.
pub fn upload_form(event: String, files: &[(&str, &str, &[u8])]) -> Form {
    let mut form = Form::new().text("event", event);
    for (name, content_type, bytes) in files {
        let part = Part::bytes(bytes.to_vec())
            .file_name((*name).to_owned())
            .mime_str(content_type)
            .expect("a valid content type");
        form = form.part("file", part);
    }
    form
}

/// Like [`upload_form`], with every file sent as `content_type`.
pub fn upload_form_as(event: String, content_type: &str, files: &[(&str, &[u8])]) -> Form {
    let files: Vec<(&str, &str, &[u8])> = files
        .iter()
        .map(|(name, bytes)| (*name, content_type, *bytes))
        .collect();
    upload_form(event, &files)
}
