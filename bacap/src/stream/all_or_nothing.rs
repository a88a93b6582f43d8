//! AllOrNothingMessage: writes to one or more streams that land together, through one copy
//! command, as a plan that can be persisted and resumed.
//!
//! Execution: seal every destination box at its writer's next indices (without advancing),
//! encode them in the copy-stream format, write the temporary boxes to a fresh temporary stream
//! (context [`COPY_STREAM_CTX`]), submit one copy command. On success every writer advances; on
//! failure none does and the temporary stream is abandoned (its boxes are tombstoned, best
//! effort). Sealing is deterministic, so running a persisted plan again after a crash rebuilds
//! identical boxes: rewriting them answers "already exists" with identical content, and the
//! copy command, processed at most once per temporary cap, answers its recorded status. A plan
//! therefore resumes; it never writes twice.
//!
//! Persistent form (version 1), secret: `0x01 || u32 box_plaintext_len || temporary WriteCap
//! (168) || u32 stream count || per stream: (u8 role, 1 = destination, 0 = substream || u32 len
//! || StatefulWriter state || u32 box count || per box: u32 len || plaintext)`, integers big
//! endian.

use core::fmt;

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use futures_util::StreamExt;

use crate::boxes::{SealedBox, BOX_ID_LEN, SIGNATURE_LEN};
use crate::caps::{WriteCap, WRITE_CAP_LEN};
use crate::copystream::{self, BOX_HEADER_LEN, COPY_STREAM_CTX};
use crate::geometry::Geometry;
use crate::stateful::StatefulWriter;
use crate::store::{
    copy_key, BoxStore, CopyStatus, ReadOutcome, ReplyCode, StoreError, WriteOutcome,
    MAX_COPY_STREAM_BOXES,
};

/// How many temporary boxes a plan writes at once.
pub const TEMP_WRITES_IN_FLIGHT: usize = 32;

use super::codec::{Decoder, Encoder};
use super::error::StreamError;
use super::framing::{self, Framed};
use super::limits::Limits;

const PLAN_VERSION: u8 = 1;
const ROLE_SUBSTREAM: u8 = 0;
const ROLE_DESTINATION: u8 = 1;

/// Consecutive boxes for one stream: a writer (at the index of the first box) and the box
/// plaintexts, already framed.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamWrite {
    /// The writer, at the index the first box goes to. It is not advanced by planning.
    pub writer: StatefulWriter,
    /// One plaintext per box, each at most the geometry's box plaintext length.
    pub plaintexts: Vec<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for StreamWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWrite")
            .field("writer", &self.writer)
            .field("boxes", &self.plaintexts.len())
            .finish()
    }
}

/// How hard [`AllOrNothingPlan::execute`] tries while the copy command is in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOptions {
    /// How many times to ask for the status (or resubmit, if the store forgot the command)
    /// before returning [`StreamError::CopyInProgress`].
    pub status_polls: u32,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self { status_polls: 3 }
    }
}

#[derive(Clone, PartialEq, Eq)]
struct PlannedStream {
    write: StreamWrite,
    destination: bool,
}

/// A set of writes that land together, or not at all. Persist [`AllOrNothingPlan::to_bytes`]
/// before the first [`AllOrNothingPlan::execute`], and run the same plan again after a crash.
#[derive(Clone, PartialEq, Eq)]
pub struct AllOrNothingPlan {
    geometry: Geometry,
    temp: WriteCap,
    streams: Vec<PlannedStream>,
}

impl fmt::Debug for AllOrNothingPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllOrNothingPlan")
            .field("geometry", &self.geometry)
            .field("temp", &self.temp)
            .field("streams", &self.streams.len())
            .field("boxes", &self.box_count())
            .finish_non_exhaustive()
    }
}

impl AllOrNothingPlan {
    /// A plan writing `writes` (already framed box plaintexts) with a fresh temporary stream
    /// from `rng`. Every writer is a destination: [`AllOrNothingPlan::execute`] returns them
    /// all, advanced, in this order.
    pub fn new<R: RngCore + CryptoRng>(
        rng: &mut R,
        geometry: Geometry,
        writes: Vec<StreamWrite>,
    ) -> Result<Self, StreamError> {
        let streams = writes
            .into_iter()
            .map(|write| PlannedStream {
                write,
                destination: true,
            })
            .collect();
        Self::build(WriteCap::generate(rng), geometry, streams)
    }

