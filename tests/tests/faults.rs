//! Crashes across processes: the courier killed with SIGKILL and restarted on its state, and a
//! client killed in the middle of an upload.

use std::time::{Duration, Instant};

use e2e_tests::{files, group_of, texts, Courier, Faults, Home};

const FAULTS: Faults = Faults {
    latency: 3,
    loss: 0.1,
    seed: 9,
};

#[test]
fn courier_kill9_and_restart_loses_nothing() {
    let state = tempfile::tempdir().unwrap();
    let courier = Courier::start(state.path(), 0, FAULTS);
    let (url, port) = (courier.url.clone(), courier.port);
    let home = Home::new(&url);
    group_of(&home, "alice", &["bob"], "g");
    home.run("alice", &["post", "g", "before the crash"]).ok();

    courier.kill9();
    // With the courier gone, posting with --wait fails in one line, and the message is kept.
    let run = home.run(
        "alice",
        &[
            "--attempts",
            "2",
            "--wait",
            "post",
            "g",
            "during the outage",
        ],
    );
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(
        run.stderr
            .starts_with("bacap-chat: courier unreachable at http://127.0.0.1:"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    let run = home.run("bob", &["--attempts", "2", "poll"]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");

    let _courier = Courier::start(state.path(), port, FAULTS);
    // The next command sends the saved message, once.
    let out = home.run("alice", &["poll"]).ok();
    assert!(out.contains("sent: post to g"), "{out}");
    home.run("alice", &["post", "g", "after the restart"]).ok();
    home.run("bob", &["poll"]).ok();
    home.run("bob", &["poll"]).ok();
    let got = texts(&home, "bob", "g");
    assert_eq!(
        got,
        [
            ("alice".to_owned(), "before the crash".to_owned()),
            ("alice".to_owned(), "during the outage".to_owned()),
            ("alice".to_owned(), "after the restart".to_owned()),
        ]
    );
    assert_eq!(texts(&home, "alice", "g").len(), 3);
}

#[test]
fn client_killed_mid_upload_resumes_and_delivers_the_file_once() {
    let state = tempfile::tempdir().unwrap();
    // Slow enough that a 4 MB upload (about 2,700 boxes, written a few at a time) takes
    // seconds.
    let courier = Courier::start(
        state.path(),
        0,
        Faults {
            latency: 40,
            loss: 0.05,
            seed: 3,
        },
    );
    let home = Home::new(&courier.url);
    group_of(&home, "alice", &["bob"], "g");
    let payload: Vec<u8> = (0..4_000_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let file = home.dir.path().join("big.bin");
    std::fs::write(&file, &payload).unwrap();

    let before = courier.writes();
    let mut upload = home.spawn("alice", &["send-file", "g", file.to_str().unwrap()]);
    // Kill it once its boxes are going out (so the operation was persisted before), well
    // before the last.
    let deadline = Instant::now() + Duration::from_secs(60);
    while courier.writes() < before + 100 {
        assert!(Instant::now() < deadline, "the upload did not start");
        assert!(
            upload.0.try_wait().unwrap().is_none(),
            "the upload ended before 100 boxes were written"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        upload.0.try_wait().unwrap().is_none(),
        "the upload should still be running"
    );
    upload.kill9();

    // Nothing landed yet: the file goes all at once or not at all.
    home.run("bob", &["poll"]).ok();
    assert!(files(&home, "bob", "g").is_empty());
    // Alice's next command finishes the upload.
    let out = home.run("alice", &["poll"]).ok();
    assert!(out.contains("sent: file to g"), "{out}");
    home.run("alice", &["post", "g", "done"]).ok();
    home.run("bob", &["poll"]).ok();
    let got = files(&home, "bob", "g");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, "big.bin");
    assert_eq!(std::fs::read(&got[0].2).unwrap(), payload);
    assert_eq!(
        texts(&home, "bob", "g"),
        [("alice".to_owned(), "done".to_owned())]
    );
}
