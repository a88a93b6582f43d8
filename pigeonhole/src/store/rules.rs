//! The storage rules, in one place for every store: which writes are accepted, and how a copy
//! command turns a temporary stream into a set of writes.
//!
//! Every box is padded before sealing ([`crate::padding`]), so a store accepts a payload of
//! exactly [`PaddedGeometry::payload_len`] bytes (1576 with Katzenpost's geometry) or an empty
//! one (a tombstone), and refuses any other size as an invalid payload, inside copy commands
//! too: a payload's size tells storage nothing.

use std::collections::HashMap;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

use super::{ReplyCode, WriteOutcome};
use crate::copystream::{Decoder, COPY_STREAM_CTX};
use crate::padding::{self, PaddedGeometry};
use bacap::Error;
use bacap::StatefulReader;
use bacap::WriteCap;
use bacap::{BoxId, SealedBox};

/// The most temporary boxes one copy command reads before giving up on the stream.
pub const MAX_COPY_STREAM_BOXES: usize = 1 << 16;

/// What a store should do with a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteVerdict {
    /// Store it (a new box, or a tombstone replacing a box).
    Store,
    /// Store nothing and answer this outcome.
    Unchanged(WriteOutcome),
}

/// How a store verifies the signatures of several writes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verification {
    /// One Ed25519 batch equation for all of them, each alone only if that fails
    /// ([`crate::verify_many`]): about a third cheaper per signature, and the same answers
    /// except for signatures built with small-order components, which only whoever made the
    /// box ID can make.
    #[default]
    Batched,
    /// Each on its own ([`crate::verify`]): exactly the answers of Go's `ed25519.Verify`, which
    /// the real replicas run.
    Each,
}

/// Whether a payload of `len` bytes may be stored: empty (a tombstone) or exactly the padded
/// payload size of `geometry`.
pub fn payload_len_ok(len: usize, geometry: PaddedGeometry) -> bool {
    len == 0 || len == geometry.payload_len()
}

/// Why a payload of `len` bytes is refused, in a line for the writer.
pub fn payload_refusal(len: usize, geometry: PaddedGeometry) -> String {
    format!(
        "invalid payload: {len} bytes, but a box payload is empty (a tombstone) or exactly {} \
         bytes (a {}-byte padded plaintext, sealed)",
        geometry.payload_len(),
        geometry.plaintext_len()
    )
}

/// A box whose payload has the one size and whose signature verifies under its box ID: only
/// [`check_box`] and [`check_boxes`] make one, and only such a box gets a [`verdict`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedBox(SealedBox);

impl CheckedBox {
    /// The box.
    pub fn into_inner(self) -> SealedBox {
        self.0
    }
}

impl std::ops::Deref for CheckedBox {
    type Target = SealedBox;

    fn deref(&self) -> &SealedBox {
        &self.0
    }
}

/// The checks of a write that need nothing stored: the payload must be empty or exactly the
/// padded payload size of `geometry` ([`payload_len_ok`], else InvalidPayload) and the
/// signature must verify under the box ID (else InvalidBoxId for a box ID that is not a point,
/// InvalidSignature otherwise).
pub fn check_box(new: SealedBox, geometry: PaddedGeometry) -> Result<CheckedBox, ReplyCode> {
    let mut checked = check_boxes(vec![new], geometry, Verification::Each);
    checked.pop().unwrap_or(Err(ReplyCode::InternalError))
}

/// [`check_box`] for many boxes, one answer each, in order, their signatures verified as
/// `verification` says.
pub fn check_boxes(
    news: Vec<SealedBox>,
    geometry: PaddedGeometry,
    verification: Verification,
) -> Vec<Result<CheckedBox, ReplyCode>> {
    let fits = |b: &SealedBox| payload_len_ok(b.payload.len(), geometry);
    let items: Vec<_> = news
        .iter()
        .filter(|b| fits(b))
        .map(|b| (&b.box_id, b.payload.as_slice(), &b.signature))
        .collect();
    let verified = match verification {
        Verification::Batched => bacap::verify_many(&items),
        Verification::Each => items
            .iter()
            .map(|(id, payload, sig)| bacap::verify(id, payload, sig))
            .collect(),
    };
    let mut verified = verified.into_iter();
    news.into_iter()
        .map(|b| {
            if !fits(&b) {
                return Err(ReplyCode::InvalidPayload);
            }
            match verified.next() {
                Some(Ok(())) => Ok(CheckedBox(b)),
                Some(Err(Error::InvalidPoint(_))) => Err(ReplyCode::InvalidBoxId),
                Some(Err(_)) => Err(ReplyCode::InvalidSignature),
                None => Err(ReplyCode::InternalError),
            }
        })
        .collect()
}

