//! One group as a member holds it: our own stream (its writer, its epoch, our sealing keys),
//! every member by [`MemberId`] with its role and the reader of its current stream, the members
//! who left or were removed, the history setting and the membership hash.
//!
//! The membership hash a message carries is the sender's view *with that message applied*
//! (an INTRODUCTION's hash includes the member it introduces); a receiver compares it with its
//! own view after applying the message, and reports a difference.
//!
//! A member's stream is read only once someone introduced it: the creator knows only itself, a
//! member adds others from an INTRODUCTION in a member's stream, from the member list of its
//! own Welcome, or from a member's WHOREPLY. Nobody reads a stream no member vouched for.
//! A member that leaves or is removed is never read again, and a rotation of ours gives our
//! next stream only to the members we still count ([`rotation`]).

mod receive;
mod record;
pub(crate) mod rotation;

use std::collections::{BTreeMap, BTreeSet};

use bacap::{Geometry, ReadCap, StatefulWriter};
use pigeonhole::stream::{Limits, Outgoing, StreamReader};
use rand_core::{CryptoRng, RngCore};

use crate::channel::GroupId;
use crate::display_name::DisplayName;
use crate::error::Error;
use crate::membership::MembershipHash;
use crate::messages::{Body, GroupChatMessage, PleaseAdd, ReplyWho};
use crate::roster::{History, MemberId, Role, RosterEntry};
use crate::sealed::SealingKeyPair;

pub(crate) use receive::Context;
pub use record::GROUP_RECORD_VERSION;
pub(crate) use rotation::NextStream;

/// The BACAP context of a group's streams (every epoch of every member's).
pub fn group_ctx(id: &GroupId) -> Vec<u8> {
    let mut ctx = b"bacap-chat/group/v1/".to_vec();
    ctx.extend_from_slice(&id.0);
    ctx
}

/// A member as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Stable ID.
    pub id: MemberId,
    /// Display name (not unique).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Whether this is us.
    pub is_me: bool,
    /// Who introduced the member, if we know.
    pub introduced_by: Option<MemberId>,
    /// The epoch of the member's stream as we read it (how many times it rotated).
    pub epoch: u64,
    /// Whether the membership hash of their latest message we read differed from our view
    /// (see [`crate::Event::MembershipMismatch`]).
    pub view_differs: bool,
}

/// Where we stand in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// A member.
    Member,
    /// We left.
    Left,
    /// A member with this ID removed us.
    Removed(MemberId),
    /// The owner, with this ID, deleted the group.
    Deleted(MemberId),
}

impl Standing {
    /// Whether we still read and write the group.
    pub fn is_member(&self) -> bool {
        matches!(self, Standing::Member)
    }
}

/// When a member rotates its stream by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RotationPolicy {
    /// After this many of our messages on one stream.
    pub after_messages: Option<u32>,
    /// After this many days on one stream.
    pub after_days: Option<u32>,
}

/// A group as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// ID.
    pub id: GroupId,
    /// Name.
    pub name: String,
    /// The current members, us included.
    pub members: Vec<MemberInfo>,
    /// Our membership hash.
    pub membership_hash: MembershipHash,
    /// What newcomers may read.
    pub history: History,
    /// Where we stand.
    pub standing: Standing,
    /// Our own stream's epoch.
    pub epoch: u64,
    /// The automatic rotation policy.
    pub policy: RotationPolicy,
    /// Introductions waiting for our approval ([`crate::Chat::admit`]).
    pub held: Vec<HeldInfo>,
}

/// An introduction held for the user's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldInfo {
    /// The newcomer.
    pub member: MemberId,
    /// Their display name.
    pub name: String,
    /// Who introduced them.
    pub by: MemberId,
}

/// A member we count.
pub(crate) struct Member {
    pub name: DisplayName,
    pub role: Role,
    pub introduced_by: Option<MemberId>,
    /// The epoch of the stream `reader` reads.
    pub epoch: u64,
    /// `None` for ourselves.
    pub reader: Option<StreamReader>,
    /// Their sealing public key, once known.
    pub key: Option<[u8; 32]>,
    /// The public key of ours their latest ROTATE sealed our cap to.
    pub key_used: Option<[u8; 32]>,
    /// Whether the membership hash of their latest message differed from our view.
    pub view_differs: bool,
    /// Their latest ROTATE put our sealed cap in a box of a substream: the box to fetch, and
    /// the epoch it leads to.
    pub lookup: Option<(u64, bacap::StatefulReader)>,
}

/// How a member went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Departure {
    Left,
    Removed(MemberId),
}

/// A member we no longer count.
pub(crate) struct Departed {
    pub name: DisplayName,
    pub how: Departure,
}

