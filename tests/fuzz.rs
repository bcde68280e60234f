//! Property-based fuzzing (proptest) of everything ferrex decodes from a client: the event
//! message (directly, through `POST /_ferrex/event` and over the WebSocket), `data:` URIs,
//! the upload file-name sanitizer, and multipart bodies through `POST /_ferrex/upload`.
//!
//! Every target runs a fixed number of cases (set below, not proptest's default) and
//! shrinks for a bounded time, so the file stays well under two minutes on two cores
//! (`FERREX_FUZZ_SCALE=10` multiplies the cases, for a longer run by hand). The
//! server targets use a real app on 127.0.0.1 with a random port; the upload folder is a
//! fresh folder under `CARGO_TARGET_TMPDIR`. Failures are not persisted to files: a case
//! that once failed is kept below as a plain regression test.

#[allow(unused_imports)] // the browser half of the helpers is unused here
mod support;

use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferrex::EventMessage;
use ferrex::download::decode_data_uri;
use ferrex::path_safety::{
    MAX_DEPTH, MAX_SEGMENT_BYTES, sanitize_file_name, sanitize_relative_path, stays_inside,
};
use ferrex::prelude::*;
use futures_util::SinkExt;
use proptest::prelude::{Just, ProptestConfig, Strategy, any, prop, prop_assert, prop_oneof};
use proptest::test_runner::{TestCaseError, TestRunner};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::{Value, json};
use support::disk::{listing, names_in, scratch, temp_files};
use support::forms::{upload_event, upload_form};
use support::http::{arrive, page_event, post_event_body, status_json, upload_response};
use support::ws::{next_json, open_socket};
use support::{PATIENCE, TestServer};
use tokio_tungstenite::tungstenite::Message;

/// A bounded proptest configuration: `cases` cases (times `FERREX_FUZZ_SCALE`, 1 unless
/// set, for a longer hunt by hand), at most ~20 s of shrinking, no failure files.
fn config(cases: u32) -> ProptestConfig {
    let scale = std::env::var("FERREX_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    ProptestConfig {
        cases: cases.saturating_mul(scale),
        max_shrink_iters: 2048,
        max_shrink_time: 20_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs `test` on `cases` values of `strategy`; a failure panics with the (shrunk) input.
fn check<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(config(cases));
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("{failure}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

// ---------------------------------------------------------------------------------------
// Generators shared by several targets.

/// Text that tends to break parsers and file systems.
const HOSTILE: &[&str] = &[
    "..",
    ".",
    "...",
    "%2e%2e",
    "%2E%2E%2F",
    "%00",
    "\0",
    "/",
    "\\",
    "//",
    "../",
    "..\\",
    "./",
    " ",
    "\t",
    "\r\n",
    "\u{7f}",
    "\u{85}",
    "\u{202a}",
    "\u{202b}",
    "\u{202c}",
    "\u{202d}",
    "\u{202e}",
    "\u{2066}",
    "\u{2067}",
    "\u{2068}",
    "\u{2069}",
    "\u{200e}",
    "\u{200f}",
    "\u{61c}",
    "\u{feff}",
    "\u{200b}",
    "\u{2028}",
    "CON",
    "con",
    "PRN",
    "AUX",
    "NUL",
    "nul.txt",
    "COM1",
    "LPT9",
    "com0",
    "CON .txt",
    "aux.tar.gz",
    "C:",
    "c:\\windows\\",
    ":",
    "*",
    "?",
    "\"",
    "<",
    ">",
    "|",
    "~",
    "é",
    "e\u{301}",
    "日本語",
    "😀",
    ".txt",
    ".gitignore",
    "a.b.c",
    "name.",
    "name ",
    " name",
    ".hidden",
    "file",
    "{\"",
    "\"}",
    "[",
    "]",
    ",",
    "null",
    "-1",
    "18446744073709551616",
    "1e999",
    "\\u0000",
    "\\ud800",
];

/// One piece of a hostile string: a known troublemaker, a short word, any character, or a
/// long run (up to 300 repeats) of something.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(HOSTILE).prop_map(str::to_owned),
        2 => "[a-z0-9]{1,8}",
        2 => any::<char>().prop_map(String::from),
        1 => (prop::sample::select(&[".", "a", " ", "é", "😀", "\u{202e}", "../"][..]), 1..300usize)
            .prop_map(|(s, n)| s.repeat(n)),
        1 => (1..300usize, 0..40usize).prop_map(|(stem, ext)| {
            format!("{}.{}", "x".repeat(stem), "y".repeat(ext))
        }),
    ]
}

/// A hostile string: a few pieces glued together, or any string at all.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(piece(), 0..8).prop_map(|p| p.concat()),
        1 => any::<String>(),
    ]
}

