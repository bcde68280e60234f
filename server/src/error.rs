//! Every way a request can fail, each a sentence the client can act on, and the one place
//! that maps them to HTTP status codes.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

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
    /// The store that keeps sessions (Redis) could not be reached; nothing was changed.
    #[error("the session store is unreachable, so nothing was changed: try again in a moment")]
    StoreUnavailable,
    /// Another server process held the session for longer than the server waits.
    #[error("this session is busy in another server process: try again in a moment")]
    SessionBusy,
    /// Another server process took the session while the event ran: the event's changes
    /// were refused, and the newer state stands.
    #[error("the event was not applied: another server process took over the session while it ran")]
    SessionTakenOver,
    /// A refusal with its own status and sentence (a protocol's: tus's 409/412/415/460, a
    /// direct upload's 429/501/503).
    #[error("{why}")]
    Refused {
        /// The status to answer with.
        status: StatusCode,
        /// Why, as the client reads it.
        why: String,
    },
}

impl ServerError {
    /// [`ServerError::Refused`]: `status`, with `why` as the client reads it.
    pub(crate) fn refused(status: StatusCode, why: impl Into<String>) -> ServerError {
        ServerError::Refused {
            status,
            why: why.into(),
        }
    }
}

impl From<crate::session::StoreError> for ServerError {
    fn from(error: crate::session::StoreError) -> ServerError {
        use crate::session::StoreError;
        match error {
            StoreError::Unavailable(_) => ServerError::StoreUnavailable,
            StoreError::NoSession => ServerError::NoSession,
            StoreError::Busy => ServerError::SessionBusy,
            StoreError::Stale => ServerError::SessionTakenOver,
        }
    }
}

/// The most characters of a client's input an error message quotes back.
pub(crate) const QUOTED_INPUT_CHARS: usize = 100;

/// The most characters of an error message sent to a client: what it quotes of the input
/// is clipped where it is built, and this catches what comes whole from elsewhere (a JSON
/// parser's message, another layer's error).
const MESSAGE_CHARS: usize = 300;

/// `text` cut to at most `max_chars` characters, with `…` where it was cut.
pub(crate) fn clip(text: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    if text.char_indices().nth(max_chars).is_none() {
        return text.into();
    }
    let end = text
        .char_indices()
        .nth(max_chars.saturating_sub(1))
        .map_or(text.len(), |(end, _)| end);
    format!("{}…", &text[..end]).into()
}

/// A client's input as an error message quotes it: at most [`QUOTED_INPUT_CHARS`].
pub(crate) fn quoted(input: &str) -> String {
    clip(input, QUOTED_INPUT_CHARS).into_owned()
}

/// A dispatch error with what it quotes of the event (the handler's name, a JSON parser's
/// account of the arguments) clipped to [`QUOTED_INPUT_CHARS`].
pub(crate) fn quoted_event_error(err: ferrex_core::EventError) -> ServerError {
    use ferrex_core::EventError;
    ServerError::Event(match err {
        EventError::UnknownHandler(name) => EventError::UnknownHandler(quoted(&name)),
        EventError::BadArguments { handler, reason } => EventError::BadArguments {
            handler: quoted(&handler),
            reason: quoted(&reason),
        },
    })
}

impl ServerError {
    /// The message sent to the client: the error's sentence, never longer than a few
    /// hundred characters whatever the input it quotes.
    ///
    /// ```
    /// let long = ferrex_server::ServerError::NotFound("a".repeat(1 << 20));
    /// assert!(long.client_message().chars().count() <= 300);
    /// ```
    pub fn client_message(&self) -> String {
        clip(&self.to_string(), MESSAGE_CHARS).into_owned()
    }

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
            ServerError::StoreUnavailable | ServerError::SessionBusy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ServerError::SessionTakenOver => StatusCode::CONFLICT,
            ServerError::FileStore(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServerError::DownloadElsewhere => StatusCode::GONE,
            ServerError::Refused { status, .. } => *status,
        }
    }
}

impl ServerError {
    /// The error as the client reads it: a small HTML page for a browser navigating to a
    /// URL (its `Accept` names `text/html`), the JSON of [`IntoResponse`] for a program.
    pub fn answer(self, request: &HeaderMap) -> Response {
        let wants_html = request
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
        if !wants_html {
            return self.into_response();
        }
        let status = self.status();
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            s if s.is_server_error() => "Something went wrong",
            _ => "This request was refused",
        };
        let page = maud::html! {
            (maud::DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (status.as_u16()) " · " (title) }
                }
                body style="font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;line-height:1.5" {
                    h1 { (title) }
                    p { (self.to_string()) }
                }
            }
        };
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        (status, Html(page.into_string())).into_response()
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
        let message = self.client_message();
        if status.is_server_error() {
            tracing::warn!(error = %message, "request failed");
        } else {
            tracing::debug!(error = %message, %status, "request refused");
        }
        let body = match &self {
            ServerError::UploadRejected { file, reason, .. } => serde_json::json!({
                "error": message, "file": quoted(file), "reason": clip(reason, MESSAGE_CHARS),
            }),
            _ => serde_json::json!({ "error": message, "html": null, "actions": [] }),
        };
        (status, axum::Json(body)).into_response()
    }
}
