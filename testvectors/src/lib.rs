//! Conformance vectors and the checkers that reproduce them.
//!
//! The vector files live in `data/` (see its README for where each came from); this crate reads
//! a file of a known format, recomputes every field with this project's implementation and
//! reports each mismatch by case, step and field. The `bacap-chat conformance` command and the
//! tests both use it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bacap_vectors;
pub mod framing;
pub mod groupchat_vectors;
pub mod ours;
mod report;
pub mod sealed_vectors;

pub use report::{Mismatch, Report};

/// The BACAP vector file of the Go reference, as shipped in `data/`.
pub const BACAP_HPQC_JSON: &str = include_str!("../data/bacap-hpqc.json");

/// katzenqt's group chat vector file (CBOR messages, membership hashes, box framing).
/// bacap-chat's own group chat vectors, as shipped in `data/` (see [`ours`]).
pub const BACAP_CHAT_GROUPCHAT_JSON: &str = include_str!("../data/bacap-chat-groupchat.json");

/// katzenqt's group chat vector file, as shipped in `data/`.
pub const KATZENQT_GROUPCHAT_JSON: &str = include_str!("../data/katzenqt-groupchat.json");

/// The sealed-cap vector file (made with pyhpke), as shipped in `data/` (see [`sealed_vectors`]).
pub const SEALED_CAP_JSON: &str = include_str!("../data/sealed-cap.json");

/// Errors that stop a file from being checked at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is not JSON of the expected shape.
    #[error("not a vector file of this format: {0}")]
    Format(#[from] serde_json::Error),
}