/// JSON values (floats limited to ones that survive a text round trip exactly).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1_000_000i32..1_000_000).prop_map(|n| Value::from(f64::from(n) / 8.0)),
        hostile_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Object keys: mostly the event message's own, so near-miss messages are common.
fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&["id", "page", "h", "args", "rev", "zone", "$upload"][..])
            .prop_map(str::to_owned),
        1 => hostile_string(),
    ]
}

// ---------------------------------------------------------------------------------------
// (a) The event message decoder.

/// Whether a JSON value has the shape of an event message: an object with only `id`,
/// `page`, `h`, `args` and `rev`, string `page` and `h`, and an `id` and a `rev` that are
/// absent, null or unsigned 64-bit integers.
fn is_event_shape(value: &Value) -> bool {
    let Some(map) = value.as_object() else {
        return false;
    };
    map.keys()
        .all(|k| matches!(k.as_str(), "id" | "page" | "h" | "args" | "rev"))
        && map.get("page").is_some_and(Value::is_string)
        && map.get("h").is_some_and(Value::is_string)
        && map.get("id").is_none_or(|id| id.is_null() || id.is_u64())
        && map
            .get("rev")
            .is_none_or(|rev| rev.is_null() || rev.is_u64())
}

/// A valid message's fields: id, page, handler, arguments.
fn valid_event() -> impl Strategy<Value = (Option<u64>, String, String, Value)> {
    (
        prop::option::of(any::<u64>()),
        hostile_string(),
        hostile_string(),
        json_value(),
    )
}

fn event_json(id: Option<u64>, page: &str, h: &str, args: &Value) -> Value {
    let mut message = json!({ "page": page, "h": h, "args": args });
    if let Some(id) = id {
        message["id"] = json!(id);
    }
    message
}

/// Bytes the event decoder accepted, as JSON: whatever it accepts must be JSON of the
/// message's shape.
fn accepted_event(bytes: &[u8]) -> Result<Value, TestCaseError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| TestCaseError::fail(format!("accepted non-JSON: {e}")))?;
    prop_assert!(is_event_shape(&value), "accepted {value}");
    Ok(value)
}

#[test]
fn the_event_decoder_never_panics_on_arbitrary_bytes() {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        hostile_string().prop_map(String::into_bytes),
    ];
    check(3000, bytes, |bytes| {
        if EventMessage::decode(&bytes).is_ok() {
            accepted_event(&bytes)?;
        }
        Ok(())
    });
}

#[test]
fn the_event_decoder_never_panics_on_mutated_messages() {
    // A valid message with a few bytes overwritten, inserted or removed.
    let mutated = (
        valid_event(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6),
    )
        .prop_map(|((id, page, h, args), edits)| {
            let mut bytes = serde_json::to_vec(&event_json(id, &page, &h, &args))
                .expect("a JSON value serialises");
            for (at, byte, op) in edits {
                let i = at.index(bytes.len() + 1);
                match op {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => bytes.push(byte),
                }
            }
            bytes
        });
    check(3000, mutated, |bytes| {
        if let Ok(event) = EventMessage::decode(&bytes) {
            let value = accepted_event(&bytes)?;
            let page = value.get("page");
            prop_assert!(page.and_then(Value::as_str) == Some(event.page.as_str()));
        }
        Ok(())
    });
}

#[test]
fn the_event_decoder_accepts_exactly_the_messages_of_the_right_shape() {
    check(3000, json_value(), |value| {
        let bytes = serde_json::to_vec(&value).expect("a JSON value serialises");
        let decoded = EventMessage::decode(&bytes);
        prop_assert!(
            decoded.is_ok() == is_event_shape(&value),
            "{value} → {decoded:?}"
        );
        Ok(())
    });
}

#[test]
fn valid_event_messages_round_trip_their_fields() {
    check(
        3000,
        (valid_event(), any::<bool>(), any::<bool>()),
        |((id, page, h, args), pretty, null_id)| {
            let mut message = event_json(id, &page, &h, &args);
            if id.is_none() && null_id {
                message["id"] = Value::Null;
            }
            let bytes = if pretty {
                serde_json::to_vec_pretty(&message)
            } else {
                serde_json::to_vec(&message)
            }
            .expect("a JSON value serialises");
            let event = EventMessage::decode(&bytes)
                .map_err(|e| TestCaseError::fail(format!("{message} refused: {e}")))?;
            prop_assert!(event.id == id);
            prop_assert!(event.page == page);
            prop_assert!(event.handler == h);
            prop_assert!(event.args == args, "{} != {}", event.args, args);
            Ok(())
        },
    );
}

#[derive(Default, Serialize, Deserialize)]
struct Fz {
    count: i64,
    label: String,
}

#[event]
impl Fz {
    fn add(&mut self, by: i64) {
        self.count = self.count.saturating_add(by);
    }

