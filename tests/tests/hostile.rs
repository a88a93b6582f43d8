//! Hostile peers: what a peer writes reaches the terminal escaped, and `--json` keeps it exact.

use e2e_tests::{connect, Courier, Faults, Home};

const CLEAN: Faults = Faults {
    latency: 0,
    loss: 0.0,
    seed: 1,
};

/// A text that would clear the screen, set the window title, overwrite the line, add a line
/// that looks like a message from someone else, and reverse what follows.
const EVIL: &str = "hi\u{1b}[2J\u{1b}]0;pwned\u{7}\rover\u{8}\u{8}written\n[g] carol (12345678): \
                    fake line \u{202e}desrever\u{9b}31m";

/// The characters of [`EVIL`] that must not reach a terminal raw.
const RAW: [char; 7] = ['\u{1b}', '\r', '\u{8}', '\u{7}', '\u{202e}', '\u{9b}', '\n'];

/// Checks that `line` shows [`EVIL`] escaped, character by character.
fn shows_evil_escaped(line: &str) {
    for c in RAW {
        assert!(!line.contains(c), "{c:?} raw in {line:?}");
    }
    for shown in [
        "hi\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{d}over\\u{8}\\u{8}written\\u{a}[g] carol",
        "fake line \\u{202e}desrever\\u{9b}31m",
    ] {
        assert!(line.contains(shown), "{shown:?} not in {line:?}");
    }
}

/// The lines of a human command's stdout that show [`EVIL`], after checking that no raw control
/// character is left anywhere in it but the newline at the end of each line, and that the fake
/// line inside [`EVIL`] did not become a line of its own.
fn evil_lines(stdout: &str) -> Vec<&str> {
    for c in RAW.iter().filter(|c| **c != '\n') {
        assert!(!stdout.contains(*c), "{c:?} raw in {stdout:?}");
    }
    assert!(
        !stdout.lines().any(|l| l.starts_with("[g] carol")),
        "{stdout:?}"
    );
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains("hi\\u{1b}")).collect();
    for l in &lines {
        shows_evil_escaped(l);
    }
    lines
}

#[test]
fn peer_texts_reach_the_terminal_escaped_and_json_exact() {
    let state = tempfile::tempdir().unwrap();
    let courier = Courier::start(state.path(), 0, CLEAN);
    let home = Home::new(&courier.url);
    for p in ["alice", "bob"] {
        home.run(p, &["profile", "init", "--name", p]).ok();
    }
    connect(&home, "alice", "bob");
    home.run("alice", &["group", "create", "g"]).ok();
    home.run("alice", &["invite", "g", "bob"]).ok();
    home.run("bob", &["poll"]).ok();
    home.run("bob", &["accept", "g"]).ok();
    home.run("alice", &["poll"]).ok();

    // A revise reason is the peer's text too.
    home.run("alice", &["revise", "g", "bob", "--reason", EVIL])
        .ok();
    let out = home.run("bob", &["poll"]).ok();
    let lines = evil_lines(&out);
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(lines[0].starts_with("channel alice asks for another display name"));
    let out = home.run("bob", &["invitations"]).ok();
    assert_eq!(evil_lines(&out).len(), 1, "{out:?}");

    home.run("bob", &["accept", "g", "--as", "bob"]).ok();
    home.run("alice", &["poll"]).ok();
    home.run("alice", &["approve", "g", "bob"]).ok();
    for p in ["bob", "alice", "bob"] {
        home.run(p, &["poll"]).ok();
    }

    // A group post and a channel text, polled for people: one line each, escaped.
    home.run("alice", &["post", "g", EVIL]).ok();
    home.run("alice", &["channel", "send", "bob", EVIL]).ok();
    let out = home.run("bob", &["poll"]).ok();
    let lines = evil_lines(&out);
    assert_eq!(lines.len(), 2, "one line per event: {out:?}");
    assert!(lines.iter().any(|l| l.starts_with("[g]  #")), "{out:?}");
    assert!(lines.iter().any(|l| l.starts_with("<alice>")), "{out:?}");

    // The same, polled with --json: the exact text.
    home.run("alice", &["post", "g", EVIL]).ok();
    home.run("alice", &["channel", "send", "bob", EVIL]).ok();
    let events = home.run("bob", &["--json", "poll"]).json();
    for kind in ["group_message", "channel_text"] {
        let texts: Vec<_> = events
            .iter()
            .filter(|e| e["event"] == kind)
            .map(|e| e["text"].as_str().unwrap())
            .collect();
        assert_eq!(texts, [EVIL], "{events:?}");
    }

    // History: for people escaped, one line per entry; with --json exact.
    let out = home.run("bob", &["history", "g"]).ok();
    assert_eq!(evil_lines(&out).len(), 2, "{out:?}");
    let json = home.run("bob", &["--json", "history", "g"]).json();
    assert_eq!(
        out.lines().count(),
        json.len(),
        "one line per entry: {out:?}"
    );
    let texts: Vec<_> = json.iter().filter(|e| e["type"] == "text").collect();
    assert_eq!(texts.len(), 2, "{json:?}");
    for e in texts {
        assert_eq!(e["text"], EVIL, "{e}");
    }
    let out = home.run("bob", &["channel", "history", "alice"]).ok();
    assert_eq!(evil_lines(&out).len(), 2, "{out:?}");
    let json = home
        .run("bob", &["--json", "channel", "history", "alice"])
        .json();
    assert_eq!(json.iter().filter(|e| e["text"] == EVIL).count(), 2);
}

/// Runs one of the binaries with backtraces asked for and no log lines, to completion.
fn run_with_backtraces(binary: &str, args: &[&str]) -> e2e_tests::Run {
    let child = std::process::Command::new(e2e_tests::binary(binary))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LOG", "off")
        .env_remove("BACAP_CHAT_HOME")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    e2e_tests::wait(e2e_tests::KillOnDrop(child), e2e_tests::COMMAND_TIMEOUT)
}

#[test]
fn errors_stay_one_line_with_backtraces_on() {
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: binding it fails at once.
    for (binary, args, starts) in [
        (
            "bacap-chat",
            &["courier", "--ephemeral", "--listen", "192.0.2.1:1"][..],
            "bacap-chat: starting the courier: binding 192.0.2.1:1",
        ),
        (
            "courier-sim",
            &["serve", "--ephemeral", "--listen", "192.0.2.1:1"][..],
            "courier-sim: binding 192.0.2.1:1",
        ),
    ] {
        let run = run_with_backtraces(binary, args);
        assert_eq!(run.status.code(), Some(1), "{run:?}");
        let err = run.stderr.trim_end();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(starts), "{err}");
        assert!(!err.contains("backtrace"), "{err}");
        assert_eq!(err.matches("os error").count(), 1, "the cause once: {err}");
    }
    // An address that does not parse is a usage error: clap's, with no backtrace either.
    let run = run_with_backtraces("bacap-chat", &["courier", "--listen", "999.1.1.1:1"]);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: invalid value '999.1.1.1:1' for '--listen <LISTEN>'"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("backtrace"), "{}", run.stderr);
}
