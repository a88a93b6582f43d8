//! `bacap-chat --transport katzenpost` over a real local Katzenpost mixnet, and the same chat
//! over the courier simulator, with the round trips of both measured and printed.
//!
//! Two and then three profiles create a group, join it, post texts, send a file that needs a
//! chain (an all-or-nothing write, which kpclientd v0.0.70 carries as ordered writes) and read
//! everything back. It runs when `BACAP_KATZENPOST_NET` names a running network's directory
//! (`scripts/katzenpost/kp up`; `kp` keeps it in `$KATZENPOST_HOME/net`, by default
//! `target/katzenpost/net`); otherwise it prints a line saying it was skipped, and passes.
//! `.ci/run` starts the network and sets it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use e2e_tests::{connect, files, texts, Courier, Faults, Home};
use serde_json::Value;

const NET_VAR: &str = "BACAP_KATZENPOST_NET";

/// How long one command may take over the mixnet: kpclientd prepares one query at a time,
/// about 4 s each, and a poll of a three-member group reads four streams per round.
const MIXNET_COMMAND_TIMEOUT: Duration = Duration::from_secs(900);

/// The courier simulator as the demo runs it: 20 ms of latency, 10% of replies lost.
const DEMO_FAULTS: Faults = Faults {
    latency: 20,
    loss: 0.1,
    seed: 7,
};

/// What one run of the chat measured.
#[derive(Debug, Default)]
struct Figures {
    /// Members, and the time from the start of a `post` until the last other member's `poll`
    /// showed it, with the commands that took (post, then each poll).
    post_round_trips: Vec<(usize, Duration, Vec<Duration>)>,
    /// Members, and one `poll` of the introducer that found nothing new (one read per stream).
    poll_rounds: Vec<(usize, Duration, usize)>,
    /// The whole chat.
    total: Duration,
}

/// Runs `args` and returns its JSON lines and how long it took.
fn timed(home: &Home, profile: &str, args: &[&str]) -> (Vec<Value>, Duration) {
    let started = Instant::now();
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = home.run(profile, &full).json();
    (out, started.elapsed())
}

/// Polls `profile` until an event satisfies `want` (at most `polls` polls); the polls' times.
fn poll_until(
    home: &Home,
    profile: &str,
    polls: usize,
    want: impl Fn(&Value) -> bool,
) -> Vec<Duration> {
    let mut times = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..polls {
        let (events, t) = timed(home, profile, &["poll"]);
        times.push(t);
        if events.iter().any(&want) {
            return times;
        }
        seen.extend(events);
    }
    panic!("{profile}: no wanted event after {polls} polls; saw {seen:?}");
}

fn is_text(text: &str) -> impl Fn(&Value) -> bool + '_ {
    move |e| e["event"] == "group_message" && e["type"] == "text" && e["text"] == text
}

