//! The README's quick start, as a new user meets it: its `Cargo.toml` lines and its
//! `src/main.rs`, written to a crate of its own that depends on `ferrex` alone, must build;
//! the program then serves where `PORT` or `FERREX_ADDR` says, from any working folder,
//! with the crate's own `assets/` (or a warning naming it), and logs requests with
//! `FERREX_LOG`.
//!
//! The crate builds in `<target>/readme-crate/<checkout>` (kept between runs, so only the
//! first run compiles ferrex's dependencies), with the workspace's `Cargo.lock` and
//! `--offline`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// How long the program may take to print that it listens, or a request to be logged.
const PATIENCE: Duration = Duration::from_secs(20);

/// The fenced block of `lang` in the README's "Quick start" section.
fn quick_start_block(lang: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Quick start"))
        .expect("README.md has a `## Quick start` section");
    let fence = format!("```{lang}\n");
    let start = section
        .find(&fence)
        .unwrap_or_else(|| panic!("the quick start has a ```{lang} block"))
        + fence.len();
    let len = section[start..].find("```").expect("the block is closed");
    section[start..start + len].to_owned()
}

/// The README's crate, built once per test run: its folder and its program.
fn built_crate() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        // One folder per checkout: two clones sharing a target folder do not build into
        // each other's crate.
        let checkout = {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            BuildHasherDefault::<DefaultHasher>::default().hash_one(ROOT)
        };
        let target = target_dir()
            .join("readme-crate")
            .join(format!("{checkout:016x}"));
        let dir = target.join("hello");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).expect("create the crate's folder");

        let manifest = quick_start_block("toml");
        assert!(
            manifest.contains("ferrex = \"0.1\""),
            "the quick start's Cargo.toml lines name `ferrex = \"0.1\"`:\n{manifest}"
        );
        // The README names the published crate; this build uses the one in this repository.
        let manifest = manifest.replace(
            "ferrex = \"0.1\"",
            &format!("ferrex = {{ path = {:?} }}", ROOT),
        );
        let manifest = format!(
            "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n{manifest}"
        );
        std::fs::write(dir.join("Cargo.toml"), manifest).expect("write Cargo.toml");
        std::fs::write(dir.join("src/main.rs"), quick_start_block("rust")).expect("write main.rs");
        // The versions ferrex is tested with, and no registry look-ups.
        std::fs::copy(Path::new(ROOT).join("Cargo.lock"), dir.join("Cargo.lock"))
            .expect("copy Cargo.lock");

        let output = Command::new(env!("CARGO"))
            .args(["build", "--offline", "--quiet"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", target.join("target"))
            .env_remove("RUSTFLAGS")
            .output()
            .expect("run cargo");
        assert!(
            output.status.success(),
            "the README's quick start does not build as a crate of its own:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let program = target.join("target/debug/hello");
        assert!(program.is_file(), "cargo built {}", program.display());
        (dir, program)
    })
}

/// The target folder this test binary was built in (`<target>/debug/deps/readme_crate-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.ancestors()
        .nth(3)
        .expect("the test runs from <target>/<profile>/deps")
        .to_path_buf()
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// The README's program, started in `cwd` with `env`, and the lines it prints.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(cwd: &Path, env: &[(&str, &str)]) -> Running {
        let (_, program) = built_crate();
        let mut command = Command::new(program);
        command
            .current_dir(cwd)
            .env_remove("PORT")
            .env_remove("FERREX_ADDR")
            .env_remove("FERREX_LOG")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start the README's program");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        for stream in [
            Box::new(out) as Box<dyn std::io::Read + Send>,
            Box::new(err),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line (stdout or stderr) that contains `needle`.
    fn line_with(&mut self, needle: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "the program printed no line with `{needle}`; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The address from its `ferrex serving on http://…` line.
    fn address(&mut self) -> String {
        let line = self.line_with("ferrex serving on http://");
        line.trim()
            .trim_start_matches("ferrex serving on http://")
            .to_owned()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET http://addr/path`: the status and body.
fn get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the program");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {answer}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn elsewhere() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("readme-cwd-")
        .tempdir_in(target_dir())
        .expect("a working folder away from the crate")
}

#[test]
fn readme_quick_start_builds_as_a_crate_that_depends_on_ferrex_alone() {
    let (dir, _) = built_crate();
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table");
    assert_eq!(
        dependencies
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count(),
        1,
        "ferrex is the only dependency:\n{manifest}"
    );
}

/// One test, in two steps, because both depend on whether the crate has `assets/`.
#[test]
fn the_program_serves_the_crates_assets_from_any_folder_on_the_port_the_environment_names() {
    let (dir, _) = built_crate();
    let assets = dir.join("assets");
    let _ = std::fs::remove_dir_all(&assets);

    // No assets folder: `PORT` is honoured, and a warning names the folder `ui!` checked.
    let cwd = elsewhere();
    let port = free_port().to_string();
    let mut running = Running::start(cwd.path(), &[("PORT", &port)]);
    let addr = running.address();
    assert_eq!(addr, format!("127.0.0.1:{port}"));
    let warning = running.line_with("warning:");
    assert!(
        warning.contains(&assets.display().to_string()),
        "the warning names the folder `ui!` checked, {}: {warning}",
        assets.display()
    );
    let (status, body) = get(&addr, "/");
    assert_eq!(status, 200);
    assert!(body.contains("Counter"), "{body}");
    drop(running);

    // With the folder: served from the crate, not from the working folder, with no
    // warning; `FERREX_ADDR` is honoured and `FERREX_LOG` logs the request.
    std::fs::create_dir_all(&assets).expect("create assets/");
    std::fs::write(assets.join("hello.txt"), "hello from the crate").expect("write an asset");
    std::fs::create_dir_all(cwd.path().join("assets")).expect("create a decoy assets/");
    std::fs::write(cwd.path().join("assets/hello.txt"), "decoy").expect("write a decoy");
    let mut running = Running::start(
        cwd.path(),
        &[("FERREX_ADDR", "127.0.0.1:0"), ("FERREX_LOG", "1")],
    );
    let addr = running.address();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let (status, body) = get(&addr, "/hello.txt");
    assert_eq!(status, 200);
    assert_eq!(body, "hello from the crate");
    let logged = running.line_with("/hello.txt");
    assert!(logged.contains("GET /hello.txt 200"), "{logged}");
    assert!(
        !running.seen.iter().any(|l| l.contains("warning:")),
        "no warning when the folder exists: {:?}",
        running.seen
    );
}
