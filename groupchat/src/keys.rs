//! The key layout of a profile's database: one key space split by prefixes. Every value is a
//! CBOR record of [`crate::records`], secret ones included.
//!
//! | key | value |
//! |---|---|
//! | `profile` | the profile record |
//! | `seq` | the next sequence number (u64 big endian) |
//! | `group/` + group ID (32) | a group: name, own writer, members with their reader states |
//! | `chan/` + label | a 1:1 channel: own writer, the peer's reader state |
//! | `inv-in/` + group ID | an invitation received, and our answer so far |
//! | `inv-out/` + group ID + label | an invitation sent, and the invitee's request |
//! | `pending/` + seq (u64 BE) | a network operation persisted before it runs |
//! | `hist/g/` + group ID + seq | a group history entry |
//! | `hist/c/` + label + `/` + seq | a channel history entry |

/// The profile record.
pub const PROFILE: &[u8] = b"profile";
/// The sequence counter.
pub const SEQ: &[u8] = b"seq";
/// Prefix of groups.
pub const GROUP: &[u8] = b"group/";
/// Prefix of channels.
pub const CHANNEL: &[u8] = b"chan/";
/// Prefix of received invitations.
pub const INVITATION_IN: &[u8] = b"inv-in/";
/// Prefix of sent invitations.
pub const INVITATION_OUT: &[u8] = b"inv-out/";
/// Prefix of pending operations.
pub const PENDING: &[u8] = b"pending/";
/// How long streams have been stuck, by source.
pub const STUCK: &[u8] = b"stuck/";
/// Requests queued behind a pending operation of one of their streams, by sequence number.
pub const QUEUED: &[u8] = b"queued/";
/// Prefix of group history.
pub const GROUP_HISTORY: &[u8] = b"hist/g/";
/// Prefix of channel history.
pub const CHANNEL_HISTORY: &[u8] = b"hist/c/";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `group/` + ID.
pub fn group(id: &[u8; 32]) -> Vec<u8> {
    cat(&[GROUP, id])
}
/// `chan/` + label.
pub fn channel(label: &str) -> Vec<u8> {
    cat(&[CHANNEL, label.as_bytes()])
}
/// `inv-in/` + group ID.
pub fn invitation_in(id: &[u8; 32]) -> Vec<u8> {
    cat(&[INVITATION_IN, id])
}
/// `inv-out/` + group ID + label.
pub fn invitation_out(id: &[u8; 32], label: &str) -> Vec<u8> {
    cat(&[INVITATION_OUT, id, label.as_bytes()])
}
/// `pending/` + seq.
pub fn pending(seq: u64) -> Vec<u8> {
    cat(&[PENDING, &seq.to_be_bytes()])
}
/// `stuck/` + the stream's source name.
pub fn stuck(source: &str) -> Vec<u8> {
    cat(&[STUCK, source.as_bytes()])
}
/// `queued/` + seq.
pub fn queued(seq: u64) -> Vec<u8> {
    cat(&[QUEUED, &seq.to_be_bytes()])
}
/// `hist/g/` + group ID (the prefix of one group's history).
pub fn group_history_prefix(id: &[u8; 32]) -> Vec<u8> {
    cat(&[GROUP_HISTORY, id])
}
/// `hist/g/` + group ID + seq.
pub fn group_history(id: &[u8; 32], seq: u64) -> Vec<u8> {
    cat(&[GROUP_HISTORY, id, &seq.to_be_bytes()])
}
/// `hist/c/` + label + `/` (the prefix of one channel's history).
pub fn channel_history_prefix(label: &str) -> Vec<u8> {
    cat(&[CHANNEL_HISTORY, label.as_bytes(), b"/"])
}
/// `hist/c/` + label + `/` + seq.
pub fn channel_history(label: &str, seq: u64) -> Vec<u8> {
    cat(&[CHANNEL_HISTORY, label.as_bytes(), b"/", &seq.to_be_bytes()])
}

/// The prefixes of every record the chat state loads (history is read on demand).
pub const STATE: &[&[u8]] = &[
    PROFILE,
    SEQ,
    GROUP,
    CHANNEL,
    INVITATION_IN,
    INVITATION_OUT,
    PENDING,
    QUEUED,
    STUCK,
];
