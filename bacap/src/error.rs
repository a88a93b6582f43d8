//! The one error type of the crate.

/// Everything that can go wrong decoding, deriving, sealing or opening BACAP data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A binary encoding had the wrong length.
    #[error("{what}: expected {expected} bytes, got {got}")]
    InvalidLength {
        /// What was being decoded.
        what: &'static str,
        /// The length the encoding must have.
        expected: usize,
        /// The length it had.
        got: usize,
    },
    /// A 32-byte string that must be an Ed25519 group element is not a valid one.
    #[error("{0} is not a valid Ed25519 public key")]
    InvalidPoint(&'static str),
    /// A WriteCap's public key does not belong to its private seed.
    #[error("write cap public key does not match its private key")]
    KeyMismatch,
    /// Advancing past the last index (counter 2^64 - 1).
    #[error("message box index counter exhausted")]
    CounterExhausted,
    /// Asked to advance an index to a counter before its own.
    #[error("cannot advance index {current} backwards to {target}")]
    IndexBehind {
        /// The index's counter.
        current: u64,
        /// The counter asked for.
        target: u64,
    },
    /// The box signature does not verify under the box ID.
    #[error("box signature does not verify")]
    InvalidSignature,
    /// The box payload failed authenticated decryption.
    #[error("box payload failed authenticated decryption")]
    DecryptionFailed,
    /// A box that is not a tombstone but too short to hold the AEAD tag.
    #[error("box payload of {0} bytes is too short to be a ciphertext")]
    PayloadTooShort(usize),
    /// The box ID the caller read does not match the one derived for the index.
    #[error("box ID does not match the expected index")]
    BoxIdMismatch,
    /// A persisted structure has an unknown version or inconsistent fields.
    #[error("invalid encoding: {0}")]
    InvalidEncoding(&'static str),
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, Error>;
