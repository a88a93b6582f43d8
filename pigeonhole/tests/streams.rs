//! Streams over the in-memory store: round trips of every size, crash and retry, failed copies,
//! and malformed framing from a peer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use bacap::{BoxId, Geometry, SealedBox, StatefulWriter, WriteCap, READ_CAP_LEN};
use pigeonhole::padding::{self, PaddingError};
use pigeonhole::store::{
    BoxStore, CopyFailure, CopyStatus, MemoryStore, ReadOutcome, ReplyCode, StoreError,
    WriteOutcome,
};
use pigeonhole::stream::framing::{self, INDIRECTION_LEN};
use pigeonhole::stream::{
    AllOrNothingPlan, FramingError, Limits, Outgoing, PeerFault, Polled, StreamError, StreamReader,
    StreamWrite, StreamWriter,
};
use pigeonhole::transport::{
    open_outcome, seal_message, store_writes_for_message, BoxContent, BoxError, CopyOptions,
    Sealing, Transport,
};
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zeroize::Zeroizing;

const CTX: &[u8] = b"streams-test";
const G: Geometry = Geometry::KATZENPOST;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn stream(seed: u64) -> (StreamWriter, StreamReader) {
    let cap = WriteCap::generate(&mut rng(seed));
    let reader = StreamReader::new(cap.read_cap(), CTX);
    (StreamWriter::new(StatefulWriter::new(cap, CTX), G), reader)
}

fn message(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// BACAP in the test over `store`.
fn t<S: BoxStore>(store: S) -> Sealing<S> {
    Sealing::new(store)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

async fn read_all(reader: &mut StreamReader, store: &dyn BoxStore) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(m) = reader.poll(&t(store)).await.unwrap() {
        out.push(m.to_vec());
    }
    out
}

/// Sends each message in turn, then reads them all back, twice (once more from the persisted
/// reader state, which must then see nothing new).
async fn round_trip(lens: &[usize], seed: u64) {
    let store = MemoryStore::new(G);
    let (mut writer, mut reader) = stream(seed);
    let mut r = rng(seed ^ 0xabc);
    let msgs: Vec<Vec<u8>> = lens
        .iter()
        .enumerate()
        .map(|(i, &l)| message(l, i as u8))
        .collect();
    for m in &msgs {
        writer.send(&t(&store), &mut r, m).await.unwrap();
    }
    assert_eq!(read_all(&mut reader, &store).await, msgs);
    let mut restored = StreamReader::from_bytes(&reader.to_bytes()).unwrap();
    assert_eq!(restored.poll(&t(&store)).await.unwrap(), None);
    assert_eq!(restored.position(), reader.position());
}

#[tokio::test]
async fn round_trips_around_the_box_boundary() {
    // 1555 bytes is the most one F box holds; 1556 is the first chain (of two boxes).
    let lens = [0, 1, 1554, 1555, 1556, 1557, 1558, 3110, 3111, 4665, 4666];
    round_trip(&lens, 1).await;
}

#[test]
fn round_trips_megabytes() {
    block_on(round_trip(&[1 << 20, 5 << 20], 2));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn round_trips_random_sizes(
        lens in prop::collection::vec(
            prop_oneof![
                0usize..1600,
                1554usize..1559,
                (1usize..6).prop_map(|k| k * 1555),
                (1usize..6).prop_map(|k| k * 1555 + 1),
                0usize..40_000,
            ],
            1..5,
        ),
        seed in any::<u64>(),
    ) {
        block_on(round_trip(&lens, seed));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3))]

    #[test]
    fn round_trips_random_megabyte_sizes(len in (1usize << 20)..(5 << 20), seed in any::<u64>()) {
        block_on(round_trip(&[len], seed));
    }
}

#[tokio::test]
async fn short_messages_share_one_final_box() {
    let store = MemoryStore::new(G);
    let (mut writer, mut reader) = stream(3);
    let before = store.len();
    writer
        .send_many(&t(&store), &mut rng(4), &[b"one", b"two", b"three"])
        .await
        .unwrap();
    assert_eq!(store.len(), before + 1);
    assert_eq!(
        read_all(&mut reader, &store).await,
        vec![b"onetwothree".to_vec()]
    );
}

/// A store that can fail writes after a budget, keep copies "in progress", and counts reads.
struct Flaky {
    inner: MemoryStore,
    writes_left: AtomicUsize,
    copy_in_progress: AtomicBool,
    /// Answer as a courier that lost its record of every copy command and finds the temporary
    /// stream tombstoned (or otherwise unusable) when one is resubmitted.
    forget_copies: AtomicBool,
    reads: AtomicUsize,
}

