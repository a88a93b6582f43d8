//! End-to-end tests of the `bacap-chat` and `courier-sim` binaries, run as separate processes
//! over loopback; the tests are in `tests/`, this library is their harness.
//!
//! The binaries are found next to the test executable (`target/debug/deps/<test>` ->
//! `target/debug/`): `cargo test --workspace` builds both, because their packages have
//! integration tests. Every child is killed when its handle drops, and every wait is bounded.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long one client command may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// The path of one of the workspace's binaries, built next to the test executable.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first (or `cargo test --workspace`)",
        path.display()
    );
    path
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Kills the process now, as `kill -9` does, and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A `courier-sim serve` process with persistent state, on loopback.
pub struct Courier {
    child: KillOnDrop,
    /// Its URL, as it printed it.
    pub url: String,
    /// Its port.
    pub port: u16,
}

/// Simulated mixnet faults of a courier.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// Fixed reply latency, ms.
    pub latency: u64,
    /// Probability of a lost reply.
    pub loss: f64,
    /// Seed.
    pub seed: u64,
}

impl Courier {
    /// Starts a courier storing its state in `data_dir`, on `port` (0: any free one).
    pub fn start(data_dir: &Path, port: u16, faults: Faults) -> Self {
        Self::start_with(data_dir, port, faults, &[])
    }

    /// [`Courier::start`] with more flags of `courier-sim serve` (`--tls-cert FILE`, say).
    pub fn start_with(data_dir: &Path, port: u16, faults: Faults, more: &[&str]) -> Self {
        let mut child = Command::new(binary("courier-sim"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .args([
                "--latency",
                &faults.latency.to_string(),
                "--jitter",
                &(faults.latency / 2).to_string(),
                "--loss",
                &faults.loss.to_string(),
                "--seed",
                &faults.seed.to_string(),
            ])
            .args(more)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start courier-sim");
        let stdout = child.stdout.take().expect("piped stdout");
        let child = KillOnDrop(child);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("courier-sim printed `listening on URL` within 30 s");
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the URL");
        Self { child, url, port }
    }

    /// How many write queries the courier carried out (from its `/metrics`).
    pub fn writes(&self) -> u64 {
        use std::io::Write;
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            conn,
            "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut body = String::new();
        conn.read_to_string(&mut body).expect("read /metrics");
        body.lines()
            .find_map(|l| l.strip_prefix("courier_query_duration_seconds_count{op=\"write\"} "))
            .and_then(|n| n.trim().parse().ok())
            .expect("a write count in /metrics")
    }

    /// Kills the courier with SIGKILL.
    pub fn kill9(mut self) {
        self.child.kill9();
    }
}

/// What a finished command left.
#[derive(Debug)]
pub struct Run {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Stdout, after checking the command succeeded.
    pub fn ok(self) -> String {
        assert!(
            self.status.success(),
            "command failed ({}): stderr: {}\nstdout: {}",
            self.status,
            self.stderr,
            self.stdout
        );
        self.stdout
    }

    /// The JSON objects of stdout, one per line.
    pub fn json(self) -> Vec<serde_json::Value> {
        self.ok()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    }
}

/// A profile home in a temporary directory, and the courier its commands use.
pub struct Home {
    /// The directory.
    pub dir: tempfile::TempDir,
    /// The courier URL passed to every command (none if empty).
    pub courier: String,
    /// More environment for every command (the Katzenpost transport's settings).
    pub env: Vec<(String, String)>,
    /// How long one command may take.
    pub timeout: Duration,
}

impl Home {
    /// A fresh home using `courier`.
    pub fn new(courier: &str) -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
            courier: courier.to_owned(),
            env: Vec::new(),
            timeout: COMMAND_TIMEOUT,
        }
    }

    /// A fresh home whose commands go through the Katzenpost daemon that `daemon_config` (its
    /// `thinclient.toml`) describes, each allowed `timeout`.
    pub fn katzenpost(daemon_config: &Path, timeout: Duration) -> Self {
        let mut home = Self::new("");
        home.env = vec![
            ("BACAP_CHAT_TRANSPORT".into(), "katzenpost".into()),
            // Mixnet round trips take seconds: each step waits for its acknowledgement.
            ("BACAP_CHAT_WAIT".into(), "1".into()),
            (
                "BACAP_CHAT_DAEMON_CONFIG".into(),
                daemon_config.display().to_string(),
            ),
        ];
        home.timeout = timeout;
        home
    }