    fn rename(&mut self, label: String, times: u8) {
        self.label = label.repeat(usize::from(times.min(4)));
    }

    fn reset(&mut self) {
        self.count = 0;
    }

    async fn add_later(&mut self, by: i32) {
        tokio::task::yield_now().await;
        self.count = self.count.saturating_add(i64::from(by));
    }
}

fn fz_page(s: &Fz) -> Node {
    ui! {
        vstack(
            text(format!("count={}", s.count), id = "count"),
            text(s.label.clone(), id = "label"),
            button("+1", on_click = Fz::add(1)),
        )
    }
}

/// An event body for the server: raw bytes, any JSON, or a near-valid message.
fn event_body() -> impl Strategy<Value = Vec<u8>> {
    let handler = prop_oneof![
        4 => prop::sample::select(
            &[
                "Fz.add", "Fz.rename", "Fz.reset", "Fz.add_later", "Fz.nope", "Fz", "Fz.",
                ".add", "Nope.add", "Fz.add.x", "", "fz.add", "Fz.dispatch", "Fz.count",
            ][..],
        )
        .prop_map(str::to_owned),
        1 => hostile_string(),
    ];
    let page = prop_oneof![
        4 => prop::sample::select(&["/", "", "/nope", "//", "/..", "/%2e", "\0"][..])
            .prop_map(str::to_owned),
        1 => hostile_string(),
    ];
    let args = prop_oneof![
        Just(json!([])),
        any::<i64>().prop_map(|n| json!([n])),
        any::<i32>().prop_map(|n| json!([n])),
        (hostile_string(), any::<u8>()).prop_map(|(s, n)| json!([s, n])),
        json_value(),
    ];
    let near_valid =
        (prop::option::of(any::<u64>()), page, handler, args).prop_map(|(id, page, h, args)| {
            serde_json::to_vec(&event_json(id, &page, &h, &args)).expect("serialises")
        });
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => json_value().prop_map(|v| serde_json::to_vec(&v).expect("serialises")),
        4 => near_valid,
    ]
}

/// Resets the counter, adds 5 and checks the page shows it: the session still works.
async fn counter_still_works(client: &reqwest::Client, server: &TestServer, cookie: &str) {
    let reset = page_event("Fz.reset", json!([]));
    let (status, reply) = post_event_body(client, server, Some(cookie), None, reset).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let add = page_event("Fz.add", json!([5]));
    let (status, reply) = post_event_body(client, server, Some(cookie), None, add).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let html = reply["html"].as_str().unwrap_or_default();
    assert!(html.contains("count=5"), "{reply}");
}

/// A runtime, the `Fz` page on a server in it, a client and the `Cookie` of a session.
fn start_fz() -> (tokio::runtime::Runtime, TestServer, reqwest::Client, String) {
    let rt = runtime();
    let server = rt.block_on(TestServer::start(App::new().page("/", fz_page)));
    let cookie = rt.block_on(arrive(&server));
    (rt, server, reqwest::Client::new(), cookie)
}

#[test]
fn arbitrary_event_posts_never_get_a_server_error() {
    let (rt, server, client, cookie) = start_fz();

    check(200, event_body(), |body| {
        rt.block_on(async {
            let (status, reply) =
                post_event_body(&client, &server, Some(&cookie), None, body.clone()).await;
            prop_assert!(
                [
                    StatusCode::OK,
                    StatusCode::BAD_REQUEST,
                    StatusCode::NOT_FOUND,
                    StatusCode::UNPROCESSABLE_ENTITY
                ]
                .contains(&status),
                "{status} for {:?}: {reply}",
                String::from_utf8_lossy(&body)
            );
            if status == StatusCode::OK {
                prop_assert!(reply["error"].is_null(), "{reply}");
            } else {
                prop_assert!(reply["error"].is_string(), "{reply}");
            }
            Ok(())
        })
    });
    rt.block_on(counter_still_works(&client, &server, &cookie));
}

