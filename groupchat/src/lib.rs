//! Group chat over BACAP streams, in the Katzenpost design: every member writes its own stream
//! and reads every other member's.
//!
//! This crate is being built; today it only re-exports the BACAP layer it stands on.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use bacap;
