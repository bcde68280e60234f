//! The Files guide as one page: links to assets, forced and renamed downloads, data made
//! by handlers (CSV, a PNG image, JSON of the page's state), and uploads with a drop zone,
//! progress, cancel and the list of uploaded files.
//!
//! Run it with `cargo run --example files` and open http://127.0.0.1:3000. Copied into a
//! crate of its own (with `assets/reflex_banner.png` beside it), it needs only `ferrex` in
//! `[dependencies]`.

use ferrex::prelude::*;

#[state]
#[derive(Default)]
struct DownloadState {
    /// Files uploaded so far (names under the upload folder).
    saved: Vec<String>,
    /// How far the running upload has come, 0–100.
    progress: f64,
    /// What the last upload did.
    status: String,
}

#[event]
impl DownloadState {
    /// Ten random numbers from 0 to 100, as a CSV file.
    fn download_random_data(&mut self) -> Download {
        // Std's hasher keys are random per process: random enough for a demo, no crate needed.
        use std::hash::BuildHasher;
        let random = std::hash::RandomState::new();
        let csv = (0..10)
            .map(|i| (random.hash_one(i) % 101).to_string())
            .collect::<Vec<_>>()
            .join(",");
        Download::data(csv).filename("random_numbers.csv")
    }

    /// A PNG drawn on the server.
    fn download_image(&mut self) -> Download {
        let img = ferrex::image::RgbImage::from_fn(64, 64, |x, y| {
            let band = if (x / 8 + y / 8) % 2 == 0 { 255 } else { 180 };
            ferrex::image::Rgb([(x * 4) as u8, (y * 4) as u8, band])
        });
        Download::data(img).filename("checkerboard.png")
    }

    /// The page's state as JSON.
    fn download_state(&mut self) -> Download {
        Download::json(&*self).filename("state.json")
    }

    async fn handle_upload(&mut self, files: Vec<UploadFile>) -> Result<(), UploadError> {
        let count = files.len();
        for file in files {
            let saved = file.persist_to_upload_dir().await?;
            self.saved.push(saved.name);
        }
        // `progress` is left to `upload_progress`: its last report (100 %) travels on the
        // WebSocket and may be handled before or after this, so resetting it here would
        // leave the bar at 0 or 100 depending on timing.
        self.status = format!("Uploaded {count} file(s).");
        Ok(())
    }

    fn upload_progress(&mut self, progress: UploadProgress) {
        self.progress = (progress.fraction * 100.0).round();
    }

    fn forget_uploads(&mut self) {
        self.saved.clear();
        self.status.clear();
    }
}

fn is_image(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg", ".gif", ".webp"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

fn index(s: &DownloadState) -> Node {
    ui! {
        container(
            vstack(
                heading("Files", level = 1),
                text("Download assets, files made on the server, and upload your own."),

                heading("Download", level = 2),
                heading("With a regular link", level = 3),
                link("Download", href = "/reflex_banner.png"),

                heading("With download", level = 3),
                hstack(
                    button(icon("download"), "Download",
                           on_click = download(url = "/reflex_banner.png")),
                    button("Download and Rename", variant = Variant::Outline,
                           on_click = download(url = "/reflex_banner.png",
                                               filename = "different_name_logo.png")),
                    wrap = true,
                ),

                heading("Data made by a handler", level = 3),
                hstack(
                    button("Download random numbers",
                           on_click = DownloadState::download_random_data),
                    button("Download an image", variant = Variant::Soft,
                           on_click = DownloadState::download_image),
                    button("Download the state as JSON", variant = Variant::Soft,
                           on_click = DownloadState::download_state),
                    button("Download the file list", variant = Variant::Ghost,
                           on_click = download(data = s.saved, filename = "uploaded.json")),
                    wrap = true,
                ),

                heading("Upload", level = 2),
                upload(
                    icon("upload"),
                    text("Drag and drop files here or click to select files"),
                    id = "files",
                    multiple = true,
                    max_files = 10,
                    max_size = 2u64 * 1024 * 1024 * 1024,
                ),
                selected_files("files"),
                hstack(
                    button("Upload",
                           on_click = DownloadState::handle_upload(
                               upload_files("files", on_upload_progress = DownloadState::upload_progress))),
                    button("Clear", variant = Variant::Outline,
                           on_click = clear_selected_files("files")),
                    button("Cancel", variant = Variant::Danger,
                           on_click = cancel_upload("files")),
                ),
                progress(value = s.progress, max = 100, id = "upload-progress"),
                if !s.status.is_empty() { text({ &s.status }, id = "upload-status") },

                heading("Uploaded files", level = 3),
                if s.saved.is_empty() {
                    text("Nothing uploaded yet.")
                } else {
                    list(
                        for name in &s.saved {
                            list_item(
                                if is_image(name) {
                                    image(src = upload_url(name), alt = name, width = 48, height = 48)
                                },
                                link(name, href = upload_url(name)),
                                " ",
                                button(icon("download"), variant = Variant::Ghost,
                                       aria_label = format!("Download {name}"),
                                       on_click = download(url = upload_url(name))),
                                key = name,
                            )
                        },
                        id = "uploaded",
                    ),
                    button("Forget the list", variant = Variant::Ghost,
                           on_click = DownloadState::forget_uploads),
                },
                gap = "0.9rem",
            ),
        )
    }
}

/// The app: the page, the assets folder beside this file (the same one `ui!` checks
/// `href = "/reflex_banner.png"` against at compile time; `#[ferrex::main]` would pick it
/// too, but the tests build the app without `main`).
pub fn app() -> App {
    App::new()
        .title("ferrex · Files")
        .page("/", index)
        .assets_dir(ferrex::assets_dir!())
}

#[allow(dead_code)]
#[ferrex::main]
fn main() -> App {
    app()
}
