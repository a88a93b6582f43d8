//! Members who are removed or leave, with real `bacap-chat` processes and a `courier-sim`
//! process with latency and loss: the others go on among themselves and agree on who is in the
//! group; the one who went, even with a copy of its profile taken before it went, reads
//! nothing they write afterwards.

use e2e_tests::{connect, texts, Courier, Faults, Home};

const LOSSY: Faults = Faults {
    latency: 3,
    loss: 0.1,
    seed: 11,
};

/// alice (the owner) and the others in group `g`, everyone having read everyone.
fn group(home: &Home, others: &[&str]) {
    for p in std::iter::once(&"alice").chain(others) {
        home.run(p, &["profile", "init", "--name", p]).ok();
    }
    home.run("alice", &["group", "create", "g"]).ok();
    for p in others {
        connect(home, "alice", p);
        home.run("alice", &["invite", "g", p]).ok();
        home.run(p, &["poll"]).ok();
        home.run(p, &["accept", "g"]).ok();
        home.run("alice", &["poll"]).ok();
        home.run("alice", &["approve", "g", p]).ok();
    }
    settle(
        home,
        &std::iter::once("alice")
            .chain(others.iter().copied())
            .collect::<Vec<_>>(),
    );
}

fn settle(home: &Home, who: &[&str]) {
    for _ in 0..3 {
        for p in who {
            home.run(p, &["poll"]).ok();
        }
    }
}

/// Copies `profile`'s directory to a new profile `copy`, as a thief would.
fn steal(home: &Home, profile: &str, copy: &str) {
    let from = home.profile_dir(profile);
    let to = home.profile_dir(copy);
    std::fs::create_dir_all(&to).unwrap();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(&to)
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_file(to.join("lock"));
}

fn membership_hash(home: &Home, p: &str) -> serde_json::Value {
    let groups = home.run(p, &["--json", "group", "list"]).json();
    groups[0]["membership_hash"].clone()
}

/// After `gone` went: the `stay` members post, read each other and agree; `gone` and the copy
/// of its profile read none of it.
fn the_others_go_on_without(home: &Home, stay: &[&str], gone: &str, copy: &str) {
    for p in stay {
        home.run(p, &["post", "g", &format!("after from {p}")]).ok();
    }
    settle(home, stay);
    let hash = membership_hash(home, stay[0]);
    for p in stay {
        let got = texts(home, p, "g");
        for other in stay.iter().filter(|o| *o != p) {
            let want = ((*other).to_owned(), format!("after from {other}"));
            assert!(got.contains(&want), "{p} lacks {want:?}: {got:?}");
        }
        assert_eq!(membership_hash(home, p), hash, "{p}");
        let members = home.run(p, &["--json", "group", "members", "g"]).json();
        assert_eq!(members.len(), stay.len(), "{p}: {members:?}");
        assert!(
            members.iter().all(|m| m["name"] != gone),
            "{p}: {members:?}"
        );
    }
    home.run(gone, &["poll"]).ok();
    // The copy may fail to poll (it tries to write where the original already wrote); what it
    // read is in its history either way.
    let copied = home.run(copy, &["poll"]);
    assert!(
        copied.status.success() || copied.stderr.contains("another copy of this profile"),
        "{copied:?}"
    );
    for p in [gone, copy] {
        let got = texts(home, p, "g");
        assert!(
            !got.iter().any(|(_, t)| t.starts_with("after")),
            "{p} reads {got:?}"
        );
        assert!(
            got.iter().any(|(_, t)| t.starts_with("before")),
            "{p}: {got:?}"
        );
    }
}

#[test]
fn the_owner_removes_a_member_who_then_reads_nothing_more() {
    let state = tempfile::tempdir().unwrap();
    let courier = Courier::start(state.path(), 0, LOSSY);
    let home = Home::new(&courier.url);
    group(&home, &["bob", "carol", "dave"]);
    for p in ["alice", "bob", "carol", "dave"] {
        home.run(p, &["post", "g", &format!("before from {p}")])
            .ok();
    }
    settle(&home, &["alice", "bob", "carol", "dave"]);
    steal(&home, "dave", "davecopy");
    let done = home.run("alice", &["remove", "g", "dave"]).ok();
    assert!(done.contains("removed dave"), "{done}");
    let events = home.run("bob", &["poll"]).ok();
    assert!(events.contains("alice removed dave"), "{events}");
    let told = home.run("dave", &["--json", "poll"]).json();
    assert!(
        told.iter()
            .any(|e| e["event"] == "removed_us" && e["by_name"] == "alice"),
        "{told:?}"
    );
    let line = home.run("davecopy", &["poll"]).ok();
    assert!(line.contains("you were removed from g by alice"), "{line}");
    settle(&home, &["alice", "bob", "carol"]);
    the_others_go_on_without(&home, &["alice", "bob", "carol"], "dave", "davecopy");
    let mistake = home.run("dave", &["post", "g", "still here?"]);
    assert!(!mistake.status.success());
}

#[test]
fn a_member_leaves_and_then_reads_nothing_more() {
    let state = tempfile::tempdir().unwrap();
    let courier = Courier::start(state.path(), 0, LOSSY);
    let home = Home::new(&courier.url);
    group(&home, &["bob", "carol", "erin"]);
    for p in ["alice", "bob", "carol", "erin"] {
        home.run(p, &["post", "g", &format!("before from {p}")])
            .ok();
    }
    settle(&home, &["alice", "bob", "carol", "erin"]);
    steal(&home, "erin", "erincopy");
    home.run("erin", &["leave", "g"]).ok();
    let events = home.run("carol", &["poll"]).ok();
    assert!(events.contains("erin left"), "{events}");
    settle(&home, &["alice", "bob", "carol"]);
    the_others_go_on_without(&home, &["alice", "bob", "carol"], "erin", "erincopy");
}

#[test]
fn roles_are_set_by_the_owner_and_the_group_is_deleted_by_it() {
    let state = tempfile::tempdir().unwrap();
    let courier = Courier::start(state.path(), 0, LOSSY);
    let home = Home::new(&courier.url);
    group(&home, &["bob", "carol"]);
    // A member may not remove or set roles: one clear line each.
    let refused = home.run("bob", &["remove", "g", "carol"]);
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("only the owner and admins"),
        "{}",
        refused.stderr
    );
    home.run("alice", &["role", "g", "bob", "admin"]).ok();
    settle(&home, &["alice", "bob", "carol"]);
    let members = home
        .run("carol", &["--json", "group", "members", "g"])
        .json();
    assert!(
        members
            .iter()
            .any(|m| m["name"] == "bob" && m["role"] == "admin"),
        "{members:?}"
    );
    let refused = home.run("bob", &["delete", "g"]);
    assert!(
        refused.stderr.contains("only the owner deletes"),
        "{}",
        refused.stderr
    );
    home.run("alice", &["post", "g", "last words"]).ok();
    settle(&home, &["bob", "carol"]);
    home.run("alice", &["delete", "g"]).ok();
    for p in ["bob", "carol"] {
        let line = home.run(p, &["poll"]).ok();
        assert!(line.contains("g was deleted by alice"), "{p}: {line}");
        // The history stays readable locally.
        assert!(texts(&home, p, "g").contains(&("alice".into(), "last words".into())));
        let groups = home.run(p, &["--json", "group", "list"]).json();
        assert_eq!(groups[0]["standing"], "deleted", "{p}");
    }
}
