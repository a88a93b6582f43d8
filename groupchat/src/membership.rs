//! The membership hash: BLAKE2b-256 of the ReplyWho CBOR listing a group's members in one
//! canonical order, so members who know the same member set compute the same hash whatever
//! order they learned it in.

use core::fmt;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

use crate::messages::{PleaseAdd, ReplyWho};

/// Length of a membership hash.
pub const MEMBERSHIP_HASH_LEN: usize = 32;

/// BLAKE2b-256 over the canonical ReplyWho of a member set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MembershipHash(pub [u8; MEMBERSHIP_HASH_LEN]);

impl MembershipHash {
    /// The hash of `members` in canonical order: sorted by ReadCap bytes (each member's stream
    /// has its own cap, so the order is total).
    pub fn of(members: &[PleaseAdd]) -> Self {
        let mut sorted = members.to_vec();
        sorted.sort_by(|a, b| a.read_cap.as_bytes().cmp(b.read_cap.as_bytes()));
        sorted.dedup_by(|a, b| a.read_cap == b.read_cap);
        Self::of_reply_who_cbor(
            &ReplyWho {
                please_adds: sorted,
            }
            .to_cbor(),
        )
    }

    /// The hash of an already encoded ReplyWho, in whatever order it lists its members.
    pub fn of_reply_who_cbor(cbor: &[u8]) -> Self {
        Self(Blake2b::<U32>::digest(cbor).into())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; MEMBERSHIP_HASH_LEN] {
        &self.0
    }
}

impl fmt::Debug for MembershipHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MembershipHash(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}
