//! The errors of the client.

use std::path::PathBuf;

use pigeonhole::store::StoreError;
use pigeonhole::stream::StreamError;

use crate::storage::{DatabaseError, StorageError};

/// Everything that can go wrong in a client operation.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Another process (or another client in this one) has the profile open.
    #[error("profile {} is in use by another bacap-chat process", .0.display())]
    ProfileLocked(PathBuf),
    /// The profile's database failed.
    #[error("database: {0}")]
    Database(#[from] DatabaseError),
    /// A file or directory of the profile could not be used.
    #[error("file system: {0}")]
    Io(#[from] std::io::Error),
    /// The chat refused the command, or a stored record is damaged.
    #[error(transparent)]
    Chat(#[from] groupchat::Error),
    /// Writing or reading streams failed (store errors are transient: retry).
    #[error("stream: {0}")]
    Stream(#[from] StreamError),
    /// The operation was stored but the network did not confirm it (transient): it will be
    /// resumed by the next network operation. Do not send it again.
    #[error("queued, to be resumed: {0}")]
    Queued(StreamError),
    /// A queued request could no longer be sent when its turn came (we left the group, say),
    /// and was dropped.
    #[error("dropped from the outbox: {0}")]
    Dropped(String),
    /// The profile was opened without a transport, and the command needs the network.
    #[error("no courier: the profile was opened offline")]
    Offline,
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> Self {
        ClientError::Stream(StreamError::Store(e))
    }
}

impl From<StorageError> for ClientError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Io(e) => ClientError::Io(e),
            StorageError::Database(e) => ClientError::Database(e),
        }
    }
}
