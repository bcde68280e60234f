//! Request logs for development, switched on by `FERREX_LOG`: one line per request
//! (`GET /page 200 1.2 ms`) through `tracing`, printed to stderr when the app has set up no
//! tracing of its own.

use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The variable that switches request logs on: `FERREX_LOG=1` (or `info`) logs each
/// request, `FERREX_LOG=debug` adds ferrex's own details; any `tracing` target list
/// (`ferrex=info,my_app=debug`) works.
pub(crate) const VARIABLE: &str = "FERREX_LOG";

/// The router with request logs when `FERREX_LOG` asks for them, else unchanged.
pub(crate) fn from_env(router: Router) -> (Router, Option<String>) {
    let Some(wanted) = std::env::var(VARIABLE)
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return (router, None);
    };
    let mut warning = None;
    let filter = match wanted.trim() {
        "0" | "off" | "false" => return (router, None),
        "1" | "on" | "true" => Targets::new().with_default(tracing::Level::INFO),
        other => other.parse().unwrap_or_else(|_| {
            warning = Some(format!(
                "{VARIABLE}=`{other}` is not a log level or target list (try `FERREX_LOG=info`): logging at info"
            ));
            Targets::new().with_default(tracing::Level::INFO)
        }),
    };
    // An app that set up tracing itself keeps it; this only fills the gap.
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false),
        )
        .with(filter)
        .try_init();
    (
        router.layer(axum::middleware::from_fn(log_request)),
        warning,
    )
}

async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target: "ferrex::request",
        "{method} {path} {} {millis:.1} ms",
        response.status().as_u16()
    );
    response
}