impl Flaky {
    fn new() -> Self {
        Self {
            inner: MemoryStore::new(G),
            writes_left: AtomicUsize::new(usize::MAX),
            copy_in_progress: AtomicBool::new(false),
            forget_copies: AtomicBool::new(false),
            reads: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl BoxStore for Flaky {
    async fn write(&self, sealed: &SealedBox) -> Result<WriteOutcome, StoreError> {
        let left = self.writes_left.load(Ordering::SeqCst);
        if left == 0 {
            return Err(StoreError::Unavailable("crash".into()));
        }
        self.writes_left.store(left - 1, Ordering::SeqCst);
        self.inner.write(sealed).await
    }
    async fn read_many(&self, ids: &[BoxId]) -> Result<Vec<ReadOutcome>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_many(ids).await
    }
    async fn copy(&self, temp: &WriteCap) -> Result<CopyStatus, StoreError> {
        if self.copy_in_progress.load(Ordering::SeqCst) {
            return Ok(CopyStatus::InProgress);
        }
        if self.forget_copies.load(Ordering::SeqCst) {
            return Ok(CopyStatus::Failed(CopyFailure {
                code: ReplyCode::Tombstone,
                position: 0,
            }));
        }
        self.inner.copy(temp).await
    }
    async fn copy_status(&self, key: &[u8; 32]) -> Result<Option<CopyStatus>, StoreError> {
        if self.copy_in_progress.load(Ordering::SeqCst) {
            return Ok(Some(CopyStatus::InProgress));
        }
        if self.forget_copies.load(Ordering::SeqCst) {
            return Ok(None);
        }
        self.inner.copy_status(key).await
    }
}

#[tokio::test]
async fn crash_between_write_and_advance_leaves_one_message() {
    for len in [10usize, 5000] {
        let store = MemoryStore::new(G);
        let (writer, mut reader) = stream(5);
        let saved_writer = writer.writer().to_bytes();
        let op = writer.prepare(&mut rng(6), &[&message(len, 1)]).unwrap();
        let saved_op = op.to_bytes();
        // The write lands, then the process dies before the writer advanced.
        op.execute(&t(&store), CopyOptions::default())
            .await
            .unwrap();
        // After the restart: the old writer state and the persisted operation, run again.
        let w = StatefulWriter::from_bytes(&saved_writer).unwrap();
        let mut writer = StreamWriter::new(w, G);
        let op = Outgoing::from_bytes(&saved_op, G).unwrap();
        writer.run(&t(&store), &op).await.unwrap();
        assert_eq!(*writer.writer(), op.writer_after().unwrap());
        // Running it once more after the writer advanced is a no-op.
        writer.run(&t(&store), &op).await.unwrap();
        writer.send(&t(&store), &mut rng(7), b"next").await.unwrap();
        assert_eq!(
            read_all(&mut reader, &store).await,
            vec![message(len, 1), b"next".to_vec()],
            "len {len}"
        );
    }
}

#[tokio::test]
async fn crash_in_the_middle_of_the_temporary_stream_resumes() {
    let store = Flaky::new();
    let (writer, mut reader) = stream(8);
    let op = writer.prepare(&mut rng(9), &[&message(20_000, 2)]).unwrap();
    let Outgoing::AllOrNothing(plan) = &op else {
        panic!("20 kB is a long message");
    };
    let saved = plan.to_bytes();
    store.writes_left.store(5, Ordering::SeqCst);
    let err = plan.execute(&t(&store), CopyOptions::default()).await;
    assert!(matches!(err, Err(StreamError::Store(_))), "{err:?}");
    assert_eq!(reader.poll(&t(&store)).await.unwrap(), None);

    store.writes_left.store(usize::MAX, Ordering::SeqCst);
    let plan = AllOrNothingPlan::from_bytes(&saved).unwrap();
    let advanced = plan
        .execute(&t(&store), CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(advanced, vec![op.writer_after().unwrap()]);
    // And again, as after a crash right after the copy: the recorded status answers.
    assert_eq!(
        plan.execute(&t(&store), CopyOptions::default())
            .await
            .unwrap(),
        advanced
    );
    assert_eq!(
        read_all(&mut reader, &store).await,
        vec![message(20_000, 2)]
    );
}

#[tokio::test]
async fn copy_in_progress_is_resumable() {
    let store = Flaky::new();
    let (mut writer, mut reader) = stream(10);
    let before = writer.writer().clone();
    let op = writer.prepare(&mut rng(11), &[&message(4000, 3)]).unwrap();
    store.copy_in_progress.store(true, Ordering::SeqCst);
    assert_eq!(
        writer.run(&t(&store), &op).await.unwrap_err(),
        StreamError::CopyInProgress
    );
    assert_eq!(*writer.writer(), before);
    store.copy_in_progress.store(false, Ordering::SeqCst);
    writer.run(&t(&store), &op).await.unwrap();
    assert_eq!(read_all(&mut reader, &store).await, vec![message(4000, 3)]);
}

#[tokio::test]
async fn a_different_box_at_the_next_index_is_a_conflict() {
    let store = MemoryStore::new(G);
    let (mut writer, mut reader) = stream(12);
    let other = seal_message(writer.writer(), b"Fsomething else", G).unwrap();
    store.write(&other).await.unwrap();
    let before = writer.writer().clone();
    let err = writer
        .send(&t(&store), &mut rng(13), b"mine")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StreamError::Conflict {
            box_id: other.box_id
        }
    );
    assert_eq!(*writer.writer(), before);
    assert_eq!(
        read_all(&mut reader, &store).await,
        vec![b"something else".to_vec()]
    );
}

#[tokio::test]
async fn a_failed_copy_advances_no_writer_and_shows_nothing() {
    let store = MemoryStore::new(G);
    let (a, mut reader_a) = stream(14);
    let (b, _) = stream(15);
    // Someone already wrote B's next box with other content: the copy must fail there.
    store
        .write(&seal_message(b.writer(), b"Fearlier", G).unwrap())
        .await
        .unwrap();
    let long = message(10_000, 4);
    let plan = AllOrNothingPlan::for_messages(
        &mut rng(16),
        G,
        &Limits::default(),
        vec![
            (a.writer().clone(), &long[..]),
            (b.writer().clone(), &b"hello"[..]),
        ],
    )
    .unwrap();
    let before = store.len();
    let err = plan
        .execute(&t(&store), CopyOptions::default())
        .await
        .unwrap_err();
    let StreamError::CopyFailed(failure) = err else {
        panic!("{err:?}");
    };
    assert_eq!(failure.code, ReplyCode::AlreadyExists);
    assert_eq!(failure.position as usize, plan.box_count());
    // A sees nothing: no pointer, and no substream box either.
    assert_eq!(reader_a.poll(&t(&store)).await.unwrap(), None);
    for (write, destination) in plan.writes() {
        let id = write.writer.next_box_id();
        let found = store.read(&id).await.unwrap();
        if destination && write.writer == *b.writer() {
            assert!(matches!(found, ReadOutcome::Found(_)));
        } else {
            assert_eq!(found, ReadOutcome::NotFound);
        }
    }
    // Only the temporary boxes were added, and they are tombstones now.
    assert!(store.len() > before);
    // Running the plan again reports the recorded failure.
    assert!(matches!(
        plan.execute(&t(&store), CopyOptions::default()).await,
        Err(StreamError::CopyFailed(_))
    ));
    // Nothing advanced: A can still send at its old index.
    let mut a = a;
    a.send(&t(&store), &mut rng(17), b"after").await.unwrap();
    assert_eq!(
        read_all(&mut reader_a, &store).await,
        vec![b"after".to_vec()]
    );
}

#[tokio::test]
async fn an_all_or_nothing_to_two_streams_lands_in_both() {
    let store = MemoryStore::new(G);
    let (a, mut ra) = stream(18);
    let (b, mut rb) = stream(19);
    let long = message(7000, 5);
    let plan = AllOrNothingPlan::for_messages(
        &mut rng(20),
        G,
        &Limits::default(),
        vec![
            (a.writer().clone(), &b"intro"[..]),
            (b.writer().clone(), &long[..]),
        ],
    )
    .unwrap();
    let plan = AllOrNothingPlan::from_bytes(&plan.to_bytes()).unwrap();
    let advanced = plan
        .execute(&t(&store), CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(advanced.len(), 2);
    assert_eq!(
        advanced[0].next_index().idx(),
        a.writer().next_index().idx() + 1
    );
    assert_eq!(read_all(&mut ra, &store).await, vec![b"intro".to_vec()]);
    assert_eq!(read_all(&mut rb, &store).await, vec![long]);
}

#[tokio::test]
async fn raw_plans_write_framed_boxes_as_given() {
    let store = MemoryStore::new(G);
    let (a, mut ra) = stream(21);
    let writes = vec![StreamWrite {
        writer: a.writer().clone(),
        plaintexts: vec![
            Zeroizing::new(b"Fone".to_vec()),
            Zeroizing::new(b"Ftwo".to_vec()),
        ],
    }];
    let plan = AllOrNothingPlan::new(&mut rng(22), G, writes).unwrap();
    let advanced = plan
        .execute(&t(&store), CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        advanced[0].next_index().idx(),
        a.writer().next_index().idx() + 2
    );
    assert_eq!(
        read_all(&mut ra, &store).await,
        vec![b"one".to_vec(), b"two".to_vec()]
    );
    // Plans refuse oversized boxes, empty writes and writing one stream twice.
    let too_big = vec![StreamWrite {
        writer: a.writer().clone(),
        plaintexts: vec![Zeroizing::new(vec![b'F'; G.box_plaintext_len + 1])],
    }];
    assert!(matches!(
        AllOrNothingPlan::new(&mut rng(23), G, too_big),
        Err(StreamError::MessageTooLarge { .. })
    ));
    assert!(AllOrNothingPlan::new(&mut rng(23), G, vec![]).is_err());
    let twice = vec![
        StreamWrite {
            writer: a.writer().clone(),
            plaintexts: vec![Zeroizing::new(b"Fx".to_vec())],
        },
        StreamWrite {
            writer: a.writer().clone(),
            plaintexts: vec![Zeroizing::new(b"Fy".to_vec())],
        },
    ];
    assert!(AllOrNothingPlan::new(&mut rng(23), G, twice).is_err());
}

#[test]
fn persisted_forms_reject_garbage() {
    let (writer, _) = stream(24);
    let op = writer.prepare(&mut rng(25), &[&message(3000, 6)]).unwrap();
    let bytes = op.to_bytes();
    assert_eq!(Outgoing::from_bytes(&bytes, G).unwrap(), op);
    for cut in [0, 1, 2, 10, bytes.len() / 2, bytes.len() - 1] {
        assert!(Outgoing::from_bytes(&bytes[..cut], G).is_err(), "cut {cut}");
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(Outgoing::from_bytes(&longer, G).is_err());
    let mut version = bytes.to_vec();
    version[0] = 9;
    assert!(Outgoing::from_bytes(&version, G).is_err());
    assert!(AllOrNothingPlan::from_bytes(&[1, 0xff, 0xff, 0xff, 0xff]).is_err());

    let single = writer.prepare(&mut rng(25), &[b"hi"]).unwrap();
    assert!(matches!(single, Outgoing::Single(_)));
    assert_eq!(Outgoing::from_bytes(&single.to_bytes(), G).unwrap(), single);
    // A single message too big for the geometry it is decoded for.
    assert!(Outgoing::from_bytes(&single.to_bytes(), Geometry::new(2)).is_err());

    let (_, reader) = stream(26);
    let rb = reader.to_bytes();
    assert!(StreamReader::from_bytes(&rb).is_ok());
    assert!(StreamReader::from_bytes(&rb[..rb.len() / 2]).is_err());
    assert!(StreamReader::from_bytes(&[]).is_err());
    assert!(StreamReader::from_bytes(&[2]).is_err());
}

#[test]
fn debug_never_prints_secrets() {
    let (writer, reader) = stream(27);
    let secret = b"attack at dawn, attack at dawn, attack at dawn".repeat(100);
    let op = writer.prepare(&mut rng(28), &[&secret]).unwrap();
    let cap_hex: String = writer
        .writer()
        .cap()
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for text in [
        format!("{op:?}"),
        format!("{writer:?}"),
        format!("{reader:?}"),
    ] {
        assert!(!text.contains("attack"), "{text}");
        assert!(!text.contains(&cap_hex[..16]), "{text}");
        assert!(!text.contains("[65, 116"), "{text}");
    }
}

#[tokio::test]
async fn writers_refuse_what_readers_would_drop() {
    let store = MemoryStore::new(G);
    let (writer, _) = stream(29);
    let limits = Limits {
        max_message_len: 1000,
        max_chain_boxes: 100,
    };
    let mut writer = writer.with_limits(limits);
    assert!(matches!(
        writer.send(&t(&store), &mut rng(30), &[0u8; 1001]).await,
        Err(StreamError::MessageTooLarge {
            len: 1001,
            limit: 1000
        })
    ));
    let mut small = StreamWriter::new(writer.writer().clone(), Geometry::new(100));
    // A long message needs an I box (137 bytes) to fit one box.
    assert!(matches!(
        small.send(&t(&store), &mut rng(31), &[0u8; 500]).await,
        Err(StreamError::Framing(FramingError::GeometryTooSmall { .. }))
    ));
    let mut chained =
        StreamWriter::new(writer.writer().clone(), Geometry::new(200)).with_limits(Limits {
            max_message_len: 1 << 20,
            max_chain_boxes: 3,
        });
    assert!(matches!(
        chained.send(&t(&store), &mut rng(31), &[0u8; 800]).await,
        Err(StreamError::MessageTooLarge { .. })
    ));
    assert_eq!(store.len(), 0);
}

/// A raw writer of the sender's stream, to write whatever a faulty peer would.
struct Peer {
    main: StatefulWriter,
}

impl Peer {
    fn new(writer: &StreamWriter) -> Self {
        Self {
            main: writer.writer().clone(),
        }
    }

    async fn put(&mut self, store: &MemoryStore, plaintext: &[u8]) {
        let sealed = seal_message(&self.main, plaintext, G).unwrap();
        assert_eq!(store.write(&sealed).await.unwrap(), WriteOutcome::Stored);
        self.main.advance().unwrap();
    }

    /// Writes a substream with `boxes` (skipping the positions in `missing`) and returns the
    /// `I` box plaintext pointing at it.
    async fn substream(
        store: &MemoryStore,
        seed: u64,
        boxes: &[&[u8]],
        missing: &[usize],
    ) -> (Zeroizing<Vec<u8>>, Vec<SealedBox>) {
        let mut w = StatefulWriter::new(WriteCap::generate(&mut rng(seed)), CTX);
        let mut sealed_all = Vec::new();
        for (i, b) in boxes.iter().enumerate() {
            let sealed = seal_message(&w, b, G).unwrap();
            if !missing.contains(&i) {
                store.write(&sealed).await.unwrap();
            }
            sealed_all.push(sealed);
            w.advance().unwrap();
        }
        (framing::indirection(&w.cap().read_cap()), sealed_all)
    }
}

async fn expect_rejected_then_usable(
    store: &MemoryStore,
    reader: &mut StreamReader,
    peer: &mut Peer,
    fault: PeerFault,
) {
    assert_eq!(
        reader.poll(&t(store)).await.unwrap_err(),
        StreamError::Rejected(fault)
    );
    assert!(!reader.in_chain());
    peer.put(store, b"Fok").await;
    assert_eq!(
        reader.poll(&t(store)).await.unwrap().unwrap().to_vec(),
        b"ok"
    );
    assert_eq!(reader.poll(&t(store)).await.unwrap(), None);
}

#[tokio::test]
async fn malformed_framing_is_an_error_and_the_reader_stays_usable() {
    let store = MemoryStore::new(G);
    let (writer, mut reader) = stream(32);
    let mut peer = Peer::new(&writer);

    peer.put(&store, b"Xhello").await;
    let f = PeerFault::Framing(FramingError::UnknownPrefix(b'X'));
    expect_rejected_then_usable(&store, &mut reader, &mut peer, f).await;

    peer.put(&store, b"").await;
    let f = PeerFault::Framing(FramingError::Empty);
    expect_rejected_then_usable(&store, &mut reader, &mut peer, f).await;

    peer.put(&store, b"Ishort").await;
    let f = PeerFault::Framing(FramingError::IndirectionLength(6));
    expect_rejected_then_usable(&store, &mut reader, &mut peer, f).await;

    let mut bad_cap = vec![b'I', 1];
    bad_cap.resize(INDIRECTION_LEN, 0);
    peer.put(&store, &bad_cap).await;
    let err = reader.poll(&t(&store)).await.unwrap_err();
    assert!(
        matches!(
            err,
            StreamError::Rejected(PeerFault::Framing(FramingError::InvalidReadCap(_)))
        ),
        "{err:?}"
    );
    peer.put(&store, b"Fok").await;
    assert_eq!(
        reader.poll(&t(&store)).await.unwrap().unwrap().to_vec(),
        b"ok"
    );

    peer.put(&store, b"Cslice").await;
    let f = PeerFault::ContinuationOutsideChain;
    expect_rejected_then_usable(&store, &mut reader, &mut peer, f).await;

    let (pointer, _) = Peer::substream(&store, 40, &[b"Cab", b"Fcd"], &[]).await;
    let (nested, _) = Peer::substream(&store, 41, &[b"Cab", &pointer], &[]).await;
    peer.put(&store, &nested).await;
    let f = PeerFault::NestedIndirection;
    expect_rejected_then_usable(&store, &mut reader, &mut peer, f).await;

    let (garbled, _) = Peer::substream(&store, 42, &[b"Cab", b"Zcd"], &[]).await;
    peer.put(&store, &garbled).await;
    let f = PeerFault::Framing(FramingError::UnknownPrefix(b'Z'));
    expect_rejected_then_usable(&store, &mut reader, &mut peer, f).await;

    // A chain the sender deleted before its final box.
    let (deleted, sealed) = Peer::substream(&store, 43, &[b"Cab", b"Ccd", b"Fef"], &[]).await;
    let sub = WriteCap::generate(&mut rng(43));
    let second = sub.first_index().next().unwrap();
    let tomb = sub.tombstone(&second, CTX);
    assert_eq!(tomb.box_id, sealed[1].box_id);
    store.write(&tomb).await.unwrap();
    peer.put(&store, &deleted).await;
    let f = PeerFault::ChainDeleted;
    expect_rejected_then_usable(&store, &mut reader, &mut peer, f).await;

    // A pointer in a good chain still reads after all that.
    peer.put(&store, &pointer).await;
    assert_eq!(
        reader.poll(&t(&store)).await.unwrap().unwrap().to_vec(),
        b"abcd"
    );
}

#[tokio::test]
async fn limits_are_errors_not_hangs() {
    let store = MemoryStore::new(G);
    let (writer, reader) = stream(50);
    let mut reader = reader.with_limits(Limits {
        max_message_len: 1000,
        max_chain_boxes: 3,
    });
    let mut peer = Peer::new(&writer);

    // A chain longer than the limit (and never ending, as far as the reader cares).
    let slices: Vec<Vec<u8>> = (0..6).map(|_| b"Cxx".to_vec()).collect();
    let refs: Vec<&[u8]> = slices.iter().map(|s| &s[..]).collect();
    let (long_chain, _) = Peer::substream(&store, 51, &refs, &[]).await;
    peer.put(&store, &long_chain).await;
    let f = PeerFault::ChainTooLong { limit: 3 };
    expect_rejected_then_usable(&store, &mut reader, &mut peer, f).await;

    // A message over the size limit, in a chain and in one box.
    let big = [b'x'; 900];
    let mut c = vec![b'C'];
    c.extend_from_slice(&big);
    let mut fin = vec![b'F'];
    fin.extend_from_slice(&big);
    let (too_big, _) = Peer::substream(&store, 52, &[&c, &fin], &[]).await;
    peer.put(&store, &too_big).await;
    let f = PeerFault::MessageTooLarge { limit: 1000 };
    expect_rejected_then_usable(&store, &mut reader, &mut peer, f).await;

    let mut reader_small = StreamReader::from_bytes(&reader.to_bytes())
        .unwrap()
        .with_limits(Limits {
            max_message_len: 10,
            max_chain_boxes: 3,
        });
    peer.put(&store, b"Fmore than ten bytes").await;
    let f = PeerFault::MessageTooLarge { limit: 10 };
    expect_rejected_then_usable(&store, &mut reader_small, &mut peer, f).await;
}

#[tokio::test]
async fn a_chain_with_missing_boxes_waits_and_resumes() {
    let store = MemoryStore::new(G);
    let (writer, reader) = stream(60);
    let mut reader = reader.with_batch(2);
    let mut peer = Peer::new(&writer);
    let (pointer, sealed) = Peer::substream(&store, 61, &[b"Ca", b"Cb", b"Cc", b"Fd"], &[2]).await;
    peer.put(&store, &pointer).await;
    let position = reader.position().clone();
    for _ in 0..2 {
        assert_eq!(
            reader.poll(&t(&store)).await.unwrap_err(),
            StreamError::IncompleteChain { position: 2 }
        );
        assert!(reader.in_chain());
        assert_eq!(*reader.position(), position);
        assert_eq!(
            StreamReader::from_bytes(&reader.to_bytes())
                .unwrap()
                .position(),
            &position
        );
    }
    store.write(&sealed[2]).await.unwrap();
    assert_eq!(
        reader.poll(&t(&store)).await.unwrap().unwrap().to_vec(),
        b"abcd"
    );

    // The same, given up on deliberately.
    let (pointer, _) = Peer::substream(&store, 62, &[b"Ca", b"Fb"], &[1]).await;
    peer.put(&store, &pointer).await;
    assert_eq!(
        reader.poll(&t(&store)).await.unwrap_err(),
        StreamError::IncompleteChain { position: 1 }
    );
    reader.skip().unwrap();
    peer.put(&store, b"Fnext").await;
    assert_eq!(
        reader.poll(&t(&store)).await.unwrap().unwrap().to_vec(),
        b"next"
    );
}

#[tokio::test]
async fn a_box_that_fails_verification_stops_the_reader_until_skipped() {
    let store = MemoryStore::new(G);
    let (writer, mut reader) = stream(70);
    let mut peer = Peer::new(&writer);
    peer.put(&store, b"Fgood").await;
    let good = store.read(&reader.next_box_id()).await.unwrap();
    let ReadOutcome::Found(good_box) = good.clone() else {
        panic!("written");
    };
    let mut forged = good_box.clone();
    forged.payload[0] ^= 1;
    let position = reader.position().clone();
    for bad in [
        ReadOutcome::Found(forged),
        ReadOutcome::Tombstone(SealedBox {
            payload: Vec::new(),
            ..good_box.clone()
        }),
    ] {
        let bad = open_outcome(&reader.wanted()[0], &bad, G);
        let err = reader.accept(&[bad]).unwrap_err();
        assert!(matches!(err, StreamError::InvalidBox { .. }), "{err:?}");
        assert_eq!(*reader.position(), position);
    }
    assert!(matches!(
        reader.accept(&[]),
        Err(StreamError::OutcomeCount {
            expected: 1,
            got: 0
        })
    ));
    let good = open_outcome(&reader.wanted()[0], &good, G);
    assert_eq!(
        reader.accept(&[good]).unwrap(),
        Polled::Message(Zeroizing::new(b"good".to_vec()))
    );

    // Skipping moves past a box without reading it.
    peer.put(&store, b"Fskipped").await;
    peer.put(&store, b"Fread").await;
    reader.skip().unwrap();
    assert_eq!(
        reader.poll(&t(&store)).await.unwrap().unwrap().to_vec(),
        b"read"
    );
}

#[tokio::test]
async fn a_box_with_bad_padding_is_invalid_and_stops_the_reader() {
    let (writer, mut reader) = stream(75);
    let good = padding::pad(b"Fhello", G.into()).unwrap();
    let mut nonzero = good.to_vec();
    nonzero[1000] = 1;
    let mut long_field = good.to_vec();
    long_field[..4].copy_from_slice(&1557u32.to_be_bytes());
    let cases = [
        (nonzero, PaddingError::NonZeroPadding),
        (
            long_field,
            PaddingError::LengthField {
                len: 1557,
                max: 1556,
            },
        ),
        (
            good[..1559].to_vec(),
            PaddingError::WrongSize {
                got: 1559,
                expected: 1560,
            },
        ),
    ];
    let position = reader.position().clone();
    for (padded, why) in cases {
        // Authentic (signed and encrypted under the stream's cap), but not padded as boxes are.
        let sealed = writer.writer().prepare_next(&padded);
        let content = open_outcome(&reader.wanted()[0], &ReadOutcome::Found(sealed), G);
        assert_eq!(content, BoxContent::Invalid(BoxError::Padding(why.clone())));
        let err = reader.accept(&[content]).unwrap_err();
        assert_eq!(
            err,
            StreamError::InvalidBox {
                box_id: reader.next_box_id(),
                error: BoxError::Padding(why),
            }
        );
        assert_eq!(*reader.position(), position);
    }
    // The same message, padded right, reads.
    let sealed = writer.writer().prepare_next(&good);
    let content = open_outcome(&reader.wanted()[0], &ReadOutcome::Found(sealed), G);
    assert_eq!(
        reader.accept(&[content]).unwrap(),
        Polled::Message(Zeroizing::new(b"hello".to_vec()))
    );
}

#[tokio::test]
async fn every_stored_payload_has_one_size() {
    let store = MemoryStore::new(G);
    let (mut writer, mut reader) = stream(76);
    let lens = [0usize, 1, 5, 500, 1555, 1556, 4000, 30_000];
    for (i, len) in lens.iter().enumerate() {
        writer
            .send(&t(&store), &mut rng(77 + i as u64), &message(*len, 1))
            .await
            .unwrap();
    }
    let sizes = store.payload_lens();
    assert!(sizes.len() > lens.len(), "the long messages took chains");
    assert!(
        sizes.iter().all(|n| *n == 0 || *n == 1576),
        "sizes {sizes:?}"
    );
    let got = read_all(&mut reader, &store).await;
    assert_eq!(got.len(), lens.len());
    for (m, len) in got.iter().zip(lens) {
        assert_eq!(*m, message(len, 1));
    }
}

#[tokio::test]
async fn tombstones_are_skipped() {
    let store = MemoryStore::new(G);
    let (writer, mut reader) = stream(80);
    let w = writer.writer();
    store
        .write(&w.cap().tombstone(w.next_index(), CTX))
        .await
        .unwrap();
    let mut peer = Peer::new(&writer);
    peer.main.advance().unwrap();
    peer.put(&store, b"Fafter").await;
    assert_eq!(read_all(&mut reader, &store).await, vec![b"after".to_vec()]);
}

#[tokio::test]
async fn chains_are_fetched_in_batches() {
    let store = Flaky::new();
    let (mut writer, reader) = stream(90);
    let mut reader = reader.with_batch(16);
    let len = 100 * 1555;
    writer
        .send(&t(&store), &mut rng(91), &message(len, 7))
        .await
        .unwrap();
    let reads = store.reads.load(Ordering::SeqCst);
    assert_eq!(reader.poll(&t(&store)).await.unwrap().unwrap().len(), len);
    // One read for the pointer and ceil(100 / 16) for the chain.
    assert_eq!(store.reads.load(Ordering::SeqCst) - reads, 1 + 7);
}

#[tokio::test]
async fn many_streams_poll_in_one_read() {
    let store = MemoryStore::new(G);
    let mut streams: Vec<(StreamWriter, StreamReader)> = (0..4).map(|i| stream(100 + i)).collect();
    for (i, (w, _)) in streams.iter_mut().enumerate().take(3) {
        w.send(&t(&store), &mut rng(110), &message(i * 10, 1))
            .await
            .unwrap();
    }
    let wanted: Vec<Vec<_>> = streams.iter().map(|(_, r)| r.wanted()).collect();
    let all: Vec<_> = wanted.iter().flatten().cloned().collect();
    let mut outcomes = t(&store).read_many(&all).await.unwrap().into_iter();
    for (i, ((_, r), ids)) in streams.iter_mut().zip(&wanted).enumerate() {
        let mine: Vec<BoxContent> = outcomes.by_ref().take(ids.len()).collect();
        let got = r.accept(&mine).unwrap();
        if i < 3 {
            assert_eq!(got, Polled::Message(Zeroizing::new(message(i * 10, 1))));
        } else {
            assert_eq!(got, Polled::Nothing);
        }
    }
}

#[tokio::test]
async fn the_store_writes_of_a_message_are_known_before_it_is_sent() {
    for len in [0usize, 100, 1555, 1556, 5000, 100_000] {
        let store = Flaky::new();
        let (mut writer, _) = stream(140 + len as u64);
        writer
            .send(&t(&store), &mut rng(141), &message(len, 3))
            .await
            .unwrap();
        let writes = usize::MAX - store.writes_left.load(Ordering::SeqCst);
        assert_eq!(writes, store_writes_for_message(len, G), "{len} bytes");
    }
}

#[test]
fn a_read_cap_is_136_bytes() {
    assert_eq!(INDIRECTION_LEN, 1 + READ_CAP_LEN);
}

#[tokio::test]
async fn a_store_that_forgot_a_successful_copy_is_checked_by_reading() {
    let store = Flaky::new();
    let (writer, mut reader) = stream(120);
    let op = writer.prepare(&mut rng(121), &[&message(6000, 8)]).unwrap();
    let Outgoing::AllOrNothing(plan) = &op else {
        panic!("6 kB is a long message");
    };
    let done = plan
        .execute(&t(&store), CopyOptions::default())
        .await
        .unwrap();
    store.forget_copies.store(true, Ordering::SeqCst);
    assert_eq!(
        plan.execute(&t(&store), CopyOptions::default())
            .await
            .unwrap(),
        done
    );
    // A plan that never ran gets the same answer but did not land: a failure.
    let other = writer.prepare(&mut rng(122), &[&message(6000, 9)]).unwrap();
    assert!(matches!(
        other.execute(&t(&store), CopyOptions::default()).await,
        Err(StreamError::CopyFailed(_))
    ));
    assert_eq!(read_all(&mut reader, &store).await, vec![message(6000, 8)]);
}

#[test]
fn the_writer_sends_exactly_the_framing_boxes() {
    let (writer, _) = stream(130);
    for len in [0usize, 100, 1555, 1556, 5000] {
        let msg = message(len, 10);
        let op = writer
            .prepare(&mut rng(131), &[&msg[..len / 2], &msg[len / 2..]])
            .unwrap();
        let framed = framing::frame(&msg, G).unwrap();
        match (&op, framed) {
            (Outgoing::Single(m), framing::Framed::Single(b)) => assert_eq!(m.plaintext(), &b[..]),
            (Outgoing::AllOrNothing(plan), framing::Framed::Chain(chain)) => {
                let writes: Vec<_> = plan.writes().collect();
                assert_eq!(writes.len(), 2);
                let (sub, sub_is_destination) = writes[0];
                let (main, main_is_destination) = writes[1];
                assert!(!sub_is_destination && main_is_destination);
                assert_eq!(sub.plaintexts, chain);
                assert_eq!(sub.writer.ctx(), CTX);
                assert_eq!(main.writer, *writer.writer());
                assert_eq!(
                    main.plaintexts,
                    vec![framing::indirection(&sub.writer.cap().read_cap())]
                );
            }
            (op, framed) => panic!("{len}: {op:?} vs {framed:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Whatever a peer writes, the reader returns messages or errors, never panics or hangs,
    /// and reads the next good message afterwards.
    #[test]
    fn arbitrary_peer_boxes_never_break_the_reader(
        boxes in prop::collection::vec(
            (
                prop_oneof![Just(b'F'), Just(b'C'), Just(b'I'), any::<u8>()],
                prop::collection::vec(any::<u8>(), 0..300),
                any::<bool>(),
            ),
            1..6,
        ),
        seed in any::<u64>(),
    ) {
        block_on(async {
            let store = MemoryStore::new(G);
            let (writer, reader) = stream(seed);
            let mut reader = reader.with_limits(Limits {
                max_message_len: 2000,
                max_chain_boxes: 4,
            });
            let mut peer = Peer::new(&writer);
            for (i, (prefix, body, pointer)) in boxes.iter().enumerate() {
                let mut b = vec![*prefix];
                b.extend_from_slice(body);
                if *pointer {
                    // A pointer to a substream of arbitrary boxes.
                    let sub_seed = seed.wrapping_add(1 + i as u64);
                    let chain: [&[u8]; 3] = [&b, b"Cx", &b[..b.len() / 2]];
                    let (p, _) = Peer::substream(&store, sub_seed, &chain, &[]).await;
                    peer.put(&store, &p).await;
                } else {
                    peer.put(&store, &b).await;
                }
            }
            peer.put(&store, b"Flast").await;
            let mut last = None;
            for _ in 0..boxes.len() * 3 + 3 {
                match reader.poll(&t(&store)).await {
                    Ok(Some(m)) => last = Some(m.to_vec()),
                    Ok(None) => break,
                    Err(StreamError::Rejected(_)) => {}
                    Err(StreamError::IncompleteChain { .. }) => reader.skip().unwrap(),
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            assert_eq!(last.as_deref(), Some(&b"last"[..]));
        });
    }
}

#[test]
fn stream_futures_can_move_between_threads() {
    fn assert_send<T: Send>(_: &T) {}
    let store = MemoryStore::new(G);
    let (mut writer, mut reader) = stream(140);
    let mut r = rng(141);
    let op = writer.prepare(&mut r, &[b"x"]).unwrap();
    assert_send(&op.execute(&t(&store), CopyOptions::default()));
    assert_send(&reader.poll(&t(&store)));
    assert_send(&writer.send(&t(&store), &mut r, b"y"));
}
