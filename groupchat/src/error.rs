//! The errors of the client.

use bacap::stream::StreamError;

use crate::channel::ChannelError;
use crate::display_name::DisplayNameError;
use crate::messages::DecodeError;

/// Everything that can go wrong in a client operation.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The profile's database failed.
    #[error("database: {0}")]
    Db(#[from] rocksdb::Error),
    /// A file or directory of the profile could not be used.
    #[error("file system: {0}")]
    Io(#[from] std::io::Error),
    /// A stored record does not decode: the profile is damaged or from a later version.
    #[error("corrupt profile state: {0}")]
    Corrupt(String),
    /// Writing or reading streams failed (store errors are transient: retry).
    #[error("stream: {0}")]
    Stream(#[from] StreamError),
    /// The operation was persisted but the store did not confirm it (transient): it will be
    /// resumed by the next network operation. Do not send it again.
    #[error("queued, to be resumed: {0}")]
    Queued(StreamError),
    /// A BACAP error.
    #[error("bacap: {0}")]
    Bacap(#[from] bacap::Error),
    /// A display name that breaks the rules.
    #[error("display name: {0}")]
    DisplayName(#[from] DisplayNameError),
    /// A channel message or token that cannot be used.
    #[error("channel: {0}")]
    Channel(#[from] ChannelError),
    /// A group message that cannot be used.
    #[error("message: {0}")]
    Decode(#[from] DecodeError),
    /// No such group, channel, invitation or member.
    #[error("not found: {0}")]
    NotFound(String),
    /// The operation does not fit the current state (for example approving twice).
    #[error("not possible now: {0}")]
    InvalidState(String),
    /// An argument out of range (a channel label, a file too large).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl From<bacap::store::StoreError> for ClientError {
    fn from(e: bacap::store::StoreError) -> Self {
        ClientError::Stream(StreamError::Store(e))
    }
}
