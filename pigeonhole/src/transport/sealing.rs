//! [`Sealing`]: the transport that does BACAP in this process over a [`BoxStore`].
//!
//! Every box plaintext is padded to the geometry's one size before sealing, and unpadded after
//! opening ([`crate::padding`]): storage sees payloads of one size, besides the empty payload of a
//! tombstone. A box that opens but whose padding is not valid is [`BoxContent::Invalid`].
//!
//! An all-or-nothing write goes through the courier's copy command: every destination box is
//! sealed at its writer's index, the boxes are encoded in the copy-stream format into a
//! temporary stream (context [`COPY_STREAM_CTX`]) whose WriteCap is the operation's `temp`, and
//! one copy command is submitted. Sealing is deterministic, so running the same operation again
//! after a crash rebuilds identical boxes: rewriting them answers "already exists" with
//! identical content, and the copy command, processed at most once per temporary cap, answers
//! its recorded status. On failure the temporary stream is tombstoned, best effort.

use async_trait::async_trait;
use bacap::{Geometry, Opened, SealedBox, StatefulReader, StatefulWriter, WriteCap};
use futures_util::StreamExt;
use zeroize::Zeroizing;

use super::{BoxContent, BoxError, CopyOptions, Transport};
use crate::copystream::{self, COPY_STREAM_CTX};
use crate::padding::{self, PaddedGeometry, PaddingError};
use crate::store::{
    copy_key, BoxStore, CopyStatus, ReadOutcome, ReplyCode, StoreError, WriteOutcome,
};
use crate::stream::{framing, StreamError, StreamWrite};

/// How many temporary boxes an all-or-nothing write stores at once.
pub const TEMP_WRITES_IN_FLIGHT: usize = 32;

/// BACAP in this process, over the box store `S`.
#[derive(Debug, Clone)]
pub struct Sealing<S> {
    store: S,
    geometry: Geometry,
}

impl<S: BoxStore> Sealing<S> {
    /// Seals and opens boxes of the default geometry for `store`.
    pub fn new(store: S) -> Self {
        Self::with_geometry(store, Geometry::default())
    }

    /// Seals and opens boxes of `geometry` for `store`.
    pub fn with_geometry(store: S, geometry: Geometry) -> Self {
        Self { store, geometry }
    }

