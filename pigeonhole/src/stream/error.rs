//! The errors of streams, sorted by what the caller can do about them.

use crate::copystream::CopyStreamError;
use crate::store::{CopyFailure, StoreError};
use crate::transport::BoxError;
use bacap::BoxId;

use super::framing::FramingError;

/// Why a peer's message was dropped. The box was authentic (it verified and decrypted) but its
/// content breaks the framing rules or the reader's limits, which no retry can change, so the
/// reader moved past it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerFault {
    /// A box plaintext that does not parse.
    #[error("malformed frame: {0}")]
    Framing(#[from] FramingError),
    /// A `C` box in the sender's own stream (chains live in substreams only).
    #[error("continuation box outside a substream")]
    ContinuationOutsideChain,
    /// An `I` box inside a substream (pointers do not nest).
    #[error("indirection box inside a substream")]
    NestedIndirection,
    /// A tombstone in the middle of a substream: the sender deleted the chain.
    #[error("the substream was deleted before its final box")]
    ChainDeleted,
    /// The message grew past the reader's size limit.
    #[error("message exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The chain has more boxes than the reader's limit.
    #[error("chain exceeds the limit of {limit} boxes")]
    ChainTooLong {
        /// The limit.
        limit: usize,
    },
}

/// Everything that can go wrong writing or reading a stream.
///
/// For writers: every error leaves the writer where it was (nothing was acknowledged), so the
/// same operation can be retried, except [`StreamError::Conflict`], [`StreamError::Tombstoned`]
/// and [`StreamError::CopyFailed`], which no retry of the same operation can fix.
///
/// For readers: [`StreamError::Rejected`] means the offending message was dropped and the reader
/// moved on; [`StreamError::InvalidBox`] and [`StreamError::IncompleteChain`] leave the reader
/// where it was (a later poll retries; `skip` moves past deliberately); store errors are
/// transient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The store did not answer as a store should (transient or refused). Its message names
    /// storage already.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The box at the writer's next index already holds different content: another writer with
    /// the same cap, or a state restored from an old backup, wrote there.
    #[error("box {box_id:?} at the writer's next index already holds different content")]
    Conflict {
        /// The box.
        box_id: BoxId,
    },
    /// The box at the writer's next index was deleted.
    #[error("box {box_id:?} at the writer's next index is a tombstone")]
    Tombstoned {
        /// The box.
        box_id: BoxId,
    },
    /// The copy command failed: nothing of it was written and no writer advanced.
    #[error("copy command failed: {0:?}")]
    CopyFailed(CopyFailure),
    /// The copy command is still running after the allowed status polls; run the same plan
    /// again later (it resumes, it does not write twice).
    #[error("copy command still in progress")]
    CopyInProgress,
    /// A message over the configured size or chain limit, or too big for one copy command.
    #[error("message of {len} bytes is over the limit of {limit}")]
    MessageTooLarge {
        /// The message's length.
        len: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// The geometry cannot carry what was asked (framing or copy stream).
    #[error("framing: {0}")]
    Framing(#[from] FramingError),
    /// The copy stream could not be encoded.
    #[error("copy stream: {0}")]
    CopyStream(#[from] CopyStreamError),
    /// A BACAP error outside reading a box (for example a stream counter exhausted).
    #[error("bacap: {0}")]
    Bacap(#[from] bacap::Error),
    /// A persisted plan, operation or reader state does not decode, or an operation does not
    /// belong to the writer it is run with.
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// A box failed signature verification or decryption, or its padding is not valid. The
    /// reader stays before it.
    #[error("box {box_id:?} is invalid: {error}")]
    InvalidBox {
        /// The box.
        box_id: BoxId,
        /// What failed.
        error: BoxError,
    },
    /// A substream box the chain needs is not in storage (yet). The reader stays before the
    /// `I` box and resumes the chain on the next poll.
    #[error("substream box {position} of the chain is missing")]
    IncompleteChain {
        /// The box's position in the chain, from 0.
        position: usize,
    },
    /// A peer's message was dropped; the reader moved past it.
    #[error("dropped a message: {0}")]
    Rejected(#[from] PeerFault),
    /// A batch of read outcomes does not match the IDs the reader asked for.
    #[error("got {got} read outcomes for {expected} requested boxes")]
    OutcomeCount {
        /// How many IDs the reader wanted.
        expected: usize,
        /// How many outcomes it was given.
        got: usize,
    },
}