#[test]
fn arbitrary_socket_frames_each_get_a_reply_and_the_socket_stays_open() {
    let (rt, server, client, cookie) = start_fz();
    let socket = tokio::sync::Mutex::new(rt.block_on(open_socket(&server, &cookie)));

    check(200, event_body(), |body| {
        rt.block_on(async {
            let mut socket = socket.lock().await;
            let frame = match String::from_utf8(body.clone()) {
                Ok(text) => Message::Text(text.into()),
                Err(_) => Message::Binary(body.clone().into()),
            };
            socket.send(frame).await.expect("the frame is sent");
            let reply = next_json(&mut *socket).await;
            prop_assert!(reply.is_object(), "{reply}");
            // A message the server decoded echoes its id.
            if let Ok(event) = EventMessage::decode(&body) {
                prop_assert!(reply["id"] == json!(event.id), "{reply}");
            }
            Ok(())
        })
    });

    rt.block_on(async {
        let mut socket = socket.lock().await;
        let reset = json!({"id": 1, "page": "/", "h": "Fz.reset", "args": []});
        socket
            .send(Message::Text(reset.to_string().into()))
            .await
            .expect("sent");
        let reply = next_json(&mut *socket).await;
        assert_eq!(reply["error"], Value::Null, "{reply}");
        let add = json!({"id": 2, "page": "/", "h": "Fz.add", "args": [5]});
        socket
            .send(Message::Text(add.to_string().into()))
            .await
            .expect("sent");
        let reply = next_json(&mut *socket).await;
        assert_eq!(reply["id"], 2, "{reply}");
        assert!(
            reply["html"]
                .as_str()
                .unwrap_or_default()
                .contains("count=5"),
            "{reply}"
        );
    });
    // And plain HTTP still answers for the same session.
    rt.block_on(counter_still_works(&client, &server, &cookie));
}

// ---------------------------------------------------------------------------------------
// (b) The `data:` URI decoder.

/// Media types without commas: `type/subtype` with parameters, parameters alone, or none.
fn media_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z]{1,10}/[a-z0-9.+-]{1,12}(;[a-z]{1,8}=[a-z0-9-]{1,8}){0,2}",
        "(;[a-z]{1,8}=[a-z0-9-]{1,8}){1,2}",
    ]
}

/// What RFC 2397 says the media type of `data:<mt>,…` is.
fn expected_media_type(mt: &str) -> String {
    if mt.is_empty() {
        "text/plain;charset=US-ASCII".to_owned()
    } else if mt.starts_with(';') {
        format!("text/plain{mt}")
    } else {
        mt.to_owned()
    }
}

