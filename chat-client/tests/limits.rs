//! Bounds on what peers can make a client do: one poll reads at most so many boxes of one
//! stream, a group has at most so many members in our view (introductions, member lists and
//! approvals beyond are refused), and how long a stream has been stuck survives a restart.

mod common;

use bacap::{Geometry, StatefulWriter, WriteCap};
use chat_client::Client;
use common::{connect, join, memory_store, problems, settle, texts, Profile};
use groupchat::channel::ChannelToken;
use groupchat::chat::CHANNEL_CTX;
use groupchat::{Config, Event};
use pigeonhole::stream::framing::indirection;
use pigeonhole::transport::seal_message;
use rand_core::OsRng;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poll_reads_a_bounded_number_of_boxes_of_a_flooding_stream() {
    let store = memory_store();
    let config = Config {
        max_boxes_per_stream_per_poll: 10,
        ..Config::default()
    };
    let (pa, pb, pc) = (Profile::new(), Profile::new(), Profile::new());
    let mut alice = pa.open_with(&store, config);
    let (mut bob, mut carol) = (pb.open(&store), pc.open(&store));
    let group = alice.create_group("g", "alice").unwrap();
    connect(&mut alice, "bob", &mut bob, "alice");
    connect(&mut alice, "carol", &mut carol, "alice");
    join(&mut alice, "bob", &mut bob, group, "bob").await;
    join(&mut alice, "carol", &mut carol, group, "carol").await;
    settle(&mut bob).await;
    settle(&mut carol).await;
    settle(&mut alice).await;

    for i in 0..35 {
        bob.post_text(&group, &format!("flood {i}")).await.unwrap();
    }
    carol.post_text(&group, "carol too").await.unwrap();
    let from = |c: &Client, who: &str| texts(c, &group).iter().filter(|(s, _)| s == who).count();
    alice.poll().await.unwrap();
    assert_eq!(from(&alice, "bob"), 10, "one poll reads 10 of bob's boxes");
    assert_eq!(from(&alice, "carol"), 1, "and carol's message all the same");
    for polls in 2..=4 {
        alice.poll().await.unwrap();
        assert_eq!(from(&alice, "bob"), (polls * 10).min(35));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_has_at_most_the_members_this_profile_accepts() {
    let store = memory_store();
    let small = Config {
        max_group_members: 3,
        ..Config::default()
    };
    let ps: Vec<Profile> = (0..4).map(|_| Profile::new()).collect();
    let mut alice = ps[0].open(&store);
    let mut bob = ps[1].open_with(&store, small);
    let mut carol = ps[2].open(&store);
    let mut dave = ps[3].open(&store);
    let group = alice.create_group("g", "alice").unwrap();
    connect(&mut alice, "bob", &mut bob, "alice");
    connect(&mut alice, "carol", &mut carol, "alice");
    connect(&mut alice, "dave", &mut dave, "alice");
    join(&mut alice, "bob", &mut bob, group, "bob").await;
    join(&mut alice, "carol", &mut carol, group, "carol").await;
    join(&mut alice, "dave", &mut dave, group, "dave").await;
    // Alice's introduction of dave would make bob's view four: refused, said once.
    let ev = settle(&mut bob).await;
    assert_eq!(bob.group_info(&group).unwrap().members.len(), 3);
    let p = problems(&ev);
    assert!(
        p.iter()
            .any(|e| e.contains("the most this profile accepts")),
        "{ev:?}"
    );
    // Nor can bob approve a fourth.
    let mut erin = Profile::new().open(&store);
    connect(&mut bob, "erin", &mut erin, "bob");
    let mut small_alice = {
        drop(alice);
        ps[0].open_with(&store, small)
    };
    connect(&mut small_alice, "erin", &mut erin, "alice");
    small_alice.invite(&group, "erin").await.unwrap();
    settle(&mut erin).await;
    erin.accept_invitation(&group, "erin").await.unwrap();
    settle(&mut small_alice).await;
    let err = small_alice.approve(&group, "erin").await.unwrap_err();
    assert!(
        err.to_string().contains("the most this profile accepts"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn how_long_a_stream_was_stuck_survives_a_restart() {
    let store = memory_store();
    let config = Config {
        stuck_polls_before_skip: 3,
        stuck_time_before_skip: std::time::Duration::ZERO,
        ..Config::default()
    };
    let pa = Profile::new();
    // A peer whose channel stream points at a substream that does not exist.
    let cap = WriteCap::generate(&mut OsRng);
    let mut w = StatefulWriter::new(cap.clone(), CHANNEL_CTX);
    {
        let mut alice = pa.open_with(&store, config);
        alice.make_channel("rogue").unwrap();
        alice
            .accept_channel("rogue", &ChannelToken::new(&cap.read_cap()))
            .unwrap();
    }
    let nowhere = WriteCap::generate(&mut OsRng).read_cap();
    store
        .write(&seal_message(&w, &indirection(&nowhere), Geometry::default()).unwrap())
        .await
        .unwrap();
    w.advance().unwrap();
    // Two polls, each by a new process.
    for _ in 0..2 {
        let mut alice = pa.open_with(&store, config);
        let ev = alice.poll().await.unwrap();
        assert!(
            problems(&ev).iter().all(|p| !p.contains("skipped")),
            "{ev:?}"
        );
    }
    // The third poll is the third the stream was stuck in: it is moved past.
    let mut alice = pa.open_with(&store, config);
    let ev = alice.poll().await.unwrap();
    assert!(
        problems(&ev)
            .iter()
            .any(|p| p.contains("skipped after 3 polls")),
        "{ev:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_large_group_an_introduction_waits_for_the_user() {
    let store = memory_store();
    let guarded = Config {
        auto_admit_members: 2,
        ..Config::default()
    };
    let (pa, pb, pc) = (Profile::new(), Profile::new(), Profile::new());
    let mut alice = pa.open(&store);
    let mut bob = pb.open_with(&store, guarded);
    let mut carol = pc.open(&store);
    let group = alice.create_group("g", "alice").unwrap();
    connect(&mut alice, "bob", &mut bob, "alice");
    connect(&mut alice, "carol", &mut carol, "alice");
    join(&mut alice, "bob", &mut bob, group, "bob").await;
    settle(&mut bob).await;
    join(&mut alice, "carol", &mut carol, group, "carol").await;
    carol.post_text(&group, "hi, carol here").await.unwrap();
    let ev = settle(&mut bob).await;
    let held: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::IntroductionHeld { member, name, .. } => Some((*member, name.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(held.len(), 1, "{ev:?}");
    assert_eq!(held[0].1, "carol");
    let info = bob.group_info(&group).unwrap();
    assert_eq!(info.members.len(), 2, "carol is not read yet");
    assert_eq!(info.held.len(), 1);
    assert!(texts(&bob, &group).is_empty());
    // The hold is stored; admitted after a restart, carol is read from where she was
    // introduced.
    drop(bob);
    let mut bob = pb.open_with(&store, guarded);
    assert_eq!(bob.group_info(&group).unwrap().held.len(), 1);
    bob.admit(&group, &held[0].0).unwrap();
    assert!(bob.admit(&group, &held[0].0).is_err(), "once");
    settle(&mut bob).await;
    let info = bob.group_info(&group).unwrap();
    assert_eq!((info.members.len(), info.held.len()), (3, 0));
    assert_eq!(
        texts(&bob, &group),
        [("carol".to_owned(), "hi, carol here".to_owned())]
    );
}
