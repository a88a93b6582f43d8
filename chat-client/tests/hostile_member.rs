//! A member that sends garbage (bad CBOR, a lying membership hash, a file claiming a huge size,
//! a file over the cap, an unknown message type, a bogus `I` pointer, a forged join request)
//! cannot crash, wedge or corrupt the others: they report it and carry on.
//!
//! The rogue is driven by hand with the bacap stream primitives, so it can write anything.

mod common;

use bacap::{Geometry, StatefulWriter, WriteCap};
use common::{connect, hand_channel, join, memory_store, problems, settle, texts, Profile};
use groupchat::channel::{ChannelMessage, SignedPleaseAdd};
use groupchat::display_name::DisplayName;
use groupchat::group::group_ctx;
use groupchat::membership::MembershipHash;
use groupchat::messages::{Body, FileType, FileUpload, GroupChatMessage, PleaseAdd};
use groupchat::Config;
use groupchat::Event;
use pigeonhole::store::BoxStore;
use pigeonhole::stream::framing::{indirection, PREFIX_FINAL};
use pigeonhole::transport::seal_message;
use rand_core::OsRng;

/// Writes one `F` box holding `bytes`.
async fn put(store: &dyn BoxStore, w: &mut StatefulWriter, bytes: &[u8]) {
    let mut plaintext = vec![PREFIX_FINAL];
    plaintext.extend_from_slice(bytes);
    let sealed = seal_message(w, &plaintext, Geometry::default()).unwrap();
    store.write(&sealed).await.unwrap();
    w.advance().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_member_is_reported_and_the_others_carry_on() {
    let store = memory_store();
    let config = Config {
        max_file_len: 1000,
        stuck_polls_before_skip: 2,
        stuck_time_before_skip: std::time::Duration::ZERO,
        ..Default::default()
    };
    let (pa, pb) = (Profile::new(), Profile::new());
    let (mut alice, mut bob) = (pa.open_with(&store, config), pb.open_with(&store, config));
    let group = alice.create_group("g", "alice").unwrap();
    connect(&mut alice, "bob", &mut bob, "alice");
    join(&mut alice, "bob", &mut bob, group, "bob").await;

    // The rogue's channel with alice.
    let (mut chan_w, mut chan_r) = hand_channel(&mut alice, "rogue");
    alice.invite(&group, "rogue").await.unwrap();
    assert!(matches!(
        ChannelMessage::from_cbor(
            &chan_r
                .poll(&*common::transport(&store))
                .await
                .unwrap()
                .unwrap()
        )
        .unwrap(),
        ChannelMessage::Invitation(_)
    ));

    // Garbage on the channel, and a join request signed with another key.
    put(&*store, &mut chan_w, b"\xa1garbage").await;
    let gcap = WriteCap::generate(&mut OsRng);
    let pa_rogue = PleaseAdd::new(DisplayName::new("rogue").unwrap(), &gcap.read_cap());
    let forged = SignedPleaseAdd::sign(group, &pa_rogue, &WriteCap::generate(&mut OsRng));
    put(
        &*store,
        &mut chan_w,
        &ChannelMessage::SignedPleaseAdd(forged).to_cbor(),
    )
    .await;
    let ev = alice.poll().await.unwrap();
    let p = problems(&ev);
    assert_eq!(p.len(), 2, "{ev:?}");
    assert!(p[1].contains("signature"), "{p:?}");
    assert!(
        alice.approve(&group, "rogue").await.is_err(),
        "a forged request is not approvable"
    );

    // The real request; alice approves.
    let signed = SignedPleaseAdd::sign(group, &pa_rogue, &gcap);
    put(
        &*store,
        &mut chan_w,
        &ChannelMessage::SignedPleaseAdd(signed).to_cbor(),
    )
    .await;
    alice.poll().await.unwrap();
    alice.approve(&group, "rogue").await.unwrap();
    let members = match ChannelMessage::from_cbor(
        &chan_r
            .poll(&*common::transport(&store))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap()
    {
        ChannelMessage::Welcome(w) => w.members,
        other => panic!("{other:?}"),
    };
    // The hash of the group as the Welcome lists it, so the rogue's boxes claim our view.
    let roster = members.roster.as_ref().expect("a Welcome lists the roster");
    let hash = MembershipHash::of_roster(
        roster
            .iter()
            .zip(&members.please_adds)
            .map(|(r, p)| (r.member, &p.display_name)),
    );
    settle(&mut bob).await;

    // Garbage in the rogue's group stream.
    let mut gw = StatefulWriter::new(gcap, &group_ctx(&group));
    put(&*store, &mut gw, b"\xff\xfe not cbor").await;
    let lie = GroupChatMessage::new(MembershipHash([0xaa; 32]), Body::Text("lie".into()));
    put(&*store, &mut gw, &lie.to_cbor()).await;
    // A FILE_UPLOAD whose payload claims 2^40 bytes.
    let mut huge = Vec::new();
    huge.extend_from_slice(b"\xa4gversion\x00omembership_hashX\x20");
    huge.extend_from_slice(hash.as_bytes());
    huge.extend_from_slice(
        b"hmsg_type\x02kfile_upload\xa3gpayload\x5b\x00\x00\x01\x00\x00\x00\x00\x00abc",
    );
    put(&*store, &mut gw, &huge).await;
    // A real file over the cap (through a chain).
    let big = GroupChatMessage::new(
        hash,
        Body::FileUpload(FileUpload {
            payload: vec![1; 3000],
            filetype: FileType::Image,
            basename: "big.png".into(),
        }),
    );
    let mut rogue_stream = pigeonhole::stream::StreamWriter::new(gw, Geometry::default());
    rogue_stream
        .send(&*common::transport(&store), &mut OsRng, &big.to_cbor())
        .await
        .unwrap();
    // A file far over the cap: readers stop fetching its chain at their limit.
    let huge_file = GroupChatMessage::new(
        hash,
        Body::FileUpload(FileUpload {
            payload: vec![2; 200_000],
            filetype: FileType::Sound,
            basename: "huge.ogg".into(),
        }),
    );
    rogue_stream
        .send(
            &*common::transport(&store),
            &mut OsRng,
            &huge_file.to_cbor(),
        )
        .await
        .unwrap();
    let mut gw = rogue_stream.writer().clone();
    // An unknown message type.
    let mut unknown = Vec::new();
    unknown.extend_from_slice(b"\xa3gversion\x00omembership_hashX\x20");
    unknown.extend_from_slice(hash.as_bytes());
    unknown.extend_from_slice(b"hmsg_type\x09");
    put(&*store, &mut gw, &unknown).await;
    // A pointer to a substream that does not exist.
    let nowhere = WriteCap::generate(&mut OsRng).read_cap();
    store
        .write(&seal_message(&gw, &indirection(&nowhere), Geometry::default()).unwrap())
        .await
        .unwrap();
    gw.advance().unwrap();
    let fine = GroupChatMessage::new(hash, Body::Text("still here".into()));
    put(&*store, &mut gw, &fine.to_cbor()).await;

    bob.post_text(&group, "bob is fine").await.unwrap();
    let mut all = Vec::new();
    for _ in 0..4 {
        all.extend(alice.poll().await.unwrap());
    }
    let p = problems(&all);
    assert!(p.iter().any(|e| e.contains("malformed")), "{p:?}");
    assert!(p.iter().any(|e| e.contains("over the cap")), "{p:?}");
    assert!(
        p.iter()
            .any(|e| e.contains("exceeds the limit of 66536 bytes")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|e| e.contains("unknown message type 9")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|e| e.contains("skipped after 2 polls")),
        "{p:?}"
    );
    assert!(
        all.iter().any(
            |e| matches!(e, Event::MembershipMismatch { theirs, .. } if theirs.0 == [0xaa; 32])
        ),
        "{all:?}"
    );
    let got = texts(&alice, &group);
    assert!(
        got.contains(&("bob".to_owned(), "bob is fine".to_owned())),
        "{got:?}"
    );
    assert!(
        got.contains(&("rogue".to_owned(), "lie".to_owned())),
        "{got:?}"
    );
    assert!(
        got.contains(&("rogue".to_owned(), "still here".to_owned())),
        "past the bogus pointer: {got:?}"
    );
    assert!(!pa.path().join("files").exists(), "no file was written");

    // The state is intact: reopen, and everyone still talks.
    drop(alice);
    let mut alice = pa.open_with(&store, config);
    assert_eq!(alice.group_info(&group).unwrap().members.len(), 3);
    alice.post_text(&group, "carry on").await.unwrap();
    settle(&mut bob).await;
    assert!(texts(&bob, &group).contains(&("alice".to_owned(), "carry on".to_owned())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_flooding_a_who_reply_adds_no_more_than_the_cap() {
    let store = memory_store();
    let capped = Config {
        max_group_members: 10,
        ..Default::default()
    };
    let (pa, pb) = (Profile::new(), Profile::new());
    let (mut alice, mut bob) = (pa.open(&store), pb.open_with(&store, capped));
    let group = alice.create_group("g", "alice").unwrap();
    connect(&mut alice, "bob", &mut bob, "alice");
    join(&mut alice, "bob", &mut bob, group, "bob").await;

    // The rogue joins through alice, as a real member.
    let (mut chan_w, mut chan_r) = hand_channel(&mut alice, "rogue");
    alice.invite(&group, "rogue").await.unwrap();
    chan_r
        .poll(&*common::transport(&store))
        .await
        .unwrap()
        .unwrap();
    let gcap = WriteCap::generate(&mut OsRng);
    let pa_rogue = PleaseAdd::new(DisplayName::new("rogue").unwrap(), &gcap.read_cap());
    let signed = SignedPleaseAdd::sign(group, &pa_rogue, &gcap);
    put(
        &*store,
        &mut chan_w,
        &ChannelMessage::SignedPleaseAdd(signed).to_cbor(),
    )
    .await;
    alice.poll().await.unwrap();
    alice.approve(&group, "rogue").await.unwrap();
    settle(&mut bob).await;
    assert_eq!(bob.group_info(&group).unwrap().members.len(), 3);

    // A WHOREPLY listing 40 made-up members.
    let fake: Vec<PleaseAdd> = (0..40)
        .map(|i| {
            PleaseAdd::new(
                DisplayName::new(format!("ghost{i}")).unwrap(),
                &WriteCap::generate(&mut OsRng).read_cap(),
            )
        })
        .collect();
    let reply = GroupChatMessage::new(
        MembershipHash([0; 32]),
        Body::WhoReply(groupchat::messages::ReplyWho {
            please_adds: fake,
            roster: None,
        }),
    );
    let gw = StatefulWriter::new(gcap, &group_ctx(&group));
    let mut rogue_stream = pigeonhole::stream::StreamWriter::new(gw, Geometry::default());
    rogue_stream
        .send(&*common::transport(&store), &mut OsRng, &reply.to_cbor())
        .await
        .unwrap();
    let ev = settle(&mut bob).await;
    assert_eq!(bob.group_info(&group).unwrap().members.len(), 10, "capped");
    let p: Vec<String> = problems(&ev)
        .into_iter()
        .filter(|p| p.contains("not added"))
        .collect();
    assert_eq!(p.len(), 1, "reported once: {ev:?}");
    assert!(p[0].contains("33 more members not added"), "{p:?}");
}
