//! What `App::serve` does before the first request, in this process: a busy port is one
//! sentence naming the port and how to choose another. (The printed address, `PORT`,
//! `FERREX_ADDR` and `FERREX_LOG` are checked on a built program in `readme_crate.rs`.)

use ferrex::prelude::*;

fn index() -> Node {
    ui! { text("Hello") }
}

#[tokio::test]
async fn serve_on_a_busy_port_fails_with_one_sentence_naming_the_port_and_the_way_out() {
    assert!(
        std::env::var_os("PORT").is_none() && std::env::var_os("FERREX_ADDR").is_none(),
        "unset PORT and FERREX_ADDR to run this test: serve would listen where they say"
    );
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let port = taken.local_addr().expect("local addr").port();

    let err = App::new()
        .page("/", index)
        .serve(&format!("127.0.0.1:{port}"))
        .await
        .expect_err("the port is taken");

    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    let next = port.saturating_add(1);
    assert_eq!(
        err.to_string(),
        format!(
            "port {port} on 127.0.0.1 is already in use (another copy of this app may still be running): stop that program, or choose another port with `PORT={next}` or `FERREX_ADDR=127.0.0.1:{next}`"
        )
    );
}
