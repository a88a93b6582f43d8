//! Group chat over BACAP streams, in the Katzenpost design: every member writes its own stream
//! and reads every other member's.
//!
//! Built so far: the messages in katzenqt's deployed CBOR encoding ([`messages`]), display
//! names ([`display_name`]), the membership hash ([`membership`]), 1:1 channel messages
//! ([`channel`]), and the client ([`client`]): group state ([`group`]), the join flow,
//! posting and polling, received files ([`files`]), all persisted in RocksDB ([`storage`],
//! [`records`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod channel;
pub mod client;
pub mod display_name;
pub mod error;
pub mod files;
pub mod group;
pub mod membership;
pub mod messages;
pub mod records;
pub mod storage;

pub use client::{Client, ClientConfig, Event, HistoryEntry};
pub use error::ClientError;

pub use bacap;
