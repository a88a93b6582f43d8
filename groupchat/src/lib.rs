//! Group chat over BACAP streams, in the Katzenpost design: every member writes its own stream
//! and reads every other member's.
//!
//! Built so far: the messages in katzenqt's deployed CBOR encoding ([`messages`]), display
//! names ([`display_name`]) and the membership hash ([`membership`]). Group state, the join
//! flow and the client come next.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod channel;
pub mod display_name;
pub mod membership;
pub mod messages;

pub use bacap;
