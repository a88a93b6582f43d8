//! Three members through the whole flow over HTTP, against a courier simulator with latency,
//! jitter and lost replies, with a client killed mid-approval and mid-post and restarted.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chat_client::Client;
use common::{connect, settle, texts, transport, FailMode, Flaky, Profile};
use courier_protocol::{HttpStore, RetryPolicy};
use groupchat::messages::FileType;
use groupchat::records::Content;
use groupchat::roster::History;
use groupchat::Event;
use pigeonhole::store::BoxStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_over_a_lossy_courier_with_kills_and_restarts() {
    let mut config = courier_sim::Config::ephemeral();
    config.latency = 3;
    config.jitter = 4;
    config.loss = 0.2;
    config.seed = 11;
    let server = courier_sim::serve(config).await.unwrap();
    let policy = RetryPolicy {
        max_attempts: 30,
        initial_backoff: Duration::from_millis(2),
        max_backoff: Duration::from_millis(40),
        attempt_timeout: Duration::from_secs(5),
    };
    let store: Arc<dyn BoxStore> = Arc::new(HttpStore::with_policy(&server.url(), policy).unwrap());

    let (pa, pb, pc) = (Profile::new(), Profile::new(), Profile::new());
    let (mut alice, mut bob, mut carol) = (pa.open(&store), pb.open(&store), pc.open(&store));
    let group = alice
        .create_group_with("over http", "alice", History::Shared)
        .unwrap();
    connect(&mut alice, "bob", &mut bob, "alice");
    connect(&mut alice, "carol", &mut carol, "alice");

    // Bob: invite, a name to revise, then approval.
    alice.invite(&group, "bob").await.unwrap();
    bob.poll().await.unwrap();
    bob.accept_invitation(&group, "alice").await.unwrap();
    alice.poll().await.unwrap();
    alice.ask_revise(&group, "bob", "taken").await.unwrap();
    let ev = bob.poll().await.unwrap();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::ReviseRequested { .. })),
        "{ev:?}"
    );
    bob.accept_invitation(&group, "bob").await.unwrap();
    alice.poll().await.unwrap();
    alice.approve(&group, "bob").await.unwrap();
    settle(&mut bob).await;
    alice.post_text(&group, "hello over http").await.unwrap();

    // Carol: alice is killed in the middle of approving, and restarts.
    alice.invite(&group, "carol").await.unwrap();
    carol.poll().await.unwrap();
    carol.accept_invitation(&group, "carol").await.unwrap();
    alice.poll().await.unwrap();
    drop(alice);
    {
        let mut killed = Client::open(
            &pa.path(),
            transport(&Flaky::store(&store, 2, FailMode::After)),
        )
        .unwrap();
        assert!(
            killed.approve(&group, "carol").await.is_err(),
            "killed mid-approval"
        );
    }
    let mut alice = pa.open(&store);
    assert_eq!(alice.pending_count(), 1, "the approval waits, persisted");
    alice.poll().await.unwrap();
    assert_eq!(alice.pending_count(), 0);
    assert_eq!(alice.group_info(&group).unwrap().members.len(), 3);
    let ev = settle(&mut carol).await;
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::Joined { .. }))
            .count(),
        1,
        "{ev:?}"
    );

    // Bob is killed while posting a long message, and restarts.
    let long = "b".repeat(4000);
    drop(bob);
    {
        let mut killed = Client::open(
            &pb.path(),
            transport(&Flaky::store(&store, 1, FailMode::After)),
        )
        .unwrap();
        assert!(killed.post_text(&group, &long).await.is_err());
    }
    let mut bob = pb.open(&store);
    settle(&mut bob).await;
    carol.post_text(&group, "carol here").await.unwrap();
    let payload: Vec<u8> = (0..6000u32).map(|i| i as u8).collect();
    carol
        .send_file(&group, "notes.txt", FileType::Arbitrary, payload.clone())
        .await
        .unwrap();
    carol.who(&group).await.unwrap();
    for _ in 0..2 {
        for c in [&mut alice, &mut bob, &mut carol] {
            settle(c).await;
        }
    }

    let want = vec![
        ("alice".to_owned(), "hello over http".to_owned()),
        ("bob".to_owned(), long.clone()),
        ("carol".to_owned(), "carol here".to_owned()),
    ];
    for c in [&alice, &bob, &carol] {
        let mut got = texts(c, &group);
        got.sort();
        assert_eq!(got, want);
    }
    let hashes: Vec<_> = [&alice, &bob, &carol]
        .iter()
        .map(|c| c.group_info(&group).unwrap().membership_hash)
        .collect();
    assert!(hashes.iter().all(|h| *h == hashes[0]));
    for c in [&alice, &bob] {
        let file = c
            .history(&group)
            .unwrap()
            .into_iter()
            .find_map(|e| match e.content {
                Content::File { path, .. } => Some(path),
                _ => None,
            })
            .expect("the file arrived");
        assert_eq!(std::fs::read(file).unwrap(), payload);
    }
    drop((alice, bob, carol));
    server.shutdown().await.unwrap();
}