/// Applies the storage rules to a checked write of `new` where `existing` is stored now: boxes
/// are write-once; a tombstone (empty payload) replaces a box; a tombstoned box stays deleted.
pub fn verdict(existing: Option<&SealedBox>, new: &CheckedBox) -> WriteVerdict {
    let Some(old) = existing else {
        return WriteVerdict::Store;
    };
    let identical = old == &new.0;
    match (old.is_tombstone(), new.is_tombstone()) {
        (false, true) => WriteVerdict::Store,
        (true, false) => WriteVerdict::Unchanged(WriteOutcome::Tombstoned),
        _ => WriteVerdict::Unchanged(WriteOutcome::AlreadyExists { identical }),
    }
}

/// A failed copy command: the reply code and the 1-based position of the failing write
/// (0 when the temporary stream itself could not be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyFailure {
    /// Why it failed.
    pub code: ReplyCode,
    /// Which write failed, counting from 1; 0 for the temporary stream.
    pub position: u32,
}

/// Read access to the boxes a store holds now.
pub trait BoxLookup {
    /// The stored box (or tombstone) with this ID.
    fn get(&self, id: &BoxId) -> Result<Option<SealedBox>, ReplyCode>;
}

/// The key a copy command is processed under: BLAKE2b-256 of the temporary WriteCap.
pub fn copy_key(temp: &WriteCap) -> [u8; 32] {
    Blake2b::<U32>::digest(temp.to_bytes().as_ref()).into()
}

