//! The persistent records of a profile, as CBOR maps (serde + ciborium). Records that hold caps
//! or stream states are secret: they zeroize on drop and their encodings are [`Zeroizing`].
//!
//! Every record carries a `v` field (version 1); a record of another version or shape is
//! [`Error::Corrupt`], never a panic. Empty byte strings stand for absent optional caps.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use pigeonhole::cbor::describe_error;

use crate::error::Error;

/// The record format version.
pub const RECORD_VERSION: u32 = 1;

/// Encodes a record.
pub fn encode<T: Serialize>(record: &T) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    ciborium::into_writer(record, &mut *out).expect("CBOR to a Vec cannot fail");
    out
}

/// Decodes a record, refusing trailing bytes.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, Error> {
    let mut rest = bytes;
    let value: T =
        ciborium::from_reader(&mut rest).map_err(|e| Error::corrupt(what, describe_error(&e)))?;
    if !rest.is_empty() {
        return Err(Error::corrupt(what, "trailing bytes"));
    }
    Ok(value)
}

/// Checks a record's version.
pub fn check_version(what: &'static str, v: u32) -> Result<(), Error> {
    if v != RECORD_VERSION {
        return Err(Error::corrupt(what, format!("unknown record version {v}")));
    }
    Ok(())
}

/// The profile.
#[derive(Serialize, Deserialize)]
pub struct ProfileRecord {
    /// Version.
    pub v: u32,
    /// When the profile was created (Unix milliseconds).
    pub created_ms: u64,
}

/// A member of a group we count.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct MemberRecord {
    /// Its member ID (32 bytes).
    #[serde(with = "serde_bytes")]
    pub member: Vec<u8>,
    /// Its display name.
    pub display_name: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    /// The member ID of whoever introduced it, empty if none (the creator, ourselves).
    #[serde(with = "serde_bytes")]
    pub introduced_by: Vec<u8>,
    /// The epoch of the stream `reader` reads.
    pub epoch: u64,
    /// `StreamReader::to_bytes` of its current stream, empty for ourselves (and once we stop
    /// reading the group).
    #[serde(with = "serde_bytes")]
    pub reader: Vec<u8>,
    /// Its sealing public key, empty until known.
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    /// Our public key its latest ROTATE sealed our cap to, empty if none yet.
    #[serde(with = "serde_bytes")]
    pub key_used: Vec<u8>,
    /// Whether its latest message's membership hash differed from our view.
    pub view_differs: bool,
    /// The epoch its latest ROTATE leads to, when our sealed cap is still to be fetched.
    pub lookup_epoch: u64,
    /// `StatefulReader::to_bytes` at the substream box that holds our sealed cap, empty if
    /// none is to be fetched.
    #[serde(with = "serde_bytes")]
    pub lookup: Vec<u8>,
}

/// A member of a group we no longer count.
#[derive(Serialize, Deserialize)]
pub struct DepartedRecord {
    /// Its member ID.
    #[serde(with = "serde_bytes")]
    pub member: Vec<u8>,
    /// Its display name.
    pub display_name: String,
    /// The member ID of who removed it, empty if it left.
    #[serde(with = "serde_bytes")]
    pub removed_by: Vec<u8>,
}

/// The stream a queued rotation moves us to.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct NextStreamRecord {
    /// `StatefulWriter::to_bytes` of the new stream, at its first index.
    #[serde(with = "serde_bytes")]
    pub writer: Vec<u8>,
    /// The sealing key its KEY publishes (32 secret bytes).
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    /// Its epoch.
    pub epoch: u64,
}