    /// The box store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Stores the temporary stream carrying `writes`, [`TEMP_WRITES_IN_FLIGHT`] boxes at a time:
    /// they are independent, as the copy command reads them only once submitted.
    async fn write_temp_stream(
        &self,
        temp: &WriteCap,
        writes: &[StreamWrite],
    ) -> Result<(), StreamError> {
        let plaintexts = copystream::encode(&seal_writes(writes, self.geometry)?, self.geometry)?;
        let mut writer = StatefulWriter::new(temp.clone(), COPY_STREAM_CTX);
        let mut sealed = Vec::with_capacity(plaintexts.len());
        for plaintext in &plaintexts {
            sealed.push(seal_message(&writer, plaintext, self.geometry).map_err(too_large)?);
            writer.advance()?;
        }
        let store = &self.store;
        let mut stored = futures_util::stream::iter(sealed)
            .map(|b| async move {
                let outcome = store.write(&b).await;
                (b.box_id, outcome)
            })
            .buffer_unordered(TEMP_WRITES_IN_FLIGHT);
        while let Some((box_id, outcome)) = stored.next().await {
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

    /// Whether every box of `writes` is stored, exactly as sealed.
    async fn landed(&self, writes: &[StreamWrite]) -> Result<bool, StreamError> {
        const BATCH: usize = 256;
        let sealed = seal_writes(writes, self.geometry)?;
        for chunk in sealed.chunks(BATCH) {
            let ids: Vec<_> = chunk.iter().map(|w| w.box_id).collect();
            let outcomes = self.store.read_many(&ids).await?;
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
    async fn abandon(&self, temp: &WriteCap, writes: &[StreamWrite]) {
        let boxes = writes.iter().map(|w| w.plaintexts.len()).sum();
        let Ok(count) = copystream::box_count(boxes, self.geometry) else {
            return;
        };
        let mut index = temp.first_index().clone();
        for _ in 0..count {
            let _ = self
                .store
                .write(&temp.tombstone(&index, COPY_STREAM_CTX))
                .await;
            match index.next() {
                Ok(next) => index = next,
                Err(_) => return,
            }
        }
    }
}

/// The box at `at`'s next index carrying `message`, padded for `geometry` and sealed: what
/// [`Sealing`] stores for a message (the same box every time).
pub fn seal_message(
    at: &StatefulWriter,
    message: &[u8],
    geometry: Geometry,
) -> Result<SealedBox, PaddingError> {
    Ok(at.prepare_next(&padding::pad(message, geometry.into())?))
}

fn too_large(e: PaddingError) -> StreamError {
    match e {
        PaddingError::MessageTooLong { len, max } => {
            StreamError::MessageTooLarge { len, limit: max }
        }
        _ => StreamError::InvalidState("a message could not be padded"),
    }
}

/// Every box of `writes`, padded for `geometry` and sealed, in order: each stream's boxes at
/// consecutive indices from its writer's next index.
pub fn seal_writes(
    writes: &[StreamWrite],
    geometry: Geometry,
) -> Result<Vec<SealedBox>, StreamError> {
    let mut out = Vec::with_capacity(writes.iter().map(|w| w.plaintexts.len()).sum());
    for w in writes {
        let mut writer = w.writer.clone();
        for p in &w.plaintexts {
            out.push(seal_message(&writer, p, geometry).map_err(too_large)?);
            writer.advance()?;
        }
    }
    Ok(out)
}

/// How many box-store writes [`Sealing`] makes to send one message of `len` bytes in boxes of
/// `geometry`: one box, or the temporary stream of the all-or-nothing write that carries its
/// chain and the pointer to it (the copy command writes the boxes themselves).
pub fn store_writes_for_message(len: usize, geometry: Geometry) -> usize {
    let Ok(boxes) = framing::chain_boxes(len, geometry) else {
        return 1;
    };
    if boxes == 0 {
        return 1;
    }
    // The chain's boxes and the pointer to them, every one padded to the same size.
    copystream::box_count(boxes + 1, geometry).unwrap_or(1)
}

/// What `outcome`, read for the box `at` expects next, holds for `at`'s reader: the message of a
/// box padded for `geometry`.
pub fn open_outcome(at: &StatefulReader, outcome: &ReadOutcome, geometry: Geometry) -> BoxContent {
    let sealed = match outcome {
        ReadOutcome::NotFound => return BoxContent::NotFound,
        ReadOutcome::Found(s) | ReadOutcome::Tombstone(s) => s,
    };
    match at.open_next(&sealed.signature, &sealed.payload) {
        Ok(Opened::Message(padded)) => {
            match padding::unpad(&padded, PaddedGeometry::new(geometry)) {
                Ok(message) => BoxContent::Message(Zeroizing::new(message.to_vec())),
                Err(e) => BoxContent::Invalid(BoxError::Padding(e)),
            }
        }
        Ok(Opened::Tombstone) => BoxContent::Tombstone,
        Err(e) => BoxContent::Invalid(BoxError::Bacap(e)),
    }
}

#[async_trait]
impl<S: BoxStore> Transport for Sealing<S> {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    async fn write(
        &self,
        at: &StatefulWriter,
        plaintext: &[u8],
    ) -> Result<WriteOutcome, StoreError> {
        // A message over the capacity is what storage would refuse as an invalid payload.
        let sealed = seal_message(at, plaintext, self.geometry)
            .map_err(|_| StoreError::Rejected(ReplyCode::InvalidPayload))?;
        self.store.write(&sealed).await
    }

    async fn tombstone(&self, at: &StatefulWriter) -> Result<WriteOutcome, StoreError> {
        self.store
            .write(&at.cap().tombstone(at.next_index(), at.ctx()))
            .await
    }

    async fn read_many(&self, at: &[StatefulReader]) -> Result<Vec<BoxContent>, StoreError> {
        let ids: Vec<_> = at.iter().map(StatefulReader::next_box_id).collect();
        let outcomes = self.store.read_many(&ids).await?;
        if outcomes.len() != at.len() {
            return Err(StoreError::Protocol(format!(
                "batch read of {} boxes answered {}",
                at.len(),
                outcomes.len()
            )));
        }
        Ok(at
            .iter()
            .zip(&outcomes)
            .map(|(reader, outcome)| open_outcome(reader, outcome, self.geometry))
            .collect())
    }

    async fn write_atomically(
        &self,
        temp: &WriteCap,
        writes: &[StreamWrite],
        options: CopyOptions,
    ) -> Result<(), StreamError> {
        let key = copy_key(temp);
        let mut status = self.store.copy_status(&key).await?;
        if status.is_none() {
            self.write_temp_stream(temp, writes).await?;
            status = Some(self.store.copy(temp).await?);
        }
        let mut polls = 0;
        loop {
            match status {
                Some(CopyStatus::Succeeded) => return Ok(()),
                Some(CopyStatus::Failed(failure)) => {
                    // A store that forgot a command it ran finds the temporary stream
                    // tombstoned when it is resubmitted: check whether the writes landed.
                    if failure.code == ReplyCode::Tombstone
                        && failure.position == 0
                        && self.landed(writes).await?
                    {
                        return Ok(());
                    }
                    self.abandon(temp, writes).await;
                    return Err(StreamError::CopyFailed(failure));
                }
                Some(CopyStatus::InProgress) | None => {
                    if polls >= options.status_polls {
                        return Err(StreamError::CopyInProgress);
                    }
                    polls += 1;
                    status = match self.store.copy_status(&key).await? {
                        // The store lost the command: submit it again.
                        None => Some(self.store.copy(temp).await?),
                        known => known,
                    };
                }
            }
        }
    }
}
