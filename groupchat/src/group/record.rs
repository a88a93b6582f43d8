//! A group to and from its persistent record.

use std::collections::{BTreeMap, BTreeSet};

use bacap::StatefulWriter;
use pigeonhole::stream::{Limits, StreamReader};

use super::{Departed, Departure, Group, Member, NextStream, RotationPolicy, Standing};
use crate::channel::GroupId;
use crate::display_name::DisplayName;
use crate::error::Error;
use crate::messages::PleaseAdd;
use crate::records::{DepartedRecord, GroupRecord, HeldRecord, MemberRecord, NextStreamRecord};
use crate::roster::{History, MemberId, Role};
use crate::sealed::SealingKeyPair;

/// The version of group records (version 1 keyed members by ReadCap and had no lifecycle).
pub const GROUP_RECORD_VERSION: u32 = 2;

fn corrupt(what: impl Into<String>) -> Error {
    Error::corrupt("group", what)
}

fn member_id(bytes: &[u8], what: &str) -> Result<MemberId, Error> {
    MemberId::from_slice(bytes).map_err(|_| corrupt(what.to_owned()))
}

fn opt_member(bytes: &[u8], what: &str) -> Result<Option<MemberId>, Error> {
    if bytes.is_empty() {
        Ok(None)
    } else {
        member_id(bytes, what).map(Some)
    }
}

fn opt_key(bytes: &[u8]) -> Result<Option<[u8; 32]>, Error> {
    if bytes.is_empty() {
        return Ok(None);
    }
    bytes
        .try_into()
        .map(Some)
        .map_err(|_| corrupt("a key is not 32 bytes"))
}

fn role(s: &str) -> Result<Role, Error> {
    Role::parse(s).map_err(|e| corrupt(e.to_string()))
}

impl Group {
    /// The persistent record.
    pub fn to_record(&self) -> GroupRecord {
        let (standing, standing_by) = match self.standing {
            Standing::Member => ("member", Vec::new()),
            Standing::Left => ("left", Vec::new()),
            Standing::Removed(by) => ("removed", by.0.to_vec()),
            Standing::Deleted(by) => ("deleted", by.0.to_vec()),
        };
        GroupRecord {
            v: GROUP_RECORD_VERSION,
            id: self.id.0.to_vec(),
            name: self.name.clone(),
            me: self.me.0.to_vec(),
            writer: self.writer.to_bytes().to_vec(),
            epoch: self.epoch,
            keys: self.keys.iter().flat_map(|k| *k.secret_bytes()).collect(),
            members: self
                .members
                .iter()
                .map(|(id, m)| MemberRecord {
                    member: id.0.to_vec(),
                    display_name: m.name.to_string(),
                    role: m.role.as_str().to_owned(),
                    introduced_by: m.introduced_by.map(|i| i.0.to_vec()).unwrap_or_default(),
                    epoch: m.epoch,
                    reader: m
                        .reader
                        .as_ref()
                        .map(|r| r.to_bytes().to_vec())
                        .unwrap_or_default(),
                    key: m.key.map(|k| k.to_vec()).unwrap_or_default(),
                    key_used: m.key_used.map(|k| k.to_vec()).unwrap_or_default(),
                    view_differs: m.view_differs,
                    lookup_epoch: m.lookup.as_ref().map_or(0, |(e, _)| *e),
                    lookup: m
                        .lookup
                        .as_ref()
                        .map(|(_, r)| r.to_bytes().to_vec())
                        .unwrap_or_default(),
                })
                .collect(),
            departed: self
                .departed
                .iter()
                .map(|(id, d)| DepartedRecord {
                    member: id.0.to_vec(),
                    display_name: d.name.to_string(),
                    removed_by: match d.how {
                        Departure::Left => Vec::new(),
                        Departure::Removed(by) => by.0.to_vec(),
                    },
                })
                .collect(),
            history: self.history.as_str().to_owned(),
            standing: standing.to_owned(),
            standing_by,
            owe_who_reply: self.owe_who_reply,
            owe_rotation: self.owe_rotation,
            owe_tombstones: self.owe_tombstones,
            owe_who: self.owe_who,
            stuck_on: self.stuck_on.iter().flat_map(|m| m.0).collect(),
            next: self.next.as_ref().map(|n| NextStreamRecord {
                writer: n.writer.to_bytes().to_vec(),
                key: n.key.secret_bytes().to_vec(),
                epoch: n.epoch,
            }),
            missing_cap: self.missing_cap.iter().flat_map(|m| m.0).collect(),
            rotate_after_messages: self.policy.after_messages.unwrap_or(0),
            rotate_after_days: self.policy.after_days.unwrap_or(0),
            posted_since_rotation: self.posted_since_rotation,
            rotated_at_ms: self.rotated_at_ms,
            held: self
                .held
                .values()
                .map(|(pa, by)| HeldRecord {
                    please_add: pa.to_cbor(),
                    by: by.0.to_vec(),
                })
                .collect(),
        }
    }