/// `data:` with its letters in a chosen case.
fn scheme(upper: u8) -> String {
    "data:"
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if upper & (1 << i) != 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

fn percent(byte: u8, upper: bool) -> String {
    if upper {
        format!("%{byte:02X}")
    } else {
        format!("%{byte:02x}")
    }
}

#[test]
fn the_data_uri_decoder_never_panics() {
    let uri = prop_oneof![
        any::<String>(),
        hostile_string(),
        (any::<u8>(), hostile_string(), hostile_string())
            .prop_map(|(upper, header, data)| { format!("{}{header},{data}", scheme(upper)) }),
        (
            any::<u8>(),
            media_type(),
            any::<bool>(),
            prop::collection::vec(
                prop::sample::select(
                    &["%", "%4", "%zz", "%41", "A", "=", "+", "/", " ", "é", ","][..]
                ),
                0..20,
            ),
        )
            .prop_map(|(upper, mt, b64, data)| {
                let flag = if b64 { ";base64" } else { "" };
                format!("{}{mt}{flag},{}", scheme(upper), data.concat())
            }),
    ];
    check(4000, uri, |uri| {
        let _ = decode_data_uri(&uri);
        Ok(())
    });
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 (RFC 4648) of `bytes` in `alphabet`, with or without `=` padding.
fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(alphabet[(n >> (18 - 6 * i)) as usize & 63]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_data_uris_decode_to_the_bytes_and_media_type() {
    let case = (
        any::<u8>(),
        media_type(),
        prop::collection::vec(any::<u8>(), 0..600),
        0..3u8,
        prop::collection::vec(any::<bool>(), 0..64),
    );
    check(2000, case, |(upper, mt, bytes, engine, escape)| {
        let encoded = match engine {
            0 => base64(&bytes, STANDARD, true),
            1 => base64(&bytes, STANDARD, false),
            _ => base64(&bytes, URL_SAFE, true),
        };
        // Some characters percent-escaped, as a URI may carry them.
        let data: String = encoded
            .bytes()
            .enumerate()
            .map(|(i, b)| {
                if escape.get(i).copied().unwrap_or(false) {
                    percent(b, i % 2 == 0)
                } else {
                    char::from(b).to_string()
                }
            })
            .collect();
        let uri = format!("{}{mt};base64,{data}", scheme(upper));
        let (got_type, got) =
            decode_data_uri(&uri).map_err(|e| TestCaseError::fail(format!("{uri}: {e}")))?;
        prop_assert!(got_type == expected_media_type(&mt), "{got_type} for {uri}");
        prop_assert!(got == bytes, "{uri}");
        Ok(())
    });
}

#[test]
fn percent_encoded_data_uris_decode_to_the_bytes_and_media_type() {
    let case = (
        any::<u8>(),
        media_type(),
        prop::collection::vec((any::<u8>(), any::<bool>(), any::<bool>()), 0..600),
    );
    check(2000, case, |(upper, mt, bytes)| {
        // Printable ASCII other than `%` may go as it is; everything else is escaped.
        let data: String = bytes
            .iter()
            .map(|&(b, raw, upper_hex)| {
                if raw && b.is_ascii_graphic() && b != b'%' {
                    char::from(b).to_string()
                } else {
                    percent(b, upper_hex)
                }
            })
            .collect();
        let uri = format!("{}{mt},{data}", scheme(upper));
        let (got_type, got) =
            decode_data_uri(&uri).map_err(|e| TestCaseError::fail(format!("{uri}: {e}")))?;
        let want: Vec<u8> = bytes.iter().map(|&(b, _, _)| b).collect();
        prop_assert!(got_type == expected_media_type(&mt), "{got_type} for {uri}");
        prop_assert!(got == want, "{uri}");
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------
// (c) The file-name sanitizer.

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Windows' reserved device names, which name a device whatever extension follows.
fn is_reserved_on_windows(segment: &str) -> bool {
    let stem = segment
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.len() == 4
            && upper.as_bytes()[3].is_ascii_digit())
        || ["COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"].contains(&upper.as_str())
}

/// What is wrong with one sanitized segment, if anything.
fn segment_problem(segment: &str) -> Option<String> {
    if segment.is_empty() {
        return Some("empty".into());
    }
    if segment.contains(['/', '\\']) {
        return Some("contains a separator".into());
    }
    if let Some(c) = segment.chars().find(|c| c.is_control()) {
        return Some(format!("contains control character {c:?}"));
    }
    if let Some(c) = segment.chars().find(|c| is_bidi_control(*c)) {
        return Some(format!("contains bidi control {c:?}"));
    }
    if segment.len() > MAX_SEGMENT_BYTES {
        return Some(format!("{} bytes > {MAX_SEGMENT_BYTES}", segment.len()));
    }
    if segment.ends_with(['.', ' ']) {
        return Some("ends in a dot or space (which Windows strips)".into());
    }
    if is_reserved_on_windows(segment) {
        return Some("a Windows device name".into());
    }
    None
}

/// A client-sent relative path: hostile names joined by `/` or `\`, up to 24 deep.
fn hostile_path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (
            prop::collection::vec(hostile_string(), 0..24),
            prop::sample::select(&["/", "\\", "//", "/./", "/../"][..]),
        )
            .prop_map(|(parts, sep)| parts.join(sep)),
        1 => hostile_string(),
    ]
}

/// What is wrong with a sanitized relative path, if anything (lexically).
fn path_problem(relative: &str) -> Option<String> {
    let segments: Vec<&str> = relative.split('/').collect();
    if segments.len() > MAX_DEPTH + 1 {
        return Some(format!("{} segments", segments.len()));
    }
    for segment in &segments {
        if let Some(problem) = segment_problem(segment) {
            return Some(format!("segment {segment:?}: {problem}"));
        }
    }
    if !stays_inside(relative) {
        return Some("stays_inside says no".into());
    }
    let base = Path::new("/srv/uploads");
    let joined = base.join(relative);
    let rest = joined
        .strip_prefix(base)
        .ok()
        .map(|rest| rest.components().all(|c| matches!(c, Component::Normal(_))));
    if rest != Some(true) {
        return Some(format!(
            "joined to {} it is {}",
            base.display(),
            joined.display()
        ));
    }
    None
}

/// Sanitizes 4000 inputs from `inputs`; fails on the first result `problem` finds fault with.
fn check_sanitizer(
    inputs: impl Strategy<Value = String>,
    sanitize: fn(&str) -> String,
    problem: fn(&str) -> Option<String>,
) {
    check(4000, inputs, |input| {
        let clean = sanitize(&input);
        match problem(&clean) {
            Some(problem) => Err(TestCaseError::fail(format!(
                "{input:?} → {clean:?}: {problem}"
            ))),
            None => Ok(()),
        }
    });
}

#[test]
fn sanitized_file_names_are_single_safe_segments() {
    check_sanitizer(hostile_string(), sanitize_file_name, segment_problem);
}

#[test]
fn sanitized_relative_paths_stay_inside_the_upload_folder() {
    check_sanitizer(hostile_path(), sanitize_relative_path, path_problem);
}

#[test]
fn sanitized_paths_created_on_disk_stay_inside_the_folder() {
    let tmp = scratch("fuzz-names-");
    let uploads = tmp.path().join("uploads");
    let case = std::sync::atomic::AtomicUsize::new(0);
    check(160, hostile_path(), |path| {
        // A folder per case, so one case's file cannot stand where another's folder goes.
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = uploads.join(n.to_string());
        std::fs::create_dir_all(&base).expect("the upload folder");
        let canonical_base = base.canonicalize().expect("the upload folder");
        let clean = sanitize_relative_path(&path);
        let file = base.join(&clean);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                TestCaseError::fail(format!("{path:?} → {clean:?}: cannot create folder: {e}"))
            })?;
        }
        std::fs::write(&file, b"x").map_err(|e| {
            TestCaseError::fail(format!("{path:?} → {clean:?}: cannot create file: {e}"))
        })?;
        let real = file
            .canonicalize()
            .map_err(|e| TestCaseError::fail(format!("{clean:?}: {e}")))?;
        prop_assert!(
            real.starts_with(&canonical_base) && real != canonical_base,
            "{path:?} → {clean:?} is {}",
            real.display()
        );
        Ok(())
    });
    // Nothing appeared beside the upload folder.
    assert_eq!(names_in(tmp.path()), ["uploads"]);
}