/// A group (record version [`crate::group::GROUP_RECORD_VERSION`]).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct GroupRecord {
    /// Version.
    pub v: u32,
    /// Group ID.
    #[serde(with = "serde_bytes")]
    pub id: Vec<u8>,
    /// Group name.
    pub name: String,
    /// Our member ID.
    #[serde(with = "serde_bytes")]
    pub me: Vec<u8>,
    /// `StatefulWriter::to_bytes` of our current stream.
    #[serde(with = "serde_bytes")]
    pub writer: Vec<u8>,
    /// Its epoch.
    pub epoch: u64,
    /// Our sealing keys' secret bytes, 32 each, oldest first.
    #[serde(with = "serde_bytes")]
    pub keys: Vec<u8>,
    /// The members we count, ourselves included.
    pub members: Vec<MemberRecord>,
    /// The members we no longer count.
    #[zeroize(skip)]
    pub departed: Vec<DepartedRecord>,
    /// `shared` or `from-joining`.
    pub history: String,
    /// `member`, `left`, `removed` or `deleted`.
    pub standing: String,
    /// Who removed us or deleted the group, empty otherwise.
    #[serde(with = "serde_bytes")]
    pub standing_by: Vec<u8>,
    /// A WHO arrived that we have not answered yet.
    pub owe_who_reply: bool,
    /// A rotation of ours is due.
    pub owe_rotation: bool,
    /// Our boxes are still to be tombstoned (the group was deleted).
    pub owe_tombstones: bool,
    /// We are to ask WHO.
    pub owe_who: bool,
    /// The IDs of the members whose latest ROTATE did not give us their new stream, 32 bytes
    /// each.
    #[serde(with = "serde_bytes")]
    #[zeroize(skip)]
    pub stuck_on: Vec<u8>,
    /// The stream a queued rotation moves us to.
    pub next: Option<NextStreamRecord>,
    /// The IDs of the members our current stream's cap was not sealed to, 32 bytes each.
    #[serde(with = "serde_bytes")]
    #[zeroize(skip)]
    pub missing_cap: Vec<u8>,
    /// Rotate after this many of our messages (0: never).
    pub rotate_after_messages: u32,
    /// Rotate after this many days (0: never).
    pub rotate_after_days: u32,
    /// Our messages on the current stream.
    pub posted_since_rotation: u32,
    /// When we moved to the current stream (Unix milliseconds).
    pub rotated_at_ms: u64,
    /// Introductions held for the user's approval.
    #[serde(default)]
    #[zeroize(skip)]
    pub held: Vec<HeldRecord>,
}

/// An introduction held for the user's approval (the group was at
/// [`crate::Config::auto_admit_members`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeldRecord {
    /// The newcomer's PleaseAdd (katzenqt CBOR).
    #[serde(with = "serde_bytes")]
    pub please_add: Vec<u8>,
    /// The member who introduced them.
    #[serde(with = "serde_bytes")]
    pub by: Vec<u8>,
}

/// A 1:1 channel.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct ChannelRecord {
    /// Version.
    pub v: u32,
    /// The local label.
    pub label: String,
    /// `StatefulWriter::to_bytes` of our outgoing stream.
    #[serde(with = "serde_bytes")]
    pub writer: Vec<u8>,
    /// `StreamReader::to_bytes` of the peer's stream, empty until the peer's token arrived.
    #[serde(with = "serde_bytes")]
    pub reader: Vec<u8>,
}

/// An invitation we received.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct InvitationInRecord {
    /// Version.
    pub v: u32,
    /// Group ID.
    #[serde(with = "serde_bytes")]
    pub group_id: Vec<u8>,
    /// Group name as the introducer gave it.
    pub group_name: String,
    /// The channel it came over.
    pub channel: String,
    /// The WriteCap of our future group stream, empty until we answered.
    #[serde(with = "serde_bytes")]
    pub write_cap: Vec<u8>,
    /// `StatefulWriter::to_bytes` of our future group stream (past its KEY once that landed),
    /// empty until we answered.
    #[serde(default, with = "serde_bytes")]
    pub writer: Vec<u8>,
    /// The secret sealing key our KEY publishes, empty until we answered.
    #[serde(default, with = "serde_bytes")]
    pub key: Vec<u8>,
    /// The display name we asked for, empty until we answered.
    pub display_name: String,
    /// The introducer's latest request to revise the name, empty if none.
    pub revise_reason: String,
    /// When it arrived (Unix milliseconds; 0 in records from before it was kept).
    #[zeroize(skip)]
    #[serde(default)]
    pub received_ms: u64,
}

