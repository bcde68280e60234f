//! What the server takes from a rendered page: its HTML and its [`PageManifest`], collected
//! from a tree built by hand or taken as `ui!` wrote it.

use crate::manifest::PageManifest;
use crate::node::{Node, Rendered};
use crate::upload::UploadLimits;

impl Node {
    /// The page manifest of this node: its drop zones and uploads.
    pub fn manifest(&self) -> PageManifest {
        let mut manifest = PageManifest::default();
        self.collect_manifest(&mut manifest);
        manifest
    }

    fn collect_manifest(&self, manifest: &mut PageManifest) {
        match self {
            Node::Element(el) => {
                manifest.note(el.drop_zone(), el.all_actions());
                el.children()
                    .iter()
                    .for_each(|child| child.collect_manifest(manifest));
            }
            Node::Fragment(nodes) => nodes.iter().for_each(|n| n.collect_manifest(manifest)),
            Node::Rendered(rendered) => manifest.extend(rendered.manifest.clone()),
            Node::Empty | Node::Text(_) | Node::Trusted(_) => {}
        }
    }

    /// The limits of drop zone `zone` on this page, if the page has it. The server reads
    /// them from its own rendering, never from the browser.
    ///
    /// ```
    /// use ferrex_core::prelude::*;
    /// let page: Node = vstack().child(upload().id("f").max_files(2).multiple(true)).into();
    /// assert_eq!(page.upload_limits("f").unwrap().file_count_limit(), 2);
    /// assert!(page.upload_limits("g").is_none());
    /// ```
    pub fn upload_limits(&self, zone: &str) -> Option<UploadLimits> {
        self.manifest().drop_zone(zone).cloned()
    }

    /// Whether this page sends the files of drop zone `zone` to `handler` (`State.method`);
    /// see [`PageManifest::uploads_to`].
    ///
    /// ```
    /// use ferrex_core::prelude::*;
    /// let page: Node = vstack().child(upload().id("f")).into();
    /// assert!(!page.uploads_to("f", "Files.handle"));
    /// ```
    pub fn uploads_to(&self, zone: &str, handler: &str) -> bool {
        self.manifest().uploads_to(zone, handler)
    }

    /// The page's HTML and its manifest, without copying either for markup `ui!` wrote.
    pub fn into_page(self) -> (String, PageManifest) {
        match self {
            Node::Rendered(rendered) => {
                let Rendered { html, manifest } = *rendered;
                (html, manifest)
            }
            other => {
                let manifest = other.manifest();
                (other.into_html(), manifest)
            }
        }
    }
}
