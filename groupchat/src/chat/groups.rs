//! Group commands: create, post texts and files, WHO, and the lifecycle (leave, remove, rotate,
//! roles, delete), and what the user sees of groups.

use bacap::{StatefulWriter, WriteCap};
use rand_core::{CryptoRng, RngCore};

use super::{Chat, OpId};
use crate::channel::{GroupId, MAX_GROUP_NAME_CHARS};
use crate::display_name::{check_label, DisplayName};
use crate::error::Error;
use crate::group::{group_ctx, Group, GroupInfo, RotationPolicy};
use crate::keys;
use crate::messages::{Body, FileType, FileUpload};
use crate::records::{Completion, Content, TargetRecord};
use crate::roster::{History, MemberId, Role};
use crate::sealed::SealingKeyPair;

impl Chat {
    /// Creates a group of one (us, its owner, shown as `display_name`) and returns its ID.
    /// `history` says what members it admits later may read of what was said before.
    pub fn create_group<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        name: &str,
        display_name: &str,
        history: History,
        now_ms: u64,
    ) -> Result<GroupId, Error> {
        check_label(name, MAX_GROUP_NAME_CHARS).map_err(Error::InvalidGroupName)?;
        let dn = DisplayName::new(display_name)?;
        let mut raw = [0u8; 32];
        rng.fill_bytes(&mut raw);
        let id = GroupId(raw);
        let writer = StatefulWriter::new(WriteCap::generate(rng), &group_ctx(&id));
        let key = SealingKeyPair::generate(rng);
        let group = Group::create(id, name.to_owned(), writer, dn, key, history, now_ms);
        self.groups.insert(id, group);
        self.changed_groups.insert(id);
        Ok(id)
    }

    /// Every group, those we left or that were deleted included.
    pub fn groups(&self) -> Vec<GroupInfo> {
        self.groups.values().map(Group::info).collect()
    }

    /// One group.
    pub fn group_info(&self, id: &GroupId) -> Result<GroupInfo, Error> {
        Ok(self.group(id)?.info())
    }

    /// Queues a text message to a group (long ones go through AllOrNothing).
    pub fn post_text<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
        text: &str,
    ) -> Result<OpId, Error> {
        let content = Content::Text(text.to_owned());
        self.send_group(rng, *id, Body::Text(text.to_owned()), content)
    }

    /// Queues a file to a group (through AllOrNothing when it needs more than one box).
    pub fn send_file<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
        basename: &str,
        filetype: FileType,
        payload: Vec<u8>,
    ) -> Result<OpId, Error> {
        let max = self.config.max_file_len;
        if payload.len() > max {
            return Err(Error::FileTooLarge {
                len: payload.len(),
                max,
            });
        }
        let content = Content::File {
            basename: basename.to_owned(),
            filetype: filetype.as_str().to_owned(),
            len: payload.len() as u64,
            path: String::new(),
        };
        let body = Body::FileUpload(FileUpload {
            payload,
            filetype,
            basename: basename.to_owned(),
        });
        self.send_group(rng, *id, body, content)
    }

    /// Queues WHO: every member that reads it answers with a WHOREPLY listing its members, and
    /// members we lack are added from it.
    pub fn who<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
    ) -> Result<OpId, Error> {
        self.send_group(rng, *id, Body::Who(String::new()), Content::Who)
    }

    /// Queues our LEAVE: once it landed we no longer read or write the group (its history
    /// stays), and the others move to new streams without us.
    pub fn leave<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
    ) -> Result<OpId, Error> {
        self.live_group(id)?;
        let completion = Completion::Left {
            group: id.0.to_vec(),
        };
        self.queue_group(rng, *id, Body::Leave, completion)
    }

    /// Queues the removal of `member` (we must be the owner or an admin; the owner cannot be
    /// removed): our REMOVE and our move to a new stream sealed to everyone else, in one
    /// AllOrNothing.
    pub fn remove<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
        member: &MemberId,
    ) -> Result<OpId, Error> {
        self.check_remove(id, member)?;
        self.queue_rotation(rng, *id, vec![Body::Remove(*member)], Some(*member))
    }

    /// Whether we may remove `member` from group `id`.
    pub(super) fn check_remove(&self, id: &GroupId, member: &MemberId) -> Result<(), Error> {
        let g = self.live_group(id)?;
        if !g.my_role().is_some_and(|r| r.may_remove()) {
            return Err(Error::NotAllowed(
                "only the owner and admins remove members",
            ));
        }
        if *member == g.me {
            return Err(Error::NotAllowed("to go yourself, leave the group"));
        }
        match g.members.get(member).map(|m| m.role) {
            None => Err(Error::UnknownMember(*member)),
            Some(Role::Owner) => Err(Error::NotAllowed("the owner cannot be removed")),
            Some(_) => Ok(()),
        }
    }

    /// Queues our move to a new stream, sealed to every member we count: what a stolen copy of
    /// our state can read ends with it.
    pub fn rotate<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
    ) -> Result<OpId, Error> {
        self.live_group(id)?;
        self.queue_rotation(rng, *id, Vec::new(), None)
    }

    /// Queues a ROLE giving `member` the role `role` (we must be the owner; `role` is admin or
    /// member; the owner's own role does not change).
    pub fn set_role<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
        member: &MemberId,
        role: Role,
    ) -> Result<OpId, Error> {
        self.check_set_role(id, member, role)?;
        let completion = Completion::RoleSet {
            group: id.0.to_vec(),
            member: member.0.to_vec(),
            role: role.as_str().to_owned(),
        };
        self.queue_group(rng, *id, Body::SetRole(*member, role), completion)
    }

    /// Whether we may give `member` of group `id` the role `role`.
    pub(super) fn check_set_role(
        &self,
        id: &GroupId,
        member: &MemberId,
        role: Role,
    ) -> Result<(), Error> {
        let g = self.live_group(id)?;
        if g.my_role() != Some(Role::Owner) {
            return Err(Error::NotAllowed("only the owner sets roles"));
        }
        if *member == g.me {
            return Err(Error::NotAllowed("the owner's own role does not change"));
        }
        if role == Role::Owner {
            return Err(Error::NotAllowed("a group has one owner"));
        }
        if !g.members.contains_key(member) {
            return Err(Error::UnknownMember(*member));
        }
        Ok(())
    }

    /// Whether we may delete group `id`.
    pub(super) fn check_delete(&self, id: &GroupId) -> Result<(), Error> {
        if self.live_group(id)?.my_role() != Some(Role::Owner) {
            return Err(Error::NotAllowed("only the owner deletes the group"));
        }
        Ok(())
    }

    /// Queues our DELETE of the group (we must be the owner): every member stops reading it
    /// and tombstones its boxes; histories stay.
    pub fn delete<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
    ) -> Result<OpId, Error> {
        self.check_delete(id)?;
        let completion = Completion::Deleted {
            group: id.0.to_vec(),
        };
        self.queue_group(rng, *id, Body::Delete, completion)
    }

    /// Admits a newcomer whose introduction was held ([`crate::Event::IntroductionHeld`]): we
    /// read them from now on, as if the introduction had just arrived.
    pub fn admit(&mut self, id: &GroupId, member: &MemberId, now_ms: u64) -> Result<(), Error> {
        self.log.set_now(now_ms);
        let limits = self.limits();
        let max = self.config.max_group_members;
        let g = self.group_mut(id)?;
        let (pa, by) = g.held.remove(member).ok_or(Error::UnknownMember(*member))?;
        let name = pa.display_name.to_string();
        let by_name = g.name_of(&by);
        if let Some(added) = g.add_introduced(&pa, Some(by), limits, max)? {
            self.log.group_entry(
                *id,
                by,
                by_name,
                false,
                Content::Introduced {
                    name,
                    member: added.0.to_vec(),
                },
            );
        }
        Ok(())
    }

    /// Sets when we rotate our stream by ourselves (off by default).
    pub fn set_rotation_policy(
        &mut self,
        id: &GroupId,
        policy: RotationPolicy,
    ) -> Result<(), Error> {
        self.group_mut(id)?.policy = policy;
        Ok(())
    }

    /// The key prefix of group `id`'s history, for the client to read it.
    pub fn group_history_prefix(&self, id: &GroupId) -> Result<Vec<u8>, Error> {
        self.group(id)?;
        Ok(keys::group_history_prefix(&id.0))
    }

    /// A group we still read and write.
    pub(super) fn live_group(&self, id: &GroupId) -> Result<&Group, Error> {
        let g = self.group(id)?;
        if !g.is_live() {
            return Err(Error::NotAMember(*id));
        }
        Ok(g)
    }

    /// Queues `body` to group `id`; once it landed, `content` goes into our history.
    fn send_group<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: GroupId,
        body: Body,
        content: Content,
    ) -> Result<OpId, Error> {
        self.live_group(&id)?;
        let completion = Completion::GroupPosted {
            group: id.0.to_vec(),
            content,
        };
        self.queue_group(rng, id, body, completion)
    }

    /// Queues `body` to group `id`, to complete with `completion`.
    pub(crate) fn queue_group<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: GroupId,
        body: Body,
        completion: Completion,
    ) -> Result<OpId, Error> {
        let limits = self.limits();
        let out = self
            .group(&id)?
            .prepare(rng, body, self.geometry, &limits)?;
        Ok(self.outbox.submit_outgoing(
            &mut self.log,
            &out,
            TargetRecord::Group(id.0.to_vec()),
            completion,
        ))
    }

    /// Queues our move to a new stream, after `before` (a REMOVE of `removed`, say), sealed to
    /// every member we count but `removed`.
    pub(crate) fn queue_rotation<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: GroupId,
        before: Vec<Body>,
        removed: Option<MemberId>,
    ) -> Result<OpId, Error> {
        let limits = self.limits();
        let geometry = self.geometry;
        let excluded: Vec<MemberId> = removed.into_iter().collect();
        let prepared = self
            .group_mut(&id)?
            .prepare_rotation(rng, before, &excluded, geometry, &limits)?;
        let completion = Completion::Rotated {
            group: id.0.to_vec(),
            removed: removed.map(|m| m.0.to_vec()).unwrap_or_default(),
            missing: prepared.missing.iter().flat_map(|m| m.0).collect(),
        };
        Ok(self.outbox.submit_plan(
            &mut self.log,
            &prepared.plan,
            vec![
                TargetRecord::Group(id.0.to_vec()),
                TargetRecord::GroupNext(id.0.to_vec()),
            ],
            completion,
        ))
    }

    /// Queues the tombstones of every box of our current stream of a deleted group up to its
    /// next index (the owner's DELETE itself stays readable: it is how the others learn).
    pub(crate) fn queue_tombstones(&mut self, id: GroupId) -> Result<OpId, Error> {
        let g = self.group(&id)?;
        let first = StatefulWriter::new(g.writer.cap().clone(), &group_ctx(&id));
        let mut count = g.writer.next_index().idx() - first.next_index().idx();
        if g.standing == crate::group::Standing::Deleted(g.me) {
            count = count.saturating_sub(1);
        }
        Ok(self.outbox.submit_tombstones(
            &mut self.log,
            &first,
            count,
            Completion::Tombstoned {
                group: id.0.to_vec(),
            },
        ))
    }
}
