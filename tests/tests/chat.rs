//! Several `bacap-chat` processes chat through a `courier-sim` process over loopback, with
//! simulated latency and loss.

use std::time::Duration;

use e2e_tests::{connect, files, group_of, texts, wait, Courier, Faults, Home};

const LOSSY: Faults = Faults {
    latency: 3,
    loss: 0.15,
    seed: 5,
};

#[test]
fn three_people_chat_revise_a_name_and_share_a_file() {
    let state = tempfile::tempdir().unwrap();
    let courier = Courier::start(state.path(), 0, LOSSY);
    let home = Home::new(&courier.url);
    for p in ["alice", "bob", "carol"] {
        home.run(p, &["profile", "init", "--name", p]).ok();
    }
    connect(&home, "alice", "bob");
    connect(&home, "alice", "carol");
    let created = home
        .run("alice", &["--json", "group", "create", "friends"])
        .json();
    let gid = created[0]["group"].as_str().unwrap().to_owned();
    assert_eq!(gid.len(), 64);

    home.run("alice", &["invite", "friends", "bob"]).ok();
    home.run("alice", &["invite", &gid[..10], "carol"]).ok();
    let ev = home.run("bob", &["--json", "poll"]).json();
    assert!(
        ev.iter()
            .any(|e| e["event"] == "invited" && e["group"] == gid.as_str()),
        "{ev:?}"
    );
    home.run("carol", &["poll"]).ok();
    // Bob asks for a name that is taken; Alice asks him to revise it.
    home.run("bob", &["accept", "friends", "--as", "alice"])
        .ok();
    home.run("carol", &["accept", "friends"]).ok();
    let ev = home.run("alice", &["--json", "poll"]).json();
    assert!(
        ev.iter().any(|e| e["event"] == "join_request"
            && e["channel"] == "bob"
            && e["display_name"] == "alice"
            && e["name_taken"] == true),
        "{ev:?}"
    );
    home.run(
        "alice",
        &["revise", "friends", "bob", "--reason", "alice is taken"],
    )
    .ok();
    home.run("alice", &["approve", "friends", "carol"]).ok();
    let ev = home.run("bob", &["--json", "poll"]).json();
    assert!(
        ev.iter()
            .any(|e| e["event"] == "revise_requested" && e["reason"] == "alice is taken"),
        "{ev:?}"
    );
    home.run("bob", &["accept", "friends", "--as", "bob"]).ok();
    home.run("alice", &["poll"]).ok();
    home.run("alice", &["approve", "friends", "bob"]).ok();
    for p in ["bob", "carol", "bob", "carol"] {
        home.run(p, &["poll"]).ok();
    }

    home.run("alice", &["post", "friends", "hi both"]).ok();
    home.run("bob", &["post", "friends", "hi alice"]).ok();
    home.run("carol", &["post", "friends", "hello"]).ok();
    let payload: Vec<u8> = (0..40_000u32).map(|i| (i * 31 % 253) as u8).collect();
    let file = home.dir.path().join("photo.jpg");
    std::fs::write(&file, &payload).unwrap();
    home.run(
        "bob",
        &[
            "send-file",
            "friends",
            file.to_str().unwrap(),
            "--type",
            "image",
        ],
    )
    .ok();
    home.run("carol", &["who", "friends"]).ok();
    for _ in 0..2 {
        for p in ["alice", "bob", "carol"] {
            home.run(p, &["poll"]).ok();
        }
    }

    let want = vec![
        ("alice".to_owned(), "hi both".to_owned()),
        ("bob".to_owned(), "hi alice".to_owned()),
        ("carol".to_owned(), "hello".to_owned()),
    ];
    let mut hashes = Vec::new();
    for p in ["alice", "bob", "carol"] {
        let mut got = texts(&home, p, "friends");
        got.sort();
        assert_eq!(got, want, "{p}");
        let groups = home.run(p, &["--json", "group", "list"]).json();
        assert_eq!(groups.len(), 1, "{p}: {groups:?}");
        assert_eq!(groups[0]["group"], gid.as_str());
        assert_eq!(groups[0]["name"], "friends");
        assert_eq!(groups[0]["members"], 3, "{p}");
        hashes.push(groups[0]["membership_hash"].clone());
        let members = home
            .run(p, &["--json", "group", "members", "friends"])
            .json();
        let mut names: Vec<_> = members
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["alice", "bob", "carol"], "{p}");
    }
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
    for p in ["alice", "carol"] {
        let got = files(&home, p, "friends");
        assert_eq!(got.len(), 1, "{p}: {got:?}");
        assert_eq!(got[0].0, "bob");
        assert_eq!(got[0].1, "photo.jpg");
        assert_eq!(std::fs::read(&got[0].2).unwrap(), payload, "{p}");
    }
    // Carol's WHO is in her own history.
    let history = home.run("carol", &["--json", "history", "friends"]).json();
    assert!(history
        .iter()
        .any(|e| e["type"] == "who" && e["own"] == true));
}

#[test]
fn private_texts_on_a_channel() {
    let state = tempfile::tempdir().unwrap();
    let courier = Courier::start(state.path(), 0, LOSSY);
    let home = Home::new(&courier.url);
    group_of(&home, "alice", &["bob"], "pair");
    home.run("alice", &["channel", "send", "bob", "just between us"])
        .ok();
    let ev = home.run("bob", &["--json", "poll"]).json();
    assert!(
        ev.iter().any(|e| e["event"] == "channel_text"
            && e["channel"] == "alice"
            && e["text"] == "just between us"),
        "{ev:?}"
    );
    let h = home
        .run("bob", &["--json", "channel", "history", "alice"])
        .json();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["text"], "just between us");
    // Nothing of it in the group.
    assert!(texts(&home, "bob", "pair").is_empty());
}

#[test]
fn watch_follows_the_group_and_leaves_the_profile_free_between_polls() {
    let state = tempfile::tempdir().unwrap();
    let courier = Courier::start(state.path(), 0, LOSSY);
    let home = Home::new(&courier.url);
    group_of(&home, "alice", &["bob"], "g");
    let watch = home.spawn(
        "bob",
        &["--json", "watch", "--interval", "200", "--polls", "25"],
    );
    std::thread::sleep(Duration::from_millis(300));
    home.run("alice", &["post", "g", "one"]).ok();
    // The same profile, while its watch runs.
    home.run("bob", &["post", "g", "bob while watching"]).ok();
    home.run("alice", &["post", "g", "two"]).ok();
    let events = wait(watch, Duration::from_secs(90)).json();
    let got: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "group_message" && e["type"] == "text")
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, ["one", "two"], "{events:?}");
    assert!(events.iter().all(|e| e["group_name"] == "g"), "{events:?}");
}
