//! Three members (and a fourth) through create, invite, revise, approve, chat, files and WHO,
//! against the in-memory store.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{connect, join, memory_store, settle, texts, Profile};
use groupchat::messages::FileType;
use groupchat::records::Content;
use groupchat::roster::History;
use groupchat::Event;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_create_invite_revise_approve_chat_files_and_who() {
    let store = memory_store();
    let (pa, pb, pc) = (Profile::new(), Profile::new(), Profile::new());
    let (mut alice, mut bob, mut carol) = (pa.open(&store), pb.open(&store), pc.open(&store));

    // Shared history: carol, admitted last, reads what was said before her.
    let group = alice
        .create_group_with("friends", "alice", History::Shared)
        .unwrap();
    connect(&mut alice, "bob", &mut bob, "alice");
    connect(&mut alice, "carol", &mut carol, "alice");

    // Invitation -> SignedPleaseAdd -> PleaseReviseDisplayName -> SignedPleaseAdd -> approval.
    alice.invite(&group, "bob").await.unwrap();
    let ev = bob.poll().await.unwrap();
    assert!(
        matches!(&ev[..], [Event::Invited { group_name, channel, .. }] if group_name == "friends" && channel == "alice"),
        "{ev:?}"
    );
    assert!(bob.accept_invitation(&group, "bad\nname").await.is_err());
    bob.accept_invitation(&group, "alice").await.unwrap();
    let ev = alice.poll().await.unwrap();
    assert!(
        matches!(&ev[..], [Event::JoinRequest { display_name, name_taken: true, .. }] if display_name == "alice"),
        "{ev:?}"
    );
    alice
        .ask_revise(&group, "bob", "that is my name")
        .await
        .unwrap();
    assert!(
        alice.approve(&group, "bob").await.is_err(),
        "nothing to approve after asking to revise"
    );
    let ev = bob.poll().await.unwrap();
    assert!(
        matches!(&ev[..], [Event::ReviseRequested { reason, .. }] if reason == "that is my name"),
        "{ev:?}"
    );
    bob.accept_invitation(&group, "bob").await.unwrap();
    let ev = alice.poll().await.unwrap();
    assert!(
        matches!(&ev[..], [Event::JoinRequest { display_name, name_taken: false, .. }] if display_name == "bob"),
        "{ev:?}"
    );
    alice.approve(&group, "bob").await.unwrap();
    assert!(alice.approve(&group, "bob").await.is_err(), "approved once");
    let ev = bob.poll().await.unwrap();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Joined { group_name, .. } if group_name == "friends")),
        "{ev:?}"
    );
    assert_eq!(bob.group_info(&group).unwrap().members.len(), 2);
    assert_eq!(
        alice.group_info(&group).unwrap().membership_hash,
        bob.group_info(&group).unwrap().membership_hash
    );

    alice.post_text(&group, "hello").await.unwrap();
    bob.post_text(&group, "hi alice").await.unwrap();

    // Carol asks for bob's name: allowed, and the two stay distinguishable.
    join(&mut alice, "carol", &mut carol, group, "bob").await;
    let ev = settle(&mut carol).await;
    // Carol catches up on old messages sent before she joined: each sender's old view is
    // reported once, not once per message.
    let mismatches = ev
        .iter()
        .filter(|e| matches!(e, Event::MembershipMismatch { .. }))
        .count();
    assert!(mismatches <= 2, "{ev:?}");
    let ev = settle(&mut bob).await;
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::MemberAdded { name, .. } if name == "bob")),
        "bob learns of carol from alice's INTRODUCTION: {ev:?}"
    );
    settle(&mut alice).await;

    carol.post_text(&group, "hey all").await.unwrap();
    for c in [&mut alice, &mut bob, &mut carol] {
        settle(c).await;
    }
    let infos: Vec<_> = [&alice, &bob, &carol]
        .iter()
        .map(|c| c.group_info(&group).unwrap())
        .collect();
    assert!(infos.iter().all(|i| i.members.len() == 3));
    assert!(
        infos
            .iter()
            .all(|i| i.membership_hash == infos[0].membership_hash),
        "same member set, same hash"
    );
    let bobs: Vec<_> = infos[0]
        .members
        .iter()
        .filter(|m| m.name == "bob")
        .collect();
    assert_eq!(bobs.len(), 2);
    assert_ne!(bobs[0].id, bobs[1].id, "same name, different members");

    // Carol read everything from the start; everyone has every text once.
    let want_carol = vec![
        ("alice".to_owned(), "hello".to_owned()),
        ("bob".to_owned(), "hi alice".to_owned()),
        ("bob".to_owned(), "hey all".to_owned()),
    ];
    let mut got = texts(&carol, &group);
    got.sort();
    let mut want = want_carol.clone();
    want.sort();
    assert_eq!(got, want);
    for c in [&alice, &bob] {
        let mut got = texts(c, &group);
        got.sort();
        assert_eq!(got, want);
    }
    // Per-sender history tells the two "bob"s apart.
    let carol_id = carol
        .group_info(&group)
        .unwrap()
        .members
        .into_iter()
        .find(|m| m.is_me)
        .unwrap()
        .id;
    let from_carol = alice.history_of(&group, &carol_id).unwrap();
    assert_eq!(from_carol.len(), 1);
    assert_eq!(from_carol[0].content, Content::Text("hey all".into()));
    assert!(from_carol[0].time_ms > 0);

    // A file that needs a substream chain, with a hostile name.
    let payload: Vec<u8> = (0..20_000u32).map(|i| (i * 7) as u8).collect();
    bob.send_file(
        &group,
        "../../.ssh/authorized_keys",
        FileType::Arbitrary,
        payload.clone(),
    )
    .await
    .unwrap();
    for (c, p) in [(&mut alice, &pa), (&mut carol, &pc)] {
        let ev = settle(c).await;
        let path = ev
            .iter()
            .find_map(|e| match e {
                Event::GroupMessage { entry, .. } => match &entry.content {
                    Content::File {
                        path,
                        len,
                        basename,
                        ..
                    } => {
                        assert_eq!(*len, 20_000);
                        assert_eq!(basename, "../../.ssh/authorized_keys");
                        Some(std::path::PathBuf::from(path))
                    }
                    _ => None,
                },
                _ => None,
            })
            .expect("a file arrived");
        assert!(path.starts_with(p.path().join("files")), "{path:?}");
        assert!(path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("authorized_keys"));
        assert_eq!(std::fs::read(&path).unwrap(), payload);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // WHO: the others answer with their member lists, which match.
    carol.who(&group).await.unwrap();
    let ev = settle(&mut alice).await;
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::WhoAsked { by, .. } if *by == carol_id)),
        "{ev:?}"
    );
    settle(&mut bob).await;
    let ev = settle(&mut carol).await;
    assert!(
        !ev.iter().any(|e| matches!(
            e,
            Event::WhoReplyDiffers { .. }
                | Event::MembershipMismatch { .. }
                | Event::Problem { .. }
        )),
        "{ev:?}"
    );

    // The profile directory is private.
    assert_eq!(
        std::fs::metadata(pa.path()).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_texts_and_token_checks() {
    let store = memory_store();
    let (pa, pb) = (Profile::new(), Profile::new());
    let (mut a, mut b) = (pa.open(&store), pb.open(&store));
    let ta = a.make_channel("bob").unwrap();
    assert!(
        a.send_channel_text("bob", "too early").await.is_err(),
        "no peer token yet"
    );
    assert!(a.accept_channel("bob", &ta).is_err(), "our own token");
    assert!(a.make_channel("bob").is_err());
    assert!(a.make_channel("../x").is_err());
    assert!(
        !format!("{ta:?}").contains(&ta.to_text()[30..]),
        "Debug hides the token"
    );
    let tb = b.accept_channel("alice", &ta).unwrap();
    a.accept_channel("bob", &tb).unwrap();
    a.send_channel_text("bob", "psst").await.unwrap();
    b.send_channel_text("alice", "yes?").await.unwrap();
    let ev = b.poll().await.unwrap();
    assert!(
        matches!(&ev[..], [Event::ChannelText { entry, .. }] if entry.content == Content::Text("psst".into())),
        "{ev:?}"
    );
    settle(&mut a).await;
    let h: Vec<_> = a
        .channel_history("bob")
        .unwrap()
        .into_iter()
        .map(|e| (e.own, e.content))
        .collect();
    assert_eq!(
        h,
        vec![
            (true, Content::Text("psst".into())),
            (false, Content::Text("yes?".into()))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_text_goes_through_all_or_nothing() {
    let store = memory_store();
    let (pa, pb) = (Profile::new(), Profile::new());
    let (mut a, mut b) = (pa.open(&store), pb.open(&store));
    let group = a.create_group("g", "a").unwrap();
    connect(&mut a, "b", &mut b, "a");
    join(&mut a, "b", &mut b, group, "b").await;
    let long = "x".repeat(10_000);
    a.post_text(&group, &long).await.unwrap();
    settle(&mut b).await;
    assert_eq!(common::texts(&b, &group), vec![("a".to_owned(), long)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_welcome_too_long_for_one_box_still_lands_with_its_introduction() {
    // Eleven members: the member list the tenth newcomer receives needs a substream chain.
    let store = memory_store();
    let profiles: Vec<Profile> = (0..11).map(|_| Profile::new()).collect();
    let mut clients: Vec<_> = profiles.iter().map(|p| p.open(&store)).collect();
    let group = clients[0].create_group("big", "m0").unwrap();
    for i in 1..clients.len() {
        let (head, tail) = clients.split_at_mut(i);
        let label = format!("m{i}");
        connect(&mut head[0], &label, &mut tail[0], "m0");
        join(&mut head[0], &label, &mut tail[0], group, &label).await;
    }
    clients[10].post_text(&group, "last in").await.unwrap();
    for c in clients.iter_mut() {
        settle(c).await;
    }
    let hash = clients[0].group_info(&group).unwrap().membership_hash;
    for c in &clients {
        let info = c.group_info(&group).unwrap();
        assert_eq!(info.members.len(), 11);
        assert_eq!(info.membership_hash, hash);
    }
    for c in &clients[..10] {
        assert_eq!(
            texts(c, &group),
            vec![("m10".to_owned(), "last in".to_owned())]
        );
    }
}
