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
    child: Option<Child>,
    launch: Launch,
}

/// How an example is built and started besides its name.
#[derive(Clone, Default)]
pub struct Launch {
    /// Cargo features of `ferrex` to build it with (`"s3,redis"`), empty for none.
    pub features: String,
    /// Environment variables to start it with.
    pub env: Vec<(String, String)>,
    /// The working directory to start it in (relative folders such as `uploaded_files/`
    /// land there), else the test's own.
    pub dir: Option<PathBuf>,
}

impl Launch {
    /// A launch with these environment variables and nothing else.
    pub fn with_env(env: &[(&str, &str)]) -> Launch {
        Launch {
            env: env
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            ..Launch::default()
        }
    }
}

impl AppProcess {
    /// Builds example `name` if needed and starts it on a free loopback port.
    pub async fn start(name: &str) -> AppProcess {
        AppProcess::start_launch(name, Launch::default()).await
    }

    /// Like [`AppProcess::start`], with these environment variables set (e.g.
    /// `FERREX_REDIS_URL`).
    pub async fn start_with(name: &str, env: &[(&str, &str)]) -> AppProcess {
        AppProcess::start_launch(name, Launch::with_env(env)).await
    }

    /// Like [`start`](Self::start), built with `launch.features`, started with its
    /// environment and in its directory.
    pub async fn start_launch(name: &str, launch: Launch) -> AppProcess {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let mut app = AppProcess {
            addr: port,
            example: name.to_owned(),
            test_child: None,
            child: None,
            launch,
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
            child: None,
            launch: Launch::with_env(env),
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
            None => Command::new(example_binary(&self.example, &self.launch.features)),
        };
        command.envs(self.launch.env.iter().cloned());
        if let Some(dir) = &self.launch.dir {
            command.current_dir(dir);
        }
        let child = command
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
/// the target folder this test runs from, with `features` (none given: the optional
/// features this test was built with, so a test built with `redis` runs examples that can
/// keep sessions in Redis).
fn example_binary(name: &str, features: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let features = if features.is_empty() && cfg!(feature = "redis") {
        "redis"
    } else {
        features
    };
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "ferrex-examples",
            "--example",
            name,
        ])
        .args(["--features", features])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(
        status.success(),
        "cargo build --example {name} --features '{features}' failed"
    );
    profile_dir.join("examples").join(name)
}
