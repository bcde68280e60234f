//! Request targets refused before routing: a path segment longer than any file name can be
//! (404) and a path longer than the server takes (414), each with a one-sentence answer
//! instead of a file system error.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, Ready, ready};

use crate::ServerError;
use crate::error::quoted;

/// The longest path segment, percent-decoded, that can name a file (`NAME_MAX`).
pub(crate) const MAX_SEGMENT_BYTES: usize = 255;

/// The longest path, percent-decoded, the server routes; longer ones get 414.
pub(crate) const MAX_PATH_BYTES: usize = 2048;

/// Answers a request whose path no page, route or file can have, and passes the rest on.
#[derive(Clone)]
pub(crate) struct BoundedTarget<S>(pub(crate) S);

impl<S> tower::Service<Request> for BoundedTarget<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match refusal(request.uri().path()) {
            Some(refused) => Either::Left(ready(Ok(refused))),
            None => Either::Right(self.0.call(request)),
        }
    }
}

/// The answer to a path the server does not route, if it is one.
fn refusal(path: &str) -> Option<Response> {
    if decoded_len(path) > MAX_PATH_BYTES {
        let message = format!(
            "the request's path is longer than the server's limit of {MAX_PATH_BYTES} bytes"
        );
        let body = serde_json::json!({ "error": message, "html": null, "actions": [] });
        return Some((StatusCode::URI_TOO_LONG, axum::Json(body)).into_response());
    }
    // A download token is looked up, never opened as a file: its own 404 says more.
    let names_files = !path.starts_with(crate::wire::DOWNLOAD_PREFIX);
    if names_files
        && path
            .split('/')
            .any(|segment| decoded_len(segment) > MAX_SEGMENT_BYTES)
    {
        return Some(ServerError::NotFound(quoted(path)).into_response());
    }
    None
}

/// The length of `text` once percent-decoded (`%XX` counts as one byte).
fn decoded_len(text: &str) -> usize {
    let escapes = text
        .as_bytes()
        .windows(3)
        .filter(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
        .count();
    text.len() - 2 * escapes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_count_as_the_byte_they_stand_for() {
        assert_eq!(decoded_len("a%20b"), 3);
        assert_eq!(decoded_len("%zz"), 3);
        assert_eq!(decoded_len(&"%41".repeat(255)), 255);
    }

    #[test]
    fn a_segment_longer_than_a_file_name_is_not_found() {
        let fits = format!("/{}", "a".repeat(MAX_SEGMENT_BYTES));
        assert!(refusal(&fits).is_none());
        let escaped_fits = format!("/{}", "%20".repeat(MAX_SEGMENT_BYTES));
        assert!(refusal(&escaped_fits).is_none());
        let too_long = format!("/files/{}/x", "a".repeat(MAX_SEGMENT_BYTES + 1));
        let refused = refusal(&too_long).expect("refused");
        assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_path_longer_than_the_limit_is_too_long() {
        let long = "/abc".repeat(MAX_PATH_BYTES / 4 + 1);
        let refused = refusal(&long).expect("refused");
        assert_eq!(refused.status(), StatusCode::URI_TOO_LONG);
    }
}
