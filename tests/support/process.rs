//! An example app run as a process of its own on a loopback port, so a test can kill it
//! and start it again the way a user's server goes away and comes back.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started example may take to answer.
const START_PATIENCE: Duration = Duration::from_secs(20);

/// A running example binary; killed when dropped.
pub struct AppProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    example: String,
    /// For a test of this binary run as the process instead of an example: its name.
    test_child: Option<String>,
    /// Environment variables it starts with (besides its address).
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl AppProcess {
    /// Builds example `name` if needed and starts it on a free loopback port.
    pub async fn start(name: &str) -> AppProcess {
        AppProcess::start_with(name, &[]).await
    }

    /// Like [`AppProcess::start`], with these environment variables set (e.g.
    /// `FERREX_REDIS_URL`).
    pub async fn start_with(name: &str, env: &[(&str, &str)]) -> AppProcess {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let mut app = AppProcess {
            addr: port,
            example: name.to_owned(),
            test_child: None,
            env: env
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            child: None,
        };
        app.start_again().await;
        app
    }

    /// Runs the `#[ignore]`d test `test` of the calling test binary as the process (the
    /// way a test serves an app of its own making in a process it can stop), with these
    /// environment variables and `FERREX_ADDR` set.
    pub async fn start_test_child(test: &str, env: &[(&str, &str)]) -> AppProcess {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let mut app = AppProcess {
            addr: port,
            example: String::new(),
            test_child: Some(test.to_owned()),
            env: env
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            child: None,
        };
        app.start_again().await;
        app
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends the process a signal by name (`STOP`, `CONT`) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let pid = self.pid().expect("the process runs");
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Kills the process (SIGKILL: no clean shut-down) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the example again on the same address (after [`kill`](Self::kill)), and
    /// waits until it accepts connections.
    pub async fn start_again(&mut self) {
        self.kill();
        let mut command = match &self.test_child {
            Some(test) => {
                let mut command =
                    Command::new(std::env::current_exe().expect("the test's own path"));
                command.args([
                    "--exact",
                    test,
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ]);
                command
            }
            None => Command::new(example_binary(&self.example)),
        };
        let child = command
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .env("FERREX_ADDR", self.addr.to_string())
            .env("PORT", self.addr.port().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start example {}: {e}", self.example));
        self.child = Some(child);
        let deadline = Instant::now() + START_PATIENCE;
        while tokio::net::TcpStream::connect(self.addr).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "example {} did not listen on {} within {START_PATIENCE:?}",
                self.example,
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The example's binary, built first (cargo answers at once when it is up to date) into
/// the target folder this test runs from, with the optional features this test was built
/// with (so a test built with `redis` runs examples that can keep sessions in Redis).
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args([
        "build",
        "--quiet",
        "-p",
        "ferrex-examples",
        "--example",
        name,
    ]);
    if cfg!(feature = "redis") {
        build.args(["--features", "redis"]);
    }
    let status = build
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --example {name} failed");
    profile_dir.join("examples").join(name)
}
