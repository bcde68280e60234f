//! The page manifest: the typed facts about a rendered page that the server needs — its
//! drop zones with their limits, and which handler each zone uploads to — collected while
//! the page renders, so the server never reads them back out of the HTML.

use crate::action::ClientAction;
use crate::upload::UploadLimits;

/// What the server needs to know about a rendered page.
///
/// ```
/// use ferrex_core::prelude::*;
/// let page: Node = vstack().child(upload().id("f").max_files(2).multiple(true)).into();
/// let manifest = page.manifest();
/// assert_eq!(manifest.drop_zone("f").map(|l| l.file_count_limit()), Some(2));
/// assert!(manifest.drop_zone("g").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageManifest {
    zones: Vec<DropZone>,
    uploads: Vec<UploadTarget>,
}

/// A drop zone on a page: its id and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct DropZone {
    /// The zone's id.
    pub id: String,
    /// Its limits.
    pub limits: UploadLimits,
}

/// A drop zone whose files the page sends to a handler (an `on_drop`, or a button's
/// `State::method(upload_files(zone), …)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTarget {
    /// The zone's id.
    pub zone: String,
    /// The handler, `State.method`.
    pub handler: &'static str,
}

impl PageManifest {
    /// The limits of drop zone `id`, if the page has it (the first, if several share it).
    pub fn drop_zone(&self, id: &str) -> Option<&UploadLimits> {
        self.zones.iter().find(|z| z.id == id).map(|z| &z.limits)
    }

    /// Whether the page sends the files of drop zone `zone` to `handler` (`State.method`).
    /// The server accepts an upload only for such a pair, so a handler cannot be fed
    /// through another zone of the page whose limits are looser.
    pub fn uploads_to(&self, zone: &str, handler: &str) -> bool {
        self.uploads
            .iter()
            .any(|t| t.zone == zone && t.handler == handler)
    }

    /// The page's drop zones, in page order.
    pub fn zones(&self) -> &[DropZone] {
        &self.zones
    }

    /// Whether the page has neither drop zones nor uploads.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty() && self.uploads.is_empty()
    }

    /// Records what one element tells the server: the drop zone it is, if any, and the
    /// uploads its actions start.
    pub(crate) fn note<'a>(
        &mut self,
        zone: Option<&DropZone>,
        actions: impl IntoIterator<Item = &'a ClientAction>,
    ) {
        if let Some(zone) = zone {
            self.zones.push(zone.clone());
        }
        for action in actions {
            if let ClientAction::Upload { id, handler, .. } = action {
                self.uploads.push(UploadTarget {
                    zone: id.clone(),
                    handler,
                });
            }
        }
    }

    /// Adds another part of the page's facts.
    pub(crate) fn extend(&mut self, other: PageManifest) {
        self.zones.extend(other.zones);
        self.uploads.extend(other.uploads);
    }
}