// ---------------------------------------------------------------------------------------
// (d) Multipart uploads.

/// Every file the handler stored, as `persist_to_upload_dir` reported it.
static STORED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

#[derive(Default, Serialize, Deserialize)]
struct Bin {
    stored: u64,
}

#[event]
impl Bin {
    async fn keep(&mut self, files: Vec<UploadFile>) -> Result<(), UploadError> {
        for file in files {
            let saved = file.persist_to_upload_dir().await?;
            STORED
                .lock()
                .expect("the stored list is poisoned")
                .push(saved.path);
            self.stored += 1;
        }
        Ok(())
    }
}

fn bin_page(s: &Bin) -> Node {
    ui! {
        vstack(
            text(format!("stored={}", s.stored), id = "stored"),
            upload(text("Anything"), id = "any", multiple = true),
            upload(
                text("Small text"),
                id = "small",
                multiple = true,
                max_files = 3,
                max_size = 512u32,
                accept = [".txt", "text/*"],
            ),
            button("Send", on_click = Bin::keep(upload_files("any"))),
            button("Send small", on_click = Bin::keep(upload_files("small"))),
        )
    }
}

/// One part of a multipart body: its header lines and its body.
#[derive(Debug, Clone)]
struct PartSpec {
    headers: Vec<String>,
    body: Vec<u8>,
}

/// How a generated body ends.
#[derive(Debug, Clone)]
enum Ending {
    Closed,
    Unclosed,
    /// Cut after this fraction (in 1/1000) of the bytes.
    Truncated(u16),
    /// Closed, then garbage.
    Trailing(Vec<u8>),
}

#[derive(Debug, Clone)]
struct UploadCase {
    boundary: String,
    content_type: String,
    parts: Vec<PartSpec>,
    ending: Ending,
    /// Instead of all of the above, these bytes.
    garbage: Option<Vec<u8>>,
}

/// A filename as it appears in `Content-Disposition`: hostile, with `"` and line breaks
/// escaped the way browsers do (or, sometimes, not).
fn filename_param() -> impl Strategy<Value = String> {
    (hostile_path(), 0..4u8, 0..4u8).prop_map(|(name, escape, form)| {
        let name = if escape > 0 {
            name.replace('"', "%22")
                .replace('\r', "%0D")
                .replace('\n', "%0A")
        } else {
            name
        };
        match form {
            0 => format!("; filename=\"{name}\""),
            1 => format!("; filename={name}"),
            2 => format!(
                "; filename*=UTF-8''{}",
                name.bytes().map(|b| percent(b, true)).collect::<String>()
            ),
            _ => String::new(),
        }
    })
}

fn file_part() -> impl Strategy<Value = PartSpec> {
    let content_type = prop_oneof![
        3 => Just(None),
        3 => prop::sample::select(
            &[
                "text/plain",
                "application/octet-stream",
                "image/png",
                "",
                "text/html; charset=utf-8",
                "x",
                "*/*",
            ][..]
        )
        .prop_map(|s| Some(s.to_owned())),
        1 => hostile_string().prop_map(Some),
    ];
    let body = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..1500),
        1 => (0..3000usize).prop_map(|n| vec![b'a'; n]),
        1 => prop::collection::vec(
            prop::sample::select(&["\r\n", "--", "\r\n--", "x", "\r\n\r\n", "Content-Disposition: "][..]),
            0..40
        )
        .prop_map(|p| p.concat().into_bytes()),
    ];
    (filename_param(), content_type, body, 0..16u8).prop_map(|(filename, ct, body, name)| {
        let field = if name == 0 { "fil" } else { "file" };
        let mut headers = vec![format!(
            "Content-Disposition: form-data; name=\"{field}\"{filename}"
        )];
        headers.extend(ct.map(|ct| format!("Content-Type: {ct}")));
        PartSpec { headers, body }
    })
}

