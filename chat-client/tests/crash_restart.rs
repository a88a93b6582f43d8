//! Clients killed at every step of sending, approving and polling (dropped while their store
//! fails, before or after it acted), then reopened from their profile directory: no message is
//! lost, none is sent or recorded twice, no box is skipped.

mod common;

use chat_client::Client;
use common::{
    connect, join, memory_store, pair, settle, texts, transport, FailMode, Flaky, Profile,
};
use groupchat::channel::GroupId;
use groupchat::records::Content;
use groupchat::Event;

fn own_texts(c: &Client, group: &GroupId) -> Vec<String> {
    c.history(group)
        .unwrap()
        .into_iter()
        .filter(|e| e.own)
        .filter_map(|e| match e.content {
            Content::Text(t) => Some(t),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_at_any_step_sends_each_message_exactly_once() {
    let long = "L".repeat(5_000); // a substream chain: AllOrNothing
    let mut resumed = 0;
    for mode in [FailMode::Before, FailMode::After] {
        for budget in 0..14 {
            let store = memory_store();
            let (pa, pb, group) = pair(&store).await;
            {
                let mut killed =
                    Client::open(&pa.path(), transport(&Flaky::store(&store, budget, mode)))
                        .unwrap();
                // The kill: whatever step fails, the process dies there.
                let _ = async {
                    killed.post_text(&group, "short").await?;
                    killed.post_text(&group, &long).await
                }
                .await;
            }
            let mut a = pa.open(&store);
            resumed += a.pending_count();
            a.poll().await.unwrap(); // resumes what was pending
            assert_eq!(a.pending_count(), 0);
            let sent = own_texts(&a, &group);
            // Finish what the kill interrupted, as the user would.
            if !sent.iter().any(|t| t == "short") {
                a.post_text(&group, "short").await.unwrap();
            }
            if !own_texts(&a, &group).contains(&long) {
                a.post_text(&group, &long).await.unwrap();
            }
            a.post_text(&group, "after").await.unwrap();
            assert_eq!(
                own_texts(&a, &group),
                vec!["short".to_owned(), long.clone(), "after".to_owned()],
                "{mode:?} {budget}"
            );
            let mut b = pb.open(&store);
            let ev = settle(&mut b).await;
            assert!(
                !ev.iter().any(|e| matches!(e, Event::Problem { .. })),
                "{mode:?} {budget}: {ev:?}"
            );
            let got: Vec<String> = texts(&b, &group).into_iter().map(|(_, t)| t).collect();
            assert_eq!(
                got,
                vec!["short".to_owned(), long.clone(), "after".to_owned()],
                "{mode:?} {budget}"
            );
        }
    }
    assert!(
        resumed >= 10,
        "the kills hit persisted operations ({resumed})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_introducer_killed_while_approving_approves_exactly_once() {
    let mut resumed = 0;
    for mode in [FailMode::Before, FailMode::After] {
        for budget in 0..10 {
            let store = memory_store();
            let (pa, pb, pc) = (Profile::new(), Profile::new(), Profile::new());
            let group;
            {
                let (mut a, mut b) = (pa.open(&store), pb.open(&store));
                group = a.create_group("g", "alice").unwrap();
                connect(&mut a, "bob", &mut b, "alice");
                join(&mut a, "bob", &mut b, group, "bob").await;
                let mut c = pc.open(&store);
                connect(&mut a, "carol", &mut c, "alice");
                a.invite(&group, "carol").await.unwrap();
                c.poll().await.unwrap();
                c.accept_invitation(&group, "carol").await.unwrap();
                a.poll().await.unwrap();
            }
            {
                let mut killed =
                    Client::open(&pa.path(), transport(&Flaky::store(&store, budget, mode)))
                        .unwrap();
                let _ = killed.approve(&group, "carol").await;
            }
            let mut a = pa.open(&store);
            resumed += a.pending_count();
            a.poll().await.unwrap();
            if a.group_info(&group).unwrap().members.len() == 2 {
                a.approve(&group, "carol").await.unwrap();
            }
            assert!(
                a.approve(&group, "carol").await.is_err(),
                "{mode:?} {budget}: approved twice"
            );
            assert_eq!(a.group_info(&group).unwrap().members.len(), 3);
            a.post_text(&group, "welcome carol").await.unwrap();
            let (mut b, mut c) = (pb.open(&store), pc.open(&store));
            let ev = settle(&mut c).await;
            assert_eq!(
                ev.iter()
                    .filter(|e| matches!(e, Event::Joined { .. }))
                    .count(),
                1,
                "{mode:?} {budget}: {ev:?}"
            );
            let ev = settle(&mut b).await;
            assert_eq!(
                ev.iter()
                    .filter(|e| matches!(e, Event::MemberAdded { .. }))
                    .count(),
                1,
                "{mode:?} {budget}: {ev:?}"
            );
            settle(&mut a).await;
            let hashes: Vec<_> = [&a, &b, &c]
                .iter()
                .map(|x| x.group_info(&group).unwrap().membership_hash)
                .collect();
            assert!(hashes.iter().all(|h| *h == hashes[0]), "{mode:?} {budget}");
            assert_eq!(
                texts(&c, &group),
                vec![("alice".to_owned(), "welcome carol".to_owned())]
            );
        }
    }
    assert!(resumed >= 4, "the kills hit the persisted plan ({resumed})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_killed_mid_poll_records_every_message_once() {
    let store = memory_store();
    let (pa, pb, group) = pair(&store).await;
    let mut a = pa.open(&store);
    assert!(
        Client::open(&pa.path(), transport(&store)).is_err(),
        "one client per profile at a time"
    );
    let want: Vec<String> = (0..12)
        .map(|i| {
            if i % 4 == 3 {
                format!("{i}{}", "x".repeat(3000))
            } else {
                format!("m{i}")
            }
        })
        .collect();
    for t in &want {
        a.post_text(&group, t).await.unwrap();
    }
    a.send_file(
        &group,
        "f.bin",
        groupchat::messages::FileType::Arbitrary,
        vec![9; 4000],
    )
    .await
    .unwrap();
    for budget in 0..8 {
        let mut killed = Client::open(
            &pb.path(),
            transport(&Flaky::store(&store, budget, FailMode::After)),
        )
        .unwrap();
        let _ = killed.poll().await;
    }
    let mut b = pb.open(&store);
    settle(&mut b).await;
    let got: Vec<String> = texts(&b, &group).into_iter().map(|(_, t)| t).collect();
    assert_eq!(got, want);
    let files: Vec<_> = b
        .history(&group)
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.content, Content::File { .. }))
        .collect();
    assert_eq!(files.len(), 1);
    let dir = pb.path().join("files");
    let count: usize = std::fs::read_dir(&dir)
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(count, 1, "one file on disk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_the_store_did_not_confirm_is_queued_not_failed() {
    let store = memory_store();
    let (pa, pb, group) = pair(&store).await;
    {
        let mut offline = Client::open(
            &pa.path(),
            transport(&Flaky::store(&store, 0, FailMode::Before)),
        )
        .unwrap();
        let err = offline.post_text(&group, "later").await.unwrap_err();
        assert!(
            matches!(err, chat_client::ClientError::Queued(_)),
            "{err:?}"
        );
        // A new send queues behind it (the first is tried again, and fails again).
        let err = offline.post_text(&group, "even later").await.unwrap_err();
        assert!(
            matches!(err, chat_client::ClientError::Queued(_)),
            "{err:?}"
        );
        assert_eq!(offline.pending_count(), 2);
    }
    let mut a = pa.open(&store);
    a.post_text(&group, "back online").await.unwrap();
    assert_eq!(a.pending_count(), 0);
    let mut b = pb.open(&store);
    settle(&mut b).await;
    let got: Vec<String> = texts(&b, &group).into_iter().map(|(_, t)| t).collect();
    assert_eq!(got, ["later", "even later", "back online"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_that_fails_locally_is_read_again_not_lost() {
    let store = memory_store();
    let (pa, pb, group) = pair(&store).await;
    let mut a = pa.open(&store);
    a.post_text(&group, "t1").await.unwrap();
    a.send_file(
        &group,
        "f.txt",
        groupchat::messages::FileType::Arbitrary,
        b"data".to_vec(),
    )
    .await
    .unwrap();
    a.post_text(&group, "t2").await.unwrap();
    let mut b = pb.open(&store);
    // The files directory cannot be made: receiving the file fails.
    std::fs::write(pb.path().join("files"), b"in the way").unwrap();
    assert!(b.poll().await.is_err());
    std::fs::remove_file(pb.path().join("files")).unwrap();
    settle(&mut b).await;
    let got: Vec<String> = texts(&b, &group).into_iter().map(|(_, t)| t).collect();
    assert_eq!(got, vec!["t1".to_owned(), "t2".to_owned()]);
    let files: Vec<_> = b
        .history(&group)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.content {
            Content::File { path, .. } => Some(path),
            _ => None,
        })
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::read(&files[0]).unwrap(), b"data");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitee_killed_while_answering_joins_once_with_the_cap_it_signed_for() {
    for mode in [FailMode::Before, FailMode::After] {
        for budget in 0..3 {
            let store = memory_store();
            let (pa, pb) = (Profile::new(), Profile::new());
            let (mut a, mut b) = (pa.open(&store), pb.open(&store));
            let group = a.create_group("g", "alice").unwrap();
            connect(&mut a, "bob", &mut b, "alice");
            a.invite(&group, "bob").await.unwrap();
            b.poll().await.unwrap();
            drop(b);
            {
                let mut killed =
                    Client::open(&pb.path(), transport(&Flaky::store(&store, budget, mode)))
                        .unwrap();
                let _ = killed.accept_invitation(&group, "bob").await;
            }
            let mut b = pb.open(&store);
            b.poll().await.unwrap();
            // The answer was persisted before it was sent, and the restart sent it.
            assert_eq!(b.invitations()[0].answered_as.as_deref(), Some("bob"));
            assert_eq!(b.pending_count(), 0);
            let ev = a.poll().await.unwrap();
            let requests = ev
                .iter()
                .filter(|e| matches!(e, Event::JoinRequest { .. }))
                .count();
            assert_eq!(requests, 1, "{mode:?} {budget}: {ev:?}");
            a.approve(&group, "bob").await.unwrap();
            let ev = settle(&mut b).await;
            assert!(
                ev.iter().any(|e| matches!(e, Event::Joined { .. })),
                "{mode:?} {budget}: {ev:?}"
            );
            b.post_text(&group, "in").await.unwrap();
            settle(&mut a).await;
            assert_eq!(texts(&a, &group), vec![("bob".to_owned(), "in".to_owned())]);
        }
    }
}
