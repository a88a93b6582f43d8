//! StatefulWriter and StatefulReader: a cap, a position in its stream, and a context.
//!
//! The writer prepares its next box without moving and advances only once storage has
//! acknowledged the write, so a crash in between rebuilds the identical box. The reader knows
//! the ID of the box it expects next and advances only when that box verified and decrypted.
//! Both serialize to bytes so a client can persist them.

use core::fmt;

use zeroize::Zeroizing;

use crate::boxes::{BoxId, Opened, SealedBox, Signature};
use crate::caps::{open_verified_box, ReadCap, WriteCap, READ_CAP_LEN, WRITE_CAP_LEN};
use crate::error::{Error, Result};
use crate::index::{MessageBoxIndex, MESSAGE_BOX_INDEX_LEN};

const STATE_VERSION: u8 = 1;

/// Splits `version || cap || index || ctx`, checking version, length and that the index is not
/// before the cap's first index.
fn split_state<'a>(
    bytes: &'a [u8],
    cap_len: usize,
    what: &'static str,
) -> Result<(&'a [u8], MessageBoxIndex, &'a [u8])> {
    let min = 1 + cap_len + MESSAGE_BOX_INDEX_LEN;
    if bytes.len() < min {
        return Err(Error::InvalidLength {
            what,
            expected: min,
            got: bytes.len(),
        });
    }
    if bytes[0] != STATE_VERSION {
        return Err(Error::InvalidEncoding("unknown stream state version"));
    }
    let cap = &bytes[1..1 + cap_len];
    let index = MessageBoxIndex::from_bytes(&bytes[1 + cap_len..min])?;
    Ok((cap, index, &bytes[min..]))
}

fn join_state(cap: &[u8], index: &MessageBoxIndex, ctx: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(
        1 + cap.len() + MESSAGE_BOX_INDEX_LEN + ctx.len(),
    ));
    out.push(STATE_VERSION);
    out.extend_from_slice(cap);
    out.extend_from_slice(index.to_bytes().as_ref());
    out.extend_from_slice(ctx);
    out
}

fn check_position(first: &MessageBoxIndex, next: &MessageBoxIndex) -> Result<()> {
    if next.idx() < first.idx() {
        return Err(Error::InvalidEncoding(
            "stream position before the cap's first index",
        ));
    }
    Ok(())
}

/// Writes one stream, box after box.
#[derive(Clone, PartialEq, Eq)]
pub struct StatefulWriter {
    cap: WriteCap,
    next: MessageBoxIndex,
    ctx: Vec<u8>,
}

impl StatefulWriter {
    /// A writer at the start of the stream of `cap`, in context `ctx`.
    pub fn new(cap: WriteCap, ctx: &[u8]) -> Self {
        let next = cap.first_index().clone();
        Self {
            cap,
            next,
            ctx: ctx.to_vec(),
        }
    }

    /// The cap this writer writes with.
    pub fn cap(&self) -> &WriteCap {
        &self.cap
    }

    /// The context of the stream.
    pub fn ctx(&self) -> &[u8] {
        &self.ctx
    }

    /// The index the next box will be written at.
    pub fn next_index(&self) -> &MessageBoxIndex {
        &self.next
    }

    /// The ID of the next box.
    pub fn next_box_id(&self) -> BoxId {
        self.cap.box_id(&self.next, &self.ctx)
    }

    /// Seals `plaintext` into the next box without advancing. Calling it again with the same
    /// plaintext yields the identical box, so a retry after a crash is harmless.
    pub fn prepare_next(&self, plaintext: &[u8]) -> SealedBox {
        self.cap.seal(&self.next, &self.ctx, plaintext)
    }

    /// Moves to the next index; call once storage has acknowledged the prepared box.
    pub fn advance(&mut self) -> Result<()> {
        self.next = self.next.next()?;
        Ok(())
    }

    /// The persistent form: `version || write cap || next index || ctx`. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        join_state(self.cap.to_bytes().as_ref(), &self.next, &self.ctx)
    }

    /// Decodes [`StatefulWriter::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (cap, next, ctx) = split_state(bytes, WRITE_CAP_LEN, "stream writer state")?;
        let cap = WriteCap::from_bytes(cap)?;
        check_position(cap.first_index(), &next)?;
        Ok(Self {
            cap,
            next,
            ctx: ctx.to_vec(),
        })
    }
}

