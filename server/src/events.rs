//! Events: decoding the event message, running the handler against the session's state
//! (one at a time per session, a panic failing only that event), re-rendering the page,
//! and the reply; over the WebSocket and over `POST /_ferrex/event`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use ferrex_core::context::EventInput;
use ferrex_core::state::Action;
use ferrex_core::{ClientAction, UploadFile};
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ServerError;
use crate::app_state::AppState;
use crate::error::quoted;
use crate::guards::{CurrentSession, DeclaredLength, SameOrigin};
use crate::render::render_node;
use crate::session::SessionId;

/// An event as the runtime sends it (see `docs/PROTOCOL.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventMessage {
    /// A number the reply echoes.
    #[serde(default)]
    pub id: Option<u64>,
    /// The page the event came from.
    pub page: String,
    /// `State.method` (`"h"` on the wire).
    #[serde(rename = "h")]
    pub handler: String,
    /// The handler's arguments.
    #[serde(default)]
    pub args: Value,
    /// The render revision of the page the client shows (`data-fx-rev` or the newest
    /// reply's `rev`). Without it, a reply leaves out HTML identical to the last sent.
    #[serde(default)]
    pub rev: Option<u64>,
}

impl EventMessage {
    /// Decodes an event message, with a one-sentence error.
    ///
    /// ```
    /// use ferrex_server::EventMessage;
    /// let ok = EventMessage::decode(br#"{"page":"/","h":"Counter.add","args":[1]}"#).unwrap();
    /// assert_eq!(ok.handler, "Counter.add");
    /// assert!(EventMessage::decode(b"{").is_err());
    /// assert!(EventMessage::decode(br#"{"page":"/","h":5}"#).is_err());
    /// assert!(EventMessage::decode(br#"[null,"/","Counter.add",[1]]"#).is_err());
    /// ```
    pub fn decode(bytes: &[u8]) -> Result<EventMessage, ServerError> {
        // Only the object form of docs/PROTOCOL.md (serde would also take a struct as an
        // array of its fields).
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ServerError::MalformedEvent(
                "an event is a JSON object: {\"page\": …, \"h\": …, \"args\": […]}".into(),
            ));
        }
        serde_json::from_slice(bytes)
            .map_err(|e| ServerError::MalformedEvent(quoted(&e.to_string())))
    }
}

/// The answer to an event.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Reply {
    /// The event's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The new inner HTML of the page, or `None` if it did not change.
    pub html: Option<String>,
    /// The session's render revision of `html`: the browser applies HTML only when it is
    /// newer than what it shows, since replies travel over more than one connection.
    #[serde(default)]
    pub rev: u64,
    /// Client actions to run.
    pub actions: Vec<Value>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// Whether the handler itself failed (returned `Err` or panicked), as opposed to what
    /// came after it (the re-render, parking a download): an upload whose handler ran and
    /// kept its files must not be offered for another try.
    #[serde(skip)]
    pub handler_failed: bool,
}

/// The files of an upload and the drop zone they came from.
pub(crate) struct ZoneUpload {
    pub(crate) zone: String,
    pub(crate) files: Vec<UploadFile>,
}