    /// A plan sending one payload to each writer, framed: a payload that fits one box is an
    /// `F` box; a longer one goes to a fresh substream as `C`...`F` boxes and its writer gets an
    /// `I` box with the substream's ReadCap. Substream boxes come first in the copy command.
    /// [`AllOrNothingPlan::execute`] returns the given writers, advanced, in this order.
    ///
    /// Substreams use the context of the stream that points at them.
    pub fn for_messages<R: RngCore + CryptoRng>(
        rng: &mut R,
        geometry: Geometry,
        limits: &Limits,
        messages: Vec<(StatefulWriter, &[u8])>,
    ) -> Result<Self, StreamError> {
        let mut substreams = Vec::new();
        let mut destinations = Vec::new();
        for (writer, payload) in messages {
            let boxes = match frame_within_limits(payload, geometry, limits)? {
                Framed::Single(b) => vec![b],
                Framed::Chain(chain) => {
                    framing::check_indirection_fits(geometry)?;
                    let sub = StatefulWriter::new(WriteCap::generate(rng), writer.ctx());
                    let pointer = framing::indirection(&sub.cap().read_cap());
                    substreams.push(PlannedStream {
                        write: StreamWrite {
                            writer: sub,
                            plaintexts: chain,
                        },
                        destination: false,
                    });
                    vec![pointer]
                }
            };
            destinations.push(PlannedStream {
                write: StreamWrite {
                    writer,
                    plaintexts: boxes,
                },
                destination: true,
            });
        }
        substreams.extend(destinations);
        Self::build(WriteCap::generate(rng), geometry, substreams)
    }

    fn build(
        temp: WriteCap,
        geometry: Geometry,
        streams: Vec<PlannedStream>,
    ) -> Result<Self, StreamError> {
        if streams.is_empty() || streams.iter().any(|s| s.write.plaintexts.is_empty()) {
            return Err(StreamError::InvalidState(
                "a plan writes at least one box per stream",
            ));
        }
        for (i, s) in streams.iter().enumerate() {
            let w = &s.write.writer;
            if streams[..i]
                .iter()
                .any(|o| o.write.writer.cap() == w.cap() && o.write.writer.ctx() == w.ctx())
            {
                return Err(StreamError::InvalidState("a plan writes each stream once"));
            }
            for p in &s.write.plaintexts {
                if p.len() > geometry.box_plaintext_len {
                    return Err(StreamError::MessageTooLarge {
                        len: p.len(),
                        limit: geometry.box_plaintext_len,
                    });
                }
            }
        }
        let plan = Self {
            geometry,
            temp,
            streams,
        };
        let temp_boxes = plan.temp_box_count()?;
        if temp_boxes > MAX_COPY_STREAM_BOXES {
            return Err(StreamError::MessageTooLarge {
                len: temp_boxes,
                limit: MAX_COPY_STREAM_BOXES,
            });
        }
        Ok(plan)
    }

    /// The key the store processes this plan's copy command under.
    pub fn copy_key(&self) -> [u8; 32] {
        copy_key(&self.temp)
    }

    /// The geometry the plan was made for.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// How many destination boxes the copy command writes (substream boxes included).
    pub fn box_count(&self) -> usize {
        self.streams.iter().map(|s| s.write.plaintexts.len()).sum()
    }

    /// The destination writers, as they were when the plan was made.
    pub fn destinations(&self) -> impl Iterator<Item = &StatefulWriter> {
        self.streams
            .iter()
            .filter(|s| s.destination)
            .map(|s| &s.write.writer)
    }

    /// The destination writers as they are once the plan succeeded.
    pub fn advanced_destinations(&self) -> Result<Vec<StatefulWriter>, StreamError> {
        let mut out = Vec::new();
        for s in self.streams.iter().filter(|s| s.destination) {
            let mut w = s.write.writer.clone();
            for _ in &s.write.plaintexts {
                w.advance()?;
            }
            out.push(w);
        }
        Ok(out)
    }

