//! The outbox through the client and its RocksDB state: sends queued while storage is away
//! go out later in order, exactly once, even when the drain is killed at any store step; an
//! entry can be dropped only while none of its boxes can have landed; and a poll's reads go
//! out alongside an upload instead of waiting behind it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_client::{Client, ClientError, Sent, Wait};
use common::{memory_store, pair, settle, texts, transport, FailMode, Flaky};
use groupchat::channel::GroupId;
use groupchat::messages::FileType;
use groupchat::records::Content;
use pigeonhole::store::{BoxStore, CopyStatus, ReadOutcome, StoreError, WriteOutcome};

const POSTS: usize = 5;

fn payload() -> Vec<u8> {
    (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// Queues five posts, a file and a private text on Alice's profile while storage fails.
async fn queue_while_down(a: &mut Client, group: &GroupId) {
    for i in 0..POSTS {
        let r = a.post_text(group, &format!("m{i}")).await;
        assert!(matches!(r, Err(ClientError::Queued(_))), "{r:?}");
    }
    let r = a
        .send_file(group, "f.bin", FileType::Arbitrary, payload())
        .await;
    assert!(matches!(r, Err(ClientError::Queued(_))), "{r:?}");
    let r = a.send_channel_text("bob", "private").await;
    assert!(matches!(r, Err(ClientError::Queued(_))), "{r:?}");
    assert_eq!(a.pending_count(), POSTS + 2);
}

fn files(c: &Client, group: &GroupId) -> Vec<(String, String)> {
    c.history(group)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.content {
            Content::File { basename, path, .. } => Some((basename, path)),
            _ => None,
        })
        .collect()
}

fn channel_texts(c: &Client, label: &str) -> Vec<String> {
    c.channel_history(label)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.content {
            Content::Text(t) => Some(t),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_sends_go_out_in_order_exactly_once_whenever_the_drain_is_killed() {
    let want: Vec<String> = (0..POSTS).map(|i| format!("m{i}")).collect();
    let mut kills = 0;
    for mode in [FailMode::Before, FailMode::After] {
        for budget in 0.. {
            let store = memory_store();
            let (pa, pb, group) = pair(&store).await;
            {
                let down = Flaky::store(&store, 0, FailMode::Before);
                let mut a = Client::open(&pa.path(), transport(&down)).unwrap();
                queue_while_down(&mut a, &group).await;
            }
            // The drain, killed after `budget` store operations.
            let finished = {
                let flaky = Flaky::store(&store, budget, mode);
                let mut a = Client::open(&pa.path(), transport(&flaky)).unwrap();
                let _ = a.flush().await;
                a.pending_count() == 0
            };
            let mut a = pa.open(&store);
            a.flush().await.unwrap();
            assert_eq!(a.pending_count(), 0, "budget {budget} {mode:?}");
            let mut b = pb.open(&store);
            settle(&mut b).await;
            let got: Vec<String> = texts(&b, &group).into_iter().map(|(_, t)| t).collect();
            assert_eq!(got, want, "budget {budget} {mode:?}: order kept, each once");
            let own: Vec<String> = texts(&a, &group).into_iter().map(|(_, t)| t).collect();
            assert_eq!(own, want, "budget {budget} {mode:?}: recorded once");
            let got = files(&b, &group);
            assert_eq!(got.len(), 1, "budget {budget} {mode:?}: {got:?}");
            assert_eq!(std::fs::read(&got[0].1).unwrap(), payload());
            assert_eq!(files(&a, &group).len(), 1);
            assert_eq!(channel_texts(&b, "alice"), ["private"]);
            assert_eq!(channel_texts(&a, "bob"), ["private"]);
            if finished {
                break;
            }
            kills += 1;
        }
    }
    assert!(kills >= 20, "the kills hit the drain ({kills})");
}

/// A store that refuses connections: nothing it is asked reaches storage.
struct Refusing;

#[async_trait::async_trait]
impl BoxStore for Refusing {
    async fn write(&self, _: &bacap::SealedBox) -> Result<WriteOutcome, StoreError> {
        Err(StoreError::Unreachable("refused".into()))
    }
    async fn read_many(&self, _: &[bacap::BoxId]) -> Result<Vec<ReadOutcome>, StoreError> {
        Err(StoreError::Unreachable("refused".into()))
    }
    async fn copy(&self, _: &bacap::WriteCap) -> Result<CopyStatus, StoreError> {
        Err(StoreError::Unreachable("refused".into()))
    }
    async fn copy_status(&self, _: &[u8; 32]) -> Result<Option<CopyStatus>, StoreError> {
        Err(StoreError::Unreachable("refused".into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_can_be_dropped_only_while_none_of_it_can_have_landed() {
    let store = memory_store();
    let (pa, pb, group) = pair(&store).await;
    {
        // Storage timed out: the first post may have landed, the ones behind it were never
        // sent.
        let lost = Flaky::store(&store, 0, FailMode::After);
        let mut a = Client::open(&pa.path(), transport(&lost)).unwrap();
        for text in ["one", "two", "three"] {
            let _ = a.post_text(&group, text).await;
        }
        let entries = a.outbox();
        assert_eq!(entries.len(), 3);
        // Each send tried the head again.
        assert!(entries[0].may_have_landed && entries[0].attempts == 3);
        assert!(entries[1..].iter().all(|e| !e.may_have_landed));
        let err = a.drop_entry(entries[0].entry).unwrap_err();
        assert!(err.to_string().contains("may have landed"), "{err}");
        let gone = a.drop_entry(entries[1].entry).unwrap();
        assert_eq!((gone.kind.as_str(), gone.group), ("post", Some(group)));
        assert!(a.drop_entry(entries[1].entry).is_err(), "dropped once");
    }
    {
        // Storage refused the connection: nothing was sent, so the head can be dropped too.
        let refusing: Arc<dyn BoxStore> = Arc::new(Refusing);
        let mut a = Client::open(&pa.path(), transport(&refusing)).unwrap();
        let r = a.post_text(&group, "four").await;
        assert!(matches!(r, Err(ClientError::Queued(_))), "{r:?}");
        let entries = a.outbox();
        assert_eq!(entries.len(), 3, "{entries:?}");
        let four = entries.last().unwrap();
        assert!(!four.may_have_landed);
        a.drop_entry(four.entry).unwrap();
        // What preparing changed (an approval, a rotation) is completed, never dropped.
    }
    let mut a = pa.open(&store);
    a.flush().await.unwrap();
    let mut b = pb.open(&store);
    settle(&mut b).await;
    let got: Vec<String> = texts(&b, &group).into_iter().map(|(_, t)| t).collect();
    assert_eq!(got, ["one", "three"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_wait_returns_before_a_slow_store_answers_and_the_send_completes_later() {
    let store = memory_store();
    let (pa, pb, group) = pair(&store).await;
    let slow: Arc<dyn BoxStore> = Slow::store(&store, Duration::from_millis(1500), Duration::ZERO);
    {
        let mut a = Client::open(&pa.path(), transport(&slow)).unwrap();
        a.set_wait(Wait::AtMost(Duration::from_millis(200)));
        let started = Instant::now();
        let sent = a.post_text(&group, "slow").await.unwrap();
        assert!(matches!(sent, Sent::Queued { .. }), "{sent:?}");
        assert!(started.elapsed() < Duration::from_millis(1500));
        assert_eq!(a.pending_count(), 1);
    }
    let mut a = pa.open(&store);
    a.flush().await.unwrap();
    assert_eq!(a.pending_count(), 0);
    let mut b = pb.open(&store);
    settle(&mut b).await;
    assert_eq!(texts(&b, &group), [("alice".into(), "slow".into())]);
}

/// What a [`Slow`] store saw, in order of completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Read,
    Write,
}

/// A store whose writes and reads take their time, recording when each finished.
struct Slow {
    inner: Arc<dyn BoxStore>,
    write_delay: Duration,
    read_delay: Duration,
    log: Mutex<Vec<Seen>>,
}

impl Slow {
    fn store(inner: &Arc<dyn BoxStore>, write_delay: Duration, read_delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            inner: inner.clone(),
            write_delay,
            read_delay,
            log: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait::async_trait]
impl BoxStore for Slow {
    async fn write(&self, sealed: &bacap::SealedBox) -> Result<WriteOutcome, StoreError> {
        tokio::time::sleep(self.write_delay).await;
        let r = self.inner.write(sealed).await;
        self.log.lock().unwrap().push(Seen::Write);
        r
    }
    async fn read_many(&self, ids: &[bacap::BoxId]) -> Result<Vec<ReadOutcome>, StoreError> {
        tokio::time::sleep(self.read_delay).await;
        let r = self.inner.read_many(ids).await;
        self.log.lock().unwrap().push(Seen::Read);
        r
    }
    async fn copy(&self, temp: &bacap::WriteCap) -> Result<CopyStatus, StoreError> {
        tokio::time::sleep(self.write_delay).await;
        let r = self.inner.copy(temp).await;
        self.log.lock().unwrap().push(Seen::Write);
        r
    }
    async fn copy_status(&self, key: &[u8; 32]) -> Result<Option<CopyStatus>, StoreError> {
        self.inner.copy_status(key).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_reads_alongside_an_upload_instead_of_waiting_behind_it() {
    let store = memory_store();
    let (pa, pb, group) = pair(&store).await;
    {
        let down = Flaky::store(&store, 0, FailMode::Before);
        let mut a = Client::open(&pa.path(), transport(&down)).unwrap();
        let r = a
            .send_file(&group, "f.bin", FileType::Arbitrary, payload())
            .await;
        assert!(matches!(r, Err(ClientError::Queued(_))), "{r:?}");
    }
    let mut b = pb.open(&store);
    b.post_text(&group, "from bob").await.unwrap();
    drop(b);
    let slow = Slow::store(&store, Duration::from_millis(100), Duration::ZERO);
    let as_store: Arc<dyn BoxStore> = slow.clone();
    let mut a = Client::open(&pa.path(), transport(&as_store)).unwrap();
    let events = a.poll().await.unwrap();
    assert_eq!(a.pending_count(), 0, "the upload landed");
    let log = slow.log.lock().unwrap().clone();
    let first_read = log.iter().position(|s| *s == Seen::Read).unwrap();
    let last_write = log.iter().rposition(|s| *s == Seen::Write).unwrap();
    assert!(
        first_read < last_write,
        "the reads waited behind the upload: {log:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, groupchat::Event::GroupMessage { entry, .. }
            if matches!(&entry.content, Content::Text(t) if t == "from bob"))),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, groupchat::Event::OutboxSent { entry } if entry.kind == "file")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_queued_for_a_group_we_were_removed_from_is_dropped_with_a_reason() {
    let store = memory_store();
    let (pa, pb, group) = pair(&store).await;
    {
        let down = Flaky::store(&store, 0, FailMode::Before);
        let mut b = Client::open(&pb.path(), transport(&down)).unwrap();
        let _ = b.post_text(&group, "first").await;
        let _ = b.post_text(&group, "second").await;
        assert_eq!(b.pending_count(), 2);
    }
    let mut a = pa.open(&store);
    let bob = a
        .group_info(&group)
        .unwrap()
        .members
        .into_iter()
        .find(|m| m.name == "bob")
        .unwrap()
        .id;
    a.remove(&group, &bob).await.unwrap();
    let mut b = pb.open(&store);
    let events = settle(&mut b).await;
    assert_eq!(b.pending_count(), 0);
    let dropped: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            groupchat::Event::OutboxDropped { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert!(!dropped.is_empty(), "{events:?}");
}