fn event_part() -> impl Strategy<Value = PartSpec> {
    let valid = |h: &str, zone: &str| {
        json!({"page": "/", "h": h, "args": [{"$upload": zone}], "zone": zone}).to_string()
    };
    let event = prop_oneof![
        6 => Just(valid("Bin.keep", "any")),
        3 => Just(valid("Bin.keep", "small")),
        1 => Just(valid("Bin.keep", "nope")),
        1 => Just(valid("Bin.nope", "any")),
        1 => Just(json!({"page": "/", "h": "Bin.keep", "args": [], "zone": "any"}).to_string()),
        1 => Just(json!({"page": "/nope", "h": "Bin.keep", "args": [], "zone": "any"}).to_string()),
        1 => json_value().prop_map(|v| v.to_string()),
        1 => hostile_string(),
        1 => (1..100_000usize).prop_map(|n| format!("{{\"page\":\"{}\"}}", "a".repeat(n))),
    ];
    (event, any::<bool>()).prop_map(|(event, quoted)| {
        let name = if quoted { "\"event\"" } else { "event" };
        PartSpec {
            headers: vec![format!("Content-Disposition: form-data; name={name}")],
            body: event.into_bytes(),
        }
    })
}

fn odd_part() -> impl Strategy<Value = PartSpec> {
    (
        prop::collection::vec(hostile_string(), 0..3),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(headers, body)| PartSpec { headers, body })
}

fn upload_case() -> impl Strategy<Value = UploadCase> {
    let boundary = "[A-Za-z0-9'()+_,./:=? -]{0,69}[A-Za-z0-9'()+_,./:=?-]";
    let parts = (
        event_part(),
        prop::collection::vec(
            prop_oneof![16 => file_part(), 1 => odd_part(), 1 => event_part()],
            0..5,
        ),
        0..5u8,
    )
        .prop_flat_map(|(event, rest, order)| {
            let mut parts = vec![event];
            parts.extend(rest);
            if order == 0 {
                Just(parts).prop_shuffle().boxed()
            } else {
                Just(parts).boxed()
            }
        });
    let ending = prop_oneof![
        12 => Just(Ending::Closed),
        1 => Just(Ending::Unclosed),
        2 => (0..1000u16).prop_map(Ending::Truncated),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(Ending::Trailing),
    ];
    let header_form = 0..16u8;
    let garbage = prop_oneof![
        19 => Just(None),
        1 => prop::collection::vec(any::<u8>(), 0..2000).prop_map(Some),
    ];
    (boundary, parts, ending, header_form, garbage).prop_map(
        |(boundary, parts, ending, form, garbage)| {
            // Mostly quoted (any boundary character is allowed in quotes); sometimes bare,
            // missing, wrong or not multipart at all.
            let content_type = match form {
                0 => format!("multipart/form-data; boundary={boundary}"),
                1 => "multipart/form-data".to_owned(),
                2 => "multipart/form-data; boundary=\"other\"".to_owned(),
                3 => "text/plain".to_owned(),
                _ => format!("multipart/form-data; boundary=\"{boundary}\""),
            };
            UploadCase {
                boundary,
                content_type,
                parts,
                ending,
                garbage,
            }
        },
    )
}