/// The chat, on whatever network `home`'s commands use.
fn chat(home: &Home, file: &[u8]) -> Figures {
    let started = Instant::now();
    let mut figures = Figures::default();
    // Replicas and the courier answer each read once; a box written a moment ago may need
    // another poll to show.
    let polls = 4;

    // Two members.
    for p in ["alice", "bob"] {
        home.run(p, &["profile", "init", "--name", p]).ok();
    }
    connect(home, "alice", "bob");
    let (created, _) = timed(
        home,
        "alice",
        &["group", "create", "friends", "--history", "shared"],
    );
    let gid = created[0]["group"].as_str().unwrap().to_owned();
    home.run("alice", &["invite", "friends", "bob"]).ok();
    poll_until(home, "bob", polls, |e| {
        e["event"] == "invited" && e["group"] == gid.as_str()
    });
    home.run("bob", &["accept", "friends"]).ok();
    poll_until(home, "alice", polls, |e| {
        e["event"] == "join_request" && e["channel"] == "bob"
    });
    home.run("alice", &["approve", "friends", "bob"]).ok();
    poll_until(home, "bob", polls, |e| e["event"] == "joined");

    let t = Instant::now();
    let (_, post) = timed(home, "alice", &["post", "friends", "hello bob"]);
    let mut parts = vec![post];
    parts.extend(poll_until(home, "bob", polls, is_text("hello bob")));
    figures.post_round_trips.push((2, t.elapsed(), parts));

    let path = home.dir.path().join("notes.bin");
    std::fs::write(&path, file).unwrap();
    home.run("bob", &["send-file", "friends", path.to_str().unwrap()])
        .ok();
    poll_until(home, "alice", polls, |e| {
        e["event"] == "group_message" && e["type"] == "file"
    });
    let (events, t) = timed(home, "alice", &["poll"]);
    assert!(events.is_empty(), "nothing new: {events:?}");
    figures.poll_rounds.push((2, t, 2));

    // A third member.
    home.run("carol", &["profile", "init", "--name", "carol"])
        .ok();
    connect(home, "alice", "carol");
    home.run("alice", &["invite", "friends", "carol"]).ok();
    poll_until(home, "carol", polls, |e| e["event"] == "invited");
    home.run("carol", &["accept", "friends"]).ok();
    poll_until(home, "alice", polls, |e| {
        e["event"] == "join_request" && e["channel"] == "carol"
    });
    home.run("alice", &["approve", "friends", "carol"]).ok();
    poll_until(home, "carol", polls, |e| e["event"] == "joined");
    poll_until(home, "bob", polls, |e| e["event"] == "member_added");

    let t = Instant::now();
    let (_, post) = timed(home, "carol", &["post", "friends", "hello both"]);
    let mut parts = vec![post];
    parts.extend(poll_until(home, "alice", polls, is_text("hello both")));
    parts.extend(poll_until(home, "bob", polls, is_text("hello both")));
    figures.post_round_trips.push((3, t.elapsed(), parts));
    home.run("bob", &["post", "friends", "hi carol"]).ok();
    poll_until(home, "carol", polls, is_text("hi carol"));
    poll_until(home, "alice", polls, is_text("hi carol"));
    let (events, t) = timed(home, "alice", &["poll"]);
    assert!(events.is_empty(), "nothing new: {events:?}");
    figures.poll_rounds.push((3, t, 4));

    // Everything, read back from each profile.
    let mut want = vec![
        ("alice".to_owned(), "hello bob".to_owned()),
        ("bob".to_owned(), "hi carol".to_owned()),
        ("carol".to_owned(), "hello both".to_owned()),
    ];
    want.sort();
    // Carol, who joined later, reads the members' streams from their start too: the group
    // shares its history.
    for p in ["alice", "bob", "carol"] {
        let mut got = texts(home, p, "friends");
        got.sort();
        assert_eq!(got, want, "{p}");
    }
    for p in ["alice", "carol"] {
        let received = files(home, p, "friends");
        assert_eq!(received.len(), 1, "{p}: {received:?}");
        assert_eq!(received[0].0, "bob");
        assert_eq!(std::fs::read(&received[0].2).unwrap(), file, "{p}");
    }
    let mut hashes = Vec::new();
    for p in ["alice", "bob", "carol"] {
        let groups = home.run(p, &["--json", "group", "list"]).json();
        assert_eq!(groups[0]["members"], 3, "{p}: {groups:?}");
        hashes.push(groups[0]["membership_hash"].clone());
    }
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
    figures.total = started.elapsed();
    figures
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn print(name: &str, f: &Figures) {
    for (members, total, parts) in &f.post_round_trips {
        let parts: Vec<_> = parts.iter().map(|d| secs(*d)).collect();
        println!(
            "{name}: post round trip, {members} members: {} (post, then polls: {})",
            secs(*total),
            parts.join(", ")
        );
    }
    for (members, t, streams) in &f.poll_rounds {
        println!(
            "{name}: poll round, {members} members ({streams} streams read): {}",
            secs(*t)
        );
    }
    println!("{name}: the whole chat: {}", secs(f.total));
}

#[test]
fn two_then_three_members_over_the_mixnet_and_over_the_simulator() {
    let Some(net) = std::env::var_os(NET_VAR).map(PathBuf::from) else {
        println!(
            "SKIPPED katzenpost end-to-end: no local Katzenpost network ({NET_VAR} is not set; \
             start one with `scripts/katzenpost/kp up` and set it to target/katzenpost/net)"
        );
        return;
    };
    // A file of three boxes at the daemon's 1553 bytes per box: a chain and its pointer.
    let file: Vec<u8> = (0..4000u32).map(|i| (i * 7 % 251) as u8).collect();

    let state = tempfile::tempdir().unwrap();
    let courier = Courier::start(state.path(), 0, DEMO_FAULTS);
    let simulated = chat(&Home::new(&courier.url), &file);
    drop(courier);
    print("simulator", &simulated);

    let home = Home::katzenpost(
        &net.join("client2").join("thinclient.toml"),
        MIXNET_COMMAND_TIMEOUT,
    );
    let mixnet = chat(&home, &file);
    print("mixnet", &mixnet);
    for ((m, sim, _), (_, kp, _)) in simulated
        .post_round_trips
        .iter()
        .zip(&mixnet.post_round_trips)
    {
        println!(
            "post round trip, {m} members: mixnet {} against simulator {} ({:.0}x)",
            secs(*kp),
            secs(*sim),
            kp.as_secs_f64() / sim.as_secs_f64()
        );
    }
    for ((m, sim, _), (_, kp, _)) in simulated.poll_rounds.iter().zip(&mixnet.poll_rounds) {
        println!(
            "poll round, {m} members: mixnet {} against simulator {} ({:.0}x)",
            secs(*kp),
            secs(*sim),
            kp.as_secs_f64() / sim.as_secs_f64()
        );
    }
}
