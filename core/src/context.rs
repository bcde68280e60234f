//! The per-event context: what the server hands the code it runs for one session. A
//! handler's input (its JSON arguments and an upload's files) is passed to
//! [`State::dispatch`](crate::State::dispatch) as an [`EventInput`]; the session a page
//! renders or a handler runs for is a [`SessionScope`], the one task-local ferrex keeps.

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use crate::upload::UploadFile;

/// What one handler call receives: its JSON arguments and, for an upload, the files of
/// the drop zone they came from.
///
/// ```
/// use ferrex_core::context::EventInput;
/// let input = EventInput::new(serde_json::json!([1, "two"]));
/// # drop(input);
/// ```
#[derive(Debug, Default)]
pub struct EventInput {
    pub(crate) args: Value,
    pub(crate) upload: Option<ZoneFiles>,
}

/// The files of one upload and the drop zone they came from.
#[derive(Debug)]
pub(crate) struct ZoneFiles {
    pub(crate) zone: String,
    pub(crate) files: Vec<UploadFile>,
}

impl EventInput {
    /// The input of a plain event: its arguments, a JSON array (or `null` for none).
    pub fn new(args: Value) -> EventInput {
        EventInput { args, upload: None }
    }

    /// The input of an upload: the arguments, in which `{"$upload": zone}` stands for the
    /// files, and the files of drop zone `zone`. Files no argument takes are dropped with
    /// the input, which deletes them.
    pub fn upload(args: Value, zone: impl Into<String>, files: Vec<UploadFile>) -> EventInput {
        EventInput {
            args,
            upload: Some(ZoneFiles {
                zone: zone.into(),
                files,
            }),
        }
    }
}

impl From<Value> for EventInput {
    /// The input of a plain event with these arguments.
    fn from(args: Value) -> EventInput {
        EventInput::new(args)
    }
}

/// Binds URLs to one session: the server's implementation signs an uploaded file's name
/// with a key only that session's requests are checked against.
pub trait UrlSigner: Send + Sync {
    /// The tag (`?k=…`) that binds the upload URL of `name` to the session.
    fn tag(&self, name: &str) -> String;
}

/// The session ferrex runs a page render or a handler for.
///
/// It is the one value ferrex passes implicitly, as a tokio task-local: a page function
/// (`fn index(s: &Counter) -> Node`) and a handler have no parameter for it, yet
/// [`upload_url`](crate::upload_url) must bind the URLs they make to their session. The
/// contract: the server sets it with [`SessionScope::render`] around exactly one page
/// render and with [`SessionScope::run`] around exactly one handler's future (on whatever
/// thread polls it); only `upload_url` reads it; outside both, `upload_url` makes a bare
/// URL.
#[derive(Clone)]
pub struct SessionScope {
    signer: Arc<dyn UrlSigner>,
}

tokio::task_local! {
    /// See [`SessionScope`] for the contract.
    static CURRENT: SessionScope;
}

impl SessionScope {
    /// A scope whose upload URLs `signer` binds to the session.
    pub fn new(signer: Arc<dyn UrlSigner>) -> SessionScope {
        SessionScope { signer }
    }

    /// Runs a page render (synchronous) in this scope.
    pub fn render<R>(&self, render: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self.clone(), render)
    }

    /// Runs a handler's future in this scope.
    pub fn run<F: Future>(&self, handler: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self.clone(), handler)
    }
}

/// The tag binding `name`'s upload URL to the current session, if code runs for one.
pub(crate) fn url_tag(name: &str) -> Option<String> {
    CURRENT.try_with(|scope| scope.signer.tag(name)).ok()
}
