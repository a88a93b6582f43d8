//! The seam between a client and the network, in plaintexts at stream positions: write a
//! plaintext to the box a [`StatefulWriter`] points at, read the plaintext of the box a
//! [`StatefulReader`] expects, and write many boxes all or nothing.
//!
//! Whoever implements [`Transport`] does the BACAP encryption, signing and verification.
//! [`Sealing`] does it in this process over any [`BoxStore`](crate::store::BoxStore) (the
//! courier simulator's HTTP client, the in-memory store). A Katzenpost client daemon takes a
//! WriteCap, an index and a plaintext to write, and a ReadCap and an index to read, and does it
//! itself: a transport speaking to it implements this trait without any box store.

mod sealing;

use core::fmt;

use async_trait::async_trait;
use bacap::{Geometry, StatefulReader, StatefulWriter, WriteCap};
use zeroize::Zeroizing;

use crate::padding::PaddingError;
use crate::store::{StoreError, WriteOutcome};
use crate::stream::{StreamError, StreamWrite};

pub use sealing::{open_outcome, seal_message, seal_writes, store_writes_for_message, Sealing};

/// Why a stored box is not a valid box for its reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoxError {
    /// It fails BACAP verification or decryption under the reader's cap.
    #[error("{0}")]
    Bacap(#[from] bacap::Error),
    /// It verifies and decrypts, but its plaintext is not padded as every box is (see
    /// [`crate::padding`]).
    #[error("{0}")]
    Padding(#[from] PaddingError),
}

/// What reading one box gave.
#[derive(Clone, PartialEq, Eq)]
pub enum BoxContent {
    /// The box's message, verified, decrypted and unpadded.
    Message(Zeroizing<Vec<u8>>),
    /// The box was deleted (an authentic tombstone).
    Tombstone,
    /// Nothing was written there (yet).
    NotFound,
    /// A box is there but fails verification or decryption under the reader's cap, or its
    /// padding is not valid.
    Invalid(BoxError),
}

impl fmt::Debug for BoxContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoxContent::Message(m) => write!(f, "BoxContent::Message({} bytes)", m.len()),
            BoxContent::Tombstone => f.write_str("BoxContent::Tombstone"),
            BoxContent::NotFound => f.write_str("BoxContent::NotFound"),
            BoxContent::Invalid(e) => write!(f, "BoxContent::Invalid({e})"),
        }
    }
}

/// How long [`Transport::write_atomically`] waits for an all-or-nothing write to complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOptions {
    /// How many times to ask for the status (or resubmit, if storage forgot the command)
    /// before returning [`StreamError::CopyInProgress`].
    pub status_polls: u32,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self { status_polls: 3 }
    }
}

/// Reading and writing boxes of BACAP streams, in plaintexts.
///
/// Every method may be repeated with the same arguments after a crash or a lost reply: BACAP
/// sealing is deterministic, storage is write-once, and an all-or-nothing write is named by its
/// temporary cap, so a repeat lands nothing twice.
#[async_trait]
pub trait Transport: Send + Sync {
    /// The box geometry: how much plaintext one box carries.
    fn geometry(&self) -> Geometry;

    /// Writes `plaintext` to the box at `at`'s next index. "Already exists" says whether the
    /// stored box is this very one (a retransmission) or another.
    async fn write(
        &self,
        at: &StatefulWriter,
        plaintext: &[u8],
    ) -> Result<WriteOutcome, StoreError>;

    /// Deletes the box at `at`'s next index (a tombstone; also where nothing was written).
    async fn tombstone(&self, at: &StatefulWriter) -> Result<WriteOutcome, StoreError>;

    /// Reads the box each reader expects next; one content per reader, in order.
    async fn read_many(&self, at: &[StatefulReader]) -> Result<Vec<BoxContent>, StoreError>;

    /// Writes every box of `writes` (each stream's plaintexts at consecutive indices from its
    /// writer's next index) so that readers see all of them or none. `temp` names the
    /// operation: running it again with the same `temp` resumes it instead of writing twice.
    /// Fails with [`StreamError::CopyFailed`] (nothing was written),
    /// [`StreamError::CopyInProgress`] (run it again later) or a store error (transient).
    async fn write_atomically(
        &self,
        temp: &WriteCap,
        writes: &[StreamWrite],
        options: CopyOptions,
    ) -> Result<(), StreamError>;
}
