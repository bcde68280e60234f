//! Session-bound URLs: a key derived per session from the process secret
//! (HMAC-SHA256), the tag an `upload_url` carries (`?k=…`), and its check.

use std::sync::Arc;

use ferrex_core::context::{SessionScope, UrlSigner};
use hmac::Mac;

use crate::session::SessionId;

/// How many bytes of the HMAC an upload URL carries (128 bits).
const TAG_BYTES: usize = 16;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn keyed_mac(key: &[u8], message: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(message);
    mac
}

/// The key that binds URLs to one session: HMAC-SHA256 of its id under the process secret.
pub(crate) fn session_key(secret: &[u8; 32], id: &SessionId) -> [u8; 32] {
    keyed_mac(secret, id.as_str().as_bytes())
        .finalize()
        .into_bytes()
        .into()
}

/// The tag that binds the upload URL of `name` to `key`, as hex.
fn upload_tag(key: &[u8; 32], name: &str) -> String {
    let bytes = keyed_mac(key, name.as_bytes()).finalize().into_bytes();
    bytes[..TAG_BYTES]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `tag` (hex, from an upload URL's `k`) binds `name` to `key`; compared in
/// constant time.
pub(crate) fn verify_upload_tag(key: &[u8; 32], name: &str, tag: &str) -> bool {
    if tag.len() != TAG_BYTES * 2 || !tag.is_ascii() {
        return false;
    }
    let Some(bytes) = (0..TAG_BYTES)
        .map(|i| u8::from_str_radix(&tag[2 * i..2 * i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    keyed_mac(key, name.as_bytes())
        .verify_truncated_left(&bytes)
        .is_ok()
}

/// Signs one session's upload URLs with its key.
struct SessionSigner {
    key: [u8; 32],
}

impl UrlSigner for SessionSigner {
    fn tag(&self, name: &str) -> String {
        upload_tag(&self.key, name)
    }
}

/// The scope a session's renders and handlers run in: its upload URLs signed with its key.
pub(crate) fn session_scope(secret: &[u8; 32], id: &SessionId) -> SessionScope {
    SessionScope::new(Arc::new(SessionSigner {
        key: session_key(secret, id),
    }))
}

/// A random process secret, when the app sets none.
pub(crate) fn random_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    // Like session ids: a server cannot go on without the OS random source.
    getrandom::fill(&mut secret).expect("the OS random source is unavailable");
    secret
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_binds_a_name_to_one_session() {
        let secret = [7u8; 32];
        let alice = SessionId::random();
        let bob = SessionId::random();
        let key = session_key(&secret, &alice);
        let tag = upload_tag(&key, "c.png");
        assert_eq!(tag.len(), 32);
        assert!(verify_upload_tag(&key, "c.png", &tag));
        assert!(!verify_upload_tag(&key, "d.png", &tag), "another file");
        assert!(
            !verify_upload_tag(&session_key(&secret, &bob), "c.png", &tag),
            "another session"
        );
        assert!(
            !verify_upload_tag(&session_key(&[8u8; 32], &alice), "c.png", &tag),
            "another process secret"
        );
        assert!(!verify_upload_tag(&key, "c.png", &tag[..30]), "cut short");
        assert!(!verify_upload_tag(&key, "c.png", "zz"), "not hex");
    }

    #[test]
    fn upload_urls_made_in_a_session_scope_carry_its_tag() {
        let secret = [1u8; 32];
        let id = SessionId::random();
        let url = session_scope(&secret, &id).render(|| ferrex_core::upload_url("a b.png"));
        let tag = url
            .strip_prefix("/_ferrex/uploads/a%20b.png?k=")
            .expect("a signed URL");
        assert!(verify_upload_tag(
            &session_key(&secret, &id),
            "a b.png",
            tag
        ));
        assert_eq!(
            ferrex_core::upload_url("a b.png"),
            "/_ferrex/uploads/a%20b.png",
            "outside a scope: the bare path"
        );
    }
}
