//! The group chat core, sans I/O: group chat over BACAP streams in the Katzenpost design, where
//! every member writes its own stream and reads every other member's.
//!
//! - Wire formats: the group messages in katzenqt's deployed CBOR encoding ([`messages`]),
//!   1:1 channel messages and tokens ([`channel`]), display names ([`display_name`]), the
//!   membership hash ([`membership`]).
//! - State machines: a group ([`group`]) takes the boxes of its members' streams and produces
//!   events and the messages to send; [`Chat`] holds a profile's groups, channels, invitations
//!   and pending operations, takes what the network answered and says what to write.
//! - What a client stores: the records ([`records`]) under their keys ([`keys`]), and where
//!   received files go ([`files`]).
//!
//! It does no I/O: `chat-client` drives it over a transport and RocksDB.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod channel;
pub mod chat;
pub mod config;
pub mod display_name;
pub mod error;
pub mod events;
pub mod files;
pub mod group;
pub mod keys;
pub mod membership;
pub mod messages;
pub mod records;
pub mod roster;
pub mod sealed;

pub use chat::Chat;
pub use config::Config;
pub use error::Error;
pub use events::{Event, HistoryEntry, InvitationInfo, JoinRequestInfo};
pub use group::GroupInfo;
