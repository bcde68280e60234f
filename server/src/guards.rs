//! Request guards as axum extractors, so a handler's signature says what it needs: a
//! same-site request ([`SameOrigin`]), the caller's live session ([`CurrentSession`]), a
//! declared body length within a limit ([`DeclaredLength`]).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri, Version, header};

use crate::ServerError;
use crate::app_state::AppState;
use crate::session::{SessionId, SharedSession};

/// The request comes from this site: its `Origin` (sent by every browser on cross-origin
/// and POST requests) names the host the request was sent to — the `Host` header in
/// HTTP/1.x (required there: an absolute-form target's authority does not stand in for
/// it), the URI's authority in HTTP/2 and later, which have no `Host`. Clients without an
/// `Origin` (curl, tests, other servers) pass; they cannot carry a victim's cookie.
/// Refused with 403.
pub(crate) struct SameOrigin;

impl<S: Send + Sync> FromRequestParts<S> for SameOrigin {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ServerError> {
        if same_origin(&parts.headers, &parts.uri, parts.version) {
            Ok(SameOrigin)
        } else {
            Err(ServerError::CrossSite)
        }
    }
}

/// See [`SameOrigin`].
fn same_origin(headers: &HeaderMap, uri: &Uri, version: Version) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = if version <= Version::HTTP_11 {
        headers.get(header::HOST).and_then(|v| v.to_str().ok())
    } else {
        uri.authority().map(|a| a.as_str())
    };
    let Some(host) = host else {
        return false;
    };
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    origin_host.eq_ignore_ascii_case(host)
}

/// The live session the request's cookie names; refused with 403 when there is none (no
/// cookie, a forged one, or an expired session).
pub(crate) struct CurrentSession {
    /// Its id.
    pub(crate) id: SessionId,
    /// The session itself.
    pub(crate) session: SharedSession,
}

impl CurrentSession {
    /// The session the `Cookie` header names, if it is live here or, for a shared store,
    /// in the store (another process made it).
    pub(crate) async fn resolve(
        app: &AppState,
        headers: &HeaderMap,
    ) -> Result<CurrentSession, ServerError> {
        let id = SessionId::from_headers(headers).ok_or(ServerError::NoSession)?;
        let idle = app.settings.session_idle;
        if let Some(session) = app.store.open(&id, idle) {
            return Ok(CurrentSession { id, session });
        }
        let session = app
            .store
            .find(&id, idle)
            .await?
            .ok_or(ServerError::NoSession)?;
        Ok(CurrentSession { id, session })
    }
}

impl FromRequestParts<Arc<AppState>> for CurrentSession {
    type Rejection = ServerError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Self, ServerError> {
        CurrentSession::resolve(app, &parts.headers).await
    }
}

/// The request's `Content-Length`, if it has a valid one.
pub(crate) struct DeclaredLength(pub(crate) Option<u64>);

impl DeclaredLength {
    /// Refuses a body declared larger than `limit` before any of it is read.
    pub(crate) fn at_most(&self, limit: u64) -> Result<(), ServerError> {
        match self.0 {
            Some(len) if len > limit => Err(ServerError::TooLarge(limit)),
            _ => Ok(()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DeclaredLength {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(DeclaredLength(declared_length(&parts.headers)))
    }
}

/// The `Content-Length` of a request or response, if it has a valid one.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn same_origin_compares_origin_with_host() {
        let uri = Uri::from_static("/_ferrex/event");
        let ok = headers(&[
            (header::HOST, "app.example:8080"),
            (header::ORIGIN, "http://app.example:8080"),
        ]);
        assert!(same_origin(&ok, &uri, Version::HTTP_11));
        let foreign = headers(&[
            (header::HOST, "app.example:8080"),
            (header::ORIGIN, "http://evil.example"),
        ]);
        assert!(!same_origin(&foreign, &uri, Version::HTTP_11));
        assert!(
            same_origin(&headers(&[]), &uri, Version::HTTP_11),
            "no Origin: not a browser"
        );
    }

    #[test]
    fn http2_names_its_host_in_the_uri_authority() {
        let uri = Uri::from_static("https://app.example/_ferrex/event");
        let ok = headers(&[(header::ORIGIN, "https://app.example")]);
        assert!(same_origin(&ok, &uri, Version::HTTP_2));
        let foreign = headers(&[(header::ORIGIN, "https://evil.example")]);
        assert!(!same_origin(&foreign, &uri, Version::HTTP_2));
        let nowhere = Uri::from_static("/_ferrex/event");
        assert!(
            !same_origin(&ok, &nowhere, Version::HTTP_2),
            "no host at all: refused"
        );
    }

    #[test]
    fn http1_without_a_host_header_is_refused_whatever_the_target_says() {
        let absolute = Uri::from_static("http://evil.example/_ferrex/event");
        let matching = headers(&[(header::ORIGIN, "http://evil.example")]);
        assert!(!same_origin(&matching, &absolute, Version::HTTP_11));
        assert!(!same_origin(&matching, &absolute, Version::HTTP_10));
    }
}
