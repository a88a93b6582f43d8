//! The membership hash: BLAKE2b-256 over a group's members in one canonical order, so members
//! who know the same member set compute the same hash whatever order they learned it in.
//!
//! A group hashes its roster ([`MembershipHash::of_roster`]): each member's ID and display name.
//! Members' streams rotate and their ReadCaps change, and a member keeps no ReadCap of a stream
//! it no longer reads, but IDs and names stay. katzenqt's hash of a ReplyWho
//! ([`MembershipHash::of`]) stays for its vectors.

use core::fmt;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

use serde::Serialize;

use crate::display_name::DisplayName;
use crate::messages::{PleaseAdd, ReplyWho};
use crate::roster::MemberId;

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
        Self::of_reply_who_cbor(&ReplyWho::of(sorted).to_cbor())
    }

    /// The hash of a group's members: BLAKE2b-256 of the CBOR array of
    /// `{member: bytes (32), display_name: text}` maps, sorted by member ID, duplicates
    /// removed.
    pub fn of_roster<'a>(members: impl IntoIterator<Item = (MemberId, &'a DisplayName)>) -> Self {
        #[derive(Serialize)]
        struct Entry<'a> {
            #[serde(with = "serde_bytes")]
            member: &'a [u8],
            display_name: &'a str,
        }
        let mut sorted: Vec<(MemberId, &DisplayName)> = members.into_iter().collect();
        sorted.sort_by_key(|m| m.0);
        sorted.dedup_by(|a, b| a.0 == b.0);
        let entries: Vec<Entry<'_>> = sorted
            .iter()
            .map(|(id, name)| Entry {
                member: &id.0,
                display_name: name.as_str(),
            })
            .collect();
        let mut cbor = Vec::new();
        ciborium::into_writer(&entries, &mut cbor).expect("writing CBOR to a Vec cannot fail");
        Self(Blake2b::<U32>::digest(&cbor).into())
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
