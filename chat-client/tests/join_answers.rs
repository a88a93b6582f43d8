//! Answers to invitations beyond yes: an invitee declines and the introducer is told; an
//! introducer rejects a request outright and the invitee is told why; invitations nobody
//! answers in time are forgotten on both sides.

mod common;

use common::{connect, memory_store, settle, Profile};
use groupchat::{Config, Event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_invitation_is_gone_on_both_sides() {
    let store = memory_store();
    let (pa, pb) = (Profile::new(), Profile::new());
    let (mut alice, mut bob) = (pa.open(&store), pb.open(&store));
    let group = alice.create_group("g", "alice").unwrap();
    connect(&mut alice, "bob", &mut bob, "alice");
    alice.invite(&group, "bob").await.unwrap();
    settle(&mut bob).await;
    assert_eq!(bob.invitations().len(), 1);
    bob.decline(&group).await.unwrap();
    assert!(bob.invitations().is_empty());
    let ev = settle(&mut alice).await;
    assert!(
        ev.iter().any(
            |e| matches!(e, Event::InvitationDeclined { channel, group: g }
            if channel == "bob" && *g == group)
        ),
        "{ev:?}"
    );
    assert!(alice.join_requests().is_empty());
    // Declining twice, or what was never received, is an error at once.
    assert!(bob.decline(&group).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_request_is_gone_on_both_sides_and_the_invitee_reads_why() {
    let store = memory_store();
    let (pa, pb) = (Profile::new(), Profile::new());
    let (mut alice, mut bob) = (pa.open(&store), pb.open(&store));
    let group = alice.create_group("g", "alice").unwrap();
    connect(&mut alice, "bob", &mut bob, "alice");
    alice.invite(&group, "bob").await.unwrap();
    settle(&mut bob).await;
    bob.accept_invitation(&group, "bob").await.unwrap();
    settle(&mut alice).await;
    assert_eq!(
        alice.join_requests()[0].display_name.as_deref(),
        Some("bob")
    );
    alice
        .reject(&group, "bob", "this group is for the board only")
        .await
        .unwrap();
    assert!(alice.join_requests().is_empty());
    assert!(
        alice.approve(&group, "bob").await.is_err(),
        "nothing to approve"
    );
    let ev = settle(&mut bob).await;
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::JoinRejected { reason, .. }
            if reason == "this group is for the board only")),
        "{ev:?}"
    );
    assert!(bob.invitations().is_empty());
    assert!(bob.groups().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_invitations_expire_on_both_sides() {
    let store = memory_store();
    let brief = Config {
        invitation_ttl: std::time::Duration::from_millis(300),
        ..Config::default()
    };
    let (pa, pb) = (Profile::new(), Profile::new());
    let (mut alice, mut bob) = (pa.open_with(&store, brief), pb.open_with(&store, brief));
    let group = alice.create_group("g", "alice").unwrap();
    connect(&mut alice, "bob", &mut bob, "alice");
    alice.invite(&group, "bob").await.unwrap();
    settle(&mut bob).await;
    assert_eq!(bob.invitations().len(), 1, "fresh: kept");
    assert_eq!(alice.join_requests().len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let ev = settle(&mut bob).await;
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::InvitationExpired { ours: false, .. })),
        "{ev:?}"
    );
    assert!(bob.invitations().is_empty());
    let ev = settle(&mut alice).await;
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::InvitationExpired { ours: true, .. })),
        "{ev:?}"
    );
    assert!(alice.join_requests().is_empty());
    // An answered invitation does not expire while its answer waits.
    alice.invite(&group, "bob").await.unwrap();
    settle(&mut bob).await;
    bob.accept_invitation(&group, "bob").await.unwrap();
    settle(&mut alice).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    settle(&mut alice).await;
    settle(&mut bob).await;
    assert_eq!(alice.join_requests().len(), 1);
    assert_eq!(bob.invitations().len(), 1);
    alice.approve(&group, "bob").await.unwrap();
    settle(&mut bob).await;
    assert_eq!(bob.groups().len(), 1, "joined");
}
