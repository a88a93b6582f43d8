//! The group chat client: one profile directory, its RocksDB state, and a transport, around
//! the sans-IO core of [`groupchat`].
//!
//! [`Client`] stores every change of the core atomically and runs the network operations it
//! asks for, safe against a kill at any step ([`client`]); [`storage`] is the profile's
//! RocksDB, [`files`] writes received files owner-only.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod error;
pub mod files;
mod lock;
pub mod storage;

pub use client::{Client, Sent, Wait};
pub use error::ClientError;
pub use lock::LOCK_FILE;
pub use storage::DatabaseError;

pub use groupchat;
