//! User mistakes get a one-line cause on stderr and exit status 1 (2 for usage errors), never a
//! panic.

use e2e_tests::{Home, Run};

fn one_line_error(run: Run, starts_with: &str) {
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let err = run.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("bacap-chat: {starts_with}")),
        "wanted {starts_with:?}, got {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A loopback port nobody listens on.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn mistakes_give_one_line_errors() {
    let home = Home::new(&dead_url());
    one_line_error(
        home.run("nobody", &["group", "list"]),
        "no profile \"nobody\"",
    );
    home.run("alice", &["profile", "init", "--name", "alice"])
        .ok();
    let dir = home.profile_dir("alice");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    home.run("alice", &["group", "create", "g"]).ok();
    one_line_error(
        home.run("alice", &["post", "nosuch", "hi"]),
        "unknown group \"nosuch\"",
    );
    for bad in ["bacap-chat-channel-v1:zzzz", "hello", ""] {
        one_line_error(
            home.run_with_input("alice", &["channel", "accept", "bob"], bad),
            "invalid channel token",
        );
    }
    one_line_error(
        home.run(
            "alice",
            &[
                "channel",
                "accept",
                "bob",
                "--token-file",
                "/nonexistent/token",
            ],
        ),
        "cannot read the token file /nonexistent/token",
    );
    one_line_error(
        home.run("alice", &["--attempts", "2", "--wait", "post", "g", "hi"]),
        "courier unreachable at http://127.0.0.1:",
    );
    let big = home.dir.path().join("big.iso");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(9 << 20)
        .unwrap();
    one_line_error(
        home.run("alice", &["send-file", "g", big.to_str().unwrap()]),
        "",
    );
    let run = home.run("alice", &["send-file", "g", big.to_str().unwrap()]);
    assert!(run.stderr.contains("is too large"), "{}", run.stderr);
    one_line_error(
        home.run("alice", &["accept", "g"]),
        "unknown invitation \"g\"",
    );
    one_line_error(home.run("alice", &["approve", "g", "bob"]), "");

    // A usage error is clap's, with status 2.
    let run = home.run("alice", &["post"]);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
}

#[test]
fn plain_http_beyond_loopback_is_refused_before_any_connection() {
    use std::io::ErrorKind;
    use std::net::TcpListener;
    // Linux takes a connection to 0.0.0.0 to this machine, so http://0.0.0.0:PORT is an address
    // beyond loopback to the client's rule, yet any connection a bug made would land on this
    // loopback listener (and nothing would leave the machine).
    // Below the kernel's ephemeral range (32768 and up), so that no other test's "dead" port
    // (bound to port 0, then dropped) can be this one, and their clients cannot connect here.
    let start = 20_000 + (std::process::id() % 10_000) as u16;
    let listener = (start..32_000)
        .chain(20_000..start)
        .find_map(|port| TcpListener::bind(("127.0.0.1", port)).ok())
        .expect("a free loopback port below the ephemeral range");
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://0.0.0.0:{}", listener.local_addr().unwrap().port());
    let connected = || match listener.accept() {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept: {e}"),
    };
    let home = Home::new(&dead_url());
    home.run("alice", &["profile", "init", "--name", "alice"])
        .ok();
    home.run("alice", &["group", "create", "g"]).ok();
    let refused = format!("courier URL {url} is plain HTTP");
    for (profile, args) in [
        ("alice", &["--courier", &url, "poll"][..]),
        ("alice", &["--courier", &url, "post", "g", "hi"][..]),
        (
            "bob",
            &["--courier", &url, "profile", "init", "--name", "bob"][..],
        ),
    ] {
        let run = home.run(profile, args);
        assert!(run.stderr.contains("--insecure-courier"), "{run:?}");
        one_line_error(run, &refused);
        assert!(!connected(), "{args:?} connected");
    }
    assert!(
        !home.profile_dir("bob").exists(),
        "a refused init saves nothing"
    );
    // The probe works: told --insecure-courier, the client does connect (a post writes; a poll
    // of a group without other members would read nothing).
    let child = home.spawn(
        "alice",
        &[
            "--insecure-courier",
            "--wait",
            "--attempts",
            "1",
            "--courier",
            &url,
            "post",
            "g",
            "hi",
        ],
    );
    let started = std::time::Instant::now();
    while !connected() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "--insecure-courier never connected"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    one_line_error(
        e2e_tests::wait(child, std::time::Duration::from_secs(60)),
        &format!("courier unreachable at {url}"),
    );
}

#[test]
fn a_token_on_the_command_line_still_works_with_a_warning() {
    let home = Home::new(&dead_url());
    for p in ["ann", "ben"] {
        home.run(p, &["profile", "init", "--name", p]).ok();
    }
    let token = home.run("ann", &["channel", "make", "ben"]).ok();
    let run = home.run("ben", &["channel", "accept", "ann", token.trim()]);
    assert!(run.status.success(), "{run:?}");
    assert!(
        run.stderr.contains("warning: a token given as an argument")
            && run.stderr.contains("/proc/PID/cmdline")
            && run.stderr.contains("--token-file"),
        "{}",
        run.stderr
    );
    let help = home.run("ben", &["channel", "accept", "--help"]).ok();
    assert!(help.contains("shell's history"), "{help}");
    // From stdin: no warning.
    let theirs = run.stdout;
    let run = home.run_with_input("ann", &["channel", "accept", "ben"], &theirs);
    assert!(run.status.success(), "{run:?}");
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn without_a_courier_the_error_says_how_to_start_one() {
    let home = Home::new("");
    let run = home
        .command("alice", &["profile", "init", "--name", "alice"])
        .env_remove("BACAP_CHAT_COURIER")
        .output()
        .unwrap();
    assert!(run.status.success());
    let run = home
        .command("alice", &["poll"])
        .env_remove("BACAP_CHAT_COURIER")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("bacap-chat courier --ephemeral"), "{err}");
}

#[test]
fn watch_stops_at_once_on_ctrl_c_even_mid_poll() {
    // Against a dead courier every poll spends seconds resending; Ctrl-C must not wait.
    let home = Home::new(&dead_url());
    home.run("alice", &["profile", "init", "--name", "alice"])
        .ok();
    let watch = home.spawn("alice", &["watch"]);
    std::thread::sleep(std::time::Duration::from_millis(700));
    let started = std::time::Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &watch.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let run = e2e_tests::wait(watch, std::time::Duration::from_secs(20));
    assert!(run.status.success(), "{run:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