/// Runs one event for a session and builds the reply. `upload` carries an upload's files,
/// which the handler's `Vec<UploadFile>` argument takes.
pub(crate) async fn run_event(
    app: &AppState,
    current: &CurrentSession,
    event: EventMessage,
    upload: Option<ZoneUpload>,
) -> Result<Reply, ServerError> {
    let session_id = &current.id;
    let unknown = || ferrex_core::EventError::UnknownHandler(quoted(&event.handler));
    let (state_name, method) = event.handler.split_once('.').ok_or_else(unknown)?;
    let (name, create) = app.registry.find(state_name).ok_or_else(unknown)?;
    if !app.pages.contains_key(&event.page) {
        return Err(ServerError::UnknownPage(quoted(&event.page)));
    }
    let mut guard = current.session.lock().await;
    // Exclusive across every process sharing the store, with this copy brought up to date.
    let claim = app.store.begin(session_id, &mut guard).await?;
    // Upload URLs the handler makes are bound to this session, however it runs.
    let scope = app.session_scope(session_id, &mut guard);
    let input = match upload {
        Some(ZoneUpload { zone, files }) => EventInput::upload(event.args, zone, files),
        None => EventInput::new(event.args),
    };
    guard.note_event();
    // Files no argument took are dropped with the input here, which deletes them.
    let dispatched = guard
        .erased(name, create)
        .dispatch_dyn(method, input)
        .map_err(crate::error::quoted_event_error)?;
    let outcome = AssertUnwindSafe(scope.run(dispatched)).catch_unwind().await;
    let (actions, error): (Vec<Action>, Option<String>) = match outcome {
        Ok(Ok(actions)) => (actions, None),
        Ok(Err(err)) => {
            tracing::warn!(handler = %event.handler, error = %err, "handler returned an error");
            (Vec::new(), Some(err.0))
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::warn!(handler = %event.handler, panic = %what, "handler panicked");
            (
                Vec::new(),
                Some(format!(
                    "`{}` failed: the server hit an internal error",
                    event.handler
                )),
            )
        }
    };
    let handler_failed = error.is_some();
    let (rendered, error) = match render_node(app, session_id, &mut guard, &event.page) {
        Some(Ok(rendered)) => (Some(rendered), error),
        Some(Err(failed)) => (None, error.or_else(|| Some(failed.to_string()))),
        None => (None, error),
    };
    let (rev, html) = match rendered {
        Some((html, manifest)) => {
            let (rev, send) = guard.record_render(&event.page, &html, manifest, event.rev);
            (rev, send.then_some(html))
        }
        None => (guard.next_rev(), None),
    };
    // Written before the reply goes out: an answered event survives this process.
    app.store.commit(claim, &mut guard, name).await?;
    drop(guard);
    let mut error = error;
    let mut kept = Vec::with_capacity(actions.len());
    for action in actions {
        match client_action(app, session_id, action).await {
            Ok(value) => kept.push(value),
            Err(why) => {
                tracing::warn!(handler = %event.handler, error = %why, "a download could not be kept");
                error.get_or_insert(why);
            }
        }
    }
    let actions = kept;
    tracing::debug!(handler = %event.handler, "event handled");
    Ok(Reply {
        id: event.id,
        html,
        rev,
        actions,
        error,
        handler_failed,
    })
}

/// A handler's action as the browser runs it; generated data is parked behind a
/// one-time URL instead of travelling in the reply.
async fn client_action(
    app: &AppState,
    session: &SessionId,
    action: Action,
) -> Result<Value, String> {
    let action = match action {
        Action::Client(action) => action,
        Action::Download(download) => {
            let filename = Some(download.suggested_filename());
            let url = match app.downloads.park_anywhere(session, download).await? {
                crate::parked::Parked::Url(url) => url,
                // The token route is the app's own: under the app's base path when mounted.
                crate::parked::Parked::Token(path) => {
                    format!("{}{path}", app.settings.base_path)
                }
            };
            ClientAction::Download {
                url: Some(url),
                data: None,
                filename,
                content_type: None,
            }
        }
    };
    Ok(serde_json::to_value(action).unwrap_or(Value::Null))
}

/// `POST /_ferrex/event`: the same JSON as the WebSocket, for non-browser clients.
pub(crate) async fn post_event(
    State(app): State<Arc<AppState>>,
    _: SameOrigin,
    current: CurrentSession,
    length: DeclaredLength,
    body: axum::body::Body,
) -> Response {
    let result = async {
        let body = read_event_body(&app, &length, body).await?;
        let event = EventMessage::decode(&body)?;
        run_event(&app, &current, event, None).await
    }
    .await;
    match result {
        Ok(reply) if reply.error.is_some() => {
            (axum::http::StatusCode::UNPROCESSABLE_ENTITY, Json(reply)).into_response()
        }
        Ok(reply) => Json(reply).into_response(),
        Err(err) => err.into_response(),
    }
}

/// An event request's body, refused with 413 from its `Content-Length` before a byte of
/// it is read when it is over [`crate::Settings::max_event_bytes`], and as soon as it
/// passes it when it does not say.
pub(crate) async fn read_event_body(
    app: &AppState,
    length: &DeclaredLength,
    body: axum::body::Body,
) -> Result<axum::body::Bytes, ServerError> {
    let limit = app.settings.max_event_bytes;
    length.at_most(limit as u64)?;
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        crate::error::body_failure(
            &err,
            app.settings.body_timeout,
            limit as u64,
            ServerError::MalformedEvent,
        )
    })
}