impl UploadCase {
    fn body(&self) -> Vec<u8> {
        if let Some(garbage) = &self.garbage {
            return garbage.clone();
        }
        let mut out = Vec::new();
        for part in &self.parts {
            out.extend_from_slice(format!("--{}\r\n", self.boundary).as_bytes());
            for header in &part.headers {
                out.extend_from_slice(header.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&part.body);
            out.extend_from_slice(b"\r\n");
        }
        match &self.ending {
            Ending::Closed => {
                out.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
            }
            Ending::Unclosed => {}
            Ending::Truncated(per_mille) => {
                out.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
                out.truncate(out.len() * usize::from(*per_mille) / 1000);
            }
            Ending::Trailing(garbage) => {
                out.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
                out.extend_from_slice(garbage);
            }
        }
        out
    }
}

/// Waits (at most 10 s) until no temporary upload file is left under `dir`.
async fn no_temp_files_left(dir: &Path) -> Result<(), TestCaseError> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = temp_files(dir);
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(TestCaseError::fail(format!(
                "temporary files left: {left:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn arbitrary_multipart_uploads_fail_cleanly_and_store_only_inside_the_folder() {
    let tmp = scratch("fuzz-upload-");
    let dir = tmp.path().join("uploads");
    let rt = runtime();
    let server = rt.block_on(TestServer::start(
        App::new().page("/", bin_page).upload_dir(&dir),
    ));
    let client = reqwest::Client::new();
    let cookie = rt.block_on(arrive(&server));
    let statuses_seen = Mutex::new(std::collections::BTreeMap::<u16, u32>::new());

    check(200, upload_case(), |case| {
        let body = case.body();
        rt.block_on(async {
            let response = client
                .post(server.url("/_ferrex/upload"))
                .header(COOKIE, &cookie)
                .header(CONTENT_TYPE, &case.content_type)
                .body(body)
                .send()
                .await
                .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            *statuses_seen
                .lock()
                .expect("the status count")
                .entry(status.as_u16())
                .or_default() += 1;
            let reply: Value = serde_json::from_str(&text).map_err(|e| {
                TestCaseError::fail(format!("{status}: the reply is not JSON ({e}): {text}"))
            })?;
            if status.is_server_error() {
                let error = reply["error"].as_str().unwrap_or_default();
                prop_assert!(
                    error.contains("could not store"),
                    "{status} that is not a storage error: {reply}"
                );
            }
            no_temp_files_left(&dir).await?;
            Ok(())
        })?;
        // Everything stored is a file or folder inside the upload folder, with safe names.
        let canonical = dir.canonicalize().ok();
        for path in listing(&dir).into_iter().map(|relative| dir.join(relative)) {
            let relative = path
                .strip_prefix(&dir)
                .map_err(|_| TestCaseError::fail(format!("{} is outside", path.display())))?;
            for component in relative.components() {
                let Component::Normal(name) = component else {
                    return Err(TestCaseError::fail(format!("{}", path.display())));
                };
                let name = name.to_string_lossy();
                prop_assert!(
                    !name.contains('\\') && !name.chars().any(char::is_control),
                    "stored name {name:?}"
                );
            }
            let real = path
                .canonicalize()
                .map_err(|e| TestCaseError::fail(format!("{}: {e}", path.display())))?;
            prop_assert!(canonical.as_ref().is_some_and(|c| real.starts_with(c)));
        }
        for path in STORED.lock().expect("the stored list").iter() {
            prop_assert!(path.starts_with(&dir), "stored at {}", path.display());
            prop_assert!(path.is_file(), "{} is not a file", path.display());
        }
        Ok(())
    });
    let statuses = statuses_seen.into_inner().expect("the status count");
    println!("upload statuses: {statuses:?}");
    assert!(
        statuses.get(&200).copied().unwrap_or(0) > 0,
        "no generated upload was stored: the generator is off ({statuses:?})"
    );

    // Nothing escaped next to the upload folder.
    assert_eq!(names_in(tmp.path()), ["uploads"]);

    // A normal upload still works.
    rt.block_on(async {
        let bytes = b"after the storm".to_vec();
        let event = upload_event("Bin.keep", "any", None);
        let form = upload_form(event, &[("calm-after-fuzz.txt", "text/plain", &bytes)]);
        let response = upload_response(&client, &server, Some(&cookie), None, form).await;
        let (status, reply) = status_json(response).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply["error"], Value::Null, "{reply}");
        assert_eq!(
            std::fs::read(dir.join("calm-after-fuzz.txt")).expect("the file is stored"),
            bytes
        );
    });
}

// ---------------------------------------------------------------------------------------
// Cases the fuzzers found, kept as plain regression tests.

/// A long name whose only "extension" is too long to keep was cut to 200 dots: a name
/// of dots only, which the sanitizer otherwise refuses (and Windows strips to nothing).
#[test]
fn a_long_name_cut_to_only_dots_becomes_file() {
    let name = format!("{}{}", "../".repeat(100), "a".repeat(17));
    let clean = sanitize_file_name(&name);
    assert_eq!(segment_problem(&clean), None, "{clean:?}");
    assert_eq!(clean, "file");
    let dots = format!("{}.{}", ".".repeat(250), "b".repeat(20));
    assert_eq!(sanitize_file_name(&dots), "file");
}

/// Cutting a long name must not leave it ending in a space or a dot.
#[test]
fn a_long_name_cut_before_a_space_or_dot_loses_them() {
    let name = format!("{}  . .{}", "a".repeat(198), "x".repeat(30));
    let clean = sanitize_file_name(&name);
    assert_eq!(segment_problem(&clean), None, "{clean:?}");
    assert_eq!(clean, "a".repeat(198));
}

/// Windows takes `CON .txt` for the console: the stem before the dot, trailing spaces
/// ignored, is a device name.
#[test]
fn device_names_with_spaces_before_the_extension_are_refused() {
    for name in [
        "CON .txt",
        "nul  .tar.gz",
        "Com1 .log",
        "LPT9 ",
        "aux . x",
        "COM¹.txt",
    ] {
        let clean = sanitize_file_name(name);
        assert_eq!(segment_problem(&clean), None, "{name:?} → {clean:?}");
        assert_eq!(clean, "file", "{name:?}");
    }
    assert_eq!(sanitize_relative_path("docs/CON .txt"), "docs/file");
    // Names that only start like a device are kept.
    assert_eq!(sanitize_file_name("CONTRACT.txt"), "CONTRACT.txt");
    assert_eq!(sanitize_file_name("com10.txt"), "com10.txt");
    assert_eq!(sanitize_file_name("nullable.rs"), "nullable.rs");
}