    /// Every box the copy command writes, in its order: each stream's boxes at consecutive
    /// indices from its writer's next index.
    pub fn sealed_writes(&self) -> Result<Vec<SealedBox>, StreamError> {
        let mut out = Vec::with_capacity(self.box_count());
        for s in &self.streams {
            let mut w = s.write.writer.clone();
            for p in &s.write.plaintexts {
                out.push(w.prepare_next(p));
                w.advance()?;
            }
        }
        Ok(out)
    }

    /// The planned writes with their role: `(write, is_destination)`, in copy order.
    pub fn writes(&self) -> impl Iterator<Item = (&StreamWrite, bool)> {
        self.streams.iter().map(|s| (&s.write, s.destination))
    }

    /// How many temporary boxes the copy stream takes, without sealing anything (the same
    /// arithmetic as [`copystream::encode`]).
    fn temp_box_count(&self) -> Result<usize, StreamError> {
        let capacity = self
            .geometry
            .box_plaintext_len
            .checked_sub(BOX_HEADER_LEN)
            .filter(|c| *c > 0)
            .ok_or(copystream::CopyStreamError::GeometryTooSmall(
                self.geometry.box_plaintext_len,
            ))?;
        let per_box = 4 + BOX_ID_LEN + SIGNATURE_LEN + crate::aead::TAG_LEN;
        let bytes: usize = self
            .streams
            .iter()
            .flat_map(|s| s.write.plaintexts.iter())
            .map(|p| per_box + p.len())
            .sum();
        Ok(bytes.div_ceil(capacity).max(1))
    }

    /// Runs the plan, or resumes it: returns the destination writers advanced once the copy
    /// command succeeded. On [`StreamError::CopyFailed`] nothing was written and the writers
    /// stay where they were. On [`StreamError::CopyInProgress`] or a store error, run the same
    /// plan again later.
    pub async fn execute<S: BoxStore + ?Sized>(
        &self,
        store: &S,
        options: CopyOptions,
    ) -> Result<Vec<StatefulWriter>, StreamError> {
        let key = self.copy_key();
        let mut status = store.copy_status(&key).await?;
        if status.is_none() {
            self.write_temp_stream(store).await?;
            status = Some(store.copy(&self.temp).await?);
        }
        let mut polls = 0;
        loop {
            match status {
                Some(CopyStatus::Succeeded) => return self.advanced_destinations(),
                Some(CopyStatus::Failed(failure)) => {
                    // A store that forgot a command it ran finds the temporary stream
                    // tombstoned when it is resubmitted: check whether the writes landed.
                    if failure.code == ReplyCode::Tombstone
                        && failure.position == 0
                        && self.landed(store).await?
                    {
                        return self.advanced_destinations();
                    }
                    self.abandon(store).await;
                    return Err(StreamError::CopyFailed(failure));
                }
                Some(CopyStatus::InProgress) | None => {
                    if polls >= options.status_polls {
                        return Err(StreamError::CopyInProgress);
                    }
                    polls += 1;
                    status = match store.copy_status(&key).await? {
                        // The store lost the command: submit it again.
                        None => Some(store.copy(&self.temp).await?),
                        known => known,
                    };
                }
            }
        }
    }

    /// Writes the temporary stream, [`TEMP_WRITES_IN_FLIGHT`] boxes at a time: they are
    /// independent, as the copy command reads them only once submitted.
    async fn write_temp_stream<S: BoxStore + ?Sized>(&self, store: &S) -> Result<(), StreamError> {
        let plaintexts = copystream::encode(&self.sealed_writes()?, self.geometry)?;
        let mut temp = StatefulWriter::new(self.temp.clone(), COPY_STREAM_CTX);
        let mut sealed = Vec::with_capacity(plaintexts.len());
        for plaintext in &plaintexts {
            sealed.push(temp.prepare_next(plaintext));
            temp.advance()?;
        }
        let mut writes = futures_util::stream::iter(sealed)
            .map(|b| async move {
                let outcome = store.write(&b).await;
                (b.box_id, outcome)
            })
            .buffer_unordered(TEMP_WRITES_IN_FLIGHT);
        while let Some((box_id, outcome)) = writes.next().await {
            match outcome? {
                // A tombstoned temporary box: the copy already ran, and its status tells how.
                WriteOutcome::Stored
                | WriteOutcome::AlreadyExists { identical: true }
                | WriteOutcome::Tombstoned => {}
                WriteOutcome::AlreadyExists { identical: false } => {
                    return Err(StreamError::Conflict { box_id })
                }
            }
        }
        Ok(())
    }

