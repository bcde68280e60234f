//! `data:` URIs (RFC 2397) decoded into their media type and bytes, and the file name a
//! URL suggests.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Why a `data:` URI could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataUriError {
    /// It does not start with `data:`.
    #[error("a data URI starts with `data:`")]
    NotDataUri,
    /// No comma between the header and the data.
    #[error("a data URI needs a `,` between its media type and its data")]
    MissingComma,
    /// The base64 part is not valid base64.
    #[error("the data URI's base64 data is invalid: {0}")]
    BadBase64(String),
    /// A `%` escape is not two hex digits.
    #[error("the data URI has an invalid percent escape")]
    BadPercentEscape,
}

/// Decodes a `data:` URI (RFC 2397) into its media type and bytes.
///
/// ```
/// use ferrex_core::download::decode_data_uri;
/// assert_eq!(decode_data_uri("data:,a%20b").unwrap(), ("text/plain;charset=US-ASCII".to_owned(), b"a b".to_vec()));
/// assert_eq!(decode_data_uri("data:image/png;base64,AAE=").unwrap(), ("image/png".to_owned(), vec![0, 1]));
/// assert!(decode_data_uri("data:text/plain;base64,@@").is_err());
/// ```
pub fn decode_data_uri(uri: &str) -> Result<(String, Vec<u8>), DataUriError> {
    let rest = uri
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("data:"))
        .map(|_| &uri[5..])
        .ok_or(DataUriError::NotDataUri)?;
    let (header, data) = rest.split_once(',').ok_or(DataUriError::MissingComma)?;
    let (media_type, is_base64) = match header.rsplit_once(';') {
        Some((mt, flag)) if flag.trim().eq_ignore_ascii_case("base64") => (mt, true),
        _ => (header, false),
    };
    let media_type = match media_type.trim() {
        "" => "text/plain;charset=US-ASCII".to_owned(),
        mt if mt.starts_with(';') => format!("text/plain{mt}"),
        mt => mt.to_owned(),
    };
    let raw = percent_decode(data)?;
    let bytes = if is_base64 {
        let cleaned: Vec<u8> = raw
            .into_iter()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        BASE64
            .decode(&cleaned)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&cleaned))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(&cleaned))
            .map_err(|e| DataUriError::BadBase64(e.to_string()))?
    } else {
        raw
    };
    Ok((media_type, bytes))
}

fn percent_decode(data: &str) -> Result<Vec<u8>, DataUriError> {
    let bytes = data.as_bytes();
    // percent-encoding's decoder passes invalid escapes through; a data URI with one is
    // malformed, so check first and then let the crate decode.
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !ok {
                return Err(DataUriError::BadPercentEscape);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(percent_encoding::percent_decode(bytes).collect())
}

/// The last path segment of a URL, without query or fragment (`download` if empty).
///
/// ```
/// assert_eq!(ferrex_core::download::url_file_name("/a/b.png?x=1#y"), "b.png");
/// assert_eq!(ferrex_core::download::url_file_name("/"), "download");
/// ```
pub fn url_file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or("");
    match path.rsplit('/').next() {
        Some(name) if !name.is_empty() => name,
        _ => "download",
    }
}
