//! Per-session state types and their handlers: the `State` trait `#[event]` implements,
//! what handlers may return (`IntoActions`), and the errors of dispatching an event.

use std::any::{Any, TypeId};
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::action::ClientAction;
use crate::context::{EventInput, ZoneFiles};
use crate::download::Download;
use crate::upload::UploadFile;

/// A user struct that lives on the server, one instance per browser session.
///
/// Implemented by `#[event]` on the struct's `impl` block; never by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a UI state type",
    label = "not a state",
    note = "put `#[event]` on an `impl {Self}` block whose `&mut self` methods are its handlers, and put `#[state]` and `#[derive(Default)]` on the type"
)]
pub trait State: Default + Serialize + DeserializeOwned + Send + 'static {
    /// The type's name as events spell it (`"Counter"`).
    const NAME: &'static str;
    /// The handler names, as the dispatch table knows them.
    const HANDLERS: &'static [&'static str];
    /// The generated companion whose methods build typed [`EventRef`](crate::EventRef)s.
    type Events: Default;

    /// Runs handler `method` with its input: the JSON arguments (an array, or `null` for
    /// none) and, for an upload, the files.
    ///
    /// Arguments are decoded before the returned future starts, so a bad argument is an
    /// error here and the state is untouched.
    fn dispatch<'a>(
        &'a mut self,
        method: &str,
        input: EventInput,
    ) -> Result<HandlerFuture<'a>, EventError>;
}

/// The future of a running handler.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = HandlerResult> + Send + 'a>>;

/// What a handler produced: the client actions to run, or its error message.
pub type HandlerResult = Result<Vec<Action>, HandlerError>;

/// The companion value whose methods name `S`'s handlers (used by `ui!`).
///
/// ```
/// # use ferrex_core::prelude::*;
/// # use ferrex_core::state::HandlerFuture;
/// # #[derive(Default, Serialize, Deserialize)] struct S;
/// # impl ferrex_core::State for S { const NAME: &'static str = "S"; const HANDLERS: &'static [&'static str] = &[]; type Events = ();
/// #   fn dispatch<'a>(&'a mut self, m: &str, _: ferrex_core::context::EventInput) -> Result<HandlerFuture<'a>, ferrex_core::EventError> { Err(ferrex_core::EventError::UnknownHandler(m.into())) } }
/// let () = ferrex_core::state::events::<S>();
/// ```
pub fn events<S: State>() -> S::Events {
    S::Events::default()
}

/// Something a handler returns: `()`, a [`Download`], a [`ClientAction`], `Vec<Action>`,
/// `Option<T>`, or `Result<T, E: Display>` whose `Err` is shown on the page.
#[diagnostic::on_unimplemented(
    message = "a handler cannot return `{Self}`",
    label = "handlers return `()`, a `Download`, a client action, `Vec<Action>`, `Option<…>` or `Result<…, E: Display>`"
)]
pub trait IntoActions {
    /// Converts the return value.
    fn into_actions(self) -> HandlerResult;
}

/// A client-visible result of a handler.
#[derive(Debug)]
pub enum Action {
    /// A file for the browser to download.
    Download(Download),
    /// Any other client action.
    Client(ClientAction),
}

impl IntoActions for () {
    fn into_actions(self) -> HandlerResult {
        Ok(Vec::new())
    }
}

impl IntoActions for Action {
    fn into_actions(self) -> HandlerResult {
        Ok(vec![self])
    }
}

impl IntoActions for Download {
    fn into_actions(self) -> HandlerResult {
        Ok(vec![Action::Download(self)])
    }
}

impl IntoActions for ClientAction {
    fn into_actions(self) -> HandlerResult {
        Ok(vec![Action::Client(self)])
    }
}

impl<T: IntoActions> IntoActions for Vec<T> {
    fn into_actions(self) -> HandlerResult {
        let mut all = Vec::new();
        for item in self {
            all.extend(item.into_actions()?);
        }
        Ok(all)
    }
}

impl<T: IntoActions> IntoActions for Option<T> {
    fn into_actions(self) -> HandlerResult {
        self.map_or(Ok(Vec::new()), IntoActions::into_actions)
    }
}

impl<T: IntoActions, E: Display> IntoActions for Result<T, E> {
    fn into_actions(self) -> HandlerResult {
        match self {
            Ok(value) => value.into_actions(),
            Err(err) => Err(HandlerError(err.to_string())),
        }
    }
}

impl From<Download> for Action {
    fn from(d: Download) -> Action {
        Action::Download(d)
    }
}

impl From<ClientAction> for Action {
    fn from(a: ClientAction) -> Action {
        Action::Client(a)
    }
}

/// A handler's `Err`, as the message the page shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(pub String);

