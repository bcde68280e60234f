//! ferrex-wire: the facts the macros, the core, the server and the browser runtime
//! (`server/assets/runtime.js`) must agree on, each defined once. It has no dependencies,
//! so the proc-macro crate can use it as well; a test checks runtime.js against it.

/// The prefix of every URL ferrex itself answers.
pub const PREFIX: &str = "/_ferrex/";
/// The browser runtime.
pub const RUNTIME_PATH: &str = "/_ferrex/runtime.js";
/// The default stylesheet.
pub const STYLE_PATH: &str = "/_ferrex/style.css";
/// The event WebSocket.
pub const WS_PATH: &str = "/_ferrex/ws";
/// Events over HTTP.
pub const EVENT_PATH: &str = "/_ferrex/event";
/// Uploads (multipart POST).
pub const UPLOAD_PATH: &str = "/_ferrex/upload";
/// Uploaded files, served back under this path (`/_ferrex/uploads/<name>`).
pub const UPLOADS_PATH: &str = "/_ferrex/uploads";
/// Generated downloads, parked behind one-time tokens (`/_ferrex/download/<token>`).
pub const DOWNLOAD_PREFIX: &str = "/_ferrex/download/";
/// What a page whose socket dropped asks: is its session still known, and which start of
/// the server answers (`GET`, JSON).
pub const SESSION_PATH: &str = "/_ferrex/session";
/// Any same-origin URL answered as an attachment (`/_ferrex/file?url=…&filename=…`).
pub const FILE_PATH: &str = "/_ferrex/file";
/// Resumable uploads over tus 1.0: `POST` here creates one, each lives at `<this>/<id>`.
pub const TUS_PATH: &str = "/_ferrex/tus";
/// Hands finished tus uploads to the handler, as one batch (`POST`, JSON).
pub const UPLOAD_FINISH_PATH: &str = "/_ferrex/upload/finish";
/// Where the runtime asks for a presigned POST to send one file of a `direct` zone straight
/// to the S3 file store (`POST`, JSON).
pub const DIRECT_UPLOAD_PATH: &str = "/_ferrex/upload/direct";

/// The key of the marker that stands for an upload's files among a handler's JSON
/// arguments: `{"$upload": "<zone id>"}`.
pub const UPLOAD_MARKER: &str = "$upload";
/// The marker for the value of the control an event came from: `{"$value": true}`.
pub const VALUE_MARKER: &str = "$value";
/// The marker for an upload's progress: `{"$progress": true}`.
pub const PROGRESS_MARKER: &str = "$progress";
/// The marker for the files a drop zone refused: `{"$rejected": true}`.
pub const REJECTED_MARKER: &str = "$rejected";

/// What a bare handler given to an event prop (`on_input = Form::set_name`) receives as
/// its one argument; the browser runtime fills it in when the event fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropValue {
    /// The control's value: its text, or a checkbox's state (`$value`).
    Input,
    /// The files dropped on or chosen in the drop zone (`$upload`, bound to the zone).
    DroppedFiles,
    /// The files the drop zone refused (`$rejected`).
    RejectedFiles,
    /// An upload's progress (`$progress`).
    Progress,
}

impl PropValue {
    /// The value a bare handler on event prop `prop` receives, if any (`on_click`
    /// handlers receive none).
    ///
    /// ```
    /// use ferrex_wire::PropValue;
    /// assert_eq!(PropValue::of("on_change"), Some(PropValue::Input));
    /// assert_eq!(PropValue::of("on_click"), None);
    /// ```
    pub fn of(prop: &str) -> Option<PropValue> {
        match prop {
            "on_input" | "on_change" => Some(PropValue::Input),
            "on_drop" => Some(PropValue::DroppedFiles),
            "on_drop_rejected" => Some(PropValue::RejectedFiles),
            "on_upload_progress" => Some(PropValue::Progress),
            _ => None,
        }
    }

    /// The marker key that stands for the value in the event's arguments.
    pub fn marker(self) -> &'static str {
        match self {
            PropValue::Input => VALUE_MARKER,
            PropValue::DroppedFiles => UPLOAD_MARKER,
            PropValue::RejectedFiles => REJECTED_MARKER,
            PropValue::Progress => PROGRESS_MARKER,
        }
    }
}

/// Whether an `accept` rule is well-formed: an extension (`.png`) or a MIME type
/// (`image/png`, `image/*`). `ui!` checks literal rules with it at compile time.
///
/// ```
/// assert!(ferrex_wire::accept_rule_is_valid("image/*").is_ok());
/// assert!(ferrex_wire::accept_rule_is_valid("png").is_err());
/// ```
pub fn accept_rule_is_valid(rule: &str) -> Result<(), String> {
    let token_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    if let Some(ext) = rule.strip_prefix('.') {
        if token_ok(ext) {
            return Ok(());
        }
        return Err(format!("`{rule}` is not a file extension like `.png`"));
    }
    match rule.split_once('/') {
        Some((top, "*")) if token_ok(top) => Ok(()),
        Some((top, sub)) if token_ok(top) && token_ok(sub) => Ok(()),
        _ => Err(format!(
            "`{rule}` is neither an extension (`.png`) nor a MIME type (`image/png`, `image/*`)"
        )),
    }
}

/// Whether a file of this name and declared type passes a drop zone's `accept` rules; no
/// rules accept everything. Rules and types are compared without case, rules trimmed, a
/// type's parameters (`; charset=…`) ignored. The browser runtime reads rules the same
/// way (a test runs one table of cases through both).
///
/// ```
/// let rules = [".png", "text/*"];
/// assert!(ferrex_wire::accepts(&rules, "A.PNG", "application/octet-stream"));
/// assert!(ferrex_wire::accepts(&rules, "notes", "text/plain; charset=utf-8"));
/// assert!(!ferrex_wire::accepts(&rules, "x.exe", "application/x-msdownload"));
/// ```
pub fn accepts<R: AsRef<str>>(rules: &[R], name: &str, content_type: &str) -> bool {
    let mut rules = rules
        .iter()
        .map(|r| r.as_ref().trim().to_ascii_lowercase())
        .filter(|r| !r.is_empty())
        .peekable();
    if rules.peek().is_none() {
        return true;
    }
    let name = name.to_ascii_lowercase();
    let content_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    rules.any(|rule| {
        if rule.starts_with('.') {
            name.ends_with(&rule)
        } else if let Some(family) = rule.strip_suffix("/*") {
            content_type
                .split_once('/')
                .is_some_and(|(top, _)| top == family)
        } else {
            content_type == rule
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_rules() {
        assert!(accept_rule_is_valid(".png").is_ok());
        assert!(accept_rule_is_valid("image/*").is_ok());
        assert!(accept_rule_is_valid("application/vnd.ms-excel").is_ok());
        assert!(accept_rule_is_valid("png").is_err());
        assert!(accept_rule_is_valid("image/").is_err());
        assert!(accept_rule_is_valid(".").is_err());
        assert!(accept_rule_is_valid("*/*").is_err());
    }

    #[test]
    fn every_prop_value_has_its_own_marker() {
        let props = [
            "on_input",
            "on_drop",
            "on_drop_rejected",
            "on_upload_progress",
        ];
        let mut markers: Vec<_> = props
            .iter()
            .filter_map(|p| PropValue::of(p))
            .map(PropValue::marker)
            .collect();
        markers.sort_unstable();
        markers.dedup();
        assert_eq!(markers.len(), props.len());
    }
}
