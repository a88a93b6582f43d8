//! `bacap-chat chat` driven in tmux panes (`send-keys`, `capture-pane`) against a courier with
//! latency and loss: Alice invites and approves Bob from her screen while Bob accepts from his,
//! Carol joins from the command line and opens her own screen; texts typed in one screen show
//! up in the others, a file sent with `/send` arrives intact, and quitting gives the terminal
//! back as it was.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e_tests::{binary, connect, files, texts, Courier, Faults, Home};

const FAULTS: Faults = Faults {
    latency: 20,
    loss: 0.1,
    seed: 5,
};

/// A tmux server of this test's own, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Self {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "tmux is missing: scripts/install-build-deps installs it (apt-get install tmux)"
        );
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self {
            socket: format!("bacap-chat-test-{}-{n}", std::process::id()),
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A shell in a new session `name` of `w` x `h`, which prints a marker and then runs
    /// `bacap-chat chat` for `profile` of `home`.
    fn open(&self, name: &str, w: u16, h: u16, home: &Home, profile: &str, group: &str) {
        self.tmux(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
            "sh",
        ]);
        let line = format!(
            "clear; echo BEFORE-{name}; BACAP_CHAT_HOME={} BACAP_CHAT_COURIER={} {} -p {profile} chat {group}",
            home.dir.path().display(),
            home.courier,
            binary("bacap-chat").display()
        );
        self.tmux(&["send-keys", "-t", name, &line, "Enter"]);
        self.wait_for(name, "courier reachable");
    }

    fn pane(&self, name: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", name])
    }

    fn type_line(&self, name: &str, text: &str) {
        self.tmux(&["send-keys", "-t", name, "-l", text]);
        self.tmux(&["send-keys", "-t", name, "Enter"]);
    }

    fn key(&self, name: &str, key: &str) {
        self.tmux(&["send-keys", "-t", name, key]);
    }

    /// Waits until pane `name` shows `text`.
    fn wait_for(&self, name: &str, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let pane = self.pane(name);
            if pane.contains(text) {
                return pane;
            }
            assert!(
                Instant::now() < deadline,
                "pane {name} never showed {text:?}:\n{pane}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn init(home: &Home, profiles: &[&str]) {
    for p in profiles {
        home.run(p, &["profile", "init", "--name", p]).ok();
    }
}

#[test]
fn three_screens_chat_invite_approve_and_send_a_file_over_a_lossy_courier() {
    let state = tempfile::tempdir().unwrap();
    let courier = Courier::start(state.path(), 0, FAULTS);
    let home = Home::new(&courier.url);
    init(&home, &["alice", "bob", "carol"]);
    connect(&home, "alice", "bob");
    connect(&home, "alice", "carol");
    home.run("alice", &["group", "create", "g"]).ok();

    let t = Tmux::new();
    t.open("alice", 80, 24, &home, "alice", "g");
    t.open("bob", 100, 30, &home, "bob", "");

    // Alice invites Bob from her screen; Bob accepts from his; Alice approves.
    t.type_line("alice", "/invite bob");
    t.wait_for("alice", "invited bob");
    t.wait_for("bob", "invited to g");
    t.type_line("bob", "/accept g");
    t.wait_for("alice", "asks to join as \"bob\"");
    t.type_line("alice", "/approve bob");
    t.wait_for("alice", "approved bob");
    // Bob's screen opens the group once he is in.
    t.wait_for("bob", "#g ·");

    // Carol joins from the command line, then opens her screen.
    t.type_line("alice", "/invite carol");
    t.wait_for("alice", "invited carol");
    home.run("carol", &["poll"]).ok();
    home.run("carol", &["--wait", "accept", "g"]).ok();
    t.type_line("alice", "/poll");
    t.wait_for("alice", "asks to join as \"carol\"");
    t.type_line("alice", "/approve carol");
    t.wait_for("alice", "approved carol");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !home.run("carol", &["poll"]).ok().contains("joined group") {
        assert!(Instant::now() < deadline, "carol never joined");
    }
    t.open("carol", 80, 24, &home, "carol", "g");

    t.type_line("alice", "hello from alice");
    t.wait_for("bob", "alice: hello from alice");
    t.wait_for("carol", "alice: hello from alice");
    t.type_line("bob", "hi from bob");
    t.wait_for("alice", "bob: hi from bob");
    t.wait_for("carol", "bob: hi from bob");

    let file = home.dir.path().join("notes.bin");
    let payload: Vec<u8> = (0..25_000u32).map(|i| (i * 17 % 251) as u8).collect();
    std::fs::write(&file, &payload).unwrap();
    t.type_line("alice", &format!("/send {}", file.display()));
    t.wait_for("alice", "sent notes.bin");
    t.wait_for("bob", "[file \"notes.bin\"");
    t.wait_for("carol", "[file \"notes.bin\"");

    // Quitting gives each terminal back as it was.
    t.type_line("alice", "/quit");
    t.key("bob", "C-c");
    t.type_line("carol", "/quit");
    for name in ["alice", "bob", "carol"] {
        let pane = t.wait_for(name, &format!("BEFORE-{name}"));
        assert!(
            !pane.contains("┌ chats"),
            "{name}'s screen was not restored:\n{pane}"
        );
    }
    // The profiles are free again, and hold what the screens showed.
    for member in ["bob", "carol"] {
        assert_eq!(
            texts(&home, member, "g"),
            [
                ("alice".to_owned(), "hello from alice".to_owned()),
                ("bob".to_owned(), "hi from bob".to_owned()),
            ],
            "{member}"
        );
        let got = files(&home, member, "g");
        assert_eq!(got.len(), 1, "{member}: {got:?}");
        assert_eq!(std::fs::read(Path::new(&got[0].2)).unwrap(), payload);
    }
}

#[test]
fn the_screen_resumes_where_it_left_off_and_holds_the_profile_meanwhile() {
    let state = tempfile::tempdir().unwrap();
    let courier = Courier::start(state.path(), 0, FAULTS);
    let home = Home::new(&courier.url);
    init(&home, &["alice", "bob"]);
    connect(&home, "alice", "bob");
    home.run("alice", &["group", "create", "g"]).ok();
    home.run("alice", &["group", "create", "h"]).ok();

    let t = Tmux::new();
    t.open("alice", 80, 24, &home, "alice", "h");
    t.wait_for("alice", "to #h");
    // Another command on the same profile meanwhile gets the usual error.
    let run = home.run("alice", &["group", "list"]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(run.stderr.contains("in use"), "{run:?}");
    t.type_line("alice", "/quit");
    t.wait_for("alice", "BEFORE-alice");
    // Opened again without naming a group, it opens the one left open.
    t.tmux(&["kill-session", "-t", "alice"]);
    t.open("alice", 80, 24, &home, "alice", "");
    t.wait_for("alice", "to #h");
    t.type_line("alice", "/quit");
    t.wait_for("alice", "BEFORE-alice");
}
