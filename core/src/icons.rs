//! ferrex's built-in icons: small inline SVGs drawn for ferrex, stroked with
//! `currentColor` so they take the colour of the text around them.

/// The icons `icon("…")` knows: `upload`, `download`, `file`, `x`, `check`, `image`,
/// `trash`, `folder`.
///
/// ```
/// use ferrex::prelude::*;
/// let page = ui! { hstack(icon("upload"), icon("trash"), class = "tools") };
/// assert!(page.to_html().contains(r#"<span class="fx-icon" aria-hidden="true"><svg"#));
/// ```
///
/// ```
/// use ferrex_core::icons::IconName;
/// assert_eq!(IconName::parse("upload"), Some(IconName::Upload));
/// assert!(IconName::Upload.svg().starts_with("<svg"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconName {
    /// An arrow rising out of a tray.
    Upload,
    /// An arrow falling into a tray.
    Download,
    /// A sheet of paper with a folded corner.
    File,
    /// A cross, for closing or removing.
    X,
    /// A tick.
    Check,
    /// A framed picture.
    Image,
    /// A bin.
    Trash,
    /// A folder.
    Folder,
}

/// Every icon name, as `icon("…")` spells it.
pub const ICON_NAMES: &[&str] = &[
    "upload", "download", "file", "x", "check", "image", "trash", "folder",
];

macro_rules! svg {
    ($($body:literal),*) => {
        concat!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="1em" height="1em" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">"#, $($body,)* "</svg>")
    };
}

/// What an unknown icon name shows: an empty rounded square.
pub(crate) const UNKNOWN: &str = svg!(r#"<rect x="4" y="4" width="16" height="16" rx="3"/>"#);

impl IconName {
    /// The icon for a name, if there is one.
    pub fn parse(name: &str) -> Option<IconName> {
        Some(match name {
            "upload" => IconName::Upload,
            "download" => IconName::Download,
            "file" => IconName::File,
            "x" => IconName::X,
            "check" => IconName::Check,
            "image" => IconName::Image,
            "trash" => IconName::Trash,
            "folder" => IconName::Folder,
            _ => return None,
        })
    }

    /// The SVG markup.
    pub fn svg(self) -> &'static str {
        match self {
            IconName::Upload => svg!(
                r#"<path d="M4 15v3a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-3"/>"#,
                r#"<path d="M12 15V4"/><path d="M7.5 8.5 12 4l4.5 4.5"/>"#
            ),
            IconName::Download => svg!(
                r#"<path d="M4 15v3a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-3"/>"#,
                r#"<path d="M12 4v11"/><path d="M7.5 10.5 12 15l4.5-4.5"/>"#
            ),
            IconName::File => svg!(
                r#"<path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z"/>"#,
                r#"<path d="M14 3v5h5"/>"#
            ),
            IconName::X => svg!(r#"<path d="M6 6l12 12"/><path d="M18 6 6 18"/>"#),
            IconName::Check => svg!(r#"<path d="M5 12.5l4.5 4.5L19 7"/>"#),
            IconName::Image => svg!(
                r#"<rect x="3" y="4" width="18" height="16" rx="2"/>"#,
                r#"<circle cx="9" cy="10" r="2"/><path d="m21 16-5-5-9 9"/>"#
            ),
            IconName::Trash => svg!(
                r#"<path d="M4 7h16"/><path d="M10 11v6"/><path d="M14 11v6"/>"#,
                r#"<path d="M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12"/><path d="M9 7V4h6v3"/>"#
            ),
            IconName::Folder => svg!(
                r#"<path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"/>"#
            ),
        }
    }
}