/// A group we are (or were) a member of.
pub(crate) struct Group {
    pub id: GroupId,
    pub name: String,
    pub me: MemberId,
    /// Our current stream.
    pub writer: StatefulWriter,
    pub epoch: u64,
    /// Our sealing keys, oldest first; the last is the one our latest KEY published.
    pub keys: Vec<SealingKeyPair>,
    /// The members we count, us included.
    pub members: BTreeMap<MemberId, Member>,
    pub departed: BTreeMap<MemberId, Departed>,
    pub history: History,
    pub standing: Standing,
    pub owe_who_reply: bool,
    pub owe_rotation: bool,
    /// The stream a queued rotation moves us to.
    pub next: Option<NextStream>,
    /// Members our current stream's cap was not sealed to (no sealing key known then).
    pub missing_cap: BTreeSet<MemberId>,
    pub policy: RotationPolicy,
    pub posted_since_rotation: u32,
    pub rotated_at_ms: u64,
    /// A DELETE arrived (or we sent one) and our boxes are still to be tombstoned.
    pub owe_tombstones: bool,
    /// We are to ask WHO (a member moved to a stream it did not give us).
    pub owe_who: bool,
    /// The members whose latest ROTATE did not give us their new stream.
    pub stuck_on: BTreeSet<MemberId>,
    /// Introductions held for the user's approval, by newcomer: their PleaseAdd and who
    /// introduced them.
    pub held: BTreeMap<MemberId, (PleaseAdd, MemberId)>,
}

impl Group {
    /// A group of one: us, its owner, writing `writer` and sealing with `key`.
    pub fn create(
        id: GroupId,
        name: String,
        writer: StatefulWriter,
        me_name: DisplayName,
        key: SealingKeyPair,
        history: History,
        now_ms: u64,
    ) -> Self {
        let me = MemberId::of(&writer.cap().read_cap());
        let mut members = BTreeMap::new();
        members.insert(
            me,
            Member {
                name: me_name,
                role: Role::Owner,
                introduced_by: None,
                epoch: 0,
                reader: None,
                key: Some(key.public().0),
                key_used: None,
                view_differs: false,
                lookup: None,
            },
        );
        Self {
            id,
            name,
            me,
            writer,
            epoch: 0,
            keys: vec![key],
            members,
            departed: BTreeMap::new(),
            history,
            standing: Standing::Member,
            owe_who_reply: false,
            owe_rotation: false,
            next: None,
            missing_cap: BTreeSet::new(),
            policy: RotationPolicy::default(),
            posted_since_rotation: 0,
            rotated_at_ms: now_ms,
            owe_tombstones: false,
            owe_who: false,
            stuck_on: BTreeSet::new(),
            held: BTreeMap::new(),
        }
    }

    /// Our display name here.
    pub fn my_name(&self) -> String {
        self.members
            .get(&self.me)
            .map(|m| m.name.to_string())
            .or_else(|| self.departed.get(&self.me).map(|d| d.name.to_string()))
            .unwrap_or_default()
    }

    /// Our role here.
    pub fn my_role(&self) -> Option<Role> {
        self.members.get(&self.me).map(|m| m.role)
    }

    /// The hash of our view of the membership.
    pub fn membership_hash(&self) -> MembershipHash {
        self.membership_hash_with(&[], None)
    }

    /// The hash of our view without the `excluded` members and with `added`, if any: what our
    /// view becomes once a removal or an introduction we are sending is applied.
    pub(crate) fn membership_hash_with(
        &self,
        excluded: &[MemberId],
        added: Option<(MemberId, &DisplayName)>,
    ) -> MembershipHash {
        MembershipHash::of_roster(
            self.members
                .iter()
                .filter(|(id, _)| !excluded.contains(id))
                .map(|(id, m)| (*id, &m.name))
                .chain(added),
        )
    }

    /// Adds a member a member introduced (`by`), reading its stream from the start of `cap`.
    /// Returns the new member's ID, or `None` for one we have (or had: a departed member never
    /// comes back).
    pub fn add_introduced(
        &mut self,
        please_add: &PleaseAdd,
        by: Option<MemberId>,
        limits: Limits,
        max_members: usize,
    ) -> Result<Option<MemberId>, Error> {
        let cap = please_add.read_cap()?;
        self.add(
            MemberId::of(&cap),
            please_add.display_name.clone(),
            cap,
            (Role::Member, 0, None),
            by,
            limits,
            max_members,
        )
    }

