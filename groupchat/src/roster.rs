//! Who is in a group: member IDs, roles, the group's history setting, and the roster entries
//! that travel with a member list (in a Welcome or a WHOREPLY).

use core::fmt;

use bacap::ReadCap;
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use serde::{Deserialize, Serialize};

use crate::messages::DecodeError;

/// Length of a member ID.
pub const MEMBER_ID_LEN: usize = 32;

/// A member's identity in a group: BLAKE2b-256 of the 32-byte root public key of the ReadCap
/// with which the member was introduced. It does not change when the member's stream rotates.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(pub [u8; MEMBER_ID_LEN]);

impl serde::Serialize for MemberId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for MemberId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = serde_bytes::ByteBuf::deserialize(d)?;
        b.as_slice()
            .try_into()
            .map(Self)
            .map_err(|_| serde::de::Error::custom("a member ID is not 32 bytes"))
    }
}

impl MemberId {
    /// The ID of the member introduced with `cap`.
    pub fn of(cap: &ReadCap) -> Self {
        Self::of_root_key(cap.root_public_key())
    }

    /// The ID of the member whose introduced stream has this root public key.
    pub fn of_root_key(root_public_key: &[u8; 32]) -> Self {
        Self(Blake2b::<U32>::digest(root_public_key).into())
    }

    /// The ID of the member introduced with the ReadCap encoded as `read_cap` (136 bytes).
    pub fn of_cap_bytes(read_cap: &[u8; bacap::READ_CAP_LEN]) -> Self {
        let root: [u8; 32] = read_cap[..32].try_into().expect("32 bytes");
        Self::of_root_key(&root)
    }

    /// From stored or received bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DecodeError> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| DecodeError::BadLength {
                field: "member",
                expected: MEMBER_ID_LEN,
                got: bytes.len(),
            })
    }

    /// A short form for people: the first 4 bytes in hex.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemberId({})", self.short())
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

/// What a member may do in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The group's creator: sets roles, removes anyone but itself, deletes the group.
    Owner,
    /// Removes members (not the owner).
    Admin,
    /// Posts, introduces, leaves.
    Member,
}

impl Role {
    /// The wire string: `owner`, `admin` or `member`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// Parses [`Role::as_str`].
    pub fn parse(s: &str) -> Result<Self, DecodeError> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(DecodeError::Malformed(format!("unknown role {other:?}"))),
        }
    }

    /// Whether this role may remove members.
    pub fn may_remove(&self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a newcomer may read of what was said before it joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum History {
    /// From the start of each member's current stream (Katzenpost's behaviour).
    Shared,
    /// Nothing any member posted before the newcomer's introduction.
    #[default]
    FromJoining,
}

impl History {
    /// The wire string: `shared` or `from-joining`.
    pub fn as_str(&self) -> &'static str {
        match self {
            History::Shared => "shared",
            History::FromJoining => "from-joining",
        }
    }

    /// Parses [`History::as_str`].
    pub fn parse(s: &str) -> Result<Self, DecodeError> {
        match s {
            "shared" => Ok(History::Shared),
            "from-joining" => Ok(History::FromJoining),
            other => Err(DecodeError::Malformed(format!(
                "unknown history setting {other:?}"
            ))),
        }
    }
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a member list says about one member beyond its PleaseAdd (display name and the ReadCap
/// of its current stream): its ID, role, the epoch of that stream and its sealing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RosterEntry {
    /// The member's ID.
    pub member: MemberId,
    /// Its role.
    pub role: Role,
    /// The epoch of the stream whose ReadCap the PleaseAdd carries.
    pub epoch: u64,
    /// Its sealing public key, if known.
    pub key: Option<[u8; 32]>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct RosterEntryWire {
    #[serde(with = "serde_bytes")]
    member: Vec<u8>,
    role: String,
    epoch: u64,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    key: Option<Vec<u8>>,
}

impl RosterEntry {
    pub(crate) fn to_wire(self) -> RosterEntryWire {
        RosterEntryWire {
            member: self.member.0.to_vec(),
            role: self.role.as_str().to_owned(),
            epoch: self.epoch,
            key: self.key.map(|k| k.to_vec()),
        }
    }

    pub(crate) fn from_wire(w: RosterEntryWire) -> Result<Self, DecodeError> {
        let key = match w.key {
            None => None,
            Some(k) => Some(
                k.as_slice()
                    .try_into()
                    .map_err(|_| DecodeError::BadLength {
                        field: "key",
                        expected: 32,
                        got: k.len(),
                    })?,
            ),
        };
        Ok(Self {
            member: MemberId::from_slice(&w.member)?,
            role: Role::parse(&w.role)?,
            epoch: w.epoch,
            key,
        })
    }
}