    /// Whether every box of the plan is stored, exactly as planned.
    async fn landed<S: BoxStore + ?Sized>(&self, store: &S) -> Result<bool, StreamError> {
        const BATCH: usize = 256;
        let writes = self.sealed_writes()?;
        for chunk in writes.chunks(BATCH) {
            let ids: Vec<_> = chunk.iter().map(|w| w.box_id).collect();
            let outcomes = store.read_many(&ids).await?;
            if outcomes.len() != chunk.len() {
                return Err(
                    StoreError::Protocol("batch read answered a wrong count".into()).into(),
                );
            }
            let all_there = chunk
                .iter()
                .zip(&outcomes)
                .all(|(w, o)| matches!(o, ReadOutcome::Found(b) if b == w));
            if !all_there {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Tombstones the temporary boxes of a failed copy, best effort.
    async fn abandon<S: BoxStore + ?Sized>(&self, store: &S) {
        let Ok(count) = self.temp_box_count() else {
            return;
        };
        let mut index = self.temp.first_index().clone();
        for _ in 0..count {
            let _ = store
                .write(&self.temp.tombstone(&index, COPY_STREAM_CTX))
                .await;
            match index.next() {
                Ok(next) => index = next,
                Err(_) => return,
            }
        }
    }

    /// The persistent form (see the module documentation). Secret: it holds write caps and
    /// plaintexts; the buffer zeroizes itself.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut e = Encoder::new(PLAN_VERSION);
        e.u32(self.geometry.box_plaintext_len);
        e.raw(self.temp.to_bytes().as_ref());
        e.u32(self.streams.len());
        for s in &self.streams {
            e.u8(if s.destination {
                ROLE_DESTINATION
            } else {
                ROLE_SUBSTREAM
            });
            e.bytes(&s.write.writer.to_bytes());
            e.u32(s.write.plaintexts.len());
            for p in &s.write.plaintexts {
                e.bytes(p);
            }
        }
        e.finish()
    }

    /// Decodes [`AllOrNothingPlan::to_bytes`], checking it as a new plan is checked.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StreamError> {
        let mut d = Decoder::new(bytes, PLAN_VERSION)?;
        let geometry = Geometry::new(d.u32()?);
        let temp = WriteCap::from_bytes(d.raw(WRITE_CAP_LEN)?)?;
        let count = d.count(1 + 4 + 4)?;
        let mut streams = Vec::new();
        for _ in 0..count {
            let destination = match d.u8()? {
                ROLE_DESTINATION => true,
                ROLE_SUBSTREAM => false,
                _ => return Err(StreamError::InvalidState("unknown stream role")),
            };
            let writer = StatefulWriter::from_bytes(d.bytes()?)?;
            let boxes = d.count(4)?;
            let mut plaintexts = Vec::new();
            for _ in 0..boxes {
                plaintexts.push(Zeroizing::new(d.bytes()?.to_vec()));
            }
            streams.push(PlannedStream {
                write: StreamWrite { writer, plaintexts },
                destination,
            });
        }
        d.finish()?;
        Self::build(temp, geometry, streams)
    }
}

/// Frames `payload` for `geometry`, refusing what a reader with `limits` would drop.
pub(crate) fn frame_within_limits(
    payload: &[u8],
    geometry: Geometry,
    limits: &Limits,
) -> Result<Framed, StreamError> {
    if payload.len() > limits.max_message_len {
        return Err(StreamError::MessageTooLarge {
            len: payload.len(),
            limit: limits.max_message_len,
        });
    }
    if framing::chain_boxes(payload.len(), geometry)? > limits.max_chain_boxes {
        return Err(StreamError::MessageTooLarge {
            len: payload.len(),
            limit: limits
                .max_chain_boxes
                .saturating_mul(framing::slice_len(geometry)?),
        });
    }
    Ok(framing::frame(payload, geometry)?)
}
