//! `upload_url(name)`: the URL an uploaded file is served at, bound to the session a page
//! renders or a handler runs for.

use crate::context;
use ferrex_wire as wire;

/// What a path segment escapes: everything but letters, digits and `-._`.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// The URL an uploaded (and persisted) file is served at.
///
/// Made while ferrex renders a page or runs a handler for a session, the URL carries a
/// tag (`?k=…`) that binds it to that session: the server answers it for that session
/// only (unless the app serves uploads publicly, `App::public_uploads`). Made anywhere
/// else, it is the bare path. Add query parameters of your own with `&`, not `?`.
///
/// ```
/// use std::sync::Arc;
/// use ferrex_core::context::{SessionScope, UrlSigner};
///
/// assert_eq!(ferrex_core::upload_url("a b/c.png"), "/_ferrex/uploads/a%20b/c.png");
///
/// struct Fixed;
/// impl UrlSigner for Fixed {
///     fn tag(&self, name: &str) -> String { format!("tag-of-{name}") }
/// }
/// let scope = SessionScope::new(Arc::new(Fixed));
/// let signed = scope.render(|| ferrex_core::upload_url("c.png"));
/// assert_eq!(signed, "/_ferrex/uploads/c.png?k=tag-of-c.png");
/// ```
pub fn upload_url(name: &str) -> String {
    let mut url = String::from(wire::UPLOADS_PATH);
    for segment in name.split('/') {
        url.push('/');
        url.extend(percent_encoding::utf8_percent_encode(segment, PATH_SEGMENT));
    }
    if let Some(tag) = context::url_tag(name) {
        url.push_str("?k=");
        url.push_str(&tag);
    }
    url
}
