//! The storage rules, in one place for every store: which writes are accepted, and how a copy
//! command turns a temporary stream into a set of writes.

use std::collections::HashMap;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

use super::{ReplyCode, WriteOutcome};
use crate::boxes::{BoxId, SealedBox};
use crate::caps::WriteCap;
use crate::copystream::{Decoder, COPY_STREAM_CTX};
use crate::error::Error;
use crate::stateful::StatefulReader;

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

/// Applies the storage rules to a write of `new` where `existing` is stored now.
///
/// The payload must fit `max_payload_len` and the signature must verify under the box ID; boxes
/// are write-once; a tombstone (empty payload) replaces a box; a tombstoned box stays deleted.
pub fn check_write(
    existing: Option<&SealedBox>,
    new: &SealedBox,
    max_payload_len: usize,
) -> Result<WriteVerdict, ReplyCode> {
    if new.payload.len() > max_payload_len {
        return Err(ReplyCode::InvalidPayload);
    }
    match new.verify() {
        Ok(()) => {}
        Err(Error::InvalidPoint(_)) => return Err(ReplyCode::InvalidBoxId),
        Err(_) => return Err(ReplyCode::InvalidSignature),
    }
    let Some(old) = existing else {
        return Ok(WriteVerdict::Store);
    };
    let identical = old == new;
    Ok(match (old.is_tombstone(), new.is_tombstone()) {
        (false, true) => WriteVerdict::Store,
        (true, false) => WriteVerdict::Unchanged(WriteOutcome::Tombstoned),
        _ => WriteVerdict::Unchanged(WriteOutcome::AlreadyExists { identical }),
    })
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

/// Reads the temporary stream of `temp`, checks every contained write against what `lookup`
/// holds (and against the earlier writes of the same command), and returns every box to store:
/// the contained writes, then tombstones for the temporary boxes. Nothing is stored here; a
/// store commits the returned boxes together, or nothing on failure.
pub fn plan_copy(
    lookup: &impl BoxLookup,
    temp: &WriteCap,
    max_payload_len: usize,
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
        decoder
            .push(opened.plaintext())
            .map_err(|_| stream_failure(ReplyCode::InvalidPayload))?;
        temp_indices.push(index);
    }
    let writes = decoder
        .finish()
        .map_err(|_| stream_failure(ReplyCode::InvalidPayload))?;

    let mut planned: HashMap<BoxId, usize> = HashMap::new();
    let mut out: Vec<SealedBox> = Vec::with_capacity(writes.len() + temp_indices.len());
    for (i, write) in writes.into_iter().enumerate() {
        let position = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let fail = |code| CopyFailure { code, position };
        let existing = match planned.get(&write.box_id) {
            Some(&slot) => Some(out[slot].clone()),
            None => lookup.get(&write.box_id).map_err(fail)?,
        };
        match check_write(existing.as_ref(), &write, max_payload_len).map_err(fail)? {
            WriteVerdict::Store => {
                planned.insert(write.box_id, out.len());
                out.push(write);
            }
            WriteVerdict::Unchanged(WriteOutcome::AlreadyExists { identical: true }) => {}
            WriteVerdict::Unchanged(WriteOutcome::AlreadyExists { identical: false }) => {
                return Err(fail(ReplyCode::AlreadyExists))
            }
            WriteVerdict::Unchanged(WriteOutcome::Tombstoned) => {
                return Err(fail(ReplyCode::Tombstone))
            }
            WriteVerdict::Unchanged(WriteOutcome::Stored) => {
                unreachable!("check_write never answers Stored unchanged")
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
