//! The shared [`BoxStore`] test suite: the storage semantics every implementation must have,
//! run against the in-memory store here and against the courier simulator's HTTP client in
//! `courier-sim`'s tests. A test helper: other crates take it as a dev-dependency only.
//!
//! Each check is a public async function taking the store under test; it panics (as a test
//! does) when the store misbehaves. Every check uses fresh random streams, so all of them can
//! run against one store, in any order or concurrently. The store must use the default
//! [`Geometry`]: every box is padded as [`pigeonhole::padding`] pads it, so every payload is
//! 1576 bytes or empty.

use rand_core::OsRng;

use bacap::{BoxId, Geometry, MessageBoxIndex, SealedBox, StatefulWriter, WriteCap};
use pigeonhole::copystream::{self, COPY_STREAM_CTX};
use pigeonhole::padding::{self, PaddedGeometry};
use pigeonhole::store::{
    copy_key, BoxStore, CopyFailure, CopyStatus, ReadOutcome, ReplyCode, StoreError, WriteOutcome,
};

/// The context every box of [`fresh_boxes`] is sealed under.
pub const CTX: &[u8] = b"store-suite";

/// The box of `cap`'s stream at `index` in context `ctx` carrying `message`, padded as every
/// box is.
pub fn seal(cap: &WriteCap, index: &MessageBoxIndex, ctx: &[u8], message: &[u8]) -> SealedBox {
    let padded = padding::pad(message, PaddedGeometry::default()).expect("the message fits");
    cap.seal(index, ctx, &padded)
}

/// A fresh stream and its first `n` boxes, each carrying a message of `message_len` bytes.
pub fn fresh_boxes(n: usize, message_len: usize) -> (WriteCap, Vec<SealedBox>) {
    let cap = WriteCap::generate(&mut OsRng);
    let mut index: MessageBoxIndex = cap.first_index().clone();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let message: Vec<u8> = (0..message_len).map(|j| (i + j) as u8).collect();
        out.push(seal(&cap, &index, CTX, &message));
        index = index.next().expect("fresh streams are far from the end");
    }
    (cap, out)
}

fn one_box() -> SealedBox {
    fresh_boxes(1, 100).1.remove(0)
}

/// A 32-byte string that is not a valid Ed25519 point, so no signature can verify under it.
pub fn invalid_box_id() -> BoxId {
    for y in 2u8..=255 {
        let mut bytes = [0u8; 32];
        bytes[0] = y;
        let candidate = SealedBox {
            box_id: BoxId::from_array(bytes),
            signature: bacap::Signature::from_array([0; 64]),
            payload: vec![1],
        };
        if matches!(candidate.verify(), Err(bacap::Error::InvalidPoint(_))) {
            return candidate.box_id;
        }
    }
    unreachable!("about half of all y coordinates are not on the curve")
}

/// Writes `boxes` in order, asserting each is stored.
pub async fn write_all(store: &dyn BoxStore, boxes: &[SealedBox]) {
    for b in boxes {
        assert_eq!(store.write(b).await, Ok(WriteOutcome::Stored), "{b:?}");
    }
}

/// Writes the temporary copy stream carrying `writes` and returns its WriteCap and the IDs of
/// its temporary boxes.
pub async fn write_copy_stream(
    store: &dyn BoxStore,
    writes: &[SealedBox],
) -> (WriteCap, Vec<BoxId>) {
    let cap = WriteCap::generate(&mut OsRng);
    let mut writer = StatefulWriter::new(cap.clone(), COPY_STREAM_CTX);
    let mut ids = Vec::new();
    for plaintext in copystream::encode(writes, Geometry::default()).expect("encodes") {
        let sealed = seal(
            writer.cap(),
            writer.next_index(),
            COPY_STREAM_CTX,
            &plaintext,
        );
        assert_eq!(store.write(&sealed).await, Ok(WriteOutcome::Stored));
        ids.push(sealed.box_id);
        writer.advance().expect("advances");
    }
    (cap, ids)
}

/// A written box reads back identical.
pub async fn write_then_read(store: &dyn BoxStore) {
    let b = one_box();
    assert_eq!(store.write(&b).await, Ok(WriteOutcome::Stored));
    assert_eq!(store.read(&b.box_id).await, Ok(ReadOutcome::Found(b)));
}

/// A box never written is "not found".
pub async fn unwritten_box_is_not_found(store: &dyn BoxStore) {
    let b = one_box();
    assert_eq!(store.read(&b.box_id).await, Ok(ReadOutcome::NotFound));
}