    /// Restores a group from its record; readers get `limits`.
    pub fn from_record(r: &GroupRecord, limits: Limits) -> Result<Self, Error> {
        if r.v != GROUP_RECORD_VERSION {
            return Err(corrupt(format!("unknown record version {}", r.v)));
        }
        let id = GroupId(r.id.as_slice().try_into().map_err(|_| corrupt("id"))?);
        let me = member_id(&r.me, "me")?;
        let writer = StatefulWriter::from_bytes(&r.writer)?;
        if r.keys.len() % 32 != 0 || r.missing_cap.len() % 32 != 0 || r.stuck_on.len() % 32 != 0 {
            return Err(corrupt("keys or missing caps"));
        }
        let keys = r
            .keys
            .chunks_exact(32)
            .map(|k| SealingKeyPair::from_secret_bytes(k).map_err(|e| corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut members = BTreeMap::new();
        for m in &r.members {
            let reader = if m.reader.is_empty() {
                None
            } else {
                Some(StreamReader::from_bytes(&m.reader)?.with_limits(limits))
            };
            let mid = member_id(&m.member, "member")?;
            members.insert(
                mid,
                Member {
                    name: DisplayName::new(m.display_name.clone())?,
                    role: role(&m.role)?,
                    introduced_by: opt_member(&m.introduced_by, "introduced_by")?,
                    epoch: m.epoch,
                    reader,
                    key: opt_key(&m.key)?,
                    key_used: opt_key(&m.key_used)?,
                    view_differs: m.view_differs,
                    lookup: if m.lookup.is_empty() {
                        None
                    } else {
                        Some((
                            m.lookup_epoch,
                            bacap::StatefulReader::from_bytes(&m.lookup)?,
                        ))
                    },
                },
            );
        }
        let mut departed = BTreeMap::new();
        for d in &r.departed {
            departed.insert(
                member_id(&d.member, "departed member")?,
                Departed {
                    name: DisplayName::new(d.display_name.clone())?,
                    how: match opt_member(&d.removed_by, "removed_by")? {
                        None => Departure::Left,
                        Some(by) => Departure::Removed(by),
                    },
                },
            );
        }
        let standing = match (r.standing.as_str(), opt_member(&r.standing_by, "standing")?) {
            ("member", None) => Standing::Member,
            ("left", None) => Standing::Left,
            ("removed", Some(by)) => Standing::Removed(by),
            ("deleted", Some(by)) => Standing::Deleted(by),
            (other, _) => return Err(corrupt(format!("standing {other:?}"))),
        };
        if standing.is_member() && (!members.contains_key(&me) || keys.is_empty()) {
            return Err(corrupt("we are not a member, or hold no sealing key"));
        }
        if members
            .iter()
            .any(|(id, m)| standing.is_member() && (*id == me) == m.reader.is_some())
        {
            return Err(corrupt("reader of a member"));
        }
        let next = match &r.next {
            None => None,
            Some(n) => Some(NextStream {
                writer: StatefulWriter::from_bytes(&n.writer)?,
                key: SealingKeyPair::from_secret_bytes(&n.key)
                    .map_err(|e| corrupt(e.to_string()))?,
                epoch: n.epoch,
            }),
        };
        let missing_cap: BTreeSet<MemberId> = r
            .missing_cap
            .chunks_exact(32)
            .map(|c| member_id(c, "missing cap"))
            .collect::<Result<_, _>>()?;
        let stuck_on: BTreeSet<MemberId> = r
            .stuck_on
            .chunks_exact(32)
            .map(|c| member_id(c, "stuck on"))
            .collect::<Result<_, _>>()?;
        let mut held = BTreeMap::new();
        for h in &r.held {
            let pa = PleaseAdd::from_cbor(&h.please_add).map_err(|e| corrupt(e.to_string()))?;
            let id = MemberId::of(&pa.read_cap().map_err(|e| corrupt(e.to_string()))?);
            held.insert(id, (pa, member_id(&h.by, "held by")?));
        }
        let nonzero = |n: u32| (n > 0).then_some(n);
        Ok(Self {
            id,
            name: r.name.clone(),
            me,
            writer,
            epoch: r.epoch,
            keys,
            members,
            departed,
            history: History::parse(&r.history).map_err(|e| corrupt(e.to_string()))?,
            standing,
            owe_who_reply: r.owe_who_reply,
            owe_rotation: r.owe_rotation,
            next,
            missing_cap,
            policy: RotationPolicy {
                after_messages: nonzero(r.rotate_after_messages),
                after_days: nonzero(r.rotate_after_days),
            },
            posted_since_rotation: r.posted_since_rotation,
            rotated_at_ms: r.rotated_at_ms,
            owe_tombstones: r.owe_tombstones,
            owe_who: r.owe_who,
            stuck_on,
            held,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::PleaseAdd;
    use bacap::WriteCap;
    use rand_core::OsRng;

    fn group() -> Group {
        let id = GroupId([3; 32]);
        let cap = WriteCap::generate(&mut OsRng);
        Group::create(
            id,
            "g".into(),
            StatefulWriter::new(cap, &super::super::group_ctx(&id)),
            DisplayName::new("me").unwrap(),
            SealingKeyPair::generate(&mut OsRng),
            History::FromJoining,
            7,
        )
    }

    #[test]
    fn a_group_round_trips_and_same_names_stay_apart() {
        let mut g = group();
        for _ in 0..2 {
            let other = WriteCap::generate(&mut OsRng).read_cap();
            let pa = PleaseAdd::new(DisplayName::new("me").unwrap(), &other);
            assert!(g
                .add_introduced(&pa, None, Limits::default(), usize::MAX)
                .unwrap()
                .is_some());
            assert!(
                g.add_introduced(&pa, None, Limits::default(), usize::MAX)
                    .unwrap()
                    .is_none(),
                "once"
            );
        }
        let departing = *g.members.keys().find(|k| **k != g.me).unwrap();
        g.depart(departing, Departure::Removed(g.me));
        let infos = g.member_infos();
        assert_eq!(infos.len(), 2);
        assert!(infos.iter().all(|m| m.name == "me"));
        let back = Group::from_record(&g.to_record(), Limits::default()).unwrap();
        assert_eq!(back.member_infos(), infos);
        assert_eq!(back.membership_hash(), g.membership_hash());
        assert_eq!(back.departed.len(), 1);
        assert_eq!(
            back.keys.last().unwrap().public(),
            g.keys.last().unwrap().public()
        );
    }

    #[test]
    fn inconsistent_records_are_corrupt() {
        let g = group();
        let mut r = g.to_record();
        r.me = vec![0; 32];
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
        r.v = 1;
        assert!(Group::from_record(&r, Limits::default()).is_err());
        let mut r = g.to_record();
        r.keys.pop();
        assert!(Group::from_record(&r, Limits::default()).is_err());
        let mut r = g.to_record();
        r.standing = "gone".into();
        assert!(Group::from_record(&r, Limits::default()).is_err());
    }
}
