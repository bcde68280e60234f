//! Serves a ferrex app on 127.0.0.1 with a random port for the length of a test.

use std::net::SocketAddr;

/// A running app; stops when dropped.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Serves `app` on a fresh port, as `App::serve` does (hyper with ferrex's connection
    /// bounds).
    pub async fn start(app: ferrex::App) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            app.serve_on(listener).await.expect("server runs");
        });
        TestServer { addr, task }
    }

    /// Serves a router (e.g. a ferrex app mounted in a larger axum app).
    pub async fn start_router(router: axum::Router) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("server runs");
        });
        TestServer { addr, task }
    }

    /// A server already running at `addr` (an example process), for the request helpers;
    /// dropping it stops nothing.
    pub fn at(addr: SocketAddr) -> TestServer {
        TestServer {
            addr,
            task: tokio::spawn(async {}),
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
