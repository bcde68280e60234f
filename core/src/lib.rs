//! ferrex-core: the `Node` tree, typed components and their props, the renderer and the
//! page manifest it collects, states and handlers with their per-event context, client
//! actions, downloads and uploads. Knows nothing of HTTP.

pub mod action;
pub mod components;
pub mod context;
pub mod download;
pub mod event;
pub mod icons;
pub mod manifest;
pub mod node;
mod page;
pub mod path_safety;
pub mod props;
mod render;
pub mod state;
pub mod upload;

pub use action::{ClientAction, cancel_upload, clear_selected_files, redirect};
pub use download::{Download, DownloadBuilder, download};
pub use event::{EventRef, IntoEvent};
pub use manifest::PageManifest;
pub use node::{Element, Node, Rendered};
pub use state::{Action, EventError, HandlerError, IntoActions, State};
pub use upload::{
    FileProgress, PersistedFile, RejectCode, RejectedFile, UploadError, UploadFile, UploadFiles,
    UploadProgress, upload, upload_files, upload_url,
};

/// ferrex's default stylesheet: the look of every built-in component.
pub const STYLESHEET: &str = include_str!("../assets/ferrex.css");

/// Everything a page module needs: components, actions, and the traits their props use.
pub mod prelude {
    pub use crate::action::{ClientAction, cancel_upload, clear_selected_files, redirect};
    pub use crate::components::*;
    pub use crate::download::{Download, download};
    pub use crate::event::{EventRef, IntoEvent};
    pub use crate::node::Node;
    pub use crate::props::{Positional, Variant};
    pub use crate::state::{Action, IntoActions, State};
    pub use crate::upload::{
        Capture, FileProgress, PersistedFile, RejectCode, RejectedFile, UploadError, UploadFile,
        UploadProgress, selected_files, upload, upload_files, upload_url,
    };
    pub use serde::{Deserialize, Serialize};
}

/// What generated code calls. Not a public API: names may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::context::EventInput;
    pub use crate::download::{DataProbe, ViaData, ViaJson};
    pub use crate::event::{
        ArgFor, DroppedFiles, EventRef, HandlerArg, InputValue, ProgressValue, RejectedFiles,
    };
    pub use crate::node::Node;
    pub use crate::props::Positional;
    pub use crate::render::*;
    pub use crate::state::{ArgDecoder, EventError, HandlerFuture, IntoActions, State, events};
    pub use serde_json::Value;
    pub use std::boxed::Box;
    pub use std::result::Result::{self, Err, Ok};
    pub use std::vec::Vec;

    /// A child or positional argument of a component call. The bound is on the argument
    /// (not the builder, whose span is the macro's), so a refusal is reported at the child.
    #[inline]
    pub fn positional<B, C: PositionalOf<B>>(builder: B, arg: C) -> B {
        arg.apply_to(builder)
    }

    /// `Positional` seen from the argument's side.
    #[diagnostic::on_unimplemented(
        message = "`{B}` does not take `{Self}` as a positional argument",
        label = "not accepted by `{B}`",
        note = "this component takes no children (or only a specific value, such as an icon's name): pass the rest through its props"
    )]
    pub trait PositionalOf<B> {
        /// Hands the argument to the builder.
        fn apply_to(self, builder: B) -> B;
    }

    #[diagnostic::do_not_recommend]
    impl<B: Positional<C>, C> PositionalOf<B> for C {
        #[inline]
        fn apply_to(self, builder: B) -> B {
            builder.positional(self)
        }
    }

    /// A component call's result as a node.
    #[inline]
    pub fn into_node(node: impl Into<Node>) -> Node {
        node.into()
    }

    /// A string literal child: borrowed, not copied.
    #[inline]
    pub fn static_text(text: &'static str) -> Node {
        Node::Text(std::borrow::Cow::Borrowed(text))
    }

    /// Runs a handler's result through `IntoActions`.
    #[inline]
    pub fn into_actions(result: impl IntoActions) -> crate::state::HandlerResult {
        result.into_actions()
    }
}