/// An invitation we sent.
#[derive(Serialize, Deserialize)]
pub struct InvitationOutRecord {
    /// Version.
    pub v: u32,
    /// Group ID.
    #[serde(with = "serde_bytes")]
    pub group_id: Vec<u8>,
    /// The channel it went over.
    pub channel: String,
    /// The invitee's latest SignedPleaseAdd as a channel message, empty until it arrived.
    #[serde(with = "serde_bytes")]
    pub request: Vec<u8>,
    /// When it was sent (Unix milliseconds; 0 in records from before it was kept).
    #[serde(default)]
    pub sent_ms: u64,
}

/// A stream a pending operation advances.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetRecord {
    /// Our stream of this group.
    Group(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The stream a queued rotation of this group moves us to.
    GroupNext(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Our stream of this channel.
    Channel(String),
    /// Our future stream of the group of this invitation.
    Invitation(#[serde(with = "serde_bytes")] Vec<u8>),
}

/// What a history entry holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Content {
    /// A text message.
    Text(String),
    /// A file.
    File {
        /// The sender's name for it (unsanitized; shown, never used as a path).
        basename: String,
        /// `image`, `sound` or `arbitrary`.
        filetype: String,
        /// Its length in bytes.
        len: u64,
        /// Where we stored it (received files), or empty (files we sent).
        path: String,
    },
    /// A member was introduced to the group by the entry's sender.
    Introduced {
        /// The new member's display name.
        name: String,
        /// The new member's ID.
        #[serde(with = "serde_bytes")]
        member: Vec<u8>,
    },
    /// We joined the group.
    Joined,
    /// WHO was asked.
    Who,
    /// The entry's sender left the group.
    Left,
    /// The entry's sender removed a member.
    Removed {
        /// The removed member's display name.
        name: String,
        /// The removed member's ID.
        #[serde(with = "serde_bytes")]
        member: Vec<u8>,
    },
    /// The entry's sender gave a member a role.
    RoleSet {
        /// The member's display name.
        name: String,
        /// The member's ID.
        #[serde(with = "serde_bytes")]
        member: Vec<u8>,
        /// `admin` or `member`.
        role: String,
    },
    /// The entry's sender deleted the group.
    Deleted,
    /// The entry's sender asked for something that was not done.
    Refused {
        /// What it asked.
        request: String,
        /// Why it was refused.
        reason: String,
    },
    /// The entry's sender moved to a new stream.
    Rotated {
        /// The new stream's epoch.
        epoch: u64,
    },
}

/// What happens locally once a pending operation landed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Completion {
    /// Nothing more.
    Nothing,
    /// Record our own group message in history.
    GroupPosted {
        /// Group ID.
        #[serde(with = "serde_bytes")]
        group: Vec<u8>,
        /// What we sent.
        content: Content,
    },
    /// Record our own channel message in history.
    ChannelPosted {
        /// Channel label.
        label: String,
        /// What we sent.
        content: Content,
    },
    /// An approval: add the member to the group, close the invitation.
    Approved {
        /// Group ID.
        #[serde(with = "serde_bytes")]
        group: Vec<u8>,
        /// The channel of the invitation.
        label: String,
        /// The new member's PleaseAdd CBOR.
        #[serde(with = "serde_bytes")]
        please_add: Vec<u8>,
    },
    /// A WHOREPLY went out: clear the debt.
    WhoReplied {
        /// Group ID.
        #[serde(with = "serde_bytes")]
        group: Vec<u8>,
    },
    /// Our rotation landed (after removing a member, if `removed` is not empty): move to the
    /// new stream.
    Rotated {
        /// Group ID.
        #[serde(with = "serde_bytes")]
        group: Vec<u8>,
        /// The member our REMOVE before the ROTATE removed, or empty.
        #[serde(with = "serde_bytes")]
        removed: Vec<u8>,
        /// The IDs of the members the new cap was not sealed to (no key known), 32 bytes each.
        #[serde(with = "serde_bytes")]
        missing: Vec<u8>,
    },
    /// Our LEAVE landed.
    Left {
        /// Group ID.
        #[serde(with = "serde_bytes")]
        group: Vec<u8>,
    },
    /// Our ROLE landed.
    RoleSet {
        /// Group ID.
        #[serde(with = "serde_bytes")]
        group: Vec<u8>,
        /// The member.
        #[serde(with = "serde_bytes")]
        member: Vec<u8>,
        /// `admin` or `member`.
        role: String,
    },
    /// Our DELETE landed: tombstone our boxes next.
    Deleted {
        /// Group ID.
        #[serde(with = "serde_bytes")]
        group: Vec<u8>,
    },
    /// Our boxes of the group are tombstoned.
    Tombstoned {
        /// Group ID.
        #[serde(with = "serde_bytes")]
        group: Vec<u8>,
    },
}