    /// Adds a member of a member list (a Welcome or a WHOREPLY from `by`): its current stream
    /// from the position its cap starts at, with what the roster entry says of it.
    pub fn add_listed(
        &mut self,
        please_add: &PleaseAdd,
        entry: Option<&RosterEntry>,
        by: Option<MemberId>,
        limits: Limits,
        max_members: usize,
    ) -> Result<Option<MemberId>, Error> {
        let cap = please_add.read_cap()?;
        let (id, role, epoch, key) = match entry {
            Some(e) => (e.member, e.role, e.epoch, e.key),
            None => (MemberId::of(&cap), Role::Member, 0, None),
        };
        self.add(
            id,
            please_add.display_name.clone(),
            cap,
            (role, epoch, key),
            by,
            limits,
            max_members,
        )
    }

    /// Adds member `id` (with its role, stream epoch and sealing key as listed), unless it
    /// is or was one, or the group has `max_members` already.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        id: MemberId,
        name: DisplayName,
        cap: ReadCap,
        (role, epoch, key): (Role, u64, Option<[u8; 32]>),
        by: Option<MemberId>,
        limits: Limits,
        max_members: usize,
    ) -> Result<Option<MemberId>, Error> {
        if self.members.contains_key(&id) || self.departed.contains_key(&id) {
            return Ok(None);
        }
        if self.members.len() >= max_members {
            return Err(Error::GroupFull(max_members));
        }
        let reader = StreamReader::new(cap, &group_ctx(&self.id)).with_limits(limits);
        self.members.insert(
            id,
            Member {
                name,
                role,
                introduced_by: by,
                epoch,
                reader: Some(reader),
                key,
                key_used: None,
                view_differs: false,
                lookup: None,
            },
        );
        Ok(Some(id))
    }

    /// Stops counting `id`: it left, or was removed. Its stream is never read again.
    pub fn depart(&mut self, id: MemberId, how: Departure) {
        if let Some(m) = self.members.remove(&id) {
            self.departed.insert(id, Departed { name: m.name, how });
            self.missing_cap.remove(&id);
            self.stuck_on.remove(&id);
        }
    }

    /// Every current member's PleaseAdd and roster entry, with a ReadCap of its current stream
    /// for a reader who should start where `position` says: at the start of each stream
    /// (`Shared`), or where we are (`FromJoining`: the next box we would read of each member,
    /// and for us the next box we write).
    pub fn member_list(&self, start: History) -> ReplyWho {
        let mut please_adds = Vec::new();
        let mut roster = Vec::new();
        for (id, m) in &self.members {
            let cap = match &m.reader {
                Some(r) => {
                    let at = r.position();
                    match start {
                        History::Shared => at.cap().clone(),
                        History::FromJoining => at.cap().starting_at(at.next_index().clone()),
                    }
                }
                None => {
                    let mine = self.writer.cap().read_cap();
                    match start {
                        History::Shared => mine,
                        History::FromJoining => mine.starting_at(self.writer.next_index().clone()),
                    }
                }
            };
            please_adds.push(PleaseAdd::new(m.name.clone(), &cap));
            roster.push(RosterEntry {
                member: *id,
                role: m.role,
                epoch: m.epoch,
                key: m.key,
            });
        }
        ReplyWho {
            please_adds,
            roster: Some(roster),
        }
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
            history: self.history,
            standing: self.standing,
            epoch: self.epoch,
            policy: self.policy,
            held: self
                .held
                .iter()
                .map(|(id, (pa, by))| HeldInfo {
                    member: *id,
                    name: pa.display_name.to_string(),
                    by: *by,
                })
                .collect(),
        }
    }

    /// The members as the user sees them, in ID order.
    pub fn member_infos(&self) -> Vec<MemberInfo> {
        self.members
            .iter()
            .map(|(id, m)| MemberInfo {
                id: *id,
                name: m.name.to_string(),
                role: m.role,
                is_me: *id == self.me,
                introduced_by: m.introduced_by,
                epoch: if *id == self.me { self.epoch } else { m.epoch },
                view_differs: m.view_differs,
            })
            .collect()
    }

    /// The name of a member we count or counted, for messages about it.
    pub fn name_of(&self, id: &MemberId) -> String {
        self.members
            .get(id)
            .map(|m| m.name.to_string())
            .or_else(|| self.departed.get(id).map(|d| d.name.to_string()))
            .unwrap_or_else(|| id.short())
    }

    /// Forgets what let us read the group: the readers of every member's stream and our
    /// sealing keys (after we left, were removed, or the group was deleted). Our own writer
    /// stays: it reads nothing but what our history holds, and tombstones our boxes.
    pub fn forget_secrets(&mut self) {
        for m in self.members.values_mut() {
            m.reader = None;
            m.lookup = None;
        }
        self.next = None;
        self.keys.clear();
    }

    /// Whether we read and write this group.
    pub fn is_live(&self) -> bool {
        self.standing.is_member()
    }
}