/// Reads the temporary stream of `temp` (padded boxes of `geometry`), checks every contained
/// write as [`check_box`] does and against what `lookup` holds (and against the earlier writes
/// of the same command), and returns every box to store:
/// the contained writes, then tombstones for the temporary boxes. Nothing is stored here; a
/// store commits the returned boxes together, or nothing on failure.
pub fn plan_copy(
    lookup: &impl BoxLookup,
    temp: &WriteCap,
    geometry: PaddedGeometry,
    verification: Verification,
) -> Result<Vec<SealedBox>, CopyFailure> {
    let stream_failure = |code| CopyFailure { code, position: 0 };
    let mut reader = StatefulReader::new(temp.read_cap(), COPY_STREAM_CTX);
    let mut decoder = Decoder::new();
    let mut temp_indices = Vec::new();
    while !decoder.is_complete() {
        if temp_indices.len() >= MAX_COPY_STREAM_BOXES {
            return Err(stream_failure(ReplyCode::InvalidPayload));
        }
        let id = reader.next_box_id();
        let stored = lookup.get(&id).map_err(stream_failure)?;
        let stored = stored.ok_or(stream_failure(ReplyCode::NotFound))?;
        if stored.is_tombstone() {
            return Err(stream_failure(ReplyCode::Tombstone));
        }
        let index = reader.next_index().clone();
        let opened = reader.decrypt_next(&stored.signature, &stored.payload);
        let opened = opened.map_err(|_| stream_failure(ReplyCode::InvalidPayload))?;
        let plaintext = padding::unpad(opened.plaintext(), geometry)
            .map_err(|_| stream_failure(ReplyCode::InvalidPayload))?;
        decoder
            .push(plaintext)
            .map_err(|_| stream_failure(ReplyCode::InvalidPayload))?;
        temp_indices.push(index);
    }
    let writes = decoder
        .finish()
        .map_err(|_| stream_failure(ReplyCode::InvalidPayload))?;

    let checked = check_boxes(writes, geometry, verification);
    let mut planned: HashMap<BoxId, usize> = HashMap::new();
    let mut out: Vec<SealedBox> = Vec::with_capacity(checked.len() + temp_indices.len());
    for (i, write) in checked.into_iter().enumerate() {
        let position = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let fail = |code| CopyFailure { code, position };
        // A write that fails its checks fails the copy before anything is looked up for it.
        let write = write.map_err(fail)?;
        let existing = match planned.get(&write.box_id) {
            Some(&slot) => Some(out[slot].clone()),
            None => lookup.get(&write.box_id).map_err(fail)?,
        };
        match verdict(existing.as_ref(), &write) {
            WriteVerdict::Store => {
                planned.insert(write.box_id, out.len());
                out.push(write.into_inner());
            }
            WriteVerdict::Unchanged(WriteOutcome::AlreadyExists { identical: true }) => {}
            WriteVerdict::Unchanged(WriteOutcome::AlreadyExists { identical: false }) => {
                return Err(fail(ReplyCode::AlreadyExists))
            }
            WriteVerdict::Unchanged(WriteOutcome::Tombstoned) => {
                return Err(fail(ReplyCode::Tombstone))
            }
            WriteVerdict::Unchanged(WriteOutcome::Stored) => {
                unreachable!("a verdict never answers Stored unchanged")
            }
        }
    }
    out.extend(
        temp_indices
            .iter()
            .map(|index| temp.tombstone(index, COPY_STREAM_CTX)),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::copystream;
    use crate::transport::seal_message;
    use bacap::Geometry;
    use bacap::StatefulWriter;

    /// Boxes in a map, remembering every ID looked up.
    #[derive(Default)]
    struct Recording {
        boxes: HashMap<BoxId, SealedBox>,
        looked_up: RefCell<Vec<BoxId>>,
    }

    impl BoxLookup for Recording {
        fn get(&self, id: &BoxId) -> Result<Option<SealedBox>, ReplyCode> {
            self.looked_up.borrow_mut().push(*id);
            Ok(self.boxes.get(id).cloned())
        }
    }

    /// Stores the temporary stream carrying `writes`, its boxes made by `seal`.
    fn temp_stream(
        store: &mut Recording,
        writes: &[SealedBox],
        seal: impl Fn(&StatefulWriter, &[u8]) -> SealedBox,
    ) -> WriteCap {
        let temp = WriteCap::generate(&mut rand_core::OsRng);
        let mut writer = StatefulWriter::new(temp.clone(), COPY_STREAM_CTX);
        for plaintext in copystream::encode(writes, Geometry::default()).unwrap() {
            let b = seal(&writer, &plaintext);
            store.boxes.insert(b.box_id, b);
            writer.advance().unwrap();
        }
        temp
    }

    #[test]
    fn a_copy_refuses_unpadded_boxes_inside_and_an_unpadded_temporary_stream() {
        let g = Geometry::default();
        let mut stream = StatefulWriter::new(WriteCap::generate(&mut rand_core::OsRng), b"ctx");
        let padded = seal_message(&stream, b"padded", g).unwrap();
        stream.advance().unwrap();
        // Validly signed, but its payload gives its length away.
        let unpadded = stream.prepare_next(b"not padded");
        assert!(unpadded.verify().is_ok());
        let mut store = Recording::default();
        let temp = temp_stream(&mut store, &[padded.clone(), unpadded], |w, p| {
            seal_message(w, p, g).unwrap()
        });
        assert_eq!(
            plan_copy(&store, &temp, g.into(), Verification::Each),
            Err(CopyFailure {
                code: ReplyCode::InvalidPayload,
                position: 2,
            })
        );
        let temp = temp_stream(&mut store, std::slice::from_ref(&padded), |w, p| {
            w.prepare_next(p)
        });
        assert_eq!(
            plan_copy(&store, &temp, g.into(), Verification::Each),
            Err(CopyFailure {
                code: ReplyCode::InvalidPayload,
                position: 0,
            })
        );
        let temp = temp_stream(&mut store, std::slice::from_ref(&padded), |w, p| {
            seal_message(w, p, g).unwrap()
        });
        let planned = plan_copy(&store, &temp, g.into(), Verification::Each).unwrap();
        assert_eq!(planned[0], padded);
        assert!(planned[1..].iter().all(SealedBox::is_tombstone));
    }

    #[test]
    fn a_copy_fails_at_a_write_that_fails_its_checks_without_looking_it_up() {
        let g = Geometry::default();
        let mut stream = StatefulWriter::new(WriteCap::generate(&mut rand_core::OsRng), b"ctx");
        let mut writes: Vec<SealedBox> = (0..3u8)
            .map(|i| {
                let b = seal_message(&stream, &[i; 40], g).unwrap();
                stream.advance().unwrap();
                b
            })
            .collect();
        writes[1].payload[0] ^= 1;
        let temp = WriteCap::generate(&mut rand_core::OsRng);
        let mut store = Recording::default();
        let mut writer = StatefulWriter::new(temp.clone(), COPY_STREAM_CTX);
        for plaintext in copystream::encode(&writes, g).unwrap() {
            let b = seal_message(&writer, &plaintext, g).unwrap();
            store.boxes.insert(b.box_id, b);
            writer.advance().unwrap();
        }
        for verification in [Verification::Batched, Verification::Each] {
            store.looked_up.borrow_mut().clear();
            assert_eq!(
                plan_copy(&store, &temp, g.into(), verification),
                Err(CopyFailure {
                    code: ReplyCode::InvalidSignature,
                    position: 2,
                })
            );
            let looked_up = store.looked_up.borrow();
            assert!(looked_up.contains(&writes[0].box_id), "{verification:?}");
            assert!(!looked_up.contains(&writes[1].box_id), "{verification:?}");
        }
    }
}