/// A write whose signature does not verify under its box ID is refused and stores nothing.
pub async fn invalid_signature_is_refused(store: &dyn BoxStore) {
    let mut tampered = one_box();
    tampered.payload[0] ^= 1;
    assert_eq!(
        store.write(&tampered).await,
        Err(StoreError::Rejected(ReplyCode::InvalidSignature))
    );
    // A valid box's signature moved to another stream's box ID.
    let (_, boxes) = fresh_boxes(2, 10);
    let moved = SealedBox {
        box_id: boxes[1].box_id,
        ..boxes[0].clone()
    };
    assert_eq!(
        store.write(&moved).await,
        Err(StoreError::Rejected(ReplyCode::InvalidSignature))
    );
    // A forged tombstone.
    let forged = SealedBox {
        payload: Vec::new(),
        ..boxes[0].clone()
    };
    assert_eq!(
        store.write(&forged).await,
        Err(StoreError::Rejected(ReplyCode::InvalidSignature))
    );
    for id in [tampered.box_id, boxes[1].box_id, boxes[0].box_id] {
        assert_eq!(store.read(&id).await, Ok(ReadOutcome::NotFound));
    }
}

/// A box ID that is not a valid point is refused with the invalid-box-ID code.
pub async fn invalid_box_id_is_refused(store: &dyn BoxStore) {
    let b = SealedBox {
        box_id: invalid_box_id(),
        ..one_box()
    };
    assert_eq!(
        store.write(&b).await,
        Err(StoreError::Rejected(ReplyCode::InvalidBoxId))
    );
}

/// Boxes are write-once: a retransmission is "already exists, identical"; other content under
/// the same ID is "already exists, different" and the first content stays.
pub async fn boxes_are_write_once(store: &dyn BoxStore) {
    let (cap, boxes) = fresh_boxes(1, 64);
    let first = &boxes[0];
    assert_eq!(store.write(first).await, Ok(WriteOutcome::Stored));
    assert_eq!(
        store.write(first).await,
        Ok(WriteOutcome::AlreadyExists { identical: true })
    );
    let other = seal(&cap, cap.first_index(), CTX, b"something else");
    assert_eq!(other.box_id, first.box_id);
    assert_eq!(
        store.write(&other).await,
        Ok(WriteOutcome::AlreadyExists { identical: false })
    );
    assert_eq!(
        store.read(&first.box_id).await,
        Ok(ReadOutcome::Found(first.clone()))
    );
}

/// An empty payload signed under the box ID is a tombstone: it replaces the box, reads answer
/// "tombstone" (not "not found"), and the box cannot be written again.
pub async fn tombstone_replaces_box(store: &dyn BoxStore) {
    let (cap, boxes) = fresh_boxes(1, 64);
    let b = &boxes[0];
    let tomb = cap.tombstone(cap.first_index(), CTX);
    assert!(tomb.is_tombstone());
    assert_eq!(store.write(b).await, Ok(WriteOutcome::Stored));
    assert_eq!(store.write(&tomb).await, Ok(WriteOutcome::Stored));
    assert_eq!(
        store.read(&b.box_id).await,
        Ok(ReadOutcome::Tombstone(tomb.clone()))
    );
    assert_eq!(store.write(b).await, Ok(WriteOutcome::Tombstoned));
    assert_eq!(
        store.write(&tomb).await,
        Ok(WriteOutcome::AlreadyExists { identical: true })
    );
    assert_eq!(
        store.read(&b.box_id).await,
        Ok(ReadOutcome::Tombstone(tomb))
    );
}

/// A tombstone may land where nothing was written; the box then reads as a tombstone.
pub async fn tombstone_of_unwritten_box(store: &dyn BoxStore) {
    let cap = WriteCap::generate(&mut OsRng);
    let tomb = cap.tombstone(cap.first_index(), CTX);
    assert_eq!(store.write(&tomb).await, Ok(WriteOutcome::Stored));
    assert_eq!(
        store.read(&tomb.box_id).await,
        Ok(ReadOutcome::Tombstone(tomb))
    );
}

/// A payload is empty (a tombstone) or exactly the padded size (1576 bytes), whatever the
/// message's length; any other size, even validly signed, is the invalid-payload outcome and
/// stores nothing.
pub async fn payload_has_one_size(store: &dyn BoxStore) {
    let payload_len = PaddedGeometry::default().payload_len();
    for message_len in [0, 1, Geometry::default().box_plaintext_len] {
        let (_, fits) = fresh_boxes(1, message_len);
        assert_eq!(fits[0].payload.len(), payload_len);
        assert_eq!(store.write(&fits[0]).await, Ok(WriteOutcome::Stored));
    }
    let cap = WriteCap::generate(&mut OsRng);
    let mut index = cap.first_index().clone();
    for unpadded_len in [1, 5, 500, payload_len - 16 - 1, payload_len - 16 + 1] {
        // Signed under the box ID and encrypted, but not padded: its size gives it away.
        let unpadded = cap.seal(&index, CTX, &vec![7; unpadded_len]);
        assert_eq!(unpadded.verify(), Ok(()));
        assert_ne!(unpadded.payload.len(), payload_len);
        assert_eq!(
            store.write(&unpadded).await,
            Err(StoreError::Rejected(ReplyCode::InvalidPayload)),
            "{} bytes",
            unpadded.payload.len()
        );
        assert_eq!(
            store.read(&unpadded.box_id).await,
            Ok(ReadOutcome::NotFound)
        );
        index = index.next().expect("next");
    }
}

