//! The errors of the group chat core: what a command or a stored record can be refused for.

use pigeonhole::stream::StreamError;

use crate::channel::{ChannelError, GroupId};
use crate::display_name::DisplayNameError;
use crate::messages::DecodeError;
use crate::roster::MemberId;
use crate::sealed::SealError;

/// Everything a command of the core can fail with, or a stored record be refused for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No group of this ID.
    #[error("unknown group {0:?}")]
    UnknownGroup(GroupId),
    /// No channel of this label.
    #[error("unknown channel {0:?}")]
    UnknownChannel(String),
    /// No invitation to this group was received.
    #[error("no invitation to group {0:?}")]
    NoInvitation(GroupId),
    /// No invitation to this group was sent over this channel.
    #[error("no join request for group {group:?} on channel {channel:?}")]
    NoJoinRequest {
        /// The group.
        group: GroupId,
        /// The channel.
        channel: String,
    },
    /// The invitee has not answered the invitation yet (or was asked to revise its name).
    #[error("the invitee has not answered")]
    NotAnswered,
    /// The one asking to join is a member already (or was, and left or was removed).
    #[error("already a member, or a former one")]
    AlreadyMember,
    /// No member of this ID in the group.
    #[error("no member {0} in the group")]
    UnknownMember(MemberId),
    /// We no longer read or write this group (we left, were removed, or it was deleted).
    #[error("no longer a member of group {0:?}")]
    NotAMember(GroupId),
    /// The group has as many members as this profile accepts.
    #[error(
        "the group has {0} members, the most this profile accepts (Config::max_group_members)"
    )]
    GroupFull(usize),
    /// No outbox entry of this number.
    #[error("no entry {0} in the outbox")]
    NotInOutbox(u64),
    /// An outbox entry that can no longer be dropped.
    #[error("cannot drop: {0}")]
    NotDroppable(&'static str),
    /// Our role does not allow it, or it cannot be done to that member.
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    /// A sealed cap or sealing key that cannot be used.
    #[error("sealed cap: {0}")]
    Seal(#[from] SealError),
    /// The channel waits for the peer's token.
    #[error("channel {0:?} waits for the peer's token")]
    ChannelNotOpen(String),
    /// A channel of this label exists.
    #[error("channel {0:?} exists")]
    ChannelExists(String),
    /// The channel reads another peer's stream already.
    #[error("channel {0:?} already has another peer")]
    ChannelHasOtherPeer(String),
    /// The token given is one of ours: the token of our channel of this label, which is for the
    /// peer to accept.
    #[error(
        "that is our own token, of channel {0:?}: give it to the peer, and accept the peer's \
         token"
    )]
    OwnToken(String),
    /// The token given is accepted already, as the peer of the channel of this label.
    #[error("that token is accepted already, as the peer of channel {0:?}")]
    TokenAccepted(String),
    /// A channel label that breaks the rules.
    #[error("channel label {0:?}: 1 to {max} of A-Z a-z 0-9 - _ .", max = crate::channel::MAX_LABEL_CHARS)]
    InvalidLabel(String),
    /// A group name that breaks the rules.
    #[error("group name: {0}")]
    InvalidGroupName(DisplayNameError),
    /// A file over the cap.
    #[error("file of {len} bytes is over the cap of {max}")]
    FileTooLarge {
        /// Its length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// A display name that breaks the rules.
    #[error("display name: {0}")]
    DisplayName(#[from] DisplayNameError),
    /// A channel message or token that cannot be used.
    #[error("channel: {0}")]
    Channel(#[from] ChannelError),
    /// A group message that cannot be used.
    #[error("message: {0}")]
    Decode(#[from] DecodeError),
    /// A BACAP error (a cap that does not decode, a stream counter exhausted).
    #[error("bacap: {0}")]
    Bacap(#[from] bacap::Error),
    /// Preparing or completing a stream operation failed.
    #[error("stream: {0}")]
    Stream(#[from] StreamError),
    /// A stored record does not decode or does not fit the others: the profile is damaged or
    /// from a later version.
    #[error("corrupt profile state: {record}: {detail}")]
    Corrupt {
        /// Which record.
        record: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

impl Error {
    /// A damaged record.
    pub fn corrupt(record: &'static str, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            record,
            detail: detail.into(),
        }
    }
}
