//! The core driven by plain function calls, with no database and no client: two profiles'
//! `Chat`s over one in-memory store, through the join flow to a post, with every change the
//! client would store taken and checked.

use bacap::{Geometry, StatefulWriter};
use groupchat::channel::GroupId;
use groupchat::chat::{Chat, OpId, PollProgress, Write, Written};
use groupchat::{Config, Event};
use pigeonhole::store::MemoryStore;
use pigeonhole::stream::StreamError;
use pigeonhole::transport::{Sealing, Transport};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

type Net = Sealing<MemoryStore>;

fn chat(name: &str) -> Chat {
    let dir = std::env::temp_dir().join(format!("sans-io-{name}"));
    let chat = Chat::load(Config::default(), Geometry::default(), &dir, Vec::new(), 1).unwrap();
    assert_eq!(chat.pending_count(), 0);
    chat
}

/// Runs operation `id` over `net` and hands the outcome back, as the client does.
async fn run(c: &mut Chat, net: &Net, id: OpId) {
    let op = c.operation(id).unwrap();
    let options = c.config().copy_options;
    let outcome: Result<Vec<StatefulWriter>, StreamError> = match op.write {
        Write::Message(out) => out.execute(net, options).await.map(|w| vec![w]),
        Write::AllOrNothing(plan) => plan.execute(net, options).await,
        Write::Tombstones { .. } => unreachable!("no group is deleted here"),
    };
    assert!(matches!(
        c.handle_written(id, outcome, 2).unwrap(),
        Written::Landed
    ));
    let changes = c.take_changes();
    assert!(
        changes.deletes.iter().any(|k| k.starts_with(b"pending/")),
        "a landed operation's record goes"
    );
}

/// Polls until nothing moves; returns the events.
async fn poll(c: &mut Chat, net: &Net) -> Vec<Event> {
    let mut events = Vec::new();
    let mut progress = PollProgress::default();
    loop {
        let round = c.poll_reads();
        if round.is_empty() {
            break;
        }
        let contents = net.read_many(round.reads()).await.unwrap();
        let (moved, found) = c.handle_reads(round, &contents, &mut progress, 3).unwrap();
        events.extend(found);
        c.take_changes();
        if !moved {
            break;
        }
    }
    events
}

#[tokio::test]
async fn two_chats_join_and_talk_through_plain_calls() {
    let net = Sealing::new(MemoryStore::default());
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (mut alice, mut bob) = (chat("alice"), chat("bob"));

    // The channel bootstrap, then a group.
    let ta = alice.make_channel(&mut rng, "bob").unwrap();
    let tb = bob.accept_channel(&mut rng, "alice", &ta).unwrap();
    alice.accept_channel(&mut rng, "bob", &tb).unwrap();
    let group: GroupId = alice
        .create_group(
            &mut rng,
            "friends",
            "alice",
            groupchat::roster::History::Shared,
            1,
        )
        .unwrap();
    let changes = alice.take_changes();
    assert!(changes.puts.iter().any(|(k, _)| k.starts_with(b"group/")));

    // Invitation, request, approval.
    let op = alice.invite(&mut rng, &group, "bob").unwrap();
    assert_eq!(alice.next_operation().unwrap().unwrap().id, op);
    run(&mut alice, &net, op).await;
    assert!(poll(&mut bob, &net)
        .await
        .iter()
        .any(|e| matches!(e, Event::Invited { .. })));
    let op = bob.accept_invitation(&mut rng, &group, "bob").unwrap();
    run(&mut bob, &net, op).await;
    assert!(poll(&mut alice, &net)
        .await
        .iter()
        .any(|e| matches!(e, Event::JoinRequest { display_name, .. } if display_name == "bob")));
    let op = alice.approve(&mut rng, &group, "bob").unwrap();
    run(&mut alice, &net, op).await;
    assert!(poll(&mut bob, &net)
        .await
        .iter()
        .any(|e| matches!(e, Event::Joined { .. })));

    // A post, and what the reader records of it.
    let op = alice.post_text(&mut rng, &group, "hello bob").unwrap();
    run(&mut alice, &net, op).await;
    let events = poll(&mut bob, &net).await;
    let texts: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::GroupMessage { entry, .. } => Some(entry.content.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        vec![groupchat::records::Content::Text("hello bob".into())]
    );
    assert_eq!(
        alice.group_info(&group).unwrap().membership_hash,
        bob.group_info(&group).unwrap().membership_hash
    );
    assert_eq!(alice.pending_count() + bob.pending_count(), 0);
}

#[tokio::test]
async fn an_operation_that_did_not_land_stays_pending_and_a_refused_one_goes() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut alice = chat("alice-2");
    let group = alice
        .create_group(
            &mut rng,
            "g",
            "alice",
            groupchat::roster::History::Shared,
            1,
        )
        .unwrap();
    let op = alice.post_text(&mut rng, &group, "x").unwrap();
    let offline = StreamError::Store(pigeonhole::store::StoreError::Unavailable("down".into()));
    assert!(matches!(
        alice.handle_written(op, Err(offline), 1).unwrap(),
        Written::Kept(_)
    ));
    assert_eq!(alice.pending_count(), 1);
    let in_progress = StreamError::CopyInProgress;
    assert!(matches!(
        alice.handle_written(op, Err(in_progress), 1).unwrap(),
        Written::Kept(_)
    ));
    let failed = StreamError::InvalidState("never lands");
    assert!(matches!(
        alice.handle_written(op, Err(failed), 1).unwrap(),
        Written::Dropped(_)
    ));
    assert_eq!(alice.pending_count(), 0);
    let changes = alice.take_changes();
    assert!(
        !changes.puts.iter().any(|(k, _)| k.starts_with(b"hist/")),
        "nothing is recorded as sent"
    );
    assert!(changes.deletes.iter().any(|k| k.starts_with(b"pending/")));
}
