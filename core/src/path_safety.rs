//! Path safety: file names and relative paths from clients, sanitized so that joined to
//! a folder they stay inside it (uploads; the same check guards static assets).

use std::path::{Component, Path};

/// The longest sanitized path segment, in bytes.
pub const MAX_SEGMENT_BYTES: usize = 200;
/// The most folders a relative path keeps.
pub const MAX_DEPTH: usize = 16;

/// Sanitizes one file name from a client: Windows rules (reserved names, `<>:"/\|?*`),
/// control and bidi characters stripped, `.`/`..` refused, at most [`MAX_SEGMENT_BYTES`]
/// bytes (the extension kept), never empty.
///
/// ```
/// use ferrex_core::path_safety::sanitize_file_name;
/// assert_eq!(sanitize_file_name("../x"), "..x");
/// assert_eq!(sanitize_file_name("a\u{202e}gnp.exe"), "agnp.exe");
/// assert_eq!(sanitize_file_name(".."), "file");
/// assert_eq!(sanitize_file_name("CON"), "file");
/// assert_eq!(sanitize_file_name("con .txt"), "file");
/// ```
pub fn sanitize_file_name(name: &str) -> String {
    let stripped: String = name
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c) && *c != '/' && *c != '\\')
        .collect();
    let options = sanitize_filename::Options {
        windows: true,
        truncate: false,
        replacement: "",
    };
    let clean = sanitize_filename::sanitize_with_options(stripped.trim(), options);
    let clean = clean.trim_matches(' ');
    // Cutting a long name can leave it ending in dots or spaces (or only dots), which
    // Windows strips: trim them after the cut too.
    let clean = truncate_keeping_extension(clean, MAX_SEGMENT_BYTES);
    let clean = clean.trim_end_matches(['.', ' ']);
    if clean.is_empty() || is_windows_device(clean) {
        "file".to_owned()
    } else {
        clean.to_owned()
    }
}

/// Whether Windows takes this name for a device (`CON`, `nul.txt`, `COM1 .log`): the
/// part before the first dot, trailing spaces ignored, is a reserved name.
fn is_windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or("").trim_end_matches(' ');
    let upper = stem.to_uppercase();
    if matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL") {
        return true;
    }
    let mut chars = upper.chars();
    let prefix: String = chars.by_ref().take(3).collect();
    let digit = chars.next();
    (prefix == "COM" || prefix == "LPT")
        && digit.is_some_and(|d| d.is_ascii_digit() || matches!(d, '¹' | '²' | '³'))
        && chars.next().is_none()
}

/// Sanitizes a relative path from a client (folder uploads): each segment as
/// [`sanitize_file_name`], empty, `.` and `..` segments dropped, at most [`MAX_DEPTH`]
/// folders. The result joined to any folder stays inside it.
///
/// ```
/// use ferrex_core::path_safety::sanitize_relative_path;
/// assert_eq!(sanitize_relative_path("photos/../2024/a.png"), "photos/2024/a.png");
/// assert_eq!(sanitize_relative_path("/etc/passwd"), "etc/passwd");
/// assert_eq!(sanitize_relative_path("C:\\x"), "Cx");
/// ```
pub fn sanitize_relative_path(path: &str) -> String {
    let segments: Vec<String> = path
        .split('/')
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .map(sanitize_file_name)
        .collect();
    let keep_from = segments.len().saturating_sub(MAX_DEPTH + 1);
    let joined = segments[keep_from..].join("/");
    if joined.is_empty() {
        "file".to_owned()
    } else {
        joined
    }
}

/// True if `relative` joined to a base folder stays inside it.
///
/// ```
/// assert!(ferrex_core::path_safety::stays_inside("a/b.png"));
/// assert!(!ferrex_core::path_safety::stays_inside("../b.png"));
/// ```
pub fn stays_inside(relative: &str) -> bool {
    Path::new(relative)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 16 => (stem, Some(ext)),
        _ => (name, None),
    };
    let room = max - ext.map_or(0, |e| e.len() + 1);
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    match ext {
        Some(ext) => format!("{}.{ext}", &stem[..cut]),
        None => stem[..cut].to_owned(),
    }
}