/// The read buffer of an event WebSocket: events are small, and an idle socket should
/// cost little (a larger message still arrives whole, up to `max_event_bytes`).
const SOCKET_READ_BUFFER: usize = 4 * 1024;

/// `GET /_ferrex/ws`: the browser's event channel.
pub(crate) async fn websocket(
    State(app): State<Arc<AppState>>,
    _: SameOrigin,
    current: CurrentSession,
    upgrade: WebSocketUpgrade,
) -> Response {
    let settings = &app.settings;
    let limit = settings.max_event_bytes;
    upgrade
        .read_buffer_size(SOCKET_READ_BUFFER)
        // Every reply is flushed as it is sent; a buffer would only hold what the client
        // does not read.
        .write_buffer_size(0)
        .max_write_buffer_size(settings.socket_max_write_buffer.max(1))
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| serve_socket(app, current, socket))
}

/// Runs a session's events from one socket until the client leaves, goes quiet for
/// `socket_idle_timeout`, stops reading what is sent to it, or a newer socket of the same
/// session takes this one's place past `max_sockets_per_session`.
async fn serve_socket(app: Arc<AppState>, current: CurrentSession, mut socket: WebSocket) {
    let settings = &app.settings;
    let ticket = app
        .sockets
        .open(&current.id, settings.max_sockets_per_session);
    let idle = settings.socket_idle_timeout;
    let every = settings.socket_ping_interval;
    let first = tokio::time::Instant::now() + every + every.mul_f64(ticket.phase());
    let mut ping = tokio::time::interval_at(first, every);
    let quiet = tokio::time::sleep(idle);
    tokio::pin!(quiet);
    loop {
        let message = tokio::select! {
            received = socket.recv() => match received {
                Some(Ok(message)) => message,
                _ => break,
            },
            _ = ping.tick() => {
                // A ping that cannot be written (the write buffer is full of pongs or
                // replies the client never read) or is not taken in time ends the socket.
                if !send_within(&mut socket, Message::Ping(Default::default()), idle).await {
                    break;
                }
                continue;
            }
            () = &mut quiet => break,
            () = ticket.superseded() => break,
        };
        quiet.as_mut().reset(tokio::time::Instant::now() + idle);
        let bytes = match &message {
            Message::Text(text) => text.as_bytes().to_vec(),
            Message::Binary(bytes) => bytes.to_vec(),
            Message::Close(_) => break,
            _ => continue,
        };
        let reply = match EventMessage::decode(&bytes) {
            Ok(event) => {
                let event_id = event.id;
                run_event(&app, &current, event, None)
                    .await
                    .unwrap_or_else(|err| Reply {
                        id: event_id,
                        error: Some(err.client_message()),
                        ..Reply::default()
                    })
            }
            Err(err) => Reply {
                id: serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("id").and_then(Value::as_u64)),
                error: Some(err.client_message()),
                ..Reply::default()
            },
        };
        let Some(text) = reply_text(&reply, settings.socket_max_write_buffer) else {
            continue;
        };
        if !send_within(&mut socket, Message::Text(text.into()), idle).await {
            break;
        }
    }
}

/// The reply as sent, or, when it is larger than the socket may buffer, an error in its
/// place (the page then shows what it showed before).
fn reply_text(reply: &Reply, max_write_buffer: usize) -> Option<String> {
    let text = serde_json::to_string(reply).ok()?;
    // Room for the frame's own header.
    if text.len() + 16 <= max_write_buffer {
        return Some(text);
    }
    let refused = Reply {
        id: reply.id,
        rev: reply.rev,
        error: Some(format!(
            "the reply ({} bytes) is larger than the event socket's limit of {max_write_buffer} bytes",
            text.len()
        )),
        ..Reply::default()
    };
    serde_json::to_string(&refused).ok()
}

/// Sends one message and waits until it is written; false if the socket failed, its write
/// buffer is full, or the client did not take it within `patience`.
async fn send_within(socket: &mut WebSocket, message: Message, patience: Duration) -> bool {
    matches!(
        tokio::time::timeout(patience, socket.send(message)).await,
        Ok(Ok(()))
    )
}