/// One batch read answers every box, in order, duplicates included.
pub async fn batch_read_answers_each_box(store: &dyn BoxStore) {
    let (cap, boxes) = fresh_boxes(6, 32);
    write_all(store, &boxes[..4]).await;
    let mut index = cap.first_index().clone();
    for _ in 0..3 {
        index = index.next().expect("next");
    }
    let tomb = cap.tombstone(&index, CTX);
    assert_eq!(tomb.box_id, boxes[3].box_id);
    assert_eq!(store.write(&tomb).await, Ok(WriteOutcome::Stored));
    let ids: Vec<BoxId> = [5, 0, 3, 4, 1, 0, 2]
        .iter()
        .map(|&i| boxes[i].box_id)
        .collect();
    let expected = vec![
        ReadOutcome::NotFound,
        ReadOutcome::Found(boxes[0].clone()),
        ReadOutcome::Tombstone(tomb),
        ReadOutcome::NotFound,
        ReadOutcome::Found(boxes[1].clone()),
        ReadOutcome::Found(boxes[0].clone()),
        ReadOutcome::Found(boxes[2].clone()),
    ];
    assert_eq!(store.read_many(&ids).await, Ok(expected));
    assert_eq!(store.read_many(&[]).await, Ok(vec![]));
}

/// A copy command performs every contained write, across streams and spanning several
/// temporary boxes, tombstones the temporary stream and records its status.
pub async fn copy_writes_everything(store: &dyn BoxStore) {
    let (_, mut writes) = fresh_boxes(3, Geometry::default().box_plaintext_len);
    let (_, small) = fresh_boxes(2, 20);
    writes.extend(small);
    let (temp, temp_ids) = write_copy_stream(store, &writes).await;
    assert!(temp_ids.len() > 1, "the stream spans several boxes");
    assert_eq!(store.copy_status(&copy_key(&temp)).await, Ok(None));
    assert_eq!(store.copy(&temp).await, Ok(CopyStatus::Succeeded));
    for w in &writes {
        assert_eq!(
            store.read(&w.box_id).await,
            Ok(ReadOutcome::Found(w.clone()))
        );
    }
    for outcome in store.read_many(&temp_ids).await.expect("reads") {
        assert!(
            matches!(outcome, ReadOutcome::Tombstone(_)),
            "temporary box not tombstoned: {outcome:?}"
        );
    }
    assert_eq!(
        store.copy_status(&copy_key(&temp)).await,
        Ok(Some(CopyStatus::Succeeded))
    );
}

/// A repeated copy command is not processed again: it answers the first run's status.
pub async fn repeated_copy_returns_status(store: &dyn BoxStore) {
    let (_, writes) = fresh_boxes(2, 50);
    let (temp, _) = write_copy_stream(store, &writes).await;
    assert_eq!(store.copy(&temp).await, Ok(CopyStatus::Succeeded));
    // Processed again, it would fail: its temporary boxes are tombstones now.
    assert_eq!(store.copy(&temp).await, Ok(CopyStatus::Succeeded));

    // A failed command stays failed, even once the reason for failing is gone.
    let (_, missing) = fresh_boxes(1, 10);
    let never_written = WriteCap::generate(&mut OsRng);
    let failed = CopyStatus::Failed(CopyFailure {
        code: ReplyCode::NotFound,
        position: 0,
    });
    assert_eq!(store.copy(&never_written).await, Ok(failed));
    let mut writer = StatefulWriter::new(never_written.clone(), COPY_STREAM_CTX);
    for plaintext in copystream::encode(&missing, Geometry::default()).expect("encodes") {
        let sealed = seal(
            writer.cap(),
            writer.next_index(),
            COPY_STREAM_CTX,
            &plaintext,
        );
        assert_eq!(store.write(&sealed).await, Ok(WriteOutcome::Stored));
        writer.advance().expect("advances");
    }
    assert_eq!(store.copy(&never_written).await, Ok(failed));
    assert_eq!(
        store.read(&missing[0].box_id).await,
        Ok(ReadOutcome::NotFound)
    );
}

