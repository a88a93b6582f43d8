//! Box storage as a client meets it: the async [`BoxStore`] trait, its outcomes and the
//! Pigeonhole reply codes, the storage rules every implementation applies, and an in-memory
//! implementation for tests.

mod memory;
mod rules;

use async_trait::async_trait;

use bacap::{BoxId, SealedBox, WriteCap};

pub use memory::MemoryStore;
pub use rules::{
    check_box, check_boxes, copy_key, payload_len_ok, payload_refusal, plan_copy, verdict,
    BoxLookup, CheckedBox, CopyFailure, Verification, WriteVerdict, MAX_COPY_STREAM_BOXES,
};

/// Pigeonhole replica reply codes, with the spec's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReplyCode {
    /// 0: success.
    Success = 0,
    /// 1: box ID not found (expected: nothing written yet).
    NotFound = 1,
    /// 2: invalid box ID.
    InvalidBoxId = 2,
    /// 3: invalid signature.
    InvalidSignature = 3,
    /// 4: database failure (transient).
    DatabaseFailure = 4,
    /// 5: invalid payload.
    InvalidPayload = 5,
    /// 6: storage full.
    StorageFull = 6,
    /// 7: internal error.
    InternalError = 7,
    /// 8: invalid epoch.
    InvalidEpoch = 8,
    /// 9: replication failed.
    ReplicationFailed = 9,
    /// 10: box already exists (expected).
    AlreadyExists = 10,
    /// 11: tombstone (expected: the box was deleted).
    Tombstone = 11,
}

impl ReplyCode {
    /// The code for its number, if it is one of the spec's.
    pub fn from_u8(code: u8) -> Option<Self> {
        use ReplyCode::*;
        Some(match code {
            0 => Success,
            1 => NotFound,
            2 => InvalidBoxId,
            3 => InvalidSignature,
            4 => DatabaseFailure,
            5 => InvalidPayload,
            6 => StorageFull,
            7 => InternalError,
            8 => InvalidEpoch,
            9 => ReplicationFailed,
            10 => AlreadyExists,
            11 => Tombstone,
            _ => return None,
        })
    }

    /// The code's number.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

impl core::fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?} ({})", self, self.as_u8())
    }
}

/// The expected outcomes of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The box (or tombstone) was stored.
    Stored,
    /// The box was already there; `identical` tells whether with exactly this content (a
    /// harmless retransmission) or with different content.
    AlreadyExists {
        /// Whether the stored box equals the one written.
        identical: bool,
    },
    /// The box was deleted; a tombstoned box cannot be written again.
    Tombstoned,
}

/// What reading one box found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutcome {
    /// A stored box.
    Found(SealedBox),
    /// A tombstone (empty payload, with its signature).
    Tombstone(SealedBox),
    /// Nothing was ever written there (yet).
    NotFound,
}

/// The status of a copy command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyStatus {
    /// Every write landed and the temporary stream was tombstoned.
    Succeeded,
    /// The courier is still working on it.
    InProgress,
    /// Nothing was written.
    Failed(CopyFailure),
}

/// Errors of a box store that are not storage outcomes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Storage refused the request with this code.
    #[error("storage refused the request: {0}")]
    Rejected(ReplyCode),
    /// No reply arrived within the retry budget.
    #[error("storage unreachable: {0}")]
    Unavailable(String),
    /// No connection could be made within the retry budget, so nothing was sent.
    #[error("storage unreachable: {0}")]
    Unreachable(String),
    /// A reply arrived that does not follow the protocol.
    #[error("malformed reply from storage: {0}")]
    Protocol(String),
    /// Storage could not prove who it is (over TLS: its certificate did not verify), so nothing
    /// was sent. Retrying does not help until the client trusts it.
    #[error("storage not trusted: {0}")]
    Untrusted(String),
    /// The storage (or the client daemon in front of it) has no such operation.
    #[error("not supported by storage: {0}")]
    Unsupported(String),
}

/// Box storage: write-once signed boxes, tombstones, batched reads and the copy command.
#[async_trait]
pub trait BoxStore: Send + Sync {
    /// Writes a box (a tombstone if its payload is empty).
    async fn write(&self, sealed: &SealedBox) -> Result<WriteOutcome, StoreError>;

    /// Reads many boxes in one request; one outcome per ID, in order.
    async fn read_many(&self, ids: &[BoxId]) -> Result<Vec<ReadOutcome>, StoreError>;

    /// Reads one box.
    async fn read(&self, id: &BoxId) -> Result<ReadOutcome, StoreError> {
        let mut outcomes = self.read_many(std::slice::from_ref(id)).await?;
        match (outcomes.pop(), outcomes.is_empty()) {
            (Some(outcome), true) => Ok(outcome),
            _ => Err(StoreError::Protocol(
                "batch read of one box did not answer once".into(),
            )),
        }
    }

    /// Submits a copy command for the temporary stream of `temp` (or asks again: a command is
    /// processed at most once, and repeating it returns its status).
    async fn copy(&self, temp: &WriteCap) -> Result<CopyStatus, StoreError>;

    /// The status of the copy command with key [`copy_key`], if it was ever submitted.
    async fn copy_status(&self, key: &[u8; 32]) -> Result<Option<CopyStatus>, StoreError>;
}

/// A box store behind a reference or a shared pointer is a box store.
macro_rules! forward_box_store {
    ($($ptr:ty),*) => {$(
        #[async_trait]
        impl<S: BoxStore + ?Sized> BoxStore for $ptr {
            async fn write(&self, sealed: &SealedBox) -> Result<WriteOutcome, StoreError> {
                (**self).write(sealed).await
            }
            async fn read_many(&self, ids: &[BoxId]) -> Result<Vec<ReadOutcome>, StoreError> {
                (**self).read_many(ids).await
            }
            async fn copy(&self, temp: &WriteCap) -> Result<CopyStatus, StoreError> {
                (**self).copy(temp).await
            }
            async fn copy_status(
                &self,
                key: &[u8; 32],
            ) -> Result<Option<CopyStatus>, StoreError> {
                (**self).copy_status(key).await
            }
        }
    )*};
}

forward_box_store!(&S, std::sync::Arc<S>);
