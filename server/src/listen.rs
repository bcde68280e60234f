//! Where `App::serve` listens: the address (the one given, unless `FERREX_ADDR` or `PORT`
//! says otherwise), binding it with errors a user can act on, and the line that says where
//! the app is. Also the runtime `App::run` and `#[ferrex::main]` serve on.

use std::future::Future;
use std::io;

use tokio::net::TcpListener;

/// The address `App::run` and `#[ferrex::main]` listen on when the environment names none.
pub(crate) const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// The address to listen on: `FERREX_ADDR` (`host:port`) if set, else `given` with its port
/// replaced by `PORT` if set, else `given`.
pub(crate) fn address_from_env(given: &str) -> io::Result<String> {
    choose_address(
        given,
        std::env::var("FERREX_ADDR").ok(),
        std::env::var("PORT").ok(),
    )
}

fn choose_address(
    given: &str,
    ferrex_addr: Option<String>,
    port: Option<String>,
) -> io::Result<String> {
    if let Some(addr) = ferrex_addr.filter(|a| !a.trim().is_empty()) {
        return Ok(addr.trim().to_owned());
    }
    let Some(port) = port.filter(|p| !p.trim().is_empty()) else {
        return Ok(given.to_owned());
    };
    let port: u16 = port.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("PORT is `{port}`, which is not a port number: set it to one from 1 to 65535"),
        )
    })?;
    let host = host_of(given);
    Ok(format!("{host}:{port}"))
}

/// The host part of `host:port` (`[::1]` for `[::1]:3000`), or all of it without a port.
fn host_of(addr: &str) -> &str {
    match addr.rsplit_once(':') {
        // A bare IPv6 address has colons but no port.
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) && !host.ends_with(':') => {
            host
        }
        _ => addr,
    }
}

/// Binds `addr`, or says in one sentence why not and what to do instead.
pub(crate) async fn bind(addr: &str) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|err| io::Error::new(err.kind(), explain_bind_error(addr, &err)))
}

fn explain_bind_error(addr: &str, err: &io::Error) -> String {
    let host = host_of(addr);
    let port = addr[host.len()..].trim_start_matches(':');
    let next = port.parse::<u16>().map_or(3001, |p| p.saturating_add(1));
    let choose = format!("choose another port with `PORT={next}` or `FERREX_ADDR={host}:{next}`");
    match err.kind() {
        io::ErrorKind::AddrInUse => format!(
            "port {port} on {host} is already in use (another copy of this app may still be running): stop that program, or {choose}"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "this program may not listen on port {port} of {host} (ports below 1024 need extra privileges): {choose}"
        ),
        io::ErrorKind::AddrNotAvailable => format!(
            "{host} is not an address of this machine, so ferrex cannot listen on {addr}: use `FERREX_ADDR=127.0.0.1:{port}` (this machine only) or `FERREX_ADDR=0.0.0.0:{port}` (every network)"
        ),
        _ => format!(
            "ferrex cannot listen on `{addr}` ({err}): give an address as `host:port`, e.g. `FERREX_ADDR=127.0.0.1:3000`"
        ),
    }
}

/// Prints where the app is, and what is wrong with its set-up, for the person who started it.
pub(crate) fn announce(listener: &TcpListener, warnings: &[String]) -> io::Result<()> {
    let addr = listener.local_addr()?;
    println!("ferrex serving on http://{addr}");
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// Runs `serve` on a new multi-threaded runtime until it ends; a failure is printed as
/// `error: …` and the process exits with status 1.
pub(crate) fn run(serve: impl Future<Output = io::Result<()>>) {
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .and_then(|runtime| runtime.block_on(serve));
    if let Err(err) = result {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn the_given_address_is_used_when_the_environment_names_none() {
        let chosen = choose_address("127.0.0.1:3000", None, None).expect("valid");
        assert_eq!(chosen, "127.0.0.1:3000");
        let chosen = choose_address("127.0.0.1:3000", some(""), some(" ")).expect("valid");
        assert_eq!(chosen, "127.0.0.1:3000");
    }

    #[test]
    fn port_replaces_the_port_and_keeps_the_host() {
        let chosen = choose_address("0.0.0.0:3000", None, some("8080")).expect("valid");
        assert_eq!(chosen, "0.0.0.0:8080");
        let chosen = choose_address("[::1]:3000", None, some("8080")).expect("valid");
        assert_eq!(chosen, "[::1]:8080");
        let chosen = choose_address("localhost", None, some("8080")).expect("valid");
        assert_eq!(chosen, "localhost:8080");
    }

    #[test]
    fn ferrex_addr_wins_over_port() {
        let chosen =
            choose_address("127.0.0.1:3000", some("0.0.0.0:9000"), some("8080")).expect("valid");
        assert_eq!(chosen, "0.0.0.0:9000");
    }

    #[test]
    fn a_port_that_is_not_a_number_is_one_sentence() {
        let err = choose_address("127.0.0.1:3000", None, some("http")).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "PORT is `http`, which is not a port number: set it to one from 1 to 65535"
        );
    }

    #[test]
    fn a_busy_port_names_the_port_and_the_way_out() {
        let err = io::Error::from(io::ErrorKind::AddrInUse);
        let text = explain_bind_error("127.0.0.1:3000", &err);
        assert!(
            text.contains("port 3000 on 127.0.0.1 is already in use"),
            "{text}"
        );
        assert!(text.contains("`PORT=3001`"), "{text}");
    }
}