    /// `bacap-chat -p PROFILE ARGS...`, not yet waited for.
    pub fn command(&self, profile: &str, args: &[&str]) -> Command {
        let mut c = Command::new(binary("bacap-chat"));
        c.arg("-p")
            .arg(profile)
            .args(args)
            .env("BACAP_CHAT_HOME", self.dir.path())
            .env_remove("BACAP_CHAT_COURIER")
            .env_remove("BACAP_CHAT_PROFILE")
            .env_remove("BACAP_CHAT_ATTEMPTS")
            .env_remove("BACAP_CHAT_TRANSPORT")
            .env_remove("BACAP_CHAT_DAEMON")
            .env_remove("BACAP_CHAT_DAEMON_CONFIG")
            .env_remove("BACAP_CHAT_WAIT")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !self.courier.is_empty() {
            c.env("BACAP_CHAT_COURIER", &self.courier);
        }
        c
    }

    /// Starts `bacap-chat -p PROFILE ARGS...` in the background.
    pub fn spawn(&self, profile: &str, args: &[&str]) -> KillOnDrop {
        KillOnDrop(
            self.command(profile, args)
                .spawn()
                .expect("start bacap-chat"),
        )
    }

    /// Runs `bacap-chat -p PROFILE ARGS...` to completion (within the home's timeout,
    /// [`COMMAND_TIMEOUT`] unless set).
    pub fn run(&self, profile: &str, args: &[&str]) -> Run {
        wait(self.spawn(profile, args), self.timeout)
    }

    /// Runs `bacap-chat -p PROFILE ARGS...` with `input` on its stdin, to completion.
    pub fn run_with_input(&self, profile: &str, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = KillOnDrop(
            self.command(profile, args)
                .stdin(Stdio::piped())
                .spawn()
                .expect("start bacap-chat"),
        );
        if let Some(mut stdin) = child.0.stdin.take() {
            // A command that fails before reading its input closes the pipe: its output says why.
            let _ = stdin.write_all(input.as_bytes());
        }
        wait(child, COMMAND_TIMEOUT)
    }

    /// The directory of a profile.
    pub fn profile_dir(&self, profile: &str) -> PathBuf {
        self.dir.path().join("profiles").join(profile)
    }
}

fn drain(r: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut r) = r {
            let _ = r.read_to_string(&mut s);
        }
        s
    })
}

/// Waits for `child` at most `timeout`, killing it and failing the test past that.
pub fn wait(mut child: KillOnDrop, timeout: Duration) -> Run {
    let out = drain(child.0.stdout.take());
    let err = drain(child.0.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("waiting for a child") {
            break status;
        }
        if Instant::now() > deadline {
            child.kill9();
            panic!(
                "command timed out after {timeout:?}; stderr: {}",
                err.join().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    Run {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Sets up `profiles` (display name = profile name), connects `introducer` with each other one
/// over a channel named after the peer, creates group `group` and brings everyone in.
pub fn group_of(home: &Home, introducer: &str, others: &[&str], group: &str) {
    for p in std::iter::once(&introducer).chain(others) {
        home.run(p, &["profile", "init", "--name", p]).ok();
    }
    for p in others {
        connect(home, introducer, p);
    }
    home.run(introducer, &["group", "create", group]).ok();
    for p in others {
        home.run(introducer, &["invite", group, p]).ok();
        home.run(p, &["poll"]).ok();
        home.run(p, &["accept", group]).ok();
        home.run(introducer, &["poll"]).ok();
        home.run(introducer, &["approve", group, p]).ok();
    }
    for _ in 0..2 {
        for p in others {
            home.run(p, &["poll"]).ok();
        }
    }
}

/// Connects two profiles over a channel each names after the other; the tokens go through
/// stdout and back in as a person gives them, never on a command line: `b` reads `a`'s from
/// stdin, `a` reads `b`'s from a file.
pub fn connect(home: &Home, a: &str, b: &str) {
    let ta = home.run(a, &["channel", "make", b]).ok();
    let tb = home.run_with_input(b, &["channel", "accept", a], &ta).ok();
    let file = home.dir.path().join(format!("{b}-for-{a}.token"));
    std::fs::write(&file, tb.trim()).expect("write the token file");
    let path = file.to_str().expect("a UTF-8 temporary path");
    home.run(a, &["channel", "accept", b, "--token-file", path])
        .ok();
    let _ = std::fs::remove_file(file);
}

/// The texts of a group's history as `(sender_name, text)`, from `history --json`.
pub fn texts(home: &Home, profile: &str, group: &str) -> Vec<(String, String)> {
    home.run(profile, &["--json", "history", group])
        .json()
        .into_iter()
        .filter(|e| e["type"] == "text")
        .map(|e| {
            (
                e["sender_name"].as_str().unwrap_or_default().to_owned(),
                e["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The received files of a group's history as `(sender_name, basename, path)`.
pub fn files(home: &Home, profile: &str, group: &str) -> Vec<(String, String, String)> {
    home.run(profile, &["--json", "history", group])
        .json()
        .into_iter()
        .filter(|e| e["type"] == "file" && !e["own"].as_bool().unwrap_or(true))
        .map(|e| {
            (
                e["sender_name"].as_str().unwrap_or_default().to_owned(),
                e["basename"].as_str().unwrap_or_default().to_owned(),
                e["path"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