/// A copy whose k-th write would fail writes nothing at all, reports the code and k, and leaves
/// the temporary stream in place.
pub async fn failing_copy_writes_nothing(store: &dyn BoxStore) {
    let (cap, mut writes) = fresh_boxes(4, 40);
    // Write 3 conflicts with a box already stored under the same ID.
    let mut index = cap.first_index().clone();
    for _ in 0..2 {
        index = index.next().expect("next");
    }
    let existing = seal(&cap, &index, CTX, b"already here");
    assert_eq!(existing.box_id, writes[2].box_id);
    assert_eq!(store.write(&existing).await, Ok(WriteOutcome::Stored));
    let (temp, temp_ids) = write_copy_stream(store, &writes).await;
    let failed = CopyStatus::Failed(CopyFailure {
        code: ReplyCode::AlreadyExists,
        position: 3,
    });
    assert_eq!(store.copy(&temp).await, Ok(failed));
    assert_eq!(store.copy(&temp).await, Ok(failed));
    assert_eq!(store.copy_status(&copy_key(&temp)).await, Ok(Some(failed)));
    for (i, w) in writes.iter().enumerate() {
        let expected = if i == 2 {
            ReadOutcome::Found(existing.clone())
        } else {
            ReadOutcome::NotFound
        };
        assert_eq!(store.read(&w.box_id).await, Ok(expected), "write {i}");
    }
    for outcome in store.read_many(&temp_ids).await.expect("reads") {
        assert!(matches!(outcome, ReadOutcome::Found(_)), "{outcome:?}");
    }

    // A contained write with a bad signature fails the copy at its position.
    writes[1].payload[0] ^= 1;
    let (temp, _) = write_copy_stream(store, &[writes[0].clone(), writes[1].clone()]).await;
    assert_eq!(
        store.copy(&temp).await,
        Ok(CopyStatus::Failed(CopyFailure {
            code: ReplyCode::InvalidSignature,
            position: 2,
        }))
    );
    assert_eq!(
        store.read(&writes[0].box_id).await,
        Ok(ReadOutcome::NotFound)
    );
}

/// A copy whose contained write is validly signed but not padded fails at its position with the
/// invalid-payload code and writes nothing.
pub async fn copy_refuses_unpadded_write(store: &dyn BoxStore) {
    let (cap, writes) = fresh_boxes(2, 40);
    let mut index = cap.first_index().clone();
    for _ in 0..2 {
        index = index.next().expect("next");
    }
    let unpadded = cap.seal(&index, CTX, b"not padded");
    assert_eq!(unpadded.verify(), Ok(()));
    let all = [writes[0].clone(), writes[1].clone(), unpadded.clone()];
    let (temp, _) = write_copy_stream(store, &all).await;
    assert_eq!(
        store.copy(&temp).await,
        Ok(CopyStatus::Failed(CopyFailure {
            code: ReplyCode::InvalidPayload,
            position: 3,
        }))
    );
    for w in &all {
        assert_eq!(store.read(&w.box_id).await, Ok(ReadOutcome::NotFound));
    }
}

/// A copy may contain a write identical to a stored box (a retransmission): it succeeds.
pub async fn copy_tolerates_identical_existing_box(store: &dyn BoxStore) {
    let (_, writes) = fresh_boxes(2, 30);
    write_all(store, &writes[..1]).await;
    let (temp, _) = write_copy_stream(store, &writes).await;
    assert_eq!(store.copy(&temp).await, Ok(CopyStatus::Succeeded));
    assert_eq!(
        store.read(&writes[1].box_id).await,
        Ok(ReadOutcome::Found(writes[1].clone()))
    );
}

/// The status of a copy command never submitted is unknown.
pub async fn unknown_copy_status(store: &dyn BoxStore) {
    assert_eq!(store.copy_status(&[0x5a; 32]).await, Ok(None));
}

/// Runs every check of the suite against `store`.
pub async fn run_all(store: &dyn BoxStore) {
    write_then_read(store).await;
    unwritten_box_is_not_found(store).await;
    invalid_signature_is_refused(store).await;
    invalid_box_id_is_refused(store).await;
    boxes_are_write_once(store).await;
    tombstone_replaces_box(store).await;
    tombstone_of_unwritten_box(store).await;
    payload_has_one_size(store).await;
    batch_read_answers_each_box(store).await;
    copy_writes_everything(store).await;
    repeated_copy_returns_status(store).await;
    failing_copy_writes_nothing(store).await;
    copy_refuses_unpadded_write(store).await;
    copy_tolerates_identical_existing_box(store).await;
    unknown_copy_status(store).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigeonhole::store::MemoryStore;

    #[tokio::test]
    async fn memory_store_passes_the_suite() {
        run_all(&MemoryStore::default()).await;
    }
}
