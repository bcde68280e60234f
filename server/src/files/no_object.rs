//! Without the `object-store` feature there is no object store: this type has no values,
//! so the code that uses one compiles to nothing.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;

use super::FileStoreError;

/// An object store, which this build cannot have.
#[derive(Debug)]
pub(crate) enum ObjectFiles {}

impl ObjectFiles {
    pub(crate) async fn stage(&self, _: &Path, _: u64) -> Result<String, FileStoreError> {
        match *self {}
    }

    pub(crate) fn delete_later(&self, _: &str) {
        match *self {}
    }

    pub(crate) async fn put_parked(&self, _: &str, _: Bytes) -> Result<(), FileStoreError> {
        match *self {}
    }

    pub(crate) async fn take_parked(
        self: &Arc<Self>,
        _: &str,
    ) -> Result<Option<(Body, u64)>, FileStoreError> {
        match **self {}
    }

    pub(crate) async fn serve(&self, _: &str, _: &HeaderMap) -> Response {
        match *self {}
    }

    pub(crate) fn shared_files(self: &Arc<Self>) -> Arc<dyn ferrex_core::upload::SharedFiles> {
        match **self {}
    }

    pub(crate) async fn size_of(&self, _: &str) -> Result<Option<u64>, FileStoreError> {
        match *self {}
    }
}
