//! The outbox with real processes: with the courier stopped, posts, a file and a private text
//! are queued, each command returning at once; once the courier is back, one poll sends them
//! all, in order, once. Against a courier with a 2 s round trip, `post` returns well before
//! it, and `--wait` waits for the acknowledgement.

use std::time::{Duration, Instant};

use e2e_tests::{files, group_of, texts, Courier, Faults, Home};

const FAULTS: Faults = Faults {
    latency: 3,
    loss: 0.1,
    seed: 11,
};

#[test]
fn sends_queued_while_the_courier_is_down_go_out_in_order_once_when_it_is_back() {
    let state = tempfile::tempdir().unwrap();
    let courier = Courier::start(state.path(), 0, FAULTS);
    let (url, port) = (courier.url.clone(), courier.port);
    let home = Home::new(&url);
    group_of(&home, "alice", &["bob", "carol"], "g");
    courier.kill9();

    let file = home.dir.path().join("notes.bin");
    let payload: Vec<u8> = (0..30_000u32).map(|i| (i * 31 % 253) as u8).collect();
    std::fs::write(&file, &payload).unwrap();
    let path = file.to_str().unwrap();
    let mut commands: Vec<Vec<String>> = (0..5)
        .map(|i| vec!["post".into(), "g".into(), format!("queued {i}")])
        .collect();
    commands.push(vec!["send-file".into(), "g".into(), path.into()]);
    commands.push(vec![
        "channel".into(),
        "send".into(),
        "bob".into(),
        "psst".into(),
    ]);
    for args in &commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let run = home.run("alice", &args);
        // It returns at once (no wait on a courier that is not there), successfully: the
        // send is kept.
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
        assert_eq!(run.status.code(), Some(0), "{args:?}: {run:?}");
        assert!(run.stdout.starts_with("queued"), "{args:?}: {run:?}");
    }
    let listed = home.run("alice", &["--json", "outbox"]).json();
    assert_eq!(listed.len(), 7, "{listed:?}");
    let kinds: Vec<&str> = listed.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "post").count(), 5);
    assert!(
        kinds.contains(&"file") && kinds.contains(&"text"),
        "{kinds:?}"
    );

    let _courier = Courier::start(state.path(), port, FAULTS);
    let out = home.run("alice", &["poll"]).ok();
    assert_eq!(out.matches("sent: post to g").count(), 5, "{out}");
    assert!(out.contains("sent: file to g"), "{out}");
    assert!(out.contains("sent: text to channel bob"), "{out}");
    assert!(home.run("alice", &["outbox"]).ok().contains("empty"));

    let want: Vec<(String, String)> = (0..5)
        .map(|i| ("alice".to_owned(), format!("queued {i}")))
        .collect();
    for member in ["bob", "carol"] {
        home.run(member, &["poll"]).ok();
        assert_eq!(texts(&home, member, "g"), want, "{member}");
        let got = files(&home, member, "g");
        assert_eq!(got.len(), 1, "{member}: {got:?}");
        assert_eq!(std::fs::read(&got[0].2).unwrap(), payload);
    }
    let private = home.run("bob", &["channel", "history", "alice"]).ok();
    assert_eq!(private.matches("psst").count(), 1, "{private}");
    assert_eq!(texts(&home, "alice", "g"), want, "recorded once");
}

#[test]
fn a_post_returns_well_before_a_slow_round_trip_unless_asked_to_wait() {
    let state = tempfile::tempdir().unwrap();
    let fast = Courier::start(
        state.path(),
        0,
        Faults {
            latency: 1,
            loss: 0.0,
            seed: 1,
        },
    );
    let (url, port) = (fast.url.clone(), fast.port);
    let home = Home::new(&url);
    group_of(&home, "alice", &["bob"], "g");
    fast.kill9();
    let _slow = Courier::start(
        state.path(),
        port,
        Faults {
            latency: 2000,
            loss: 0.0,
            seed: 1,
        },
    );

    let started = Instant::now();
    let run = home.run("alice", &["--json", "post", "g", "no waiting"]);
    let took = started.elapsed();
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["event"], "queued", "{v}");

    let started = Instant::now();
    let out = home
        .run("alice", &["--wait", "post", "g", "waited for"])
        .ok();
    assert!(out.contains("posted to g"), "{out}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(home.run("alice", &["outbox"]).ok().contains("empty"));

    home.run("bob", &["poll"]).ok();
    assert_eq!(
        texts(&home, "bob", "g"),
        [
            ("alice".to_owned(), "no waiting".to_owned()),
            ("alice".to_owned(), "waited for".to_owned()),
        ]
    );
}
