//! Helpers shared by the client tests: profiles in temporary directories over one store, and
//! the channel bootstrap between two of them.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use bacap::{Geometry, StatefulWriter, WriteCap};
use chat_client::Client;
use groupchat::channel::{ChannelToken, GroupId};
use groupchat::chat::CHANNEL_CTX;
use groupchat::Config;
use groupchat::Event;
use pigeonhole::store::{BoxStore, MemoryStore};
use pigeonhole::stream::StreamReader;
use pigeonhole::transport::{Sealing, Transport};

/// A channel from `c` (calling it `label`) to a peer the test drives by hand: the peer's
/// writer on it and the peer's reader of `c`'s side.
pub fn hand_channel(c: &mut Client, label: &str) -> (StatefulWriter, StreamReader) {
    let theirs = c.make_channel(label).unwrap();
    let cap = WriteCap::generate(&mut rand_core::OsRng);
    c.accept_channel(label, &ChannelToken::new(&cap.read_cap()))
        .unwrap();
    (
        StatefulWriter::new(cap, CHANNEL_CTX),
        StreamReader::new(theirs.read_cap(), CHANNEL_CTX),
    )
}

/// A store all profiles of a test share.
pub fn memory_store() -> Arc<dyn BoxStore> {
    Arc::new(MemoryStore::new(Geometry::default()))
}

/// The transport a client uses over `store`: BACAP in the process.
pub fn transport(store: &Arc<dyn BoxStore>) -> Arc<dyn Transport> {
    Arc::new(Sealing::new(store.clone()))
}

/// A profile directory that lives as long as the test.
pub struct Profile {
    pub dir: tempfile::TempDir,
}

impl Profile {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("profile")
    }

    pub fn open(&self, store: &Arc<dyn BoxStore>) -> Client {
        Client::open(&self.path(), transport(store)).unwrap()
    }

    pub fn open_with(&self, store: &Arc<dyn BoxStore>, config: Config) -> Client {
        Client::open_with(&self.path(), Some(transport(store)), config).unwrap()
    }
}

/// Bootstraps a channel: `a` calls it `a_label`, `b` calls it `b_label`. The tokens go through
/// their text form, as a person copies them.
pub fn connect(a: &mut Client, a_label: &str, b: &mut Client, b_label: &str) {
    let ta = a.make_channel(a_label).unwrap();
    let tb = b
        .accept_channel(b_label, &ChannelToken::parse(&ta.to_text()).unwrap())
        .unwrap();
    a.accept_channel(a_label, &ChannelToken::parse(&tb.to_text()).unwrap())
        .unwrap();
}

/// Polls until a poll finds nothing (at most 10 polls), returning every event.
pub async fn settle(c: &mut Client) -> Vec<Event> {
    let mut all = Vec::new();
    for _ in 0..10 {
        let ev = c.poll().await.unwrap();
        if ev.is_empty() {
            return all;
        }
        all.extend(ev);
    }
    all
}

/// Invites `invitee` (known to `introducer` as `label`, and knowing the introducer as
/// `back_label`) to `group` under `name`, approves, and lets the invitee join.
pub async fn join(
    introducer: &mut Client,
    label: &str,
    invitee: &mut Client,
    group: GroupId,
    name: &str,
) {
    introducer.invite(&group, label).await.unwrap();
    let ev = invitee.poll().await.unwrap();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Invited { group: g, .. } if *g == group)),
        "{ev:?}"
    );
    invitee.accept_invitation(&group, name).await.unwrap();
    let ev = introducer.poll().await.unwrap();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::JoinRequest { display_name, .. } if display_name == name)),
        "{ev:?}"
    );
    introducer.approve(&group, label).await.unwrap();
    let ev = invitee.poll().await.unwrap();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Joined { group: g, .. } if *g == group)),
        "{ev:?}"
    );
}

/// Alice and Bob: channels both ways, and a group `g` of Alice's that Bob joined.
pub async fn pair(store: &Arc<dyn BoxStore>) -> (Profile, Profile, GroupId) {
    let (pa, pb) = (Profile::new(), Profile::new());
    let (mut a, mut b) = (pa.open(store), pb.open(store));
    let group = a.create_group("g", "alice").unwrap();
    connect(&mut a, "bob", &mut b, "alice");
    join(&mut a, "bob", &mut b, group, "bob").await;
    settle(&mut b).await;
    (pa, pb, group)
}

/// The errors of the `Problem` events among `ev`.
pub fn problems(ev: &[Event]) -> Vec<String> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Problem { error, .. } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

/// The texts of a history, in order, as `(sender name, text)`.
pub fn texts(c: &Client, group: &GroupId) -> Vec<(String, String)> {
    c.history(group)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.content {
            groupchat::records::Content::Text(t) => Some((e.sender_name, t)),
            _ => None,
        })
        .collect()
}

/// How a [`Flaky`] store fails once its budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// The operation is not carried out (the request was lost, or the client died before).
    Before,
    /// The operation is carried out and its reply lost (the client died after the network
    /// acted).
    After,
}

/// A store that works for `budget` operations, then fails every one: a client killed at that
/// point, when the test drops it and reopens the profile on the inner store.
pub struct Flaky {
    pub inner: Arc<dyn BoxStore>,
    pub budget: std::sync::atomic::AtomicI64,
    pub mode: FailMode,
}

impl Flaky {
    pub fn store(inner: &Arc<dyn BoxStore>, budget: i64, mode: FailMode) -> Arc<dyn BoxStore> {
        Arc::new(Self {
            inner: inner.clone(),
            budget: budget.into(),
            mode,
        })
    }

    async fn gate<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, pigeonhole::store::StoreError>>,
    ) -> Result<T, pigeonhole::store::StoreError> {
        use std::sync::atomic::Ordering;
        let dead = || Err(pigeonhole::store::StoreError::Unavailable("killed".into()));
        if self.budget.fetch_sub(1, Ordering::SeqCst) > 0 {
            return op.await;
        }
        if self.mode == FailMode::After {
            let _ = op.await;
        }
        dead()
    }
}

#[async_trait::async_trait]
impl BoxStore for Flaky {
    async fn write(
        &self,
        sealed: &bacap::SealedBox,
    ) -> Result<pigeonhole::store::WriteOutcome, pigeonhole::store::StoreError> {
        self.gate(self.inner.write(sealed)).await
    }
    async fn read_many(
        &self,
        ids: &[bacap::BoxId],
    ) -> Result<Vec<pigeonhole::store::ReadOutcome>, pigeonhole::store::StoreError> {
        self.gate(self.inner.read_many(ids)).await
    }
    async fn copy(
        &self,
        temp: &bacap::WriteCap,
    ) -> Result<pigeonhole::store::CopyStatus, pigeonhole::store::StoreError> {
        self.gate(self.inner.copy(temp)).await
    }
    async fn copy_status(
        &self,
        key: &[u8; 32],
    ) -> Result<Option<pigeonhole::store::CopyStatus>, pigeonhole::store::StoreError> {
        self.gate(self.inner.copy_status(key)).await
    }
}
