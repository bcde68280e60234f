//! Every way a request can fail, each a sentence the client can act on, and the one place
//! that maps them to HTTP status codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A request ferrex refused or could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No session cookie, or one the server does not know (expired, forged).
    #[error("your session has expired or is unknown: reload the page")]
    NoSession,
    /// The request came from another site.
    #[error("cross-site requests are refused")]
    CrossSite,
    /// The event message was not valid JSON of the expected shape.
    #[error("the event message is malformed: {0}")]
    MalformedEvent(String),
    /// The event named a page that does not exist.
    #[error("there is no page at `{0}`")]
    UnknownPage(String),
    /// Dispatching failed (unknown handler, bad arguments).
    #[error(transparent)]
    Event(#[from] ferrex_core::EventError),
    /// The handler returned an error or panicked.
    #[error("{0}")]
    Handler(String),
    /// A download token that does not exist, was used, expired or belongs to another session.
    #[error("this download does not exist or has expired")]
    DownloadGone,
    /// A streamed download made by another process of the app: only that process can
    /// serve it.
    #[error(
        "this download is streamed by the server process that made it, and this request \
         reached another one: send `/_ferrex/download/` requests of a session to one process \
         (session affinity), or return the payload with `Download::data`"
    )]
    DownloadElsewhere,
    /// `download(url = …)` with a URL that is not a path on this site.
    #[error("only paths on this site can be downloaded: `{0}`")]
    ForeignUrl(String),
    /// A file that is not there.
    #[error("not found: {0}")]
    NotFound(String),
    /// An upload broke a limit of its drop zone or of the server.
    #[error("{file}: {reason}")]
    UploadRejected {
        /// The status to answer with (400, 413 or 415).
        status: StatusCode,
        /// The file's name.
        file: String,
        /// Why.
        reason: String,
    },
    /// The upload request itself was malformed.
    #[error("the upload is malformed: {0}")]
    MalformedUpload(String),
    /// The request body is larger than the server takes for this endpoint; refused from
    /// its `Content-Length` before any of it is read, or as soon as it passes the limit.
    #[error("the request body is larger than the server's limit of {0} bytes")]
    TooLarge(u64),
    /// The client stopped sending the request body for longer than the body timeout.
    #[error("the request body stalled: no data arrived for {0} s")]
    BodyTimeout(u64),
    /// Writing to the upload folder failed.
    #[error("the server could not store the upload: {0}")]
    Storage(String),
    /// The shared file store (an object store) could not be reached or refused.
    #[error("the file store is unavailable: {0}")]
    FileStore(String),
    /// A page's render function panicked.
    #[error("the page `{0}` could not be shown: the server hit an internal error")]
    PageFailed(String),
}

impl ServerError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::NoSession | ServerError::CrossSite => StatusCode::FORBIDDEN,
            ServerError::MalformedEvent(_)
            | ServerError::Event(_)
            | ServerError::MalformedUpload(_)
            | ServerError::ForeignUrl(_) => StatusCode::BAD_REQUEST,
            ServerError::Handler(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ServerError::UnknownPage(_) | ServerError::DownloadGone | ServerError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            ServerError::UploadRejected { status, .. } => *status,
            ServerError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ServerError::Storage(_) | ServerError::PageFailed(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ServerError::FileStore(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServerError::DownloadElsewhere => StatusCode::GONE,
        }
    }
}

/// What a failure to read a request body means for the client: the body timeout
/// (`App::body_timeout`) ran out, the body passed `limit`, or the body is broken.
pub(crate) fn body_failure(
    err: &(dyn std::error::Error + 'static),
    timeout: std::time::Duration,
    limit: u64,
    otherwise: impl FnOnce(String) -> ServerError,
) -> ServerError {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return ServerError::BodyTimeout(timeout.as_secs().max(1));
        }
        if e.is::<http_body_util::LengthLimitError>() {
            return ServerError::TooLarge(limit);
        }
        cause = e.source();
    }
    otherwise(err.to_string())
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, %status, "request refused");
        }
        let body = match &self {
            ServerError::UploadRejected { file, reason, .. } => serde_json::json!({
                "error": self.to_string(), "file": file, "reason": reason,
            }),
            _ => serde_json::json!({ "error": self.to_string(), "html": null, "actions": [] }),
        };
        (status, axum::Json(body)).into_response()
    }
}
