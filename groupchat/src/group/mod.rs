//! One group as a member holds it: our own stream's writer, every member keyed by the bytes of
//! their stream's ReadCap (so two members with the same display name stay two members), a
//! reader per other member, and the membership hash.
//!
//! The membership hash a message carries is the sender's view *with that message applied*
//! (an INTRODUCTION's hash includes the member it introduces); a receiver compares it with its
//! own view after applying the message, and reports a difference.
//!
//! A member's stream is read only once someone introduced it: the creator knows only itself, a
//! member adds others from an INTRODUCTION in a member's stream, from the member list of its
//! own Welcome, or from a member's WHOREPLY. Nobody reads a stream no member vouched for.

mod receive;

use std::collections::BTreeMap;
use std::fmt;

use bacap::{Geometry, StatefulWriter, READ_CAP_LEN};
use blake2::digest::consts::U16;
use blake2::{Blake2b, Digest};
use pigeonhole::stream::{Limits, Outgoing, StreamReader};
use rand_core::{CryptoRng, RngCore};

use crate::channel::GroupId;
use crate::error::Error;
use crate::membership::MembershipHash;
use crate::messages::{Body, GroupChatMessage, PleaseAdd};
use crate::records::{check_version, GroupRecord, MemberRecord, RECORD_VERSION};

pub(crate) use receive::Context;

/// The BACAP context of a group's streams.
pub fn group_ctx(id: &GroupId) -> Vec<u8> {
    let mut ctx = b"bacap-chat/group/v1/".to_vec();
    ctx.extend_from_slice(&id.0);
    ctx
}

/// A member's stable identity within the profile: BLAKE2b-128 of their stream's ReadCap. Shown
/// (as hex) next to the display name, it tells apart members with the same name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(pub [u8; 16]);

impl MemberId {
    /// The ID of the member whose ReadCap encodes to `read_cap`.
    pub fn of(read_cap: &[u8]) -> Self {
        Self(Blake2b::<U16>::digest(read_cap).into())
    }

    /// From stored bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
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

/// A member as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Stable ID.
    pub id: MemberId,
    /// Display name (not unique).
    pub name: String,
    /// Whether this is us.
    pub is_me: bool,
    /// Who introduced the member, if we know.
    pub introduced_by: Option<MemberId>,
    /// Whether the membership hash of their latest message we read differed from our view
    /// (see [`crate::Event::MembershipMismatch`]).
    pub view_differs: bool,
}

/// A group as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// ID.
    pub id: GroupId,
    /// Name.
    pub name: String,
    /// Members, us included.
    pub members: Vec<MemberInfo>,
    /// Our membership hash.
    pub membership_hash: MembershipHash,
}

/// A member of a group.
pub(crate) struct Member {
    pub please_add: PleaseAdd,
    /// `None` for ourselves.
    pub reader: Option<StreamReader>,
    pub introduced_by: Option<MemberId>,
    /// Whether the membership hash of their latest message differed from our view.
    pub view_differs: bool,
}

/// A group we are a member of.
pub(crate) struct Group {
    pub id: GroupId,
    pub name: String,
    pub writer: StatefulWriter,
    pub me: [u8; READ_CAP_LEN],
    pub members: BTreeMap<[u8; READ_CAP_LEN], Member>,
    pub owe_who_reply: bool,
}

impl Group {
    /// A group of one: us, with the PleaseAdd for our stream `writer`.
    pub fn new(id: GroupId, name: String, writer: StatefulWriter, me: PleaseAdd) -> Self {
        let key = *me.read_cap.as_bytes();
        let mut members = BTreeMap::new();
        members.insert(
            key,
            Member {
                please_add: me,
                reader: None,
                introduced_by: None,
                view_differs: false,
            },
        );
        Self {
            id,
            name,
            writer,
            me: key,
            members,
            owe_who_reply: false,
        }
    }

    /// Our display name here.
    pub fn my_name(&self) -> String {
        self.members[&self.me].please_add.display_name.to_string()
    }

    /// Our member ID here.
    pub fn my_id(&self) -> MemberId {
        MemberId::of(&self.me)
    }

    /// The hash of our view of the membership.
    pub fn membership_hash(&self) -> MembershipHash {
        let all: Vec<PleaseAdd> = self
            .members
            .values()
            .map(|m| m.please_add.clone())
            .collect();
        MembershipHash::of(&all)
    }

    /// Every member's PleaseAdd.
    pub fn please_adds(&self) -> Vec<PleaseAdd> {
        self.members
            .values()
            .map(|m| m.please_add.clone())
            .collect()
    }

    /// Adds a member and starts reading their stream from its first box. Returns false (and
    /// changes nothing) for a member we already have. A ReadCap whose root key is not a valid
    /// point is an error.
    pub fn add_member(
        &mut self,
        please_add: PleaseAdd,
        introduced_by: Option<MemberId>,
        limits: Limits,
    ) -> Result<bool, Error> {
        let key = *please_add.read_cap.as_bytes();
        if self.members.contains_key(&key) {
            return Ok(false);
        }
        let cap = please_add.read_cap()?;
        let reader = StreamReader::new(cap, &group_ctx(&self.id)).with_limits(limits);
        self.members.insert(
            key,
            Member {
                please_add,
                reader: Some(reader),
                introduced_by,
                view_differs: false,
            },
        );
        Ok(true)
    }