impl fmt::Debug for StatefulWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatefulWriter")
            .field("cap", &self.cap)
            .field("next_idx", &self.next.idx())
            .finish_non_exhaustive()
    }
}

/// Reads one stream, box after box.
#[derive(Clone)]
pub struct StatefulReader {
    cap: ReadCap,
    next: MessageBoxIndex,
    ctx: Vec<u8>,
    next_box_id: BoxId,
    next_key: Zeroizing<[u8; 32]>,
}

impl PartialEq for StatefulReader {
    fn eq(&self, other: &Self) -> bool {
        self.cap == other.cap && self.next == other.next && self.ctx == other.ctx
    }
}
impl Eq for StatefulReader {}

impl StatefulReader {
    /// A reader at the start of the stream of `cap`, in context `ctx`.
    pub fn new(cap: ReadCap, ctx: &[u8]) -> Self {
        let next = cap.first_index().clone();
        Self::at(cap, next, ctx.to_vec())
    }

    /// A reader of the stream of `cap` in context `ctx`, expecting the box at `index` next
    /// (for example a box further along a substream, read ahead of the others).
    pub fn at_index(cap: ReadCap, index: MessageBoxIndex, ctx: &[u8]) -> Self {
        Self::at(cap, index, ctx.to_vec())
    }

    fn at(cap: ReadCap, next: MessageBoxIndex, ctx: Vec<u8>) -> Self {
        let (next_box_id, next_key) = cap.box_id_and_key(&next, &ctx);
        Self {
            cap,
            next,
            ctx,
            next_box_id,
            next_key,
        }
    }

    /// The cap this reader reads with.
    pub fn cap(&self) -> &ReadCap {
        &self.cap
    }

    /// The context of the stream.
    pub fn ctx(&self) -> &[u8] {
        &self.ctx
    }

    /// The index of the box expected next.
    pub fn next_index(&self) -> &MessageBoxIndex {
        &self.next
    }

    /// The ID of the box expected next (derived once per position, then cached).
    pub fn next_box_id(&self) -> BoxId {
        self.next_box_id
    }

    /// Verifies and decrypts the expected next box, given its signature and payload as read from
    /// storage, and advances only if that succeeds. A tombstone succeeds and advances too.
    pub fn decrypt_next(&mut self, signature: &Signature, payload: &[u8]) -> Result<Opened> {
        self.next.next()?;
        let opened = self.open_next(signature, payload)?;
        self.advance()?;
        Ok(opened)
    }

    /// Verifies and decrypts the expected next box, given its signature and payload as read from
    /// storage, without moving.
    pub fn open_next(&self, signature: &Signature, payload: &[u8]) -> Result<Opened> {
        let sealed = SealedBox {
            box_id: self.next_box_id,
            signature: *signature,
            payload: payload.to_vec(),
        };
        open_verified_box(&self.next_key, &sealed)
    }

    /// Moves past the expected box: once it was read, or without reading it (for a box that
    /// keeps failing verification and that the caller chose to give up on).
    pub fn advance(&mut self) -> Result<()> {
        let following = self.next.next()?;
        let (box_id, key) = self.cap.box_id_and_key(&following, &self.ctx);
        self.next = following;
        self.next_box_id = box_id;
        self.next_key = key;
        Ok(())
    }

    /// The persistent form: `version || read cap || next index || ctx`. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        join_state(self.cap.to_bytes().as_ref(), &self.next, &self.ctx)
    }

    /// Decodes [`StatefulReader::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (cap, next, ctx) = split_state(bytes, READ_CAP_LEN, "stream reader state")?;
        let cap = ReadCap::from_bytes(cap)?;
        check_position(cap.first_index(), &next)?;
        Ok(Self::at(cap, next, ctx.to_vec()))
    }
}

impl fmt::Debug for StatefulReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatefulReader")
            .field("cap", &self.cap)
            .field("next_idx", &self.next.idx())
            .field("next_box_id", &self.next_box_id)
            .finish_non_exhaustive()
    }
}