/// Why an event could not be dispatched to a handler. The state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// No handler of that name.
    #[error("there is no event handler named `{0}`")]
    UnknownHandler(String),
    /// The arguments were not what the handler takes.
    #[error("bad arguments for `{handler}`: {reason}")]
    BadArguments {
        /// `State.method`.
        handler: String,
        /// What was wrong.
        reason: String,
    },
}

/// Decodes a handler's arguments one by one (used by `#[event]`'s dispatch table).
#[doc(hidden)]
pub struct ArgDecoder {
    handler: &'static str,
    args: std::vec::IntoIter<Value>,
    upload: Option<ZoneFiles>,
}

impl ArgDecoder {
    /// Checks that the input's arguments are an array of `count` values (or `null` when
    /// `count` is 0).
    pub fn new(handler: &'static str, input: EventInput, count: usize) -> Result<Self, EventError> {
        let EventInput { args, upload } = input;
        let list = match args {
            Value::Null => Vec::new(),
            Value::Array(list) => list,
            _ => return Err(bad(handler, "arguments must be a JSON array".into())),
        };
        if list.len() != count {
            return Err(bad(
                handler,
                format!("expected {count} argument(s), got {}", list.len()),
            ));
        }
        Ok(ArgDecoder {
            handler,
            args: list.into_iter(),
            upload,
        })
    }

    /// Decodes the next argument as `T`: from its JSON, or, for `Vec<UploadFile>`, the
    /// upload's files, which the argument must name (`{"$upload": zone}`).
    pub fn next<T: DeserializeOwned + 'static>(&mut self, name: &str) -> Result<T, EventError> {
        let value = self.args.next().unwrap_or(Value::Null);
        // The files are not JSON: they come with the input. `T` is a concrete type the
        // handler declares, so this is the one case that takes them.
        if TypeId::of::<T>() == TypeId::of::<Vec<UploadFile>>() {
            let files = self.files_for(&value).ok_or_else(|| {
                bad(
                    self.handler,
                    format!("argument `{name}`: no uploaded files for this argument"),
                )
            })?;
            let files: Box<dyn Any> = Box::new(files);
            return files
                .downcast::<T>()
                .map(|files| *files)
                .map_err(|_| bad(self.handler, format!("argument `{name}`")));
        }
        serde_json::from_value(value)
            .map_err(|e| bad(self.handler, format!("argument `{name}`: {e}")))
    }

    /// The upload's files, if `marker` names their zone (`null` names whichever zone the
    /// upload came from); each upload's files are taken once.
    fn files_for(&mut self, marker: &Value) -> Option<Vec<UploadFile>> {
        let named = marker.as_object()?.get(ferrex_wire::UPLOAD_MARKER)?;
        let upload = self.upload.as_ref()?;
        if !(named.is_null() || named.as_str() == Some(upload.zone.as_str())) {
            return None;
        }
        self.upload.take().map(|upload| upload.files)
    }
}

fn bad(handler: &str, reason: String) -> EventError {
    EventError::BadArguments {
        handler: handler.to_owned(),
        reason,
    }
}

/// A state behind `dyn`, as a session stores it.
pub trait AnyState: Send {
    /// The state as `Any`, to hand a page function its `&S`.
    fn as_any(&self) -> &dyn Any;
    /// Dispatches an event to the state.
    fn dispatch_dyn<'a>(
        &'a mut self,
        method: &str,
        input: EventInput,
    ) -> Result<HandlerFuture<'a>, EventError>;
    /// The state as JSON (for `StateStore`s that serialise).
    fn to_json(&self) -> Value;
    /// The state serialized as JSON bytes, as a store that keeps sessions outside the
    /// process saves it.
    fn to_json_bytes(&self) -> Vec<u8>;
    /// Replaces the state with one a store saved with [`AnyState::to_json_bytes`]; on an
    /// error (the type changed since it was saved) the state is left as it was.
    fn replace_from_json(&mut self, bytes: &[u8]) -> Result<(), serde_json::Error>;
}

impl<S: State> AnyState for S {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn dispatch_dyn<'a>(
        &'a mut self,
        method: &str,
        input: EventInput,
    ) -> Result<HandlerFuture<'a>, EventError> {
        self.dispatch(method, input)
    }
    fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
    fn to_json_bytes(&self) -> Vec<u8> {
        // A state whose `Serialize` fails (a map with non-string keys) is saved as `null`,
        // which loads back as an error and so as its `Default`.
        serde_json::to_vec(self).unwrap_or_else(|_| b"null".to_vec())
    }
    fn replace_from_json(&mut self, bytes: &[u8]) -> Result<(), serde_json::Error> {
        *self = serde_json::from_slice(bytes)?;
        Ok(())
    }
}