/// A network operation persisted before it runs.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct PendingRecord {
    /// Version.
    pub v: u32,
    /// 1: `Outgoing::to_bytes`; 2: `AllOrNothingPlan::to_bytes`; 3: tombstones (a
    /// `StatefulWriter` state at the first box, then the count as u64 big-endian).
    pub kind: u8,
    /// The operation's persistent form (secret).
    #[serde(with = "serde_bytes")]
    pub op: Vec<u8>,
    /// The streams it advances, in the order the operation returns their writers.
    #[zeroize(skip)]
    pub targets: Vec<TargetRecord>,
    /// What to record once it landed.
    #[zeroize(skip)]
    pub completion: Completion,
    /// The user's request it was prepared from; `None` for what the client owes by itself (a
    /// WHO answer, a rotation, tombstones).
    #[zeroize(skip)]
    #[serde(default)]
    pub from: Option<RequestMeta>,
    /// How many times it was sent.
    #[zeroize(skip)]
    #[serde(default)]
    pub attempts: u32,
    /// How many of those may have reached storage (counted before each try, taken back when a
    /// try could not connect): while zero, none of its boxes landed.
    #[zeroize(skip)]
    #[serde(default)]
    pub reached: u32,
    /// Why the last try did not land, or empty.
    #[zeroize(skip)]
    #[serde(default)]
    pub last_error: String,
}

/// How long a stream has been stuck at one box (see [`crate::Config::stuck_polls_before_skip`]).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct StuckRecord {
    /// Version.
    pub v: u32,
    /// In how many polls.
    pub polls: u32,
    /// Since when (Unix milliseconds).
    pub since_ms: u64,
}

/// What the outbox shows of an operation prepared from a user's request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestMeta {
    /// The entry's number in the outbox (the request's sequence number).
    pub entry: u64,
    /// What kind of request (`post`, `file`, `text`, `invite`, ...).
    pub kind: String,
    /// When it was queued (Unix milliseconds).
    pub queued_ms: u64,
}

/// A user's request waiting behind an earlier operation on one of its streams, prepared once
/// that one landed.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct RequestRecord {
    /// Version.
    pub v: u32,
    /// When it was queued (Unix milliseconds).
    pub queued_ms: u64,
    /// The request (its texts and files are private).
    #[zeroize(skip)]
    pub request: crate::chat::Request,
}

/// One history entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HistoryRecord {
    /// Version.
    pub v: u32,
    /// Sequence number: the profile-wide arrival order.
    pub seq: u64,
    /// The sender's member ID (16 bytes), or empty on a channel.
    #[serde(with = "serde_bytes")]
    pub sender: Vec<u8>,
    /// The sender's display name (or the channel label, or our own name).
    pub sender_name: String,
    /// Whether we sent it.
    pub own: bool,
    /// Local time of receipt (or of sending), Unix milliseconds.
    pub time_ms: u64,
    /// What it holds.
    pub content: Content,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_bytes_are_errors() {
        let h = HistoryRecord {
            v: RECORD_VERSION,
            seq: 7,
            sender: vec![1; 16],
            sender_name: "a".into(),
            own: false,
            time_ms: 9,
            content: Content::File {
                basename: "x".into(),
                filetype: "image".into(),
                len: 3,
                path: "/p".into(),
            },
        };
        let back: HistoryRecord = decode("history", &encode(&h)).unwrap();
        assert_eq!(back, h);
        for bad in [&b""[..], b"\xff", b"\xa1\x01\x02", &encode(&h)[..5]] {
            assert!(matches!(
                decode::<HistoryRecord>("history", bad),
                Err(Error::Corrupt { .. })
            ));
        }
        let mut trailing = encode(&h).to_vec();
        trailing.push(0);
        assert!(decode::<HistoryRecord>("history", &trailing).is_err());
        assert!(check_version("x", 2).is_err());
    }
}