    /// Prepares `body` (with our membership hash) for our stream's next index; writes nothing.
    pub fn prepare<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        body: Body,
        geometry: Geometry,
        limits: &Limits,
    ) -> Result<Outgoing, Error> {
        let msg = GroupChatMessage::new(self.membership_hash(), body).to_cbor();
        Ok(Outgoing::prepare(
            rng,
            &self.writer,
            &[&msg],
            geometry,
            limits,
        )?)
    }

    /// The group as the user sees it.
    pub fn info(&self) -> GroupInfo {
        GroupInfo {
            id: self.id,
            name: self.name.clone(),
            members: self.member_infos(),
            membership_hash: self.membership_hash(),
        }
    }

    /// The members as the user sees them, in canonical (ReadCap) order.
    pub fn member_infos(&self) -> Vec<MemberInfo> {
        self.members
            .iter()
            .map(|(k, m)| MemberInfo {
                id: MemberId::of(k),
                name: m.please_add.display_name.to_string(),
                is_me: *k == self.me,
                introduced_by: m.introduced_by,
                view_differs: m.view_differs,
            })
            .collect()
    }

    /// The persistent record.
    pub fn to_record(&self) -> GroupRecord {
        GroupRecord {
            v: RECORD_VERSION,
            id: self.id.0.to_vec(),
            name: self.name.clone(),
            me: self.me.to_vec(),
            writer: self.writer.to_bytes().to_vec(),
            members: self
                .members
                .values()
                .map(|m| MemberRecord {
                    please_add: m.please_add.to_cbor(),
                    reader: m
                        .reader
                        .as_ref()
                        .map(|r| r.to_bytes().to_vec())
                        .unwrap_or_default(),
                    introduced_by: m.introduced_by.map(|i| i.0.to_vec()).unwrap_or_default(),
                    view_differs: m.view_differs,
                })
                .collect(),
            owe_who_reply: self.owe_who_reply,
        }
    }

    /// Restores a group from its record.
    pub fn from_record(r: &GroupRecord, limits: Limits) -> Result<Self, Error> {
        check_version("group", r.v)?;
        let corrupt = |what: &str| Error::corrupt("group", what);
        let id = GroupId(r.id.as_slice().try_into().map_err(|_| corrupt("id"))?);
        let me: [u8; READ_CAP_LEN] = r.me.as_slice().try_into().map_err(|_| corrupt("me"))?;
        let writer = StatefulWriter::from_bytes(&r.writer)?;
        let mut members = BTreeMap::new();
        for m in &r.members {
            let please_add = PleaseAdd::from_cbor(&m.please_add)?;
            let key = *please_add.read_cap.as_bytes();
            let reader = if m.reader.is_empty() {
                None
            } else {
                Some(StreamReader::from_bytes(&m.reader)?.with_limits(limits))
            };
            if (key == me) != reader.is_none() {
                return Err(corrupt("reader of a member"));
            }
            members.insert(
                key,
                Member {
                    please_add,
                    reader,
                    introduced_by: MemberId::from_slice(&m.introduced_by),
                    view_differs: m.view_differs,
                },
            );
        }
        if !members.contains_key(&me) {
            return Err(corrupt("we are not a member"));
        }
        Ok(Self {
            id,
            name: r.name.clone(),
            writer,
            me,
            members,
            owe_who_reply: r.owe_who_reply,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display_name::DisplayName;
    use bacap::WriteCap;
    use rand_core::OsRng;

    fn group() -> Group {
        let id = GroupId([3; 32]);
        let cap = WriteCap::generate(&mut OsRng);
        let me = PleaseAdd::new(DisplayName::new("me").unwrap(), &cap.read_cap());
        Group::new(
            id,
            "g".into(),
            StatefulWriter::new(cap, &group_ctx(&id)),
            me,
        )
    }

    #[test]
    fn a_group_round_trips_and_same_names_stay_apart() {
        let mut g = group();
        for _ in 0..2 {
            let other = WriteCap::generate(&mut OsRng).read_cap();
            let pa = PleaseAdd::new(DisplayName::new("me").unwrap(), &other);
            assert!(g.add_member(pa.clone(), None, Limits::default()).unwrap());
            assert!(!g.add_member(pa, None, Limits::default()).unwrap(), "once");
        }
        let infos = g.member_infos();
        assert_eq!(infos.len(), 3);
        assert!(infos.iter().all(|m| m.name == "me"));
        let back = Group::from_record(&g.to_record(), Limits::default()).unwrap();
        assert_eq!(back.member_infos(), infos);
        assert_eq!(back.membership_hash(), g.membership_hash());
    }

    #[test]
    fn inconsistent_records_are_corrupt() {
        let g = group();
        let mut r = g.to_record();
        r.me = vec![0; READ_CAP_LEN];
        assert!(matches!(
            Group::from_record(&r, Limits::default()),
            Err(Error::Corrupt { .. })
        ));
        let mut r = g.to_record();
        r.id = vec![1; 5];
        assert!(Group::from_record(&r, Limits::default()).is_err());
        let mut r = g.to_record();
        r.members[0].reader = vec![1, 2, 3];
        assert!(Group::from_record(&r, Limits::default()).is_err());
        let mut r = g.to_record();
        r.v = 9;
        assert!(Group::from_record(&r, Limits::default()).is_err());
    }
}
