//! Membership hashes across members, WHO / WHOREPLY resynchronisation, and the batched poll.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bacap::{StatefulWriter, WriteCap};
use chat_client::ClientError;
use common::{connect, hand_channel, join, memory_store, settle, texts, Profile};
use groupchat::channel::{ChannelMessage, SignedPleaseAdd};
use groupchat::display_name::DisplayName;
use groupchat::group::group_ctx;
use groupchat::membership::MembershipHash;
use groupchat::messages::{Body, GroupChatMessage, PleaseAdd, ReplyWho};
use groupchat::roster::MemberId;
use groupchat::Event;
use pigeonhole::store::BoxStore;
use rand_core::OsRng;

/// Counts `read_many` calls and the IDs asked for.
struct Counting {
    inner: Arc<dyn BoxStore>,
    reads: AtomicUsize,
}

#[async_trait::async_trait]
impl BoxStore for Counting {
    async fn write(
        &self,
        sealed: &bacap::SealedBox,
    ) -> Result<pigeonhole::store::WriteOutcome, pigeonhole::store::StoreError> {
        self.inner.write(sealed).await
    }
    async fn read_many(
        &self,
        ids: &[bacap::BoxId],
    ) -> Result<Vec<pigeonhole::store::ReadOutcome>, pigeonhole::store::StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_many(ids).await
    }
    async fn copy(
        &self,
        temp: &WriteCap,
    ) -> Result<pigeonhole::store::CopyStatus, pigeonhole::store::StoreError> {
        self.inner.copy(temp).await
    }
    async fn copy_status(
        &self,
        key: &[u8; 32],
    ) -> Result<Option<pigeonhole::store::CopyStatus>, pigeonhole::store::StoreError> {
        self.inner.copy_status(key).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poll_round_reads_every_stream_in_one_batch() {
    let inner = memory_store();
    let counting = Arc::new(Counting {
        inner: inner.clone(),
        reads: AtomicUsize::new(0),
    });
    let store: Arc<dyn BoxStore> = counting.clone();
    let profiles: Vec<Profile> = (0..4).map(|_| Profile::new()).collect();
    let mut clients: Vec<_> = profiles.iter().map(|p| p.open(&store)).collect();
    let group = clients[0].create_group("g", "m0").unwrap();
    for i in 1..4 {
        let (head, tail) = clients.split_at_mut(i);
        let label = format!("m{i}");
        connect(&mut head[0], &label, &mut tail[0], "m0");
        join(&mut head[0], &label, &mut tail[0], group, &label).await;
    }
    for c in clients.iter_mut() {
        settle(c).await;
    }
    for (i, c) in clients.iter_mut().enumerate().skip(1) {
        c.post_text(&group, &format!("from {i}")).await.unwrap();
    }
    counting.reads.store(0, Ordering::SeqCst);
    let ev = clients[0].poll().await.unwrap();
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::GroupMessage { .. }))
            .count(),
        3
    );
    // Three member streams and three channels: one read with all six next boxes, then one
    // more that finds nothing new.
    assert_eq!(counting.reads.load(Ordering::SeqCst), 2);
    // History: merged in arrival order with sender and time; per sender in stream order.
    let h = clients[0].history(&group).unwrap();
    let last3: Vec<_> = h.iter().rev().take(3).collect();
    assert!(last3
        .iter()
        .all(|e| !e.own && e.time_ms > 0 && e.sender.is_some()));
    let seqs: Vec<u64> = h.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_membership_difference_is_reported_then_agrees() {
    let store = memory_store();
    let (pa, pb, pc) = (Profile::new(), Profile::new(), Profile::new());
    let (mut a, mut b, mut c) = (pa.open(&store), pb.open(&store), pc.open(&store));
    let group = a.create_group("g", "a").unwrap();
    connect(&mut a, "b", &mut b, "a");
    connect(&mut a, "c", &mut c, "a");
    join(&mut a, "b", &mut b, group, "b").await;
    join(&mut a, "c", &mut c, group, "c").await;
    // b has not read a's INTRODUCTION of c when it posts: its hash lacks c.
    b.post_text(&group, "before I knew").await.unwrap();
    let ev = settle(&mut c).await;
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::MembershipMismatch { .. })),
        "{ev:?}"
    );
    settle(&mut b).await;
    b.post_text(&group, "now I know").await.unwrap();
    let ev = settle(&mut c).await;
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::MembershipMismatch { .. })),
        "{ev:?}"
    );
    assert_eq!(texts(&c, &group).len(), 2);
    let differs: Vec<_> = c
        .group_info(&group)
        .unwrap()
        .members
        .into_iter()
        .filter(|m| m.view_differs)
        .collect();
    assert!(differs.is_empty(), "b's latest message agrees: {differs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_resynchronises_a_view_that_lacks_a_member() {
    // A hand-driven member "m" joins through alice; then answers WHO with a list holding a
    // member alice never heard of ("x", vouched for by m) and lacking bob.
    let store = memory_store();
    let (pa, pb) = (Profile::new(), Profile::new());
    let (mut alice, mut bob) = (pa.open(&store), pb.open(&store));
    let group = alice.create_group("g", "alice").unwrap();
    connect(&mut alice, "bob", &mut bob, "alice");
    join(&mut alice, "bob", &mut bob, group, "bob").await;

    let (chan_w, mut chan_r) = hand_channel(&mut alice, "m");
    let mut chan_w = pigeonhole::stream::StreamWriter::new(chan_w, bacap::Geometry::default());
    alice.invite(&group, "m").await.unwrap();
    chan_r
        .poll(&*common::transport(&store))
        .await
        .unwrap()
        .unwrap();
    let gcap = WriteCap::generate(&mut OsRng);
    let me = PleaseAdd::new(DisplayName::new("m").unwrap(), &gcap.read_cap());
    let signed = SignedPleaseAdd::sign(group, &me, &gcap);
    chan_w
        .send(
            &*common::transport(&store),
            &mut OsRng,
            &ChannelMessage::SignedPleaseAdd(signed).to_cbor(),
        )
        .await
        .unwrap();
    alice.poll().await.unwrap();
    alice.approve(&group, "m").await.unwrap();
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
    assert_eq!(members.please_adds.len(), 3);

    alice.who(&group).await.unwrap();
    let x = PleaseAdd::new(
        DisplayName::new("x").unwrap(),
        &WriteCap::generate(&mut OsRng).read_cap(),
    );
    let mut listed: Vec<PleaseAdd> = members
        .please_adds
        .into_iter()
        .filter(|p| p.display_name.as_str() != "bob")
        .collect();
    listed.push(x.clone());
    let hash = MembershipHash::of_roster(listed.iter().map(|p| {
        (
            MemberId::of_cap_bytes(p.read_cap.as_bytes()),
            &p.display_name,
        )
    }));
    let reply = ReplyWho::of(listed);
    let msg = GroupChatMessage::new(hash, Body::WhoReply(reply));
    let mut gw = pigeonhole::stream::StreamWriter::new(
        StatefulWriter::new(gcap, &group_ctx(&group)),
        bacap::Geometry::default(),
    );
    gw.send(&*common::transport(&store), &mut OsRng, &msg.to_cbor())
        .await
        .unwrap();

    let ev = settle(&mut alice).await;
    let x_id = MemberId::of_cap_bytes(x.read_cap.as_bytes());
    assert!(
        ev.iter().any(|e| matches!(e, Event::WhoReplyDiffers { missing_there, .. } if missing_there.len() == 1)),
        "bob is missing there: {ev:?}"
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::MemberAdded { member, .. } if *member == x_id)),
        "{ev:?}"
    );
    assert_eq!(alice.group_info(&group).unwrap().members.len(), 4);
    // Bob answered alice's WHO too, with the view alice had: no difference to report.
    let ev = settle(&mut bob).await;
    assert!(
        ev.iter().any(|e| matches!(e, Event::WhoAsked { .. })),
        "{ev:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_profile_record_is_an_error_not_a_panic() {
    let store = memory_store();
    let p = Profile::new();
    let mut c = p.open(&store);
    c.create_group("g", "me").unwrap();
    drop(c);
    {
        let db = chat_client::storage::Storage::open(&p.path()).unwrap();
        let (key, _) = db.scan(groupchat::keys::GROUP).unwrap().pop().unwrap();
        let mut changes = groupchat::chat::Changes::default();
        changes.puts.push((key, b"\xa1\x01garbage".to_vec().into()));
        db.write(changes).unwrap();
    }
    let err = chat_client::Client::open(&p.path(), common::transport(&store)).unwrap_err();
    assert!(
        matches!(err, ClientError::Chat(groupchat::Error::Corrupt { .. })),
        "{err:?}"
    );
}
