//! What the storage learns about sizes: a conversation of short and long group texts, private
//! texts, a file, an invitation with its approval (copy commands) and a WHO, over the courier
//! simulator's HTTP protocol, through a store that logs the payload size of every box the
//! courier is asked to store, including the writes inside each copy command (read from the
//! temporary stream, as the courier reads it), and of every box a read returns. Every one is
//! 1576 bytes or empty (a tombstone).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bacap::{BoxId, Geometry, SealedBox, StatefulReader, WriteCap};
use common::{connect, join, settle, texts, Profile};
use courier_protocol::HttpStore;
use groupchat::messages::FileType;
use groupchat::records::Content;
use pigeonhole::copystream::{Decoder, COPY_STREAM_CTX};
use pigeonhole::padding::PaddedGeometry;
use pigeonhole::store::{BoxStore, CopyStatus, ReadOutcome, StoreError, WriteOutcome};
use pigeonhole::transport::{open_outcome, BoxContent};

/// Payload sizes, counted.
type Sizes = BTreeMap<usize, usize>;

/// The courier's HTTP client, logging sizes as an observer of the storage sees them.
struct Observer {
    inner: HttpStore,
    /// Payloads the courier was asked to store: plain writes and the writes of copy commands.
    stored: Mutex<Sizes>,
    /// Payloads of the boxes reads returned.
    read: Mutex<Sizes>,
    /// How many writes arrived inside copy commands.
    copied: Mutex<usize>,
}

impl Observer {
    fn log(sizes: &Mutex<Sizes>, len: usize) {
        *sizes.lock().unwrap().entry(len).or_default() += 1;
    }

    /// The writes inside the temporary stream of `temp`, read and decoded as the courier reads
    /// them, and how many temporary boxes carry them; `None` when it cannot be read (a copy
    /// command repeated after it ran).
    async fn copied_writes(&self, temp: &WriteCap) -> Option<(Vec<SealedBox>, usize)> {
        let mut reader = StatefulReader::new(temp.read_cap(), COPY_STREAM_CTX);
        let mut decoder = Decoder::new();
        let mut boxes = 0;
        while !decoder.is_complete() {
            let outcome = self.inner.read(&reader.next_box_id()).await.ok()?;
            let BoxContent::Message(plaintext) =
                open_outcome(&reader, &outcome, Geometry::default())
            else {
                return None;
            };
            decoder.push(&plaintext).ok()?;
            reader.advance().ok()?;
            boxes += 1;
        }
        Some((decoder.finish().ok()?, boxes))
    }
}

#[async_trait::async_trait]
impl BoxStore for Observer {
    async fn write(&self, sealed: &SealedBox) -> Result<WriteOutcome, StoreError> {
        Self::log(&self.stored, sealed.payload.len());
        self.inner.write(sealed).await
    }

    async fn read_many(&self, ids: &[BoxId]) -> Result<Vec<ReadOutcome>, StoreError> {
        let outcomes = self.inner.read_many(ids).await?;
        for outcome in &outcomes {
            if let ReadOutcome::Found(b) | ReadOutcome::Tombstone(b) = outcome {
                Self::log(&self.read, b.payload.len());
            }
        }
        Ok(outcomes)
    }

    async fn copy(&self, temp: &WriteCap) -> Result<CopyStatus, StoreError> {
        let copied = self.copied_writes(temp).await;
        let status = self.inner.copy(temp).await?;
        if let (Some((writes, temp_boxes)), CopyStatus::Succeeded) = (copied, status) {
            *self.copied.lock().unwrap() += writes.len();
            for w in &writes {
                Self::log(&self.stored, w.payload.len());
            }
            // The courier tombstones the temporary stream.
            for _ in 0..temp_boxes {
                Self::log(&self.stored, 0);
            }
        }
        Ok(status)
    }

    async fn copy_status(&self, key: &[u8; 32]) -> Result<Option<CopyStatus>, StoreError> {
        self.inner.copy_status(key).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_courier_stores_one_payload_size_whatever_is_said() {
    let server = courier_sim::serve(courier_sim::Config::ephemeral())
        .await
        .unwrap();
    let observer = Arc::new(Observer {
        inner: HttpStore::new(&server.url()).unwrap(),
        stored: Mutex::default(),
        read: Mutex::default(),
        copied: Mutex::default(),
    });
    let store: Arc<dyn BoxStore> = observer.clone();
    let (pa, pb) = (Profile::new(), Profile::new());
    let (mut alice, mut bob) = (pa.open(&store), pb.open(&store));
    connect(&mut alice, "bob", &mut bob, "alice");
    let group = alice.create_group("sizes", "alice").unwrap();
    join(&mut alice, "bob", &mut bob, group, "bob").await;

    let group_texts = [
        "a".to_owned(),
        "hello".to_owned(),
        "x".repeat(500),
        "long ".repeat(1000),
    ];
    for t in &group_texts {
        alice.post_text(&group, t).await.unwrap();
    }
    let private = ["a".to_owned(), "y".repeat(500), "private ".repeat(600)];
    for t in &private {
        alice.send_channel_text("bob", t).await.unwrap();
    }
    let file: Vec<u8> = (0..24_576u32).map(|i| (i * 7 % 251) as u8).collect();
    bob.send_file(&group, "numbers.bin", FileType::Arbitrary, file.clone())
        .await
        .unwrap();
    bob.who(&group).await.unwrap();
    settle(&mut bob).await;
    settle(&mut alice).await;

    // The conversation went through.
    let got: Vec<String> = texts(&bob, &group)
        .into_iter()
        .filter(|(sender, _)| sender == "alice")
        .map(|(_, t)| t)
        .collect();
    assert_eq!(got, group_texts);
    let got_private: Vec<String> = bob
        .channel_history("alice")
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.content {
            Content::Text(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(got_private, private);
    let received = alice
        .history(&group)
        .unwrap()
        .into_iter()
        .find_map(|e| match e.content {
            Content::File { path, .. } if !path.is_empty() => Some(path),
            _ => None,
        })
        .expect("alice received the file");
    assert_eq!(std::fs::read(received).unwrap(), file);

    let stored = observer.stored.lock().unwrap().clone();
    let read = observer.read.lock().unwrap().clone();
    let copied = *observer.copied.lock().unwrap();
    println!("payload sizes stored (bytes: boxes): {stored:?}; {copied} of them in copy commands");
    println!("payload sizes read (bytes: boxes): {read:?}");
    let one_size = PaddedGeometry::default().payload_len();
    assert_eq!(one_size, 1576);
    for (what, sizes) in [("stored", &stored), ("read", &read)] {
        assert!(
            sizes.keys().all(|len| *len == 0 || *len == one_size),
            "{what}: {sizes:?}"
        );
        assert!(
            sizes.get(&one_size).copied().unwrap_or(0) > 20,
            "{what}: {sizes:?}"
        );
    }
    assert!(
        stored.contains_key(&0),
        "the copy commands tombstoned their temporary streams"
    );
    assert!(
        copied >= 16 + 4,
        "the file's chain, the long texts and the approval: {copied}"
    );
    server.shutdown().await.unwrap();
}
