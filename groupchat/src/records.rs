//! The persistent records of a profile, as CBOR maps (serde + ciborium). Records that hold caps
//! or stream states are secret: they zeroize on drop and their encodings are [`Zeroizing`].
//!
//! Every record carries a `v` field (version 1); a record of another version or shape is
//! [`Error::Corrupt`], never a panic. Empty byte strings stand for absent optional caps.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

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
        ciborium::from_reader(&mut rest).map_err(|e| Error::corrupt(what, e.to_string()))?;
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

/// A member of a group.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct MemberRecord {
    /// katzenqt PleaseAdd CBOR.
    #[serde(with = "serde_bytes")]
    pub please_add: Vec<u8>,
    /// `StreamReader::to_bytes`, empty for ourselves.
    #[serde(with = "serde_bytes")]
    pub reader: Vec<u8>,
    /// The member ID of whoever introduced this member, empty if none (creator, ourselves).
    #[serde(with = "serde_bytes")]
    pub introduced_by: Vec<u8>,
    /// Whether their latest message's membership hash differed from our view.
    #[serde(default)]
    pub view_differs: bool,
}

/// A group.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct GroupRecord {
    /// Version.
    pub v: u32,
    /// Group ID.
    #[serde(with = "serde_bytes")]
    pub id: Vec<u8>,
    /// Group name.
    pub name: String,
    /// Our ReadCap bytes (the key of our own member entry).
    #[serde(with = "serde_bytes")]
    pub me: Vec<u8>,
    /// `StatefulWriter::to_bytes` of our group stream.
    #[serde(with = "serde_bytes")]
    pub writer: Vec<u8>,
    /// Members, ourselves included.
    pub members: Vec<MemberRecord>,
    /// A WHO arrived that we have not answered yet.
    pub owe_who_reply: bool,
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
    /// The display name we asked for, empty until we answered.
    pub display_name: String,
    /// The introducer's latest request to revise the name, empty if none.
    pub revise_reason: String,
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
}

/// A stream a pending operation advances.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum TargetRecord {
    /// Our stream of this group.
    Group(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Our stream of this channel.
    Channel(String),
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
}

/// A network operation persisted before it runs.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct PendingRecord {
    /// Version.
    pub v: u32,
    /// 1: `Outgoing::to_bytes`; 2: `AllOrNothingPlan::to_bytes`.
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
